//! One STOMP connection's protocol state: turns each client frame into broker
//! calls, and deliveries into MESSAGE frames. No I/O here; the session task
//! owns the socket. Reading SEND and SUBSCRIBE headers is in `frames`.

mod frames;

use super::auth;
use super::error::{protocol, SessionError};
use super::frame::{Command, Frame, Version};
use crate::auth::{Access, Principal};
use crate::broker::{
    AckKind, AckMode, AckRequest, Broker, BrokerError, Confirm, ConnId, Delivery, Outbox,
};
use crate::message::{Destination, Message};
use frames::durable_name;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Settings every session shares.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub limits: super::frame::Limits,
    pub heartbeat_send_ms: u64,
    pub heartbeat_receive_ms: u64,
    pub default_prefetch: usize,
    pub max_pending_commits: usize,
    /// `limits.max_connections` and `limits.max_connections_per_address`.
    pub max_connections: (usize, usize),
    /// Prefix of the `session` header, usually the node id.
    pub session_prefix: String,
    /// Logins and the permission map.
    pub auth: Arc<super::auth::StompAuth>,
}

/// A receipt to send (if any) once an operation is durable.
pub type PendingReceipt = BoxFuture<'static, (Option<String>, Result<(), BrokerError>)>;

/// What the connection has negotiated.
pub struct Connected {
    pub conn: ConnId,
    pub outbox: Arc<Outbox>,
    pub version: Version,
    /// Interval at which we send heart-beats (0 = none).
    pub send_every_ms: u64,
    /// Interval at which we expect data (0 = none).
    pub expect_every_ms: u64,
    /// `client-id` from CONNECT (durable subscriptions).
    pub client_id: Option<String>,
}

#[derive(Default)]
struct Transaction {
    sends: Vec<Message>,
    acks: Vec<AckRequest>,
}

pub struct Handler {
    broker: Broker,
    config: Arc<SessionConfig>,
    pub connected: Option<Connected>,
    transactions: HashMap<String, Transaction>,
    /// Operations waiting for their commit, in frame order.
    pub pending: FuturesOrdered<PendingReceipt>,
    /// Set by DISCONNECT: stop reading, finish pending work, close.
    pub disconnecting: bool,
    /// Operations of this connection submitted but not yet committed.
    uncommitted: Arc<AtomicUsize>,
    /// Who CONNECT authenticated (set with `connected`).
    principal: Option<Principal>,
    /// The client's address, for login checks and logs.
    pub peer: String,
}

const SUPPORTED: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

fn required<'a>(frame: &'a Frame, name: &str) -> Result<&'a str, SessionError> {
    frame.header(name).ok_or_else(|| {
        protocol(format!(
            "{} frame requires the '{name}' header",
            frame.command.as_str()
        ))
    })
}

/// Producer id and sequence number a client sets on SEND so that a resend
/// after a failover is recognised (see `broker::producers`).
pub const PRODUCER_ID: &str = "baton-producer-id";
pub const PRODUCER_SEQ: &str = "baton-producer-seq";

/// Headers the broker sets on MESSAGE frames or consumes itself; never
/// stored as user headers.
const PROTOCOL_HEADERS: [&str; 11] = [
    PRODUCER_ID,
    PRODUCER_SEQ,
    "destination",
    "receipt",
    "transaction",
    "content-length",
    "message-id",
    "subscription",
    "ack",
    "redelivered",
    "redelivery-count",
];

impl Handler {
    pub fn new(broker: Broker, config: Arc<SessionConfig>) -> Handler {
        Handler {
            broker,
            config,
            connected: None,
            transactions: HashMap::new(),
            pending: FuturesOrdered::new(),
            disconnecting: false,
            uncommitted: Arc::new(AtomicUsize::new(0)),
            principal: None,
            peer: String::new(),
        }
    }

    /// Queues the receipt (if any) to go out once `confirm` (if any)
    /// resolves, after every earlier receipt.
    fn after(&mut self, confirm: Option<Confirm>, receipt: Option<String>) {
        match confirm {
            None if receipt.is_none() => {}
            None => self
                .pending
                .push_back(futures::future::ready((receipt, Ok(()))).boxed()),
            Some(confirm) => {
                let uncommitted = self.uncommitted.clone();
                uncommitted.fetch_add(1, Ordering::Relaxed);
                self.pending.push_back(
                    confirm
                        .map(move |r| {
                            uncommitted.fetch_sub(1, Ordering::Relaxed);
                            (receipt, r)
                        })
                        .boxed(),
                );
            }
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Handles one client frame. Returns a frame to write at once
    /// (CONNECTED); receipts arrive through `pending`.
    pub async fn on_frame(&mut self, frame: Frame) -> Result<Option<Frame>, SessionError> {
        let receipt = frame.header("receipt").map(str::to_string);
        let Some(c) = &self.connected else {
            return match frame.command {
                Command::Connect | Command::Stomp => {
                    let who = self.config.auth.login(&frame, &self.peer).await?;
                    self.principal = Some(who);
                    self.connect(&frame).map(Some)
                }
                other => Err(protocol(format!(
                    "expected CONNECT or STOMP as the first frame, got {}",
                    other.as_str()
                ))),
            };
        };
        let conn = c.conn;
        let version = c.version;
        match frame.command {
            Command::Send => {
                let tx = frame.header("transaction").map(str::to_string);
                let messages = self.messages_from(frame, conn)?;
                self.broker
                    .note_producers(conn, messages.iter().map(|m| &m.destination));
                for m in &messages {
                    self.authorize(Access::Write, &m.destination, conn)?;
                }
                match tx {
                    Some(t) => {
                        let mut messages = messages;
                        self.broker.charge(&mut messages);
                        self.transaction(&t)?.sends.extend(messages);
                        self.after(None, receipt);
                    }
                    None => {
                        let after_earlier = self.uncommitted.load(Ordering::Relaxed) > 0;
                        let confirm = self.broker.publish(messages, after_earlier).await?;
                        self.after(confirm, receipt);
                    }
                }
            }
            Command::Subscribe => {
                let spec = self.subscribe_spec(&frame, version, conn)?;
                self.authorize(Access::Read, &spec.destination, conn)?;
                let confirm = self.broker.subscribe(conn, spec).await?;
                self.after(confirm, receipt);
            }
            Command::Unsubscribe if durable_name(&frame).is_some() => {
                let name = durable_name(&frame).unwrap_or_default().to_string();
                let client_id = self.client_id()?;
                self.broker.unsubscribe_durable(conn, &client_id, &name)?;
                self.after(None, receipt);
            }
            Command::Unsubscribe => {
                let id = match (frame.header("id"), version) {
                    (Some(id), _) => id,
                    (None, Version::V1_0) => required(&frame, "destination")?,
                    (None, _) => required(&frame, "id")?,
                };
                self.broker.unsubscribe(conn, id)?;
                self.after(None, receipt);
            }
            Command::Ack | Command::Nack => {
                let kind = if frame.command == Command::Ack {
                    AckKind::Ack
                } else {
                    AckKind::Nack
                };
                let ack = ack_request(&frame, version, kind)?;
                match frame.header("transaction") {
                    Some(t) => {
                        let t = t.to_string();
                        self.transaction(&t)?.acks.push(ack);
                        self.after(None, receipt);
                    }
                    None => {
                        let confirm = self
                            .broker
                            .acknowledge(conn, ack, receipt.is_some())
                            .await?;
                        self.after(confirm, receipt);
                    }
                }
            }
            Command::Begin => {
                let t = required(&frame, "transaction")?;
                if self.transactions.contains_key(t) {
                    return Err(protocol(format!("transaction '{t}' is already open")));
                }
                self.transactions
                    .insert(t.to_string(), Transaction::default());
                self.after(None, receipt);
            }
            Command::Commit => {
                let t = required(&frame, "transaction")?.to_string();
                let tx = self.transactions.remove(&t).ok_or_else(|| unknown_tx(&t))?;
                let confirm = self.broker.commit_tx(conn, tx.sends, tx.acks).await?;
                self.after(confirm, receipt);
            }
            Command::Abort => {
                let t = required(&frame, "transaction")?.to_string();
                let tx = self.transactions.remove(&t).ok_or_else(|| unknown_tx(&t))?;
                self.abort(tx).await;
                self.after(None, receipt);
            }
            Command::Disconnect => {
                self.abort_all().await;
                // Leave the broker now, before the RECEIPT: once the client
                // has it, its subscriptions, temporary destinations and
                // client-id are gone (receipts of earlier sends still follow
                // in order). Leaving twice is harmless.
                self.broker.disconnect(conn);
                self.disconnecting = true;
                self.after(None, receipt);
            }
            Command::Connect | Command::Stomp => {
                return Err(protocol("already connected: CONNECT may only be sent once"))
            }
            other => {
                return Err(protocol(format!(
                    "{} is a server frame; clients may not send it",
                    other.as_str()
                )))
            }
        }
        Ok(None)
    }

    /// Refuses what the connection's principal may not do to `dest`.
    fn authorize(
        &self,
        access: Access,
        dest: &Destination,
        conn: ConnId,
    ) -> Result<(), SessionError> {
        let own = auth::own_temp_prefix(&self.config.session_prefix, conn);
        match &self.principal {
            Some(who) => auth::check(who, access, dest, &own),
            None => Err(protocol("not connected")),
        }
    }

    /// The connection's `client-id`, required for durable subscriptions.
    fn client_id(&self) -> Result<String, SessionError> {
        self.connected
            .as_ref()
            .and_then(|c| c.client_id.clone())
            .ok_or_else(|| BrokerError::DurableNeedsClientId.into())
    }

    fn transaction(&mut self, t: &str) -> Result<&mut Transaction, SessionError> {
        self.transactions.get_mut(t).ok_or_else(|| unknown_tx(t))
    }

    /// An aborted transaction's sends are dropped; the messages it
    /// acknowledged are redelivered, as a JMS rollback does.
    async fn abort(&mut self, tx: Transaction) {
        let Some(c) = &self.connected else { return };
        for mut ack in tx.acks {
            ack.kind = AckKind::Nack;
            if let Err(e) = self.broker.acknowledge(c.conn, ack, false).await {
                tracing::debug!(error = %e, "rolled-back acknowledgement no longer applies");
            }
        }
    }

    /// Rolls back every open transaction (DISCONNECT, connection loss).
    pub async fn abort_all(&mut self) {
        let open: Vec<Transaction> = self.transactions.drain().map(|(_, t)| t).collect();
        for tx in open {
            self.abort(tx).await;
        }
    }

    fn connect(&mut self, frame: &Frame) -> Result<Frame, SessionError> {
        let version = match frame.header("accept-version") {
            None => Version::V1_0,
            Some(list) => list
                .split(',')
                .filter_map(|v| Version::parse(v.trim()))
                .filter(|v| SUPPORTED.contains(v))
                .max()
                .ok_or_else(|| SessionError::UnsupportedVersion(list.to_string()))?,
        };
        let (cx, cy) = match frame.header("heart-beat") {
            None => (0, 0),
            Some(hb) => parse_heartbeat(hb)?,
        };
        let cfg = &self.config;
        let send_every_ms = if cy == 0 || cfg.heartbeat_send_ms == 0 {
            0
        } else {
            cy.max(cfg.heartbeat_send_ms)
        };
        let expect_every_ms = if cx == 0 || cfg.heartbeat_receive_ms == 0 {
            0
        } else {
            cx.max(cfg.heartbeat_receive_ms)
        };
        let (conn, outbox) = self.broker.connect();
        let session = format!("{}-{conn}", cfg.session_prefix);
        let client_id = frame.header("client-id").map(str::to_string);
        self.connected = Some(Connected {
            conn,
            outbox,
            version,
            send_every_ms,
            expect_every_ms,
            client_id: client_id.clone(),
        });
        if let Some(id) = &client_id {
            self.broker.claim_client_id(conn, id)?;
        }
        Ok(Frame::new(Command::Connected)
            .with_header("version", version.as_str())
            .with_header("server", concat!("Baton/", env!("CARGO_PKG_VERSION")))
            .with_header("session", session)
            .with_header("heart-beat", format!("{send_every_ms},{expect_every_ms}")))
    }
}

fn unknown_tx(t: &str) -> SessionError {
    protocol(format!(
        "transaction '{t}' was not begun (or already ended)"
    ))
}

fn parse_heartbeat(hb: &str) -> Result<(u64, u64), SessionError> {
    let bad = || {
        protocol(format!(
            "heart-beat must be two whole numbers 'cx,cy', got '{hb}'"
        ))
    };
    let (a, b) = hb.split_once(',').ok_or_else(bad)?;
    let a = a.trim().parse::<u64>().map_err(|_| bad())?;
    let b = b.trim().parse::<u64>().map_err(|_| bad())?;
    Ok((a, b))
}

/// The `ack` header of a MESSAGE in STOMP 1.2: message id and subscription.
fn ack_tag(id: i64, subscription: &str) -> String {
    format!("{id}:{subscription}")
}

fn parse_id(s: &str) -> Result<i64, SessionError> {
    s.parse::<i64>()
        .map_err(|_| protocol(format!("'{s}' is not a message id issued by this broker")))
}

fn ack_request(frame: &Frame, version: Version, kind: AckKind) -> Result<AckRequest, SessionError> {
    let (message_id, subscription) = match version {
        Version::V1_2 => {
            let tag = required(frame, "id")?;
            let (id, sub) = tag.split_once(':').ok_or_else(|| {
                protocol(format!("'{tag}' is not an ack id issued by this broker"))
            })?;
            (parse_id(id)?, Some(sub.to_string()))
        }
        Version::V1_1 => (
            parse_id(required(frame, "message-id")?)?,
            Some(required(frame, "subscription")?.to_string()),
        ),
        Version::V1_0 => (
            parse_id(required(frame, "message-id")?)?,
            frame.header("subscription").map(str::to_string),
        ),
    };
    Ok(AckRequest {
        subscription,
        message_id,
        kind,
    })
}

/// The MESSAGE frame for one delivery.
pub fn message_frame(d: &Delivery, version: Version) -> Frame {
    let m = &d.message;
    let mut f = Frame::new(Command::Message);
    f.headers.reserve(m.headers.len() + 7);
    f.push_header("subscription", &*d.subscription);
    f.push_header("message-id", m.id.to_string());
    f.push_header("destination", m.destination.to_string());
    if version == Version::V1_2 && d.ack != AckMode::Auto {
        f.push_header("ack", ack_tag(m.id, &d.subscription));
    }
    if m.redelivered {
        f.push_header("redelivered", "true");
    }
    if m.redelivery_count > 0 {
        f.push_header("redelivery-count", m.redelivery_count.to_string());
    }
    f.headers.extend(m.headers.iter().cloned());
    f.push_header("content-length", m.body.len().to_string());
    f.body = m.body.clone();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_header_parses() {
        assert_eq!(parse_heartbeat("0,0").unwrap(), (0, 0));
        assert_eq!(parse_heartbeat("1000, 2000").unwrap(), (1000, 2000));
        assert!(parse_heartbeat("1000").is_err());
        assert!(parse_heartbeat("a,b").is_err());
        assert!(parse_heartbeat("-1,0").is_err());
    }

    #[test]
    fn ack_ids_per_version() {
        let f = Frame::new(Command::Ack).with_header("id", "42:sub:1");
        let a = ack_request(&f, Version::V1_2, AckKind::Ack).unwrap();
        assert_eq!(
            (a.message_id, a.subscription.as_deref()),
            (42, Some("sub:1"))
        );
        let f = Frame::new(Command::Ack)
            .with_header("message-id", "7")
            .with_header("subscription", "s");
        let a = ack_request(&f, Version::V1_1, AckKind::Nack).unwrap();
        assert_eq!(
            (a.message_id, a.subscription.as_deref(), a.kind),
            (7, Some("s"), AckKind::Nack)
        );
        let f = Frame::new(Command::Ack).with_header("message-id", "7");
        assert!(ack_request(&f, Version::V1_1, AckKind::Ack).is_err());
        let a = ack_request(&f, Version::V1_0, AckKind::Ack).unwrap();
        assert_eq!((a.message_id, a.subscription), (7, None));
        let f = Frame::new(Command::Ack).with_header("id", "garbage");
        assert!(ack_request(&f, Version::V1_2, AckKind::Ack).is_err());
    }
}
