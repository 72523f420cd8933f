//! STOMP helpers for tests that talk to a broker through
//! [`baton::client::Client`], failing with a clear message (and never
//! hanging) when the broker does not answer.
//!
//! To show that nothing else is waiting for a consumer without sleeping, a
//! test sends a priority-0 marker: anything still queued for the consumer
//! sorts before it, so the marker must be the next message.

use super::Baton;
use baton::client::Client;
use baton::stomp::frame::{Command, Frame};
use std::future::Future;
use std::time::Duration;

/// Failure guard for anything that should happen.
pub const GUARD: Duration = Duration::from_secs(10);
/// How long we give something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);
pub const MARKER: &str = "end-marker";

pub async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub async fn connect(b: &Baton) -> Client {
    guard("connect", Client::connect(&b.stomp))
        .await
        .expect("connect")
}

pub async fn send(c: &mut Client, dest: &str, body: &str, headers: &[(&str, &str)]) {
    guard("send", c.send(dest, body.to_string(), headers))
        .await
        .unwrap_or_else(|e| panic!("send {body} to {dest}: {e}"));
}

pub async fn persist(c: &mut Client, dest: &str, body: &str) {
    send(c, dest, body, &[("persistent", "true")]).await;
}

pub async fn subscribe(c: &mut Client, dest: &str, id: &str, ack: &str, headers: &[(&str, &str)]) {
    guard("subscribe", c.subscribe(dest, id, ack, headers))
        .await
        .unwrap_or_else(|e| panic!("subscribe {dest}: {e}"));
}

pub async fn request(c: &mut Client, frame: Frame) -> Frame {
    let what = frame.command.as_str();
    guard(what, c.request(frame))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub async fn next(c: &mut Client) -> Frame {
    let f = guard("next MESSAGE", c.next_message())
        .await
        .expect("MESSAGE");
    assert_eq!(f.command, Command::Message);
    f
}

pub fn body(f: &Frame) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

pub async fn next_body(c: &mut Client) -> String {
    body(&next(c).await)
}

pub async fn bodies(c: &mut Client, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next_body(c).await);
    }
    out
}

/// Asserts that no MESSAGE arrives within [`QUIET`].
pub async fn nothing_arrives(c: &mut Client) {
    if let Ok(r) = tokio::time::timeout(QUIET, c.next_message()).await {
        panic!("expected no message, got {:?}", r.map(|f| body(&f)));
    }
}

/// ACK or NACK with a receipt: returns once the broker applied it (and
/// committed what it deletes or moves).
pub async fn ack_confirmed(c: &mut Client, m: &Frame, nack: bool) {
    let id = m.header("ack").expect("MESSAGE without ack header");
    let cmd = if nack { Command::Nack } else { Command::Ack };
    request(c, Frame::new(cmd).with_header("id", id)).await;
}

pub async fn tx_frame(c: &mut Client, cmd: Command, tx: &str) {
    request(c, Frame::new(cmd).with_header("transaction", tx)).await;
}

pub async fn send_marker(p: &mut Client, dest: &str) {
    send(p, dest, MARKER, &[("priority", "0")]).await;
}

/// The next message of `c` must be the marker: nothing else was waiting.
pub async fn expect_marker(c: &mut Client) {
    assert_eq!(next_body(c).await, MARKER, "a message was left over");
}
