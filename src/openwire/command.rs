//! The commands of OPENWIRE.md §2.4 and §7, and [`Command`], the typed enum
//! between the OpenWire codec and the connection task.
//!
//! Each struct lists its fields in wire order (v12 loose encoding, the same
//! in v10 and v11); its decoder and encoder are generated from that list.
//! Every command but WireFormatInfo starts with `command_id` and
//! `response_required` (BaseCommand).

use bytes::{Bytes, BytesMut};

pub use super::error::type_name;
use super::error::{EncodeError, FrameError};
use super::message::Message;
pub use super::types::DestinationInfo;
use super::types::{
    BrokerId, ConnectionId, ConsumerId, Destination, ExceptionClass, MessageId, ProducerId,
    SessionId, Throwable, TransactionId,
};
pub use super::wire::Absent;
use super::wire::{wire_struct, DataStructure, Reader};
use super::wireformat::WireFormatInfo;

/// Which end of the connection is decoding: it decides which command types
/// may arrive (OPENWIRE.md §2.2, §6.1 rule 4). Any other type is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Baton's listener: accepts what a client sends (1, 3–12, 14, 15, 17,
    /// 18, 20, 22, 23–28).
    Broker,
    /// A client of a broker (the load generator, tests): accepts what a
    /// broker sends (1, 2, 10, 11, 16–19, 21, 23–28, 30, 31, 33, 34).
    Client,
}

impl Role {
    /// Whether a frame of type `code` may arrive at this end.
    pub fn accepts(self, code: u8) -> bool {
        match self {
            Role::Broker => matches!(code, 1 | 3..=12 | 14 | 15 | 17 | 18 | 20 | 22..=28),
            Role::Client => {
                matches!(code, 1 | 2 | 10 | 11 | 16..=19 | 21 | 23..=28 | 30 | 31 | 33 | 34)
            }
        }
    }
}

/// `TransactionInfo.transaction_type` values (`CMD/TransactionInfo.java`).
pub mod transaction_type {
    pub const BEGIN: i8 = 0;
    pub const PREPARE: i8 = 1;
    pub const COMMIT_ONE_PHASE: i8 = 2;
    pub const COMMIT_TWO_PHASE: i8 = 3;
    pub const ROLLBACK: i8 = 4;
    pub const RECOVER: i8 = 5;
    pub const FORGET: i8 = 6;
    pub const END: i8 = 7;
}

/// `MessageAck.ack_type` values (`CMD/MessageAck.java`).
pub mod ack_type {
    pub const DELIVERED: i8 = 0;
    pub const POISON: i8 = 1;
    pub const STANDARD: i8 = 2;
    pub const REDELIVERED: i8 = 3;
    pub const INDIVIDUAL: i8 = 4;
    pub const UNMATCHED: i8 = 5;
    pub const EXPIRED: i8 = 6;
}

/// `DestinationInfo.operation_type` values.
pub mod destination_operation {
    pub const ADD: i8 = 0;
    pub const REMOVE: i8 = 1;
}

/// `RemoveInfo.last_delivered_sequence_id` special values.
pub mod last_delivered {
    /// Increment no redelivery counter.
    pub const UNSET: i64 = -1;
    /// Increment every redelivery counter (also: the socket died).
    pub const UNKNOWN: i64 = -2;
}

wire_struct! {
    /// Broker → client, right after the WireFormatInfo.
    pub struct BrokerInfo = 2;
    {
        pub command_id: i32,
        pub response_required: bool,
        /// Must not be null.
        pub broker_id: BrokerId,
        pub broker_url: Option<String>,
        pub peer_broker_infos: Option<Vec<BrokerInfo>>,
        /// `getBrokerName()` waits for it.
        pub broker_name: Option<String>,
        pub slave_broker: bool,
        pub master_broker: bool,
        /// Send false: true turns off the client's optimizeAcknowledge.
        pub fault_tolerant_configuration: bool,
        pub duplex_connection: bool,
        pub network_connection: bool,
        pub connection_id: i64,
        pub broker_upload_url: Option<String>,
        pub network_properties: Option<String>,
    }
}

wire_struct! {
    /// Client → broker: open a connection (user name and password in clear).
    pub struct ConnectionInfo = 3;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub connection_id: ConnectionId,
        pub client_id: Option<String>,
        pub password: Option<String>,
        pub user_name: Option<String>,
        pub broker_path: Option<Vec<BrokerId>>,
        pub broker_master_connector: bool,
        pub manageable: bool,
        pub client_master: bool,
        pub fault_tolerant: bool,
        /// Set on the replay after a failover reconnect.
        pub failover_reconnect: bool,
        pub client_ip: Option<String>,
    }
}

wire_struct! {
    /// Client → broker: open a session (async).
    pub struct SessionInfo = 4;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub session_id: SessionId,
    }
}

wire_struct! {
    /// Client → broker: open a consumer (OPENWIRE.md §3.2).
    pub struct ConsumerInfo = 5;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub consumer_id: ConsumerId,
        /// A QueueBrowser.
        pub browser: bool,
        pub destination: Destination,
        /// 0 = pull mode (MessagePull).
        pub prefetch_size: i32,
        pub maximum_pending_message_limit: i32,
        pub dispatch_async: bool,
        pub selector: Option<String>,
        pub client_id: Option<String>,
        /// Set for a durable topic subscriber (with `client_id`).
        pub subscription_name: Option<String>,
        pub no_local: bool,
        pub exclusive: bool,
        pub retroactive: bool,
        pub priority: i8,
        pub broker_path: Option<Vec<BrokerId>>,
        /// Always null from clients; anything else is rejected.
        pub additional_predicate: Option<Absent>,
        pub network_subscription: bool,
        pub optimized_acknowledge: bool,
        pub no_range_acks: bool,
        pub network_consumer_path: Option<Vec<ConsumerId>>,
    }
}

wire_struct! {
    /// Client → broker: open a producer.
    pub struct ProducerInfo = 6;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub producer_id: ProducerId,
        /// None for an anonymous producer.
        pub destination: Option<Destination>,
        pub broker_path: Option<Vec<BrokerId>>,
        pub dispatch_async: bool,
        /// > 0: the client waits for ProducerAcks.
        pub window_size: i32,
    }
}

wire_struct! {
    /// Client → broker: begin, commit or roll back a transaction.
    pub struct TransactionInfo = 7;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub connection_id: ConnectionId,
        pub transaction_id: TransactionId,
        /// One of [`transaction_type`].
        pub transaction_type: i8,
    }
}

wire_struct! {
    /// Client → broker: delete a durable subscription.
    pub struct RemoveSubscriptionInfo = 9;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub connection_id: ConnectionId,
        pub subscription_name: Option<String>,
        pub client_id: Option<String>,
    }
}

wire_struct! {
    /// Both ways: traffic when there is nothing else to send.
    pub struct KeepAliveInfo = 10;
    {
        pub command_id: i32,
        pub response_required: bool,
    }
}

wire_struct! {
    /// Both ways: the sender is going away.
    pub struct ShutdownInfo = 11;
    {
        pub command_id: i32,
        pub response_required: bool,
    }
}

wire_struct! {
    /// Client → broker: close a connection, session, consumer or producer.
    pub struct RemoveInfo = 12;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub object_id: RemovedObject,
        /// See [`last_delivered`].
        pub last_delivered_sequence_id: i64,
    }
}

wire_struct! {
    /// Client → broker; ignored.
    pub struct ControlCommand = 14;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub command: Option<String>,
    }
}

wire_struct! {
    /// Client → broker; ignored.
    pub struct FlushCommand = 15;
    {
        pub command_id: i32,
        pub response_required: bool,
    }
}

wire_struct! {
    /// Broker → client: an async command failed; the client's
    /// ExceptionListener gets it, the connection stays open.
    pub struct ConnectionError = 16;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub exception: Option<Throwable>,
        pub connection_id: Option<ConnectionId>,
    }
}

wire_struct! {
    /// Client → broker after a failover: set a consumer's prefetch.
    pub struct ConsumerControl = 17;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub destination: Option<Destination>,
        pub close: bool,
        pub consumer_id: Option<ConsumerId>,
        pub prefetch: i32,
        pub flush: bool,
        pub start: bool,
        pub stop: bool,
    }
}

wire_struct! {
    /// Both ways. Never send `connected_brokers` or `reconnect_to` unless
    /// clients' failover lists should be rewritten.
    pub struct ConnectionControl = 18;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub close: bool,
        pub exit: bool,
        pub fault_tolerant: bool,
        pub resume: bool,
        pub suspend: bool,
        pub connected_brokers: Option<String>,
        pub reconnect_to: Option<String>,
        pub rebalance_connection: bool,
        pub token: Option<Bytes>,
    }
}

wire_struct! {
    /// Broker → client, only for producers with a window size.
    pub struct ProducerAck = 19;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub producer_id: Option<ProducerId>,
        pub size: i32,
    }
}

wire_struct! {
    /// Client → broker: a prefetch-0 consumer asks for one message.
    pub struct MessagePull = 20;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub consumer_id: ConsumerId,
        pub destination: Option<Destination>,
        /// 0 = wait forever, −1 = do not wait, t > 0 = wait t ms.
        pub timeout: i64,
        pub correlation_id: Option<String>,
        pub message_id: Option<MessageId>,
    }
}

wire_struct! {
    /// Broker → client: a message for a consumer; `message: None` ends a
    /// pull or a browse.
    pub struct MessageDispatch = 21;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub consumer_id: ConsumerId,
        pub destination: Option<Destination>,
        pub message: Option<Box<Message>>,
        pub redelivery_counter: i32,
    }
}

wire_struct! {
    /// Client → broker: acknowledge (OPENWIRE.md §3.6).
    pub struct MessageAck = 22;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub destination: Option<Destination>,
        pub transaction_id: Option<TransactionId>,
        pub consumer_id: ConsumerId,
        /// One of [`ack_type`].
        pub ack_type: i8,
        pub first_message_id: Option<MessageId>,
        pub last_message_id: Option<MessageId>,
        pub message_count: i32,
        /// Plain data, never used to look anything up.
        pub poison_cause: Option<Throwable>,
    }
}

wire_struct! {
    /// Broker → client: the command `correlation_id` succeeded.
    pub struct Response = 30;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub correlation_id: i32,
    }
}

wire_struct! {
    /// Broker → client: the command `correlation_id` failed.
    pub struct ExceptionResponse = 31;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub correlation_id: i32,
        pub exception: Option<Throwable>,
    }
}

wire_struct! {
    /// Broker → client: the answer to an XA RECOVER.
    pub struct DataArrayResponse = 33;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub correlation_id: i32,
        pub data: Option<Vec<TransactionId>>,
    }
}

wire_struct! {
    /// Broker → client: the answer to an XA PREPARE.
    pub struct IntegerResponse = 34;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub correlation_id: i32,
        pub result: i32,
    }
}

impl Response {
    pub fn new(correlation_id: i32) -> Self {
        Response {
            correlation_id,
            ..Self::default()
        }
    }
}

impl ExceptionResponse {
    /// An error answer naming an allow-listed class.
    pub fn new(correlation_id: i32, class: ExceptionClass, message: impl Into<String>) -> Self {
        ExceptionResponse {
            correlation_id,
            exception: Some(Throwable::new(class, message)),
            ..Self::default()
        }
    }
}

impl ConnectionError {
    pub fn new(
        class: ExceptionClass,
        message: impl Into<String>,
        connection_id: Option<ConnectionId>,
    ) -> Self {
        ConnectionError {
            exception: Some(Throwable::new(class, message)),
            connection_id,
            ..Self::default()
        }
    }
}

impl MessageDispatch {
    /// The "nothing (more)" dispatch that ends a pull or a browse.
    pub fn null(consumer_id: ConsumerId) -> Self {
        MessageDispatch {
            consumer_id,
            ..Self::default()
        }
    }
}

/// What a RemoveInfo closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedObject {
    Connection(ConnectionId),
    Session(SessionId),
    Consumer(ConsumerId),
    Producer(ProducerId),
}

impl Default for RemovedObject {
    fn default() -> Self {
        RemovedObject::Connection(ConnectionId::default())
    }
}

impl Default for TransactionId {
    fn default() -> Self {
        TransactionId::Local(Default::default())
    }
}

impl DataStructure for RemovedObject {
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        Ok(match code {
            ConnectionId::TYPE => Self::Connection(ConnectionId::read_fields(r)?),
            SessionId::TYPE => Self::Session(SessionId::read_fields(r)?),
            ConsumerId::TYPE => Self::Consumer(ConsumerId::read_fields(r)?),
            ProducerId::TYPE => Self::Producer(ProducerId::read_fields(r)?),
            _ => return Err(FrameError::UnexpectedType { code, field }),
        })
    }
    fn type_code(&self) -> u8 {
        match self {
            Self::Connection(_) => ConnectionId::TYPE,
            Self::Session(_) => SessionId::TYPE,
            Self::Consumer(_) => ConsumerId::TYPE,
            Self::Producer(_) => ProducerId::TYPE,
        }
    }
    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Connection(id) => id.write_fields(dst),
            Self::Session(id) => id.write_fields(dst),
            Self::Consumer(id) => id.write_fields(dst),
            Self::Producer(id) => id.write_fields(dst),
        }
    }
}

/// One OpenWire command, in either direction. Large variants are boxed.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    WireFormatInfo(WireFormatInfo),
    BrokerInfo(Box<BrokerInfo>),
    ConnectionInfo(Box<ConnectionInfo>),
    SessionInfo(SessionInfo),
    ConsumerInfo(Box<ConsumerInfo>),
    ProducerInfo(Box<ProducerInfo>),
    TransactionInfo(Box<TransactionInfo>),
    DestinationInfo(Box<DestinationInfo>),
    RemoveSubscriptionInfo(Box<RemoveSubscriptionInfo>),
    KeepAliveInfo(KeepAliveInfo),
    ShutdownInfo(ShutdownInfo),
    RemoveInfo(Box<RemoveInfo>),
    ControlCommand(ControlCommand),
    FlushCommand(FlushCommand),
    ConnectionError(Box<ConnectionError>),
    ConsumerControl(Box<ConsumerControl>),
    ConnectionControl(Box<ConnectionControl>),
    ProducerAck(Box<ProducerAck>),
    MessagePull(Box<MessagePull>),
    MessageDispatch(Box<MessageDispatch>),
    MessageAck(Box<MessageAck>),
    /// Types 23–28; the kind is [`Message::kind`].
    Message(Box<Message>),
    Response(Response),
    ExceptionResponse(Box<ExceptionResponse>),
    DataArrayResponse(Box<DataArrayResponse>),
    IntegerResponse(IntegerResponse),
}

/// Calls `$f` on the struct inside any variant but WireFormatInfo.
macro_rules! with_base {
    ($cmd:expr, $c:ident => $e:expr, $wfi:pat => $other:expr) => {
        match $cmd {
            Command::WireFormatInfo($wfi) => $other,
            Command::BrokerInfo($c) => $e,
            Command::ConnectionInfo($c) => $e,
            Command::SessionInfo($c) => $e,
            Command::ConsumerInfo($c) => $e,
            Command::ProducerInfo($c) => $e,
            Command::TransactionInfo($c) => $e,
            Command::DestinationInfo($c) => $e,
            Command::RemoveSubscriptionInfo($c) => $e,
            Command::KeepAliveInfo($c) => $e,
            Command::ShutdownInfo($c) => $e,
            Command::RemoveInfo($c) => $e,
            Command::ControlCommand($c) => $e,
            Command::FlushCommand($c) => $e,
            Command::ConnectionError($c) => $e,
            Command::ConsumerControl($c) => $e,
            Command::ConnectionControl($c) => $e,
            Command::ProducerAck($c) => $e,
            Command::MessagePull($c) => $e,
            Command::MessageDispatch($c) => $e,
            Command::MessageAck($c) => $e,
            Command::Message($c) => $e,
            Command::Response($c) => $e,
            Command::ExceptionResponse($c) => $e,
            Command::DataArrayResponse($c) => $e,
            Command::IntegerResponse($c) => $e,
        }
    };
}

impl Command {
    /// The frame's type byte.
    pub fn type_code(&self) -> u8 {
        with_base!(self, c => c.type_code(), _ => WireFormatInfo::TYPE)
    }

    /// The command's id (0 for WireFormatInfo, and for every command a
    /// broker sends).
    pub fn command_id(&self) -> i32 {
        with_base!(self, c => c.command_id, _ => 0)
    }

    /// Whether the sender waits for a Response with `correlation_id` =
    /// this command's id.
    pub fn response_required(&self) -> bool {
        with_base!(self, c => c.response_required, _ => false)
    }

    /// Sets the BaseCommand fields, as the sending end numbers its
    /// commands (a WireFormatInfo has neither and is left as it is).
    pub fn set_base(&mut self, command_id: i32, response_required: bool) {
        with_base!(self, c => {
            c.command_id = command_id;
            c.response_required = response_required;
        }, _ => {})
    }

    /// The name of the command's type, e.g. `"ConsumerInfo"`.
    pub fn name(&self) -> &'static str {
        type_name(self.type_code()).unwrap_or("?")
    }

    /// Decodes a frame body (after the type byte) of type `code`. The
    /// caller has checked that `code` is accepted.
    pub(crate) fn read_body(code: u8, r: &mut Reader<'_>) -> Result<Command, FrameError> {
        const FRAME: &str = "frame type";
        Ok(match code {
            WireFormatInfo::TYPE => Command::WireFormatInfo(WireFormatInfo::read_fields(r)?),
            BrokerInfo::TYPE => Command::BrokerInfo(Box::new(BrokerInfo::read_fields(r)?)),
            ConnectionInfo::TYPE => {
                Command::ConnectionInfo(Box::new(ConnectionInfo::read_fields(r)?))
            }
            SessionInfo::TYPE => Command::SessionInfo(SessionInfo::read_fields(r)?),
            ConsumerInfo::TYPE => Command::ConsumerInfo(Box::new(ConsumerInfo::read_fields(r)?)),
            ProducerInfo::TYPE => Command::ProducerInfo(Box::new(ProducerInfo::read_fields(r)?)),
            TransactionInfo::TYPE => {
                Command::TransactionInfo(Box::new(TransactionInfo::read_fields(r)?))
            }
            DestinationInfo::TYPE => {
                Command::DestinationInfo(Box::new(DestinationInfo::read_fields(r)?))
            }
            RemoveSubscriptionInfo::TYPE => {
                Command::RemoveSubscriptionInfo(Box::new(RemoveSubscriptionInfo::read_fields(r)?))
            }
            KeepAliveInfo::TYPE => Command::KeepAliveInfo(KeepAliveInfo::read_fields(r)?),
            ShutdownInfo::TYPE => Command::ShutdownInfo(ShutdownInfo::read_fields(r)?),
            RemoveInfo::TYPE => Command::RemoveInfo(Box::new(RemoveInfo::read_fields(r)?)),
            ControlCommand::TYPE => Command::ControlCommand(ControlCommand::read_fields(r)?),
            FlushCommand::TYPE => Command::FlushCommand(FlushCommand::read_fields(r)?),
            ConnectionError::TYPE => {
                Command::ConnectionError(Box::new(ConnectionError::read_fields(r)?))
            }
            ConsumerControl::TYPE => {
                Command::ConsumerControl(Box::new(ConsumerControl::read_fields(r)?))
            }
            ConnectionControl::TYPE => {
                Command::ConnectionControl(Box::new(ConnectionControl::read_fields(r)?))
            }
            ProducerAck::TYPE => Command::ProducerAck(Box::new(ProducerAck::read_fields(r)?)),
            MessagePull::TYPE => Command::MessagePull(Box::new(MessagePull::read_fields(r)?)),
            MessageDispatch::TYPE => {
                Command::MessageDispatch(Box::new(MessageDispatch::read_fields(r)?))
            }
            MessageAck::TYPE => Command::MessageAck(Box::new(MessageAck::read_fields(r)?)),
            23..=28 => Command::Message(Box::new(Message::read_body(code, r, FRAME)?)),
            Response::TYPE => Command::Response(Response::read_fields(r)?),
            ExceptionResponse::TYPE => {
                Command::ExceptionResponse(Box::new(ExceptionResponse::read_fields(r)?))
            }
            DataArrayResponse::TYPE => {
                Command::DataArrayResponse(Box::new(DataArrayResponse::read_fields(r)?))
            }
            IntegerResponse::TYPE => Command::IntegerResponse(IntegerResponse::read_fields(r)?),
            _ => return Err(FrameError::UnexpectedType { code, field: FRAME }),
        })
    }

    /// Writes the type byte and the body.
    pub(crate) fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        use bytes::BufMut;
        dst.put_u8(self.type_code());
        with_base!(self, c => c.write_body(dst), w => w.write_fields(dst))
    }
}

/// Builds `From<Struct> for Command` for each variant.
macro_rules! command_from {
    ($($variant:ident: $ty:ty => $wrap:expr),* $(,)?) => {
        $(impl From<$ty> for Command {
            fn from(c: $ty) -> Command {
                Command::$variant($wrap(c))
            }
        })*
    };
}

command_from! {
    WireFormatInfo: WireFormatInfo => std::convert::identity,
    BrokerInfo: BrokerInfo => Box::new,
    ConnectionInfo: ConnectionInfo => Box::new,
    SessionInfo: SessionInfo => std::convert::identity,
    ConsumerInfo: ConsumerInfo => Box::new,
    ProducerInfo: ProducerInfo => Box::new,
    TransactionInfo: TransactionInfo => Box::new,
    DestinationInfo: DestinationInfo => Box::new,
    RemoveSubscriptionInfo: RemoveSubscriptionInfo => Box::new,
    KeepAliveInfo: KeepAliveInfo => std::convert::identity,
    ShutdownInfo: ShutdownInfo => std::convert::identity,
    RemoveInfo: RemoveInfo => Box::new,
    ControlCommand: ControlCommand => std::convert::identity,
    FlushCommand: FlushCommand => std::convert::identity,
    ConnectionError: ConnectionError => Box::new,
    ConsumerControl: ConsumerControl => Box::new,
    ConnectionControl: ConnectionControl => Box::new,
    ProducerAck: ProducerAck => Box::new,
    MessagePull: MessagePull => Box::new,
    MessageDispatch: MessageDispatch => Box::new,
    MessageAck: MessageAck => Box::new,
    Message: Message => Box::new,
    Response: Response => std::convert::identity,
    ExceptionResponse: ExceptionResponse => Box::new,
    DataArrayResponse: DataArrayResponse => Box::new,
    IntegerResponse: IntegerResponse => std::convert::identity,
}
