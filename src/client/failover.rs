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

mod connection;

use super::url;
use super::ClientError;
use crate::stomp::frame::{Command, Frame};
use crate::tls::TlsError;
use connection::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

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
        let connection = Connection::new(
            url,
            options,
            tls,
            producer_id.clone(),
            messages_tx,
            failovers.clone(),
        );
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
