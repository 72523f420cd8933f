//! OpenWire data structures (OPENWIRE.md §2.3): ids, destinations,
//! transaction ids, and Throwables, with the string forms users see.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, FrameError};
use super::wire::{put_utf, wire_struct, DataStructure, Reader, Wire, MAX_CAUSES};

wire_struct! {
    /// A connection's id, chosen by the client (`ID:host-port-ts-n:m`).
    pub struct ConnectionId = 120;
    {
        pub value: String,
    }
}

wire_struct! {
    /// A session's id: `connection:value`. Session −1 exists implicitly on
    /// every connection (OPENWIRE.md §3.2).
    pub struct SessionId = 121;
    {
        pub connection_id: String,
        pub value: i64,
    }
}

wire_struct! {
    /// A producer's id: `connection:session:value`. On the wire the value
    /// comes before the session id.
    pub struct ProducerId = 123;
    {
        pub connection_id: String,
        pub value: i64,
        pub session_id: i64,
    }
}

wire_struct! {
    /// A consumer's id: `connection:session:value`. On the wire the session
    /// id comes before the value (unlike [`ProducerId`]).
    pub struct ConsumerId = 122;
    {
        pub connection_id: String,
        pub session_id: i64,
        pub value: i64,
    }
}

wire_struct! {
    /// A broker's id.
    pub struct BrokerId = 124;
    {
        pub value: String,
    }
}

wire_struct! {
    /// A message's id: its producer and that producer's sequence number,
    /// plus the sequence the broker assigned (`brokerSequenceId`, echoed
    /// back as `lastDeliveredSequenceId`).
    pub struct MessageId = 110;
    {
        /// Null from the Java client; if set, the JMSMessageID is
        /// `"ID:" + textView` (`ID:` not doubled).
        pub text_view: Option<String>,
        pub producer_id: ProducerId,
        pub producer_sequence_id: i64,
        pub broker_sequence_id: i64,
    }
}

wire_struct! {
    /// A local (JMS session) transaction: a per-connection counter.
    pub struct LocalTransactionId = 111;
    {
        pub value: i64,
        pub connection_id: ConnectionId,
    }
}

wire_struct! {
    /// An XA transaction id. Decoded so that a client using XA gets a clear
    /// answer; Baton does not support XA.
    pub struct XaTransactionId = 112;
    {
        pub format_id: i32,
        pub global_transaction_id: Option<Bytes>,
        pub branch_qualifier: Option<Bytes>,
    }
}

impl ConnectionId {
    pub fn new(value: impl Into<String>) -> Self {
        ConnectionId {
            value: value.into(),
        }
    }
}

impl SessionId {
    pub fn connection(&self) -> ConnectionId {
        ConnectionId::new(self.connection_id.clone())
    }
}

impl ProducerId {
    pub fn session(&self) -> SessionId {
        SessionId {
            connection_id: self.connection_id.clone(),
            value: self.session_id,
        }
    }
}

impl ConsumerId {
    pub fn session(&self) -> SessionId {
        SessionId {
            connection_id: self.connection_id.clone(),
            value: self.session_id,
        }
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.connection_id, self.value)
    }
}

/// Written piece by piece (it is formatted for every message sent: the
/// producer of duplicate detection, the JMSMessageID).
impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.connection_id)?;
        f.write_str(":")?;
        f.write_str(itoa::Buffer::new().format(self.session_id))?;
        f.write_str(":")?;
        f.write_str(itoa::Buffer::new().format(self.value))
    }
}

impl fmt::Display for ConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.connection_id, self.session_id, self.value
        )
    }
}

/// The JMSMessageID (`CMD/MessageId.java` `toString`).
impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text_view {
            Some(t) if t.starts_with("ID:") => f.write_str(t),
            Some(t) => write!(f, "ID:{t}"),
            None => {
                fmt::Display::fmt(&self.producer_id, f)?;
                f.write_str(":")?;
                f.write_str(itoa::Buffer::new().format(self.producer_sequence_id))
            }
        }
    }
}

/// `TX:connection:value` (`LocalTransactionId.getTransactionKey`).
impl fmt::Display for LocalTransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TX:{}:{}", self.connection_id, self.value)
    }
}

/// A string form that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {what}: {input:?}")]
pub struct ParseIdError {
    what: &'static str,
    input: String,
}

/// Splits `rest:n` at the last colon (the Java parsers' rule).
fn split_last<'a>(s: &'a str, what: &'static str) -> Result<(&'a str, i64), ParseIdError> {
    let err = || ParseIdError {
        what,
        input: s.to_owned(),
    };
    let (rest, n) = s.rsplit_once(':').ok_or_else(err)?;
    Ok((rest, n.parse().map_err(|_| err())?))
}

/// Parses `connection:session:value` (`new ProducerId(String)`).
impl FromStr for ProducerId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let (rest, value) = split_last(s, "producer id")?;
        let (connection_id, session_id) = split_last(rest, "producer id")?;
        Ok(ProducerId {
            connection_id: connection_id.to_owned(),
            value,
            session_id,
        })
    }
}

/// Parses `connection:session:value`.
impl FromStr for ConsumerId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let (rest, value) = split_last(s, "consumer id")?;
        let (connection_id, session_id) = split_last(rest, "consumer id")?;
        Ok(ConsumerId {
            connection_id: connection_id.to_owned(),
            session_id,
            value,
        })
    }
}

/// Parses a JMSMessageID `producerId:sequence` (`MessageId.setValue`); the
/// broker sequence is 0.
impl FromStr for MessageId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let (producer, seq) = split_last(s, "message id")?;
        Ok(MessageId {
            text_view: None,
            producer_id: producer.parse()?,
            producer_sequence_id: seq,
            broker_sequence_id: 0,
        })
    }
}

/// A transaction id as carried by TransactionInfo, MessageAck and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionId {
    Local(LocalTransactionId),
    Xa(XaTransactionId),
}

impl DataStructure for TransactionId {
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        match code {
            LocalTransactionId::TYPE => LocalTransactionId::read_fields(r).map(Self::Local),
            XaTransactionId::TYPE => XaTransactionId::read_fields(r).map(Self::Xa),
            _ => Err(FrameError::UnexpectedType { code, field }),
        }
    }
    fn type_code(&self) -> u8 {
        match self {
            Self::Local(_) => LocalTransactionId::TYPE,
            Self::Xa(_) => XaTransactionId::TYPE,
        }
    }
    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Local(t) => t.write_fields(dst),
            Self::Xa(t) => t.write_fields(dst),
        }
    }
}

/// Queue, topic, or their temporary kinds: the type byte of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum DestinationKind {
    #[default]
    Queue,
    Topic,
    TempQueue,
    TempTopic,
}

impl DestinationKind {
    pub const ALL: [DestinationKind; 4] = [
        DestinationKind::Queue,
        DestinationKind::Topic,
        DestinationKind::TempQueue,
        DestinationKind::TempTopic,
    ];

    /// The type code (100–103).
    pub fn type_code(self) -> u8 {
        match self {
            Self::Queue => 100,
            Self::Topic => 101,
            Self::TempQueue => 102,
            Self::TempTopic => 103,
        }
    }

    pub fn from_type_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_code() == code)
    }

    /// The prefix of the qualified string form (`ActiveMQDestination`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Queue => "queue://",
            Self::Topic => "topic://",
            Self::TempQueue => "temp-queue://",
            Self::TempTopic => "temp-topic://",
        }
    }

    pub fn is_topic(self) -> bool {
        matches!(self, Self::Topic | Self::TempTopic)
    }

    pub fn is_temporary(self) -> bool {
        matches!(self, Self::TempQueue | Self::TempTopic)
    }
}

/// A destination: its kind (the type byte) and the bare physical name, e.g.
/// `TEST.Q`, never `queue://TEST.Q` (OPENWIRE.md §2.3). A name with commas
/// is a composite destination, see [`Destination::members`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Destination {
    pub kind: DestinationKind,
    pub name: String,
}

impl Destination {
    pub fn new(kind: DestinationKind, name: impl Into<String>) -> Self {
        Destination {
            kind,
            name: name.into(),
        }
    }

    pub fn queue(name: impl Into<String>) -> Self {
        Self::new(DestinationKind::Queue, name)
    }

    pub fn topic(name: impl Into<String>) -> Self {
        Self::new(DestinationKind::Topic, name)
    }

    /// Parses a string form: a `queue://`, `topic://`, `temp-queue://` or
    /// `temp-topic://` prefix gives the kind, otherwise `default`
    /// (`ActiveMQDestination.createDestination(name, defaultType)`).
    pub fn parse(s: &str, default: DestinationKind) -> Self {
        for kind in DestinationKind::ALL {
            if let Some(name) = s.strip_prefix(kind.prefix()) {
                return Self::new(kind, name);
            }
        }
        Self::new(default, s)
    }

    /// A composite destination: several destinations separated by commas.
    pub fn is_composite(&self) -> bool {
        self.name.contains(',')
    }

    /// A wildcard pattern: a non-composite name with `*` or `>`.
    pub fn is_wildcard(&self) -> bool {
        !self.is_composite() && self.name.contains(['*', '>'])
    }

    /// The destinations a composite name stands for, in order, without
    /// repeats: each comma-separated element, trimmed, empty ones skipped;
    /// an element with a prefix (`queue://A`) has that kind, others this
    /// destination's kind (`ActiveMQDestination.setPhysicalName`). A
    /// non-composite destination is its only member.
    pub fn members(&self) -> Vec<Destination> {
        if !self.is_composite() {
            return vec![self.clone()];
        }
        let mut out: Vec<Destination> = Vec::new();
        for part in self
            .name
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let d = Destination::parse(part, self.kind);
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// The qualified form, e.g. `queue://TEST.Q`; a composite name is
    /// returned as it is (`getQualifiedName`).
    pub fn qualified_name(&self) -> String {
        if self.is_composite() {
            self.name.clone()
        } else {
            format!("{}{}", self.kind.prefix(), self.name)
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified_name())
    }
}

impl DataStructure for Destination {
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        let kind = DestinationKind::from_type_code(code)
            .ok_or(FrameError::UnexpectedType { code, field })?;
        let name = String::read(r, "Destination.physical_name")?;
        Ok(Destination { kind, name })
    }
    fn type_code(&self) -> u8 {
        self.kind.type_code()
    }
    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.name.write(dst, "Destination.physical_name")
    }
}

/// The exception classes Baton names in ExceptionResponse and
/// ConnectionError: a fixed allow-list (OPENWIRE.md §3.13, §6.1). The client
/// instantiates the class by name, so nothing else is ever sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionClass {
    JmsException,
    InvalidClientId,
    InvalidDestination,
    /// ActiveMQ's subclass of `InvalidDestinationException` for a
    /// temporary destination that was deleted.
    DestinationDoesNotExist,
    InvalidSelector,
    TransactionRolledBack,
    ResourceAllocation,
    JmsSecurity,
    Security,
    IllegalState,
    Io,
}

impl ExceptionClass {
    pub const ALL: [ExceptionClass; 11] = [
        Self::JmsException,
        Self::InvalidClientId,
        Self::InvalidDestination,
        Self::DestinationDoesNotExist,
        Self::InvalidSelector,
        Self::TransactionRolledBack,
        Self::ResourceAllocation,
        Self::JmsSecurity,
        Self::Security,
        Self::IllegalState,
        Self::Io,
    ];

    /// The Java class name.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::JmsException => "javax.jms.JMSException",
            Self::InvalidClientId => "javax.jms.InvalidClientIDException",
            Self::InvalidDestination => "javax.jms.InvalidDestinationException",
            Self::DestinationDoesNotExist => "org.apache.activemq.DestinationDoesNotExistException",
            Self::InvalidSelector => "javax.jms.InvalidSelectorException",
            Self::TransactionRolledBack => "javax.jms.TransactionRolledBackException",
            Self::ResourceAllocation => "javax.jms.ResourceAllocationException",
            Self::JmsSecurity => "javax.jms.JMSSecurityException",
            Self::Security => "java.lang.SecurityException",
            Self::IllegalState => "java.lang.IllegalStateException",
            Self::Io => "java.io.IOException",
        }
    }
}

/// A Java exception as plain data: its class name and message, never used
/// to look anything up (CVE-2023-46604). Baton builds one only from an
/// [`ExceptionClass`]; a class name received from a peer is kept as text.
/// Two Throwables are equal when their class names and messages are.
#[derive(Debug, Clone)]
pub struct Throwable {
    class: ThrowableClass,
    message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ThrowableClass {
    Listed(ExceptionClass),
    /// As received (possibly null); only the decoder makes these.
    Received(Option<String>),
}

impl Throwable {
    pub fn new(class: ExceptionClass, message: impl Into<String>) -> Self {
        Throwable {
            class: ThrowableClass::Listed(class),
            message: Some(message.into()),
        }
    }

    /// The class name, as sent or as received ("" if null).
    pub fn class_name(&self) -> &str {
        match &self.class {
            ThrowableClass::Listed(c) => c.class_name(),
            ThrowableClass::Received(name) => name.as_deref().unwrap_or(""),
        }
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The allow-listed class, if Baton built this Throwable.
    pub fn listed_class(&self) -> Option<ExceptionClass> {
        match self.class {
            ThrowableClass::Listed(c) => Some(c),
            ThrowableClass::Received(_) => None,
        }
    }
}

impl PartialEq for Throwable {
    fn eq(&self, other: &Throwable) -> bool {
        self.class_name() == other.class_name() && self.message == other.message
    }
}

impl Eq for Throwable {}

impl fmt::Display for Throwable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {m}", self.class_name()),
            None => f.write_str(self.class_name()),
        }
    }
}

/// Reads a Throwable (`looseUnmarshalThrowable`): bool present, class,
/// message; with stack traces on, also i16 frames × (class, method, file,
/// i32 line) and a cause, which are checked and dropped.
fn read_throwable(
    r: &mut Reader<'_>,
    field: &'static str,
    chain: usize,
) -> Result<Option<Throwable>, FrameError> {
    if !r.bool(field)? {
        return Ok(None);
    }
    let class = Option::<String>::read(r, field)?;
    let message = Option::<String>::read(r, field)?;
    if r.stack_traces {
        let frames = r.i16(field)?;
        // A frame is at least three absent strings and a line number.
        let frames = r.count(i64::from(frames), 7, field)?;
        for _ in 0..frames {
            for _ in 0..3 {
                Option::<String>::read(r, field)?;
            }
            r.i32(field)?;
        }
        if chain >= MAX_CAUSES {
            if r.bool(field)? {
                return Err(FrameError::CauseChainTooLong {
                    field,
                    limit: MAX_CAUSES,
                });
            }
        } else {
            read_throwable(r, field, chain + 1)?;
        }
    }
    Ok(Some(Throwable {
        class: ThrowableClass::Received(class),
        message,
    }))
}

/// throwable: written without stack traces (Baton never negotiates them).
impl Wire for Option<Throwable> {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        read_throwable(r, field, 0)
    }
    fn write(&self, dst: &mut BytesMut, field: &'static str) -> Result<(), EncodeError> {
        let Some(t) = self else {
            dst.put_u8(0);
            return Ok(());
        };
        dst.put_u8(1);
        match &t.class {
            ThrowableClass::Received(None) => dst.put_u8(0),
            _ => {
                dst.put_u8(1);
                put_utf(dst, t.class_name(), field)?;
            }
        }
        t.message.write(dst, field)
    }
}

wire_struct! {
    /// Client → broker: create or delete a temporary destination; broker →
    /// client inside advisory messages.
    pub struct DestinationInfo = 8;
    {
        pub command_id: i32,
        pub response_required: bool,
        pub connection_id: ConnectionId,
        pub destination: Destination,
        /// One of `command::destination_operation`.
        pub operation_type: i8,
        pub timeout: i64,
        pub broker_path: Option<Vec<BrokerId>>,
    }
}
