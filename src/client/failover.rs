//! A STOMP client that survives broker failover, the way ActiveMQ's
//! failover transport does for JMS clients.
//!
//! One task owns the connection (as the broker's sessions do) and the
//! application talks to it through a [`FailoverClient`] handle. When the
//! connection drops, the task reconnects to the URL's brokers with the URL's
//! backoff, logs in again, re-subscribes every subscription and resends
//! every send whose RECEIPT it has not seen, in the original order. Each
//! send carries the client's producer id and a sequence number
//! (`baton-producer-id`, `baton-producer-seq`): a Baton master drops a
//! resent send it already stored, so a failover never stores a confirmed
//! message twice.
//!
//! What the application still sees: a send that the broker refuses for what
//! it is (not for the broker's situation), a `timeout` expiry, and giving up
//! after `maxReconnectAttempts`. Messages received before a failover that
//! were not acknowledged come again with `redelivered:true`; acknowledging
//! them after the failover is a no-op.

use super::url::{self, BrokerAddr, ConnectUrl, FailoverOptions};
use super::{Client, ClientError};
use crate::stomp::error::RETRYABLE;
use crate::stomp::frame::{Command, Frame, Parsed};
use crate::stomp::handler::{PRODUCER_ID, PRODUCER_SEQ};
use crate::tls::TlsError;
use futures::{SinkExt, StreamExt};
use rand::seq::SliceRandom;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Bound on the TCP connect plus the CONNECT/CONNECTED exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the client logs in and paces itself.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub login: Option<String>,
    pub passcode: Option<String>,
    /// `client-id` on CONNECT (durable subscriptions).
    pub client_id: Option<String>,
    /// Heart-beat interval asked for in both directions; 0 = none. A
    /// connection silent for twice the negotiated interval counts as lost,
    /// which is how a partitioned broker is noticed.
    pub heartbeat_ms: u64,
    /// Most sends on the wire without a RECEIPT; further sends wait.
    pub max_in_flight: usize,
    /// The producer id for duplicate detection; random when `None`.
    pub producer_id: Option<String>,
    /// PEM CA file that signed the brokers' certificates (`stomp+ssl://`);
    /// without it the public web roots are trusted.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate and its key, for brokers that require one.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl ClientOptions {
    /// The TLS configuration these options describe.
    pub fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err(TlsError::HalfIdentity.into()),
        };
        Ok(crate::tls::client_config(self.tls_ca.as_deref(), identity)?)
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            login: None,
            passcode: None,
            client_id: None,
            heartbeat_ms: 5_000,
            max_in_flight: 1_000,
            producer_id: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// A MESSAGE as delivered to the application.
#[derive(Debug, Clone)]
pub struct Received {
    pub frame: Frame,
    /// Which connection delivered it: acknowledgements only make sense on
    /// that connection.
    generation: u64,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.frame.header(name)
    }

    pub fn body(&self) -> &[u8] {
        &self.frame.body
    }

    /// Whether the broker marked it as possibly delivered before.
    pub fn redelivered(&self) -> bool {
        self.header("redelivered") == Some("true")
    }
}

type Done = oneshot::Sender<Result<(), ClientError>>;

enum Request {
    Send { frame: Frame, done: Done },
    Subscribe { frame: Frame, done: Done },
    Unsubscribe { id: String, done: Done },
    Ack { frame: Frame, generation: u64 },
    Close { done: Done },
}

impl Request {
    fn fail(self, e: ClientError) {
        match self {
            Request::Send { done, .. }
            | Request::Subscribe { done, .. }
            | Request::Unsubscribe { done, .. }
            | Request::Close { done } => {
                let _ = done.send(Err(e));
            }
            Request::Ack { .. } => {}
        }
    }
}

/// Handle to a failover connection. Dropping it closes the connection
/// without waiting for outstanding sends; call [`FailoverClient::close`]
/// to finish them.
pub struct FailoverClient {
    requests: mpsc::Sender<Request>,
    messages: mpsc::Receiver<Received>,
    producer_id: String,
    failovers: Arc<AtomicU64>,
    send_timeout: Option<Duration>,
}

/// Resolves when the broker confirmed one send.
pub struct SendConfirm(oneshot::Receiver<Result<(), ClientError>>);

impl SendConfirm {
    pub async fn wait(self) -> Result<(), ClientError> {
        self.0.await.unwrap_or(Err(ClientError::Stopped))
    }
}

impl FailoverClient {
    /// Parses `url` (see [`url::parse`]) and returns once connected to one
    /// of its brokers, or with the error of the last attempt when
    /// `startupMaxReconnectAttempts` is used up.
    pub async fn connect(url: &str, options: ClientOptions) -> Result<FailoverClient, ClientError> {
        let url = url::parse(url)?;
        let tls = match url.needs_tls() {
            true => Some(options.tls_config()?),
            false => None,
        };
        let producer_id = options
            .producer_id
            .clone()
            .unwrap_or_else(|| format!("baton-{:032x}", rand::random::<u128>()));
        let (requests, requests_rx) = mpsc::channel(64);
        let (messages_tx, messages) = mpsc::channel(1024);
        let (ready_tx, ready_rx) = oneshot::channel();
        let failovers = Arc::new(AtomicU64::new(0));
        let send_timeout = url.failover.as_ref().and_then(|f| f.timeout);
        let connection = Connection {
            url,
            options,
            tls,
            producer_id: producer_id.clone(),
            next_seq: 0,
            next_receipt: 0,
            generation: 0,
            unconfirmed: VecDeque::new(),
            subscriptions: Vec::new(),
            messages: messages_tx,
            failovers: failovers.clone(),
        };
        tokio::spawn(connection.run(requests_rx, ready_tx));
        ready_rx.await.unwrap_or(Err(ClientError::Stopped))?;
        Ok(FailoverClient {
            requests,
            messages,
            producer_id,
            failovers,
            send_timeout,
        })
    }

    /// This client's producer id.
    pub fn producer_id(&self) -> &str {
        &self.producer_id
    }

    /// How many times the connection was re-established after a loss.
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    async fn call(&self, make: impl FnOnce(Done) -> Request) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(make(tx))
            .await
            .map_err(|_| ClientError::Stopped)?;
        rx.await.unwrap_or(Err(ClientError::Stopped))
    }

    /// Queues a SEND (waiting while `max_in_flight` sends are unconfirmed)
    /// and returns what resolves on its RECEIPT. Add `persistent:true` to
    /// `headers` for a persistent message.
    pub async fn send_async(
        &self,
        destination: &str,
        body: impl Into<bytes::Bytes>,
        headers: &[(&str, &str)],
    ) -> Result<SendConfirm, ClientError> {
        let body = body.into();
        let mut frame = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("content-length", body.len().to_string());
        for (k, v) in headers {
            frame.push_header(*k, *v);
        }
        let (done, rx) = oneshot::channel();
        self.requests
            .send(Request::Send {
                frame: frame.with_body(body),
                done,
            })
            .await
            .map_err(|_| ClientError::Stopped)?;
        Ok(SendConfirm(rx))
    }

    /// SEND and wait for the broker's confirmation, across failovers; with
    /// the URL's `timeout`, fail with [`ClientError::Timeout`] after it.
    pub async fn send(
        &self,
        destination: &str,
        body: impl Into<bytes::Bytes>,
        headers: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let send = async {
            self.send_async(destination, body, headers)
                .await?
                .wait()
                .await
        };
        match self.send_timeout {
            None => send.await,
            Some(t) => timeout(t, send)
                .await
                .unwrap_or(Err(ClientError::Timeout(t.as_millis() as u64))),
        }
    }

    /// SUBSCRIBE; kept and renewed on every reconnect until unsubscribed.
    pub async fn subscribe(
        &self,
        destination: &str,
        id: &str,
        ack: &str,
        headers: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let mut frame = Frame::new(Command::Subscribe)
            .with_header("destination", destination)
            .with_header("id", id)
            .with_header("ack", ack);
        for (k, v) in headers {
            frame.push_header(*k, *v);
        }
        self.call(|done| Request::Subscribe { frame, done }).await
    }

    pub async fn unsubscribe(&self, id: &str) -> Result<(), ClientError> {
        let id = id.to_string();
        self.call(|done| Request::Unsubscribe { id, done }).await
    }

    /// The next MESSAGE; `None` once the client stopped for good.
    pub async fn next_message(&mut self) -> Option<Received> {
        self.messages.recv().await
    }

    /// ACK (or NACK) a message, without waiting. A message received on an
    /// earlier connection is not acknowledged: the broker redelivers it.
    pub async fn ack(&self, message: &Received, nack: bool) -> Result<(), ClientError> {
        let cmd = if nack { Command::Nack } else { Command::Ack };
        let mut frame = Frame::new(cmd);
        match message.header("ack") {
            Some(id) => frame.push_header("id", id),
            None => {
                for h in ["message-id", "subscription"] {
                    if let Some(v) = message.header(h) {
                        frame.push_header(h, v);
                    }
                }
            }
        }
        self.requests
            .send(Request::Ack {
                frame,
                generation: message.generation,
            })
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// Waits for every outstanding send, then DISCONNECTs.
    pub async fn close(self) -> Result<(), ClientError> {
        self.call(|done| Request::Close { done }).await
    }
}

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
struct Connection {
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
    async fn run(
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
        if let Err(e) = client.framed.flush().await {
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
                    if let Err(e) = client.framed.flush().await {
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
        let text = super::error_text(frame);
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
