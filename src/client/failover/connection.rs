//! The task that owns a failover connection: connects with the URL's
//! retry policy, replays subscriptions and unconfirmed sends, then serves
//! the handle's requests and the broker's frames until the connection ends.

use super::{ClientOptions, Done, Received, Request};
use crate::client::url::{BrokerAddr, ConnectUrl, FailoverOptions};
use crate::client::{Client, ClientError};
use crate::stomp::error::RETRYABLE;
use crate::stomp::frame::{Command, Frame, Parsed};
use crate::stomp::handler::{PRODUCER_ID, PRODUCER_SEQ};
use futures::{SinkExt, StreamExt};
use rand::seq::SliceRandom;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Bound on the TCP connect plus the CONNECT/CONNECTED exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A send not yet confirmed, as it will be resent.
struct Unconfirmed {
    receipt: String,
    frame: Frame,
    done: Done,
}

struct Subscription {
    id: String,
    frame: Frame,
    /// Waiting for the first RECEIPT.
    done: Option<Done>,
}

/// How one connection ended.
enum Ended {
    /// Closed on request (or the handle was dropped).
    Closed,
    Lost(ClientError),
}

/// The task that owns the connection.
pub(super) struct Connection {
    url: ConnectUrl,
    options: ClientOptions,
    /// Set when a broker of the URL is `stomp+ssl://`.
    tls: Option<Arc<rustls::ClientConfig>>,
    producer_id: String,
    next_seq: i64,
    next_receipt: u64,
    generation: u64,
    unconfirmed: VecDeque<Unconfirmed>,
    subscriptions: Vec<Subscription>,
    messages: mpsc::Sender<Received>,
    failovers: Arc<AtomicU64>,
}

impl Connection {
    pub(super) fn new(
        url: ConnectUrl,
        options: ClientOptions,
        tls: Option<Arc<rustls::ClientConfig>>,
        producer_id: String,
        messages: mpsc::Sender<Received>,
        failovers: Arc<AtomicU64>,
    ) -> Connection {
        Connection {
            url,
            options,
            tls,
            producer_id,
            next_seq: 0,
            next_receipt: 0,
            generation: 0,
            unconfirmed: VecDeque::new(),
            subscriptions: Vec::new(),
            messages,
            failovers,
        }
    }

    pub(super) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        ready: oneshot::Sender<Result<(), ClientError>>,
    ) {
        let mut ready = Some(ready);
        loop {
            let client = match self.reconnect(ready.is_some()).await {
                Ok(c) => c,
                Err(e) => {
                    let message = e.to_string();
                    match ready.take() {
                        Some(r) => {
                            let _ = r.send(Err(e));
                        }
                        None => tracing::error!(error = %message, "giving up on reconnecting"),
                    }
                    self.fail_everything(&message);
                    while let Some(r) = requests.recv().await {
                        r.fail(ClientError::GaveUp(message.clone()));
                    }
                    return;
                }
            };
            match ready.take() {
                Some(r) => {
                    let _ = r.send(Ok(()));
                }
                None => {
                    self.failovers.fetch_add(1, Ordering::Relaxed);
                }
            }
            match self.serve(client, &mut requests).await {
                Ended::Closed => return,
                Ended::Lost(e) if self.url.failover.is_none() => {
                    let message = e.to_string();
                    self.fail_everything(&message);
                    while let Some(r) = requests.recv().await {
                        r.fail(ClientError::GaveUp(message.clone()));
                    }
                    return;
                }
                Ended::Lost(e) => {
                    tracing::warn!(error = %e, "connection lost; failing over");
                }
            }
        }
    }

    fn fail_everything(&mut self, message: &str) {
        for u in self.unconfirmed.drain(..) {
            let _ = u.done.send(Err(ClientError::GaveUp(message.to_string())));
        }
        for s in &mut self.subscriptions {
            if let Some(done) = s.done.take() {
                let _ = done.send(Err(ClientError::GaveUp(message.to_string())));
            }
        }
    }

    /// Connects to one of the brokers, with the URL's retry policy: one
    /// attempt is a pass over every broker (shuffled with `randomize`).
    async fn reconnect(&mut self, startup: bool) -> Result<Client, ClientError> {
        let options = self.url.failover.clone();
        let failover = options.clone().unwrap_or(FailoverOptions {
            max_reconnect_attempts: Some(0),
            startup_max_reconnect_attempts: Some(0),
            randomize: false,
            ..FailoverOptions::default()
        });
        let limit = if startup {
            failover.startup_max_reconnect_attempts
        } else {
            failover.max_reconnect_attempts
        };
        let mut attempt: u32 = 0;
        loop {
            let mut brokers: Vec<BrokerAddr> = self.url.brokers.clone();
            if failover.randomize {
                brokers.shuffle(&mut rand::rng());
            }
            let mut last = None;
            for b in &brokers {
                match self.open(b).await {
                    Ok(c) => {
                        tracing::info!(broker = %b.addr(), "connected");
                        return Ok(c);
                    }
                    // Wrong credentials stay wrong on every broker.
                    Err(ClientError::Refused(text))
                        if text.starts_with("authentication failed") =>
                    {
                        return Err(ClientError::Refused(text));
                    }
                    Err(e) => {
                        tracing::debug!(broker = %b.addr(), error = %e, "connect failed");
                        last = Some(e);
                    }
                }
            }
            if limit.is_some_and(|max| attempt >= max) {
                return Err(last.unwrap_or(ClientError::GaveUp("no broker in the URL".into())));
            }
            sleep(failover.delay(attempt)).await;
            attempt = attempt.saturating_add(1);
        }
    }

    async fn open(&self, b: &BrokerAddr) -> Result<Client, ClientError> {
        let hb = format!("{0},{0}", self.options.heartbeat_ms);
        let mut headers: Vec<(&str, &str)> = vec![("heart-beat", &hb)];
        let o = &self.options;
        for (k, v) in [
            ("login", &o.login),
            ("passcode", &o.passcode),
            ("client-id", &o.client_id),
        ] {
            if let Some(v) = v {
                headers.push((k, v));
            }
        }
        let addr = b.addr();
        let connect = async {
            match (&self.tls, b.scheme.is_tls()) {
                (Some(tls), true) => {
                    Client::connect_tls(&addr, &b.host, tls.clone(), &headers).await
                }
                _ => Client::connect_with(&addr, &headers).await,
            }
        };
        timeout(CONNECT_TIMEOUT, connect).await.unwrap_or_else(|_| {
            Err(ClientError::Connect {
                addr,
                source: std::io::ErrorKind::TimedOut.into(),
            })
        })
    }

    fn receipt(&mut self, prefix: &str) -> String {
        self.next_receipt += 1;
        format!("{prefix}{}", self.next_receipt)
    }

    /// Runs one connection: replays subscriptions and unconfirmed sends,
    /// then serves requests and frames until it ends.
    async fn serve(&mut self, mut client: Client, requests: &mut mpsc::Receiver<Request>) -> Ended {
        self.generation += 1;
        let (send_every, expect_every) = negotiated(&client.connected, self.options.heartbeat_ms);
        let replay: Vec<Frame> = self
            .subscriptions
            .iter()
            .map(|s| s.frame.clone())
            .chain(self.unconfirmed.iter().map(|u| u.frame.clone()))
            .collect();
        for f in replay {
            if let Err(e) = client.framed.feed(f).await {
                return Ended::Lost(e.into());
            }
        }
        if let Err(e) = SinkExt::<Frame>::flush(&mut client.framed).await {
            return Ended::Lost(e.into());
        }
        let mut last_write = Instant::now();
        let mut read_deadline = deadline_after(expect_every);
        let mut closing: Option<(String, Done)> = None;
        loop {
            let accepting =
                closing.is_none() && self.unconfirmed.len() < self.options.max_in_flight.max(1);
            let heartbeat_at = last_write + Duration::from_millis(send_every.max(1));
            tokio::select! {
                item = client.framed.next() => {
                    read_deadline = deadline_after(expect_every);
                    let frame = match item {
                        None => return Ended::Lost(ClientError::Closed),
                        Some(Err(e)) => return Ended::Lost(e.into()),
                        Some(Ok(Parsed::Heartbeat(_))) => continue,
                        Some(Ok(Parsed::Frame(f, _))) => f,
                    };
                    match frame.command {
                        Command::Receipt => {
                            let id = frame.header("receipt-id").unwrap_or_default();
                            if closing.as_ref().is_some_and(|(r, _)| r == id) {
                                if let Some((_, done)) = closing.take() {
                                    let _ = done.send(Ok(()));
                                }
                                return Ended::Closed;
                            }
                            self.confirmed(id);
                        }
                        Command::Message => {
                            let received = Received { frame, generation: self.generation };
                            // An application that dropped its handle gets nothing.
                            let _ = self.messages.send(received).await;
                        }
                        Command::Error => return Ended::Lost(self.refused(&frame)),
                        other => {
                            return Ended::Lost(ClientError::Unexpected(other.as_str().into()))
                        }
                    }
                }
                request = requests.recv(), if accepting => {
                    let Some(request) = request else {
                        // The handle is gone: nobody waits for anything.
                        let _ = client.framed.send(Frame::new(Command::Disconnect)).await;
                        return Ended::Closed;
                    };
                    match self.handle(request, &mut closing) {
                        Some(frame) => {
                            if let Err(e) = client.framed.send(frame).await {
                                return Ended::Lost(e.into());
                            }
                            last_write = Instant::now();
                        }
                        None => continue,
                    }
                }
                _ = sleep_until(heartbeat_at), if send_every > 0 => {
                    client.framed.write_buffer_mut().extend_from_slice(b"\n");
                    if let Err(e) = SinkExt::<Frame>::flush(&mut client.framed).await {
                        return Ended::Lost(e.into());
                    }
                    last_write = Instant::now();
                }
                _ = sleep_until(read_deadline), if expect_every > 0 => {
                    return Ended::Lost(ClientError::HeartbeatTimeout(expect_every * 2));
                }
            }
        }
    }

    /// Turns a request into the frame to write, if any.
    fn handle(&mut self, request: Request, closing: &mut Option<(String, Done)>) -> Option<Frame> {
        match request {
            Request::Send { frame, done } => {
                self.next_seq += 1;
                let receipt = self.receipt("s");
                let frame = frame
                    .with_header(PRODUCER_ID, self.producer_id.clone())
                    .with_header(PRODUCER_SEQ, self.next_seq.to_string())
                    .with_header("receipt", receipt.clone());
                self.unconfirmed.push_back(Unconfirmed {
                    receipt,
                    frame: frame.clone(),
                    done,
                });
                Some(frame)
            }
            Request::Subscribe { frame, done } => {
                let id = frame.header("id").unwrap_or_default().to_string();
                if self.subscriptions.iter().any(|s| s.id == id) {
                    let _ = done.send(Err(ClientError::Rejected(format!(
                        "there is already a subscription with id '{id}'"
                    ))));
                    return None;
                }
                let receipt = self.receipt("sub");
                let frame = frame.with_header("receipt", receipt);
                self.subscriptions.push(Subscription {
                    id,
                    frame: frame.clone(),
                    done: Some(done),
                });
                Some(frame)
            }
            Request::Unsubscribe { id, done } => {
                let before = self.subscriptions.len();
                self.subscriptions.retain(|s| s.id != id);
                if self.subscriptions.len() == before {
                    let _ = done.send(Err(ClientError::Rejected(format!(
                        "there is no subscription with id '{id}'"
                    ))));
                    return None;
                }
                let _ = done.send(Ok(()));
                Some(Frame::new(Command::Unsubscribe).with_header("id", id))
            }
            Request::Ack { frame, generation } => {
                if generation != self.generation {
                    tracing::debug!(
                        "acknowledgement from before a failover dropped; the broker redelivers"
                    );
                    return None;
                }
                Some(frame)
            }
            Request::Close { done } => {
                let receipt = self.receipt("bye");
                *closing = Some((receipt.clone(), done));
                Some(Frame::new(Command::Disconnect).with_header("receipt", receipt))
            }
        }
    }

    fn confirmed(&mut self, receipt: &str) {
        if let Some(pos) = self.unconfirmed.iter().position(|u| u.receipt == receipt) {
            if let Some(u) = self.unconfirmed.remove(pos) {
                let _ = u.done.send(Ok(()));
            }
            return;
        }
        for s in &mut self.subscriptions {
            if s.frame.header("receipt") == Some(receipt) {
                if let Some(done) = s.done.take() {
                    let _ = done.send(Ok(()));
                }
            }
        }
    }

    /// An ERROR frame. Unless the broker marked it retryable, a send or
    /// subscription it names is refused for good and reported; the
    /// connection is over either way.
    fn refused(&mut self, frame: &Frame) -> ClientError {
        let text = crate::client::error_text(frame);
        let retryable = frame.header(RETRYABLE) == Some("true");
        if let (false, Some(id)) = (retryable, frame.header("receipt-id")) {
            if let Some(pos) = self.unconfirmed.iter().position(|u| u.receipt == id) {
                if let Some(u) = self.unconfirmed.remove(pos) {
                    let _ = u.done.send(Err(ClientError::Rejected(text.clone())));
                }
            }
            if let Some(pos) = self
                .subscriptions
                .iter()
                .position(|s| s.frame.header("receipt") == Some(id))
            {
                let s = self.subscriptions.remove(pos);
                if let Some(done) = s.done {
                    let _ = done.send(Err(ClientError::Rejected(text.clone())));
                }
            }
        }
        ClientError::Refused(text)
    }
}

/// (send every, expect every) in ms from our request and CONNECTED's
/// `heart-beat`, as STOMP negotiates them.
fn negotiated(connected: &Frame, ours: u64) -> (u64, u64) {
    let (sx, sy) = connected
        .header("heart-beat")
        .and_then(|hb| hb.split_once(','))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .unwrap_or((0, 0));
    let send = if ours == 0 || sy == 0 {
        0
    } else {
        ours.max(sy)
    };
    let expect = if ours == 0 || sx == 0 {
        0
    } else {
        ours.max(sx)
    };
    (send, expect)
}

fn deadline_after(expect_every: u64) -> Instant {
    let wait = if expect_every > 0 {
        expect_every * 2
    } else {
        86_400_000
    };
    Instant::now() + Duration::from_millis(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_negotiate_like_stomp() {
        let f = |hb: &str| Frame::new(Command::Connected).with_header("heart-beat", hb);
        assert_eq!(negotiated(&f("0,0"), 5000), (0, 0));
        assert_eq!(negotiated(&f("10000,2000"), 5000), (5000, 10000));
        assert_eq!(negotiated(&f("1000,1000"), 0), (0, 0));
        assert_eq!(negotiated(&Frame::new(Command::Connected), 5000), (0, 0));
    }
}
