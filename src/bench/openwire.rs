//! One OpenWire connection of the load generator, built on the codec of
//! [`crate::openwire`] (client role): WireFormatInfo exchange and
//! negotiation, ConnectionInfo, SessionInfo, then one ProducerInfo or
//! ConsumerInfo; sends are BytesMessages, with `responseRequired` when the
//! run wants a confirmation per message (the Java client's sync send);
//! consumers acknowledge with standard or individual MessageAcks. Works
//! against Baton and ActiveMQ alike.

use super::BenchError;
use crate::openwire::codec::{CodecError, OpenWireCodec};
use crate::openwire::command::{
    ack_type, last_delivered, ConnectionInfo, ConsumerInfo, KeepAliveInfo, MessageAck,
    MessageDispatch, ProducerInfo, RemoveInfo, RemovedObject, SessionInfo, ShutdownInfo,
};
use crate::openwire::map::{PrimitiveMap, Value};
use crate::openwire::types::{
    ConnectionId, ConsumerId, Destination, DestinationKind, MessageId, ProducerId, SessionId,
};
use crate::openwire::wireformat::{self, WireFormatInfo};
use crate::openwire::{Command, Limits, Message, MessageKind, Options, Parsed, Role};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Message property carrying the send time (µs since the run's epoch); a
/// Java identifier, so that a JMS consumer of the same queue accepts it.
pub(crate) const SENT_AT_PROPERTY: &str = "BenchSentUs";
/// Message property carrying the message's run-wide number.
pub(crate) const ID_PROPERTY: &str = "BenchId";

/// Prefetch when the run does not set one: the Java client's defaults.
const QUEUE_PREFETCH: i32 = 1000;
const TOPIC_PREFETCH: i32 = 32766;

/// Connections opened by this process, for unique connection ids.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

impl From<CodecError> for BenchError {
    fn from(e: CodecError) -> Self {
        BenchError::OpenWire(e.to_string())
    }
}

/// The OpenWire destination of `--destination`: `/queue/x` and `queue://x`
/// are queue `x`, `/topic/x` and `topic://x` topic `x`, any other name a
/// queue of that name.
pub fn destination(s: &str) -> Destination {
    if let Some(name) = s.strip_prefix("/queue/") {
        Destination::queue(name)
    } else if let Some(name) = s.strip_prefix("/topic/") {
        Destination::topic(name)
    } else {
        Destination::parse(s, DestinationKind::Queue)
    }
}

/// A message received by a consumer.
pub struct Delivery {
    pub message: Box<Message>,
    pub consumer_id: ConsumerId,
    pub destination: Option<Destination>,
}

impl Delivery {
    fn long_property(&self, key: &str) -> Option<u64> {
        match self.message.properties().ok()?.get(key) {
            Some(Value::Long(v)) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The producer's send time (µs since its run's epoch).
    pub fn sent_at_us(&self) -> Option<u64> {
        self.long_property(SENT_AT_PROPERTY)
    }

    /// The message's run-wide number.
    pub fn bench_id(&self) -> Option<u64> {
        self.long_property(ID_PROPERTY)
    }
}

/// An open OpenWire connection with one session.
pub struct OwConn {
    framed: Framed<TcpStream, OpenWireCodec>,
    connection_id: ConnectionId,
    session_id: SessionId,
    next_command_id: i32,
    producer: Option<(ProducerId, Destination)>,
    next_sequence: i64,
    consumer: Option<ConsumerId>,
    /// Dispatches that arrived while waiting for a Response.
    pending: VecDeque<Delivery>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl OwConn {
    /// TCP connect (no Nagle), WireFormatInfo both ways (negotiated as the
    /// codec requires), ConnectionInfo and SessionInfo, each confirmed.
    pub async fn open(
        addr: &str,
        login: Option<&str>,
        passcode: Option<&str>,
    ) -> Result<OwConn, BenchError> {
        let connect_err = |source| BenchError::Connect {
            addr: addr.to_string(),
            source,
        };
        let socket = TcpStream::connect(addr).await.map_err(connect_err)?;
        socket.set_nodelay(true).map_err(connect_err)?;
        let options = Options {
            role: Role::Client,
            limits: Limits::handshake(),
            stack_trace_enabled: false,
        };
        let mut framed = Framed::new(socket, OpenWireCodec::new(options));
        let ours = WireFormatInfo::client(wireformat::DEFAULT_MAX_FRAME_SIZE);
        framed.send(ours.clone().into()).await?;
        let theirs = match framed.next().await {
            None => return Err(BenchError::Closed),
            Some(r) => match r? {
                Parsed::Command(Command::WireFormatInfo(w)) => w,
                Parsed::Command(c) => return Err(BenchError::Unexpected(c.name().into())),
                Parsed::Oversized(o) => return Err(oversized(o.type_code)),
            },
        };
        let negotiated = wireformat::negotiate(&ours, &theirs)
            .map_err(|e| BenchError::OpenWire(e.to_string()))?;
        let max = usize::try_from(negotiated.max_frame_size)
            .ok()
            .filter(|&m| m > 0)
            .unwrap_or(wireformat::DEFAULT_MAX_FRAME_SIZE);
        framed.codec_mut().options.limits = Limits::new(max);
        framed.codec_mut().options.stack_trace_enabled = negotiated.stack_trace_enabled;

        let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let connection_id = ConnectionId::new(format!(
            "ID:baton-bench-{}-{}:{n}",
            std::process::id(),
            now_ms()
        ));
        let session_id = SessionId {
            connection_id: connection_id.value.clone(),
            value: 1,
        };
        let mut conn = OwConn {
            framed,
            connection_id: connection_id.clone(),
            session_id: session_id.clone(),
            next_command_id: 0,
            producer: None,
            next_sequence: 0,
            consumer: None,
            pending: VecDeque::new(),
        };
        let info = ConnectionInfo {
            connection_id: connection_id.clone(),
            client_id: Some(format!("{}-client", connection_id.value)),
            user_name: login.map(str::to_owned),
            password: passcode.map(str::to_owned),
            ..ConnectionInfo::default()
        };
        conn.request(info.into()).await?;
        conn.request(
            SessionInfo {
                session_id,
                ..SessionInfo::default()
            }
            .into(),
        )
        .await?;
        Ok(conn)
    }

    fn take_command_id(&mut self) -> i32 {
        self.next_command_id += 1;
        self.next_command_id
    }

    /// Sends `command` with a fresh command id, `responseRequired` as
    /// given; returns the id.
    async fn send_command(
        &mut self,
        mut command: Command,
        response_required: bool,
    ) -> Result<i32, BenchError> {
        let id = self.take_command_id();
        command.set_base(id, response_required);
        self.framed.send(command).await?;
        Ok(id)
    }

    /// Sends `command` and waits for its Response (an ExceptionResponse is
    /// an error). Dispatches arriving meanwhile are kept for [`Self::recv`].
    async fn request(&mut self, command: Command) -> Result<(), BenchError> {
        let id = self.send_command(command, true).await?;
        self.wait_response(id).await
    }

    async fn wait_response(&mut self, id: i32) -> Result<(), BenchError> {
        loop {
            match self.next_command().await? {
                Command::Response(r) if r.correlation_id == id => return Ok(()),
                Command::ExceptionResponse(r) if r.correlation_id == id => {
                    return Err(BenchError::Refused(
                        r.exception
                            .as_ref()
                            .map_or_else(|| "ExceptionResponse".into(), |t| t.to_string()),
                    ))
                }
                Command::MessageDispatch(d) => {
                    if let Some(delivery) = into_delivery(*d) {
                        self.pending.push_back(delivery);
                    }
                }
                _ => {}
            }
        }
    }

    /// The next command that is not only traffic: KeepAliveInfos asking
    /// for an answer are answered, a ConnectionError or ShutdownInfo ends
    /// the connection.
    async fn next_command(&mut self) -> Result<Command, BenchError> {
        loop {
            let command = match self.framed.next().await {
                None => return Err(BenchError::Closed),
                Some(r) => match r? {
                    Parsed::Command(c) => c,
                    Parsed::Oversized(o) => return Err(oversized(o.type_code)),
                },
            };
            match command {
                Command::KeepAliveInfo(k) => {
                    if k.response_required {
                        self.framed.send(KeepAliveInfo::default().into()).await?;
                    }
                }
                Command::ConnectionError(e) => {
                    return Err(BenchError::Refused(
                        e.exception
                            .as_ref()
                            .map_or_else(|| "ConnectionError".into(), |t| t.to_string()),
                    ))
                }
                Command::ShutdownInfo(_) => return Err(BenchError::Closed),
                c => return Ok(c),
            }
        }
    }

    /// Registers the producer of this connection on `destination`.
    pub async fn open_producer(&mut self, destination: Destination) -> Result<(), BenchError> {
        let producer_id = ProducerId {
            connection_id: self.connection_id.value.clone(),
            session_id: self.session_id.value,
            value: 1,
        };
        let info = ProducerInfo {
            producer_id: producer_id.clone(),
            destination: Some(destination.clone()),
            ..ProducerInfo::default()
        };
        self.request(info.into()).await?;
        self.producer = Some((producer_id, destination));
        Ok(())
    }

    /// Sends one BytesMessage from the producer; with `confirm`, waits
    /// for the broker's Response (for a persistent message: stored).
    pub async fn send_message(
        &mut self,
        body: &Bytes,
        persistent: bool,
        confirm: bool,
        sent_at_us: u64,
        bench_id: u64,
    ) -> Result<(), BenchError> {
        let Some((producer_id, destination)) = self.producer.clone() else {
            return Err(BenchError::Args("no producer on this connection".into()));
        };
        self.next_sequence += 1;
        let mut props = PrimitiveMap::new();
        let long = |v: u64| Value::Long(i64::try_from(v).unwrap_or(i64::MAX));
        props.insert(SENT_AT_PROPERTY, long(sent_at_us));
        props.insert(ID_PROPERTY, long(bench_id));
        let mut message = Message {
            kind: MessageKind::Bytes,
            message_id: MessageId {
                text_view: None,
                producer_id: producer_id.clone(),
                producer_sequence_id: self.next_sequence,
                broker_sequence_id: 0,
            },
            producer_id,
            destination,
            persistent,
            priority: 4,
            timestamp: now_ms(),
            content: Some(body.clone()),
            ..Message::default()
        };
        message
            .set_properties(&props)
            .map_err(|e| BenchError::OpenWire(e.to_string()))?;
        let id = self.send_command(message.into(), confirm).await?;
        if confirm {
            self.wait_response(id).await?;
        }
        Ok(())
    }

    /// Opens the consumer of this connection and waits for the broker to
    /// confirm it, so that no message sent afterwards is missed.
    pub async fn open_consumer(
        &mut self,
        destination: Destination,
        prefetch: Option<u32>,
    ) -> Result<(), BenchError> {
        let consumer_id = ConsumerId {
            connection_id: self.connection_id.value.clone(),
            session_id: self.session_id.value,
            value: 1,
        };
        let default = if destination.kind.is_topic() {
            TOPIC_PREFETCH
        } else {
            QUEUE_PREFETCH
        };
        let info = ConsumerInfo {
            consumer_id: consumer_id.clone(),
            destination,
            prefetch_size: prefetch.map_or(default, |p| i32::try_from(p).unwrap_or(i32::MAX)),
            dispatch_async: true,
            ..ConsumerInfo::default()
        };
        self.request(info.into()).await?;
        self.consumer = Some(consumer_id);
        Ok(())
    }

    /// The next message dispatched to the consumer.
    pub async fn recv(&mut self) -> Result<Delivery, BenchError> {
        if let Some(d) = self.pending.pop_front() {
            return Ok(d);
        }
        loop {
            if let Command::MessageDispatch(d) = self.next_command().await? {
                if let Some(delivery) = into_delivery(*d) {
                    return Ok(delivery);
                }
            }
        }
    }

    /// Acknowledges one message: `individual` = an INDIVIDUAL ack, else a
    /// STANDARD ack of that message (what a JMS session in auto or client
    /// mode sends when it acknowledges each message).
    pub async fn ack(&mut self, d: &Delivery, individual: bool) -> Result<(), BenchError> {
        let ack = MessageAck {
            destination: d
                .destination
                .clone()
                .or_else(|| Some(d.message.destination.clone())),
            consumer_id: d.consumer_id.clone(),
            ack_type: if individual {
                ack_type::INDIVIDUAL
            } else {
                ack_type::STANDARD
            },
            first_message_id: Some(d.message.message_id.clone()),
            last_message_id: Some(d.message.message_id.clone()),
            message_count: 1,
            ..MessageAck::default()
        };
        self.send_command(ack.into(), false).await?;
        Ok(())
    }

    /// Removes the connection and waits for the broker's Response (so it
    /// has handled every command sent before), then says goodbye.
    pub async fn disconnect(mut self) -> Result<(), BenchError> {
        let remove = RemoveInfo {
            object_id: RemovedObject::Connection(self.connection_id.clone()),
            last_delivered_sequence_id: last_delivered::UNSET,
            ..RemoveInfo::default()
        };
        self.request(remove.into()).await?;
        self.send_command(ShutdownInfo::default().into(), false)
            .await?;
        Ok(())
    }
}

fn oversized(type_code: u8) -> BenchError {
    BenchError::OpenWire(format!(
        "the broker sent a frame of type {type_code} larger than the negotiated MaxFrameSize"
    ))
}

fn into_delivery(d: MessageDispatch) -> Option<Delivery> {
    let MessageDispatch {
        consumer_id,
        destination,
        message,
        ..
    } = d;
    message.map(|message| Delivery {
        message,
        consumer_id,
        destination,
    })
}
