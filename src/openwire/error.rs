//! The OpenWire codec's errors: [`FrameError`] (the bytes can never become a
//! valid frame: close the connection), [`EncodeError`] (a value Baton built
//! cannot be written) and [`BodyError`] (a message body or property map that
//! does not decode; the frame itself was fine).

/// Why received bytes are not a valid OpenWire frame. Every variant is fatal
/// for the connection; the message names the field, the type code or the
/// limit involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The i32 size prefix is negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The size prefix is 0: a frame has at least its type byte.
    #[error("empty frame: the size prefix is 0")]
    EmptyFrame,
    /// The frame is larger than the connection accepts at all (the hard
    /// limit; frames between the frame-size limit and this one are reported
    /// as `Parsed::Oversized` and skipped instead).
    #[error("frame of {size} bytes is above the limit of {limit} bytes")]
    FrameTooLarge { size: usize, limit: usize },
    /// A type code OpenWire does not define, or one Baton never accepts
    /// (broker-to-broker, journal, blob, ...): OPENWIRE.md §6.1 rule 4.
    #[error("type code {code} is not accepted here ({})", describe(*.code, field))]
    UnexpectedType { code: u8, field: &'static str },
    /// A field runs past the end of the frame.
    #[error("{field}: needs {needed} bytes but only {remaining} are left in the frame")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A length or count is negative where the format does not allow it.
    #[error("{field}: negative length or count {len}")]
    NegativeLength { field: &'static str, len: i64 },
    /// A field that must be present is null.
    #[error("{field}: null where a value is required")]
    Null { field: &'static str },
    /// A string is not valid modified UTF-8 (Java `writeUTF`).
    #[error("{field}: not valid modified UTF-8")]
    InvalidString { field: &'static str },
    /// A WireFormatInfo does not start with the 8 bytes `ActiveMQ`.
    #[error("WireFormatInfo.magic: expected \"ActiveMQ\", got {0:02x?}")]
    BadMagic([u8; 8]),
    /// The frame's body was decoded but bytes are left over.
    #[error("type {code} frame: {consumed} of its {size} bytes decoded, the rest is unexpected")]
    TrailingBytes {
        code: u8,
        consumed: usize,
        size: usize,
    },
    /// Nested objects (or nested maps and lists) deeper than allowed.
    #[error("{field}: nested deeper than {limit} levels")]
    TooDeep { field: &'static str, limit: usize },
    /// A Throwable's cause chain is longer than allowed.
    #[error("{field}: Throwable cause chain longer than {limit}")]
    CauseChainTooLong { field: &'static str, limit: usize },
    /// A map with more entries than allowed.
    #[error("{field}: {count} entries, the limit is {limit}")]
    TooManyEntries {
        field: &'static str,
        count: usize,
        limit: usize,
    },
    /// A primitive-map value tag outside 0..=13.
    #[error("{field}: unknown primitive value tag {tag}")]
    UnknownTag { field: &'static str, tag: u8 },
}

fn describe(code: u8, field: &str) -> String {
    match type_name(code) {
        Some(name) => format!("{name} in {field}"),
        None => format!("unknown type in {field}"),
    }
}

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string longer than Java's `writeUTF` allows (65535 bytes of
    /// modified UTF-8).
    #[error("{field}: {len} bytes of modified UTF-8, the limit is 65535")]
    StringTooLong { field: &'static str, len: usize },
    /// A byte array, collection or frame too long for its length field.
    #[error("{field}: {len} is too long for its length field")]
    TooLong { field: &'static str, len: usize },
}

/// Why a message body or property map cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The bytes do not follow the layout of OPENWIRE.md §4.
    #[error("malformed body: {0}")]
    Malformed(#[from] FrameError),
    /// The zlib stream of a compressed body is corrupt.
    #[error("compressed body: {0}")]
    Compression(String),
    /// The body, uncompressed, would be larger than the caller's limit.
    #[error("body larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

/// The name of an OpenWire type code (`CMD/CommandTypes.java`), accepted
/// or not, for error messages.
pub fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "NULL",
        1 => "WireFormatInfo",
        2 => "BrokerInfo",
        3 => "ConnectionInfo",
        4 => "SessionInfo",
        5 => "ConsumerInfo",
        6 => "ProducerInfo",
        7 => "TransactionInfo",
        8 => "DestinationInfo",
        9 => "RemoveSubscriptionInfo",
        10 => "KeepAliveInfo",
        11 => "ShutdownInfo",
        12 => "RemoveInfo",
        14 => "ControlCommand",
        15 => "FlushCommand",
        16 => "ConnectionError",
        17 => "ConsumerControl",
        18 => "ConnectionControl",
        19 => "ProducerAck",
        20 => "MessagePull",
        21 => "MessageDispatch",
        22 => "MessageAck",
        23 => "ActiveMQMessage",
        24 => "ActiveMQBytesMessage",
        25 => "ActiveMQMapMessage",
        26 => "ActiveMQObjectMessage",
        27 => "ActiveMQStreamMessage",
        28 => "ActiveMQTextMessage",
        29 => "ActiveMQBlobMessage",
        30 => "Response",
        31 => "ExceptionResponse",
        32 => "DataResponse",
        33 => "DataArrayResponse",
        34 => "IntegerResponse",
        40 => "DiscoveryEvent",
        50..=55 => "journal entry",
        60 => "PartialCommand",
        61 => "LastPartialCommand",
        65 => "ReplayCommand",
        70..=79 => "old primitive tag",
        90 => "MessageDispatchNotification",
        91 => "NetworkBridgeFilter",
        92 => "BrokerSubscriptionInfo",
        100 => "ActiveMQQueue",
        101 => "ActiveMQTopic",
        102 => "ActiveMQTempQueue",
        103 => "ActiveMQTempTopic",
        110 => "MessageId",
        111 => "LocalTransactionId",
        112 => "XATransactionId",
        120 => "ConnectionId",
        121 => "SessionId",
        122 => "ConsumerId",
        123 => "ProducerId",
        124 => "BrokerId",
        _ => return None,
    })
}
