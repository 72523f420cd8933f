//! One STOMP connection's protocol state: turns each client frame into broker
//! calls, and deliveries into MESSAGE frames. No I/O here; the session task
//! owns the socket. Reading SEND and SUBSCRIBE headers is in `frames`.

mod frames;

use super::error::{protocol, SessionError};
use super::frame::{Command, Frame, Version};
use crate::auth::{self, Access, Principal};
use crate::broker::{
    AckKind, AckRequest, AfterFailedSend, Broker, BrokerError, Command as CoreCommand, Confirm,
    Connection, Seen,
};
use crate::message::Destination;
use frames::durable_name;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::FutureExt;
use std::sync::Arc;

/// Settings every session shares.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub limits: super::frame::Limits,
    pub heartbeat_send_ms: u64,
    pub heartbeat_receive_ms: u64,
    pub default_prefetch: usize,
    pub max_pending_commits: usize,
    /// `limits.max_connections` and `limits.max_connections_per_address`,
    /// shared with the other messaging listeners.
    pub admission: crate::admission::Admission,
    /// Prefix of the `session` header, usually the node id.
    pub session_prefix: String,
    /// Logins and the permission map.
    pub auth: Arc<crate::auth::Logins>,
}

/// A receipt to send (if any) once an operation is durable.
pub type PendingReceipt = BoxFuture<'static, (Option<String>, Result<(), BrokerError>)>;

/// What the connection has negotiated, and its handle on the core.
pub struct Connected {
    pub core: Connection,
    pub version: Version,
    /// Interval at which we send heart-beats (0 = none).
    pub send_every_ms: u64,
    /// Interval at which we expect data (0 = none).
    pub expect_every_ms: u64,
    /// The `client-id` header of CONNECT.
    pub client_id: Option<String>,
}

pub struct Handler {
    broker: Broker,
    config: Arc<SessionConfig>,
    pub connected: Option<Connected>,
    /// Operations waiting for their commit, in frame order.
    pub pending: FuturesOrdered<PendingReceipt>,
    /// Set by DISCONNECT: stop reading, finish pending work, close.
    pub disconnecting: bool,
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

/// ActiveMQ's header that says whether a SEND is a text or a bytes message
/// (otherwise: bytes with `content-length`, text without).
pub const MESSAGE_TYPE: &str = "amq-msg-type";

/// Headers the broker sets on MESSAGE frames or consumes itself; never
/// stored as user headers.
const PROTOCOL_HEADERS: [&str; 12] = [
    PRODUCER_ID,
    PRODUCER_SEQ,
    MESSAGE_TYPE,
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
            pending: FuturesOrdered::new(),
            disconnecting: false,
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
            Some(confirm) => self
                .pending
                .push_back(confirm.map(move |r| (receipt, r)).boxed()),
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
                    let who = self
                        .config
                        .auth
                        .login(frame.header("login"), frame.header("passcode"), &self.peer)
                        .await?;
                    self.principal = Some(who);
                    self.connect(&frame).map(Some)
                }
                other => Err(protocol(format!(
                    "expected CONNECT or STOMP as the first frame, got {}",
                    other.as_str()
                ))),
            };
        };
        let version = c.version;
        let command = match frame.command {
            Command::Send => {
                let tx = frame.header("transaction").map(str::to_string);
                let (message, destinations) = self.message_from(frame)?;
                for d in &destinations {
                    self.authorize(Access::Write, d)?;
                }
                CoreCommand::Publish {
                    message,
                    destinations,
                    tx,
                }
            }
            Command::Subscribe => {
                let spec = self.subscribe_spec(&frame, version)?;
                self.authorize(Access::Read, &spec.destination)?;
                CoreCommand::Subscribe(spec)
            }
            Command::Unsubscribe => match durable_name(&frame) {
                Some(name) => CoreCommand::UnsubscribeDurable(name.to_string()),
                None => {
                    let id = match (frame.header("id"), version) {
                        (Some(id), _) => id,
                        (None, Version::V1_0) => required(&frame, "destination")?,
                        (None, _) => required(&frame, "id")?,
                    };
                    CoreCommand::Unsubscribe {
                        id: id.to_string(),
                        seen: Seen::All,
                    }
                }
            },
            Command::Ack | Command::Nack => {
                let kind = if frame.command == Command::Ack {
                    AckKind::Ack
                } else {
                    AckKind::Nack
                };
                let (target, subscription) = ack_target(&frame, version)?;
                let message_id = match target {
                    AckTarget::Id(id) => id,
                    AckTarget::ClientId(name) => self
                        .broker
                        .in_flight_by_client_id(c.core.id(), subscription.as_deref(), &name)
                        .ok_or_else(|| {
                            protocol(format!(
                                "message '{name}' is not waiting for an acknowledgement on \
                                 this connection"
                            ))
                        })?,
                };
                CoreCommand::Ack {
                    ack: AckRequest {
                        subscription,
                        message_id,
                        first: None,
                        kind,
                    },
                    tx: frame.header("transaction").map(str::to_string),
                    wait: receipt.is_some(),
                }
            }
            Command::Begin => CoreCommand::Begin(required(&frame, "transaction")?.to_string()),
            Command::Commit => CoreCommand::Commit(required(&frame, "transaction")?.to_string()),
            Command::Abort => CoreCommand::Rollback {
                tx: required(&frame, "transaction")?.to_string(),
                redeliver: true,
            },
            Command::Disconnect => {
                // Leave the broker now, before the RECEIPT: once the client
                // has it, its subscriptions, temporary destinations and
                // client-id are gone (receipts of earlier sends still follow
                // in order).
                self.close().await;
                self.disconnecting = true;
                self.after(None, receipt);
                return Ok(None);
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
        };
        let confirm = self.core()?.execute(command).await?;
        self.after(confirm, receipt);
        Ok(None)
    }

    /// Refuses what the connection's principal may not do to `dest`.
    fn authorize(&self, access: Access, dest: &Destination) -> Result<(), SessionError> {
        match (&self.principal, &self.connected) {
            (Some(who), Some(c)) => Ok(auth::check(who, access, dest, c.core.temp_prefix())?),
            _ => Err(protocol("not connected")),
        }
    }

    /// The connection's handle on the core (after CONNECT).
    fn core(&mut self) -> Result<&mut Connection, SessionError> {
        self.connected
            .as_mut()
            .map(|c| &mut c.core)
            .ok_or_else(|| protocol("not connected"))
    }

    /// Leaves the broker (DISCONNECT, connection loss): open transactions
    /// roll back, subscriptions and temporary destinations end.
    pub async fn close(&mut self) {
        if let Some(c) = self.connected.as_mut() {
            c.core.close().await;
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
        let mut core = self
            .broker
            .open(&cfg.session_prefix, AfterFailedSend::Close);
        let session = format!("{}-{}", cfg.session_prefix, core.id());
        let client_id = frame.header("client-id").map(str::to_string);
        let claimed = match &client_id {
            Some(id) => core.claim_client_id(id, None),
            None => Ok(()),
        };
        self.connected = Some(Connected {
            core,
            version,
            send_every_ms,
            expect_every_ms,
            client_id,
        });
        claimed?;
        Ok(Frame::new(Command::Connected)
            .with_header("version", version.as_str())
            .with_header("server", concat!("Baton/", env!("CARGO_PKG_VERSION")))
            .with_header("session", session)
            .with_header("heart-beat", format!("{send_every_ms},{expect_every_ms}")))
    }
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

fn parse_id(s: &str) -> Result<i64, SessionError> {
    s.parse::<i64>()
        .map_err(|_| protocol(format!("'{s}' is not a message id issued by this broker")))
}

/// The message an ACK or NACK names.
#[derive(Debug, PartialEq)]
enum AckTarget {
    /// Baton's id (a STOMP 1.2 `ack` header, or a `message-id`).
    Id(i64),
    /// The `message-id` of a message an OpenWire client sent: its
    /// JMSMessageID, as ActiveMQ shows it (STOMP 1.0 and 1.1).
    ClientId(String),
}

/// What an ACK or NACK frame names: the message and its subscription.
fn ack_target(
    frame: &Frame,
    version: Version,
) -> Result<(AckTarget, Option<String>), SessionError> {
    let by_message_id = |s: &str| match s.parse::<i64>() {
        Ok(id) => AckTarget::Id(id),
        Err(_) => AckTarget::ClientId(s.to_string()),
    };
    Ok(match version {
        Version::V1_2 => {
            // What `delivery::encode_delivery` wrote as the MESSAGE's `ack`.
            let tag = required(frame, "id")?;
            let (id, sub) = tag.split_once(':').ok_or_else(|| {
                protocol(format!("'{tag}' is not an ack id issued by this broker"))
            })?;
            (AckTarget::Id(parse_id(id)?), Some(sub.to_string()))
        }
        Version::V1_1 => (
            by_message_id(required(frame, "message-id")?),
            Some(required(frame, "subscription")?.to_string()),
        ),
        Version::V1_0 => (
            by_message_id(required(frame, "message-id")?),
            frame.header("subscription").map(str::to_string),
        ),
    })
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
        let (t, sub) = ack_target(&f, Version::V1_2).unwrap();
        assert_eq!((t, sub.as_deref()), (AckTarget::Id(42), Some("sub:1")));
        let f = Frame::new(Command::Ack)
            .with_header("message-id", "7")
            .with_header("subscription", "s");
        let (t, sub) = ack_target(&f, Version::V1_1).unwrap();
        assert_eq!((t, sub.as_deref()), (AckTarget::Id(7), Some("s")));
        let f = Frame::new(Command::Ack).with_header("message-id", "7");
        assert!(ack_target(&f, Version::V1_1).is_err());
        let (t, sub) = ack_target(&f, Version::V1_0).unwrap();
        assert_eq!((t, sub), (AckTarget::Id(7), None));
        let f = Frame::new(Command::Ack).with_header("id", "garbage");
        assert!(ack_target(&f, Version::V1_2).is_err());
        // A Java-sent message's message-id is its JMSMessageID.
        let f = Frame::new(Command::Ack).with_header("message-id", "ID:h-1-2-3:1:1:1:4");
        let (t, _) = ack_target(&f, Version::V1_0).unwrap();
        assert_eq!(t, AckTarget::ClientId("ID:h-1-2-3:1:1:1:4".to_string()));
    }
}
