//! The protocol-neutral message and destination types shared by the broker
//! core and the store.

use bytes::Bytes;
use std::fmt;

/// Where a message goes: a queue (competing consumers) or a topic (fan-out).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Queue(String),
    Topic(String),
}

/// Longest destination name (after `/queue/` or `/topic/`), so that every
/// destination, also a dead-letter queue's, fits every store's column.
pub const MAX_NAME_CHARS: usize = 400;

/// Why a destination string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("destination '{0}' must start with /queue/ or /topic/")]
    UnknownKind(String),
    #[error("destination '{0}' has an empty name")]
    EmptyName(String),
    #[error("destination '{prefix}...' is too long: names are at most {max} characters")]
    TooLong { prefix: String, max: usize },
}

/// Refuses a destination name longer than [`MAX_NAME_CHARS`].
pub fn check_name(name: &str) -> Result<(), DestinationError> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(DestinationError::TooLong {
            prefix: name.chars().take(40).collect(),
            max: MAX_NAME_CHARS,
        });
    }
    Ok(())
}

impl Destination {
    /// Parses `/queue/NAME` or `/topic/NAME`.
    pub fn parse(s: &str) -> Result<Destination, DestinationError> {
        let (make, name): (fn(String) -> Destination, &str) =
            if let Some(name) = s.strip_prefix("/queue/") {
                (Destination::Queue, name)
            } else if let Some(name) = s.strip_prefix("/topic/") {
                (Destination::Topic, name)
            } else {
                return Err(DestinationError::UnknownKind(s.to_string()));
            };
        if name.is_empty() {
            return Err(DestinationError::EmptyName(s.to_string()));
        }
        check_name(name)?;
        Ok(make(name.to_string()))
    }

    pub fn name(&self) -> &str {
        match self {
            Destination::Queue(n) | Destination::Topic(n) => n,
        }
    }

    pub fn is_queue(&self) -> bool {
        matches!(self, Destination::Queue(_))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Queue(n) => write!(f, "/queue/{n}"),
            Destination::Topic(n) => write!(f, "/topic/{n}"),
        }
    }
}

/// Default JMS priority.
pub const DEFAULT_PRIORITY: u8 = 4;

/// A message property value. STOMP headers are strings; JMS properties
/// keep their Java type so an OpenWire client reads back what it sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    String(String),
}

impl Value {
    /// The string form, as ActiveMQ shows a property to a STOMP client
    /// (Java's `toString`).
    pub fn to_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Value::String(s) => Cow::Borrowed(s),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            Value::Byte(n) => Cow::Owned(n.to_string()),
            Value::Short(n) => Cow::Owned(n.to_string()),
            Value::Int(n) => Cow::Owned(n.to_string()),
            Value::Long(n) => Cow::Owned(n.to_string()),
            Value::Float(n) => Cow::Owned(java_float(f64::from(*n))),
            Value::Double(n) => Cow::Owned(java_float(*n)),
        }
    }

    /// The text, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

/// Java's `Double.toString` for the values a property usually holds: a
/// whole number keeps one decimal (`1.0`).
fn java_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

/// What the body of a message is, as JMS sees it. The body itself is
/// always bytes: UTF-8 text, the raw bytes, or (map, object, stream) the
/// OpenWire encoding the client sent, passed through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// A `TextMessage` (a STOMP frame without `content-length`).
    #[default]
    Text,
    /// A `BytesMessage` (a STOMP frame with `content-length`).
    Bytes,
    /// A `MapMessage`.
    Map,
    /// An `ObjectMessage`: Java-serialized bytes, never deserialized.
    Object,
    /// A `StreamMessage`.
    Stream,
    /// A plain `Message` without a body.
    Empty,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyKind::Text => "text",
            BodyKind::Bytes => "bytes",
            BodyKind::Map => "map",
            BodyKind::Object => "object",
            BodyKind::Stream => "stream",
            BodyKind::Empty => "empty",
        }
    }

    pub fn parse(s: &str) -> Option<BodyKind> {
        [
            BodyKind::Text,
            BodyKind::Bytes,
            BodyKind::Map,
            BodyKind::Object,
            BodyKind::Stream,
            BodyKind::Empty,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A message's user headers or properties, in the order they were sent.
/// Shared: the copies of a message (one per destination, the one in flight,
/// the one in a delivery) share one list, so copying a message copies no
/// header; a change (rare: dead-lettering, TTL rules, scheduling) builds a
/// new list.
pub type Headers = std::sync::Arc<[(String, Value)]>;

/// One message as the broker and the store see it. `headers` are the user
/// headers (STOMP) or properties (JMS) as sent; protocol headers such as
/// `destination` are not in it. The JMS header fields are headers of
/// ActiveMQ's STOMP names: `correlation-id`, `reply-to`, `type`,
/// `timestamp`, `JMSXGroupID`, `JMSXGroupSeq`, `JMSXUserID`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Assigned by the master, monotonic; the wire `message-id`.
    pub id: i64,
    pub destination: Destination,
    /// 0..=9, higher first.
    pub priority: u8,
    /// Expiry as Unix epoch milliseconds; 0 = never.
    pub expires: i64,
    pub persistent: bool,
    pub headers: Headers,
    pub body: Bytes,
    /// What the body is, as JMS sees it.
    pub body_kind: BodyKind,
    /// The message id the sending client gave it (an OpenWire
    /// `JMSMessageID`), kept so the client sees the same id on delivery.
    pub client_id: Option<std::sync::Arc<str>>,
    /// How many times the message was handed out again after a failed delivery.
    pub redelivery_count: u32,
    /// True when the message may have been delivered before.
    pub redelivered: bool,
    /// The sending producer and its sequence number, for duplicate
    /// detection when a client resends after a failover.
    pub producer: Option<ProducerSeq>,
    /// Scheduled delivery: Unix ms when it is due (0 = not scheduled).
    pub scheduled: i64,
    /// The connection that sent it (0 = none or unknown, e.g. after a
    /// restart), for `noLocal` topic subscriptions. Not stored.
    pub origin: u64,
}

/// What a stored message keeps beside its columns (the `headers` column):
/// its headers, its body's kind and the id its client gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub headers: Headers,
    pub body_kind: BodyKind,
    pub client_id: Option<std::sync::Arc<str>>,
}

impl Message {
    /// A copy of what goes into the `headers` column.
    pub fn meta(&self) -> Meta {
        Meta {
            headers: self.headers.clone(),
            body_kind: self.body_kind,
            client_id: self.client_id.clone(),
        }
    }
}

/// A producer id and the sequence number of one of its sends
/// (`baton-producer-id` / `baton-producer-seq` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSeq {
    pub id: std::sync::Arc<str>,
    pub seq: i64,
}

/// The sends of one producer that failed and were not stored since, for
/// duplicate detection: a producer's high-water mark must stay below the
/// lowest of them, or a resend of that send would count as a duplicate
/// and be confirmed without being stored. Kept by the broker (for its
/// in-memory marks) and by the group-commit writer (for the marks it
/// commits).
#[derive(Debug, Clone, Default)]
pub struct FailedSeqs {
    seqs: std::collections::BTreeSet<i64>,
    /// More failures than [`FailedSeqs::MAX`]: only the lowest is kept and
    /// never cleared (duplicate detection above it is off for good).
    pinned: bool,
}

impl FailedSeqs {
    /// Failed sequences remembered one by one per producer: well above
    /// the sends a client has in flight (the failover client: 100 by
    /// default), all of which fail with the connection when one does.
    pub const MAX: usize = 4096;

    /// The send with `seq` failed.
    pub fn failed(&mut self, seq: i64) {
        if self.pinned || self.seqs.len() >= Self::MAX {
            let lowest = self.seqs.first().map_or(seq, |&f| f.min(seq));
            self.seqs = std::iter::once(lowest).collect();
            self.pinned = true;
        } else {
            self.seqs.insert(seq);
        }
    }

    /// The send with `seq` is stored now (a resend of a failed one, say).
    pub fn stored(&mut self, seq: i64) {
        if !self.pinned {
            self.seqs.remove(&seq);
        }
    }

    /// The highest sequence a mark may claim, if any failed send bounds it.
    pub fn cap(&self) -> Option<i64> {
        self.seqs.first().map(|f| f - 1)
    }

    /// [`FailedSeqs::cap`] for a mark committed together with the sends
    /// `storing` (a resend of a failed send is no bound to its own
    /// transaction), unless more failed than are remembered.
    pub fn cap_storing(&self, storing: &[i64]) -> Option<i64> {
        if self.pinned {
            return self.cap();
        }
        self.seqs
            .iter()
            .find(|f| !storing.contains(f))
            .map(|f| f - 1)
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

/// Longest producer id accepted (the `producers` key column).
pub const MAX_PRODUCER_ID_CHARS: usize = 255;

impl Message {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires > 0 && self.expires <= now_ms
    }

    /// Changes the headers: the message gets a list of its own (the one
    /// it had may be shared with its other copies).
    pub fn edit_headers(&mut self, edit: impl FnOnce(&mut Vec<(String, Value)>)) {
        let mut headers = self.headers.to_vec();
        edit(&mut headers);
        self.headers = headers.into();
    }

    /// A string header (a property of another type is not a header).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.property(name).and_then(Value::as_str)
    }

    /// A header or property of any type.
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A property as a whole number: a number property, or a string that
    /// holds one (`AMQ_SCHEDULED_DELAY` from STOMP or from JMS).
    pub fn property_i64(&self, name: &str) -> Option<Result<i64, String>> {
        Some(match self.property(name)? {
            Value::Byte(n) => Ok(i64::from(*n)),
            Value::Short(n) => Ok(i64::from(*n)),
            Value::Int(n) => Ok(i64::from(*n)),
            Value::Long(n) => Ok(*n),
            other => {
                let text = other.to_text();
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{name} must be a whole number, got '{text}'"))
            }
        })
    }
}

/// The header holding a message's JMSTimestamp: when it was sent (Unix
/// ms), as STOMP and OpenWire name it.
pub const TIMESTAMP: &str = "timestamp";

/// Stamps a message arriving at `now` without a [`TIMESTAMP`] (a STOMP
/// SEND, a REST publish, an advisory the broker makes) with its arrival,
/// as ActiveMQ does; a JMS producer stamps its own.
pub fn stamp_arrival(headers: &mut Vec<(String, Value)>, now: i64) {
    if !headers.iter().any(|(k, _)| k == TIMESTAMP) {
        headers.push((TIMESTAMP.to_string(), Value::Long(now)));
    }
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destinations() {
        assert_eq!(
            Destination::parse("/queue/a.b").unwrap(),
            Destination::Queue("a.b".into())
        );
        assert_eq!(
            Destination::parse("/topic/x").unwrap(),
            Destination::Topic("x".into())
        );
        assert!(matches!(
            Destination::parse("/queue/"),
            Err(DestinationError::EmptyName(_))
        ));
        assert!(matches!(
            Destination::parse("queue/a"),
            Err(DestinationError::UnknownKind(_))
        ));
        assert_eq!(
            Destination::parse("/topic/x").unwrap().to_string(),
            "/topic/x"
        );
        let long = format!("/queue/{}", "é".repeat(MAX_NAME_CHARS));
        assert!(Destination::parse(&long).is_ok());
        let too_long = format!("/queue/{}", "x".repeat(MAX_NAME_CHARS + 1));
        assert!(matches!(
            Destination::parse(&too_long),
            Err(DestinationError::TooLong { .. })
        ));
    }
}
