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

/// One message as the broker and the store see it. `headers` are the user
/// headers as sent (protocol headers such as `destination` are not in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Assigned by the master, monotonic; the wire `message-id`.
    pub id: i64,
    pub destination: Destination,
    /// 0..=9, higher first.
    pub priority: u8,
    /// Expiry as Unix epoch milliseconds; 0 = never.
    pub expires: i64,
    pub persistent: bool,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// How many times the message was handed out again after a failed delivery.
    pub redelivery_count: u32,
    /// True when the message may have been delivered before.
    pub redelivered: bool,
    /// The sending producer and its sequence number, for duplicate
    /// detection when a client resends after a failover.
    pub producer: Option<ProducerSeq>,
    /// Scheduled delivery: Unix ms when it is due (0 = not scheduled).
    pub scheduled: i64,
}

/// A producer id and the sequence number of one of its sends
/// (`baton-producer-id` / `baton-producer-seq` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSeq {
    pub id: std::sync::Arc<str>,
    pub seq: i64,
}

/// Longest producer id accepted (the `producers` key column).
pub const MAX_PRODUCER_ID_CHARS: usize = 255;

impl Message {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires > 0 && self.expires <= now_ms
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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
