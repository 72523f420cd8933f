//! OpenWire ⇄ core: destinations and messages, with ActiveMQ's mapping
//! (OPENWIRE.md §4.3). JMS header fields become headers of their STOMP
//! names (`correlation-id`, `reply-to`, `type`, `timestamp`,
//! `JMSXGroupID`, `JMSXGroupSeq`, `JMSXUserID`), so a STOMP client sees
//! them as ActiveMQ shows them; user properties keep their Java types.
//! Text is converted between Java's modified UTF-8 and UTF-8 both ways, so
//! characters outside the Basic Multilingual Plane survive.

use super::command::destination_operation;
use super::map::{PrimitiveMap, Value as WireValue};
use super::message::{Message as WireMessage, MessageKind};
use super::types::{ConnectionId, DestinationInfo};
use super::types::{Destination as WireDestination, DestinationKind, MessageId, ProducerId};
use super::BodyError;
use crate::broker::{advisory, TEMP_PREFIX};
use crate::message::{BodyKind, Destination, Message, ProducerSeq, Value, MAX_PRODUCER_ID_CHARS};
use bytes::Bytes;
use std::sync::Arc;

/// Headers that stand for fields of an OpenWire message.
pub const CORRELATION_ID: &str = "correlation-id";
pub const REPLY_TO: &str = "reply-to";
pub const TYPE: &str = "type";
pub use crate::message::TIMESTAMP;
pub const GROUP_ID: &str = "JMSXGroupID";
pub const GROUP_SEQ: &str = "JMSXGroupSeq";
pub const USER_ID: &str = "JMSXUserID";

const FIELD_HEADERS: [&str; 7] = [
    CORRELATION_ID,
    REPLY_TO,
    TYPE,
    TIMESTAMP,
    GROUP_ID,
    GROUP_SEQ,
    USER_ID,
];

/// Why an OpenWire message cannot become a core message.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("property '{0}': {1}")]
    Property(String, &'static str),
    #[error("{0}")]
    Destination(String),
    /// An `AMQ_SCHEDULED_*` property that is not a whole number >= 0.
    #[error("{0}")]
    Schedule(String),
}

/// The core destination of an OpenWire one: a temporary queue or topic is
/// `temp.<its name>` (its name is the client's `ID:…`), so any connection
/// that names it reaches the same destination.
pub fn to_core(d: &WireDestination) -> Destination {
    match d.kind {
        DestinationKind::Queue => Destination::Queue(d.name.clone()),
        DestinationKind::Topic => Destination::Topic(d.name.clone()),
        DestinationKind::TempQueue => Destination::Queue(format!("{TEMP_PREFIX}{}", d.name)),
        DestinationKind::TempTopic => Destination::Topic(format!("{TEMP_PREFIX}{}", d.name)),
    }
}

/// The OpenWire destination of a core one (temporary ones by their prefix,
/// STOMP's too).
pub fn from_core(d: &Destination) -> WireDestination {
    let (queue, name) = match d {
        Destination::Queue(n) => (true, n),
        Destination::Topic(n) => (false, n),
    };
    match (queue, name.strip_prefix(TEMP_PREFIX)) {
        (true, Some(n)) => WireDestination::new(DestinationKind::TempQueue, n),
        (false, Some(n)) => WireDestination::new(DestinationKind::TempTopic, n),
        (true, None) => WireDestination::queue(name.clone()),
        (false, None) => WireDestination::topic(name.clone()),
    }
}

/// Every core destination an OpenWire destination names (one per member
/// of a composite), checked like STOMP's.
pub fn destinations(d: &WireDestination) -> Result<Vec<Destination>, TranslateError> {
    d.members()
        .iter()
        .map(|m| {
            let core = to_core(m);
            if m.name.is_empty() {
                return Err(TranslateError::Destination(
                    "a destination needs a name".to_string(),
                ));
            }
            crate::message::check_name(core.name())
                .map_err(|e| TranslateError::Destination(e.to_string()))?;
            Ok(core)
        })
        .collect()
}

/// A sent OpenWire message as the core's message (its destination and id
/// are the core's to set).
pub fn message_in(m: &WireMessage, max_body: usize) -> Result<Message, TranslateError> {
    let (body_kind, body) = match m.kind {
        MessageKind::Text => (
            BodyKind::Text,
            m.text(max_body)?.map(Bytes::from).unwrap_or_default(),
        ),
        MessageKind::Bytes => (
            BodyKind::Bytes,
            m.uncompressed_content(max_body)?.unwrap_or_default(),
        ),
        MessageKind::Map => (
            BodyKind::Map,
            m.uncompressed_content(max_body)?.unwrap_or_default(),
        ),
        MessageKind::Object => (
            BodyKind::Object,
            m.uncompressed_content(max_body)?.unwrap_or_default(),
        ),
        MessageKind::Stream => (
            BodyKind::Stream,
            m.uncompressed_content(max_body)?.unwrap_or_default(),
        ),
        MessageKind::Message => (BodyKind::Empty, Bytes::new()),
    };
    let mut headers: Vec<(String, Value)> = Vec::new();
    for (name, value) in m.properties()?.0 {
        if FIELD_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = match value {
            WireValue::Boolean(b) => Value::Bool(b),
            WireValue::Byte(n) => Value::Byte(n),
            WireValue::Short(n) => Value::Short(n),
            WireValue::Int(n) => Value::Int(n),
            WireValue::Long(n) => Value::Long(n),
            WireValue::Float(n) => Value::Float(n),
            WireValue::Double(n) => Value::Double(n),
            WireValue::String(s) => Value::String(s),
            WireValue::Char(c) => Value::String(String::from_utf16_lossy(&[c])),
            WireValue::Null => continue,
            WireValue::Bytes(_) | WireValue::Map(_) | WireValue::List(_) => {
                return Err(TranslateError::Property(
                    name,
                    "a JMS property must be a boolean, number or string",
                ))
            }
        };
        headers.push((name, value));
    }
    let mut field = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            headers.push((name.to_string(), v));
        }
    };
    field(CORRELATION_ID, m.correlation_id.clone().map(Value::String));
    field(
        REPLY_TO,
        m.reply_to
            .as_ref()
            .map(|d| Value::String(to_core(d).to_string())),
    );
    field(TYPE, m.jms_type.clone().map(Value::String));
    field(
        TIMESTAMP,
        (m.timestamp != 0).then_some(Value::Long(m.timestamp)),
    );
    field(GROUP_ID, m.group_id.clone().map(Value::String));
    field(
        GROUP_SEQ,
        (m.group_id.is_some() && m.group_sequence != 0).then_some(Value::Int(m.group_sequence)),
    );
    let producer_id = m.producer_id.to_string();
    // Resent persistent sends are dropped by producer and sequence (the
    // `producers` table), as ActiveMQ does after a failover.
    let producer =
        (m.persistent && producer_id.chars().count() <= MAX_PRODUCER_ID_CHARS).then(|| {
            ProducerSeq {
                id: Arc::from(producer_id.as_str()),
                seq: m.message_id.producer_sequence_id,
            }
        });
    Ok(Message {
        id: 0,
        destination: Destination::Queue(String::new()),
        priority: m.priority.clamp(0, 9) as u8,
        expires: m.expiration.max(0),
        persistent: m.persistent,
        headers: headers.into(),
        body,
        body_kind,
        client_id: Some(Arc::from(m.message_id.to_string().as_str())),
        redelivery_count: 0,
        redelivered: false,
        producer,
        scheduled: 0,
        origin: 0,
    })
}

/// The producer of messages that did not come from an OpenWire client
/// (STOMP, the REST API): their JMSMessageID is `ID:baton:0:0:<id>`.
fn broker_producer() -> ProducerId {
    ProducerId {
        connection_id: "ID:baton".to_string(),
        value: 0,
        session_id: 0,
    }
}

/// A core message as the OpenWire message a consumer receives.
pub fn message_out(m: &Message) -> WireMessage {
    let mut message_id = m
        .client_id
        .as_deref()
        .and_then(|id| id.parse::<MessageId>().ok())
        .unwrap_or_else(|| MessageId {
            text_view: None,
            producer_id: broker_producer(),
            producer_sequence_id: m.id,
            broker_sequence_id: 0,
        });
    message_id.broker_sequence_id = m.id;
    let kind = match m.body_kind {
        BodyKind::Text => MessageKind::Text,
        BodyKind::Bytes => MessageKind::Bytes,
        BodyKind::Map => MessageKind::Map,
        BodyKind::Object => MessageKind::Object,
        BodyKind::Stream => MessageKind::Stream,
        BodyKind::Empty => MessageKind::Message,
    };
    let text_of = |name: &str| m.property(name).map(|v| v.to_text().into_owned());
    let mut out = WireMessage {
        kind,
        producer_id: message_id.producer_id.clone(),
        destination: from_core(&m.destination),
        persistent: m.persistent,
        expiration: m.expires,
        priority: m.priority as i8,
        correlation_id: text_of(CORRELATION_ID),
        reply_to: m
            .header(REPLY_TO)
            .and_then(|r| Destination::parse(r).ok())
            .map(|d| from_core(&d)),
        jms_type: text_of(TYPE),
        // STOMP and REST messages are stamped on arrival; 0 (none) is a
        // JMS producer's with timestamps disabled, as in ActiveMQ.
        timestamp: m.property_i64(TIMESTAMP).and_then(Result::ok).unwrap_or(0),
        group_id: text_of(GROUP_ID),
        group_sequence: m
            .property_i64(GROUP_SEQ)
            .and_then(Result::ok)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        user_id: text_of(USER_ID),
        // The client derives JMSRedelivered from the counter alone; a
        // message that may have been delivered before (recovered after a
        // failover) counts at least one earlier delivery.
        redelivery_counter: i32::try_from(m.redelivery_count.max(u32::from(m.redelivered)))
            .unwrap_or(i32::MAX),
        message_id,
        ..WireMessage::default()
    };
    let mut props = PrimitiveMap::new();
    for (name, value) in m.headers.iter() {
        if FIELD_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let v = match value {
            Value::Bool(b) => WireValue::Boolean(*b),
            Value::Byte(n) => WireValue::Byte(*n),
            Value::Short(n) => WireValue::Short(*n),
            Value::Int(n) => WireValue::Int(*n),
            Value::Long(n) => WireValue::Long(*n),
            Value::Float(n) => WireValue::Float(*n),
            Value::Double(n) => WireValue::Double(*n),
            Value::String(s) => WireValue::String(s.clone()),
        };
        props.insert(name.clone(), v);
    }
    // Neither can fail for what the core holds: a map of primitives, and
    // text that came in as UTF-8. Should one fail, the message still goes
    // out, without the part that could not be encoded.
    if let Err(e) = out.set_properties(&props) {
        tracing::warn!(id = m.id, error = %e, "properties not encodable for OpenWire");
    }
    match kind {
        MessageKind::Text => {
            let text = String::from_utf8_lossy(&m.body);
            if let Err(e) = out.set_text(Some(&text)) {
                tracing::warn!(id = m.id, error = %e, "text not encodable for OpenWire");
            }
        }
        MessageKind::Message => {}
        _ => out.content = Some(m.body.clone()),
    }
    out
}

/// An advisory of the core (a temporary destination added or removed) as
/// the ActiveMQMessage the client reads: its `dataStructure` is a
/// DestinationInfo naming the destination. `None` for anything else on an
/// advisory topic.
pub fn advisory_out(m: &Message) -> Option<WireMessage> {
    let dest = Destination::parse(m.header(advisory::DESTINATION)?).ok()?;
    let operation = match m.header(advisory::OPERATION)? {
        "add" => destination_operation::ADD,
        _ => destination_operation::REMOVE,
    };
    let mut out = message_out(m);
    out.kind = MessageKind::Message;
    out.content = None;
    out.marshalled_properties = None;
    out.data_structure = Some(Box::new(DestinationInfo {
        connection_id: ConnectionId::new("ID:baton"),
        destination: from_core(&dest),
        operation_type: operation,
        ..DestinationInfo::default()
    }));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WireMessage {
        let mut m = WireMessage {
            kind: MessageKind::Text,
            producer_id: "ID:host-1-2-3:1:1:1".parse().unwrap(),
            destination: WireDestination::queue("orders"),
            persistent: true,
            priority: 7,
            correlation_id: Some("c-1".into()),
            reply_to: Some(WireDestination::new(
                DestinationKind::TempQueue,
                "ID:host-1-2-3:1:1",
            )),
            jms_type: Some("order".into()),
            timestamp: 1_800_000_000_000,
            group_id: Some("g1".into()),
            group_sequence: 3,
            message_id: "ID:host-1-2-3:1:1:1:9".parse().unwrap(),
            ..WireMessage::default()
        };
        m.set_text(Some("grüße 😀 \0 end")).unwrap();
        let mut props = PrimitiveMap::new();
        props.insert("count", WireValue::Int(5));
        props.insert("ratio", WireValue::Double(0.5));
        props.insert("flag", WireValue::Boolean(true));
        props.insert("name", WireValue::String("x".into()));
        m.set_properties(&props).unwrap();
        m
    }

    #[test]
    fn a_message_crosses_the_core_and_back_unchanged() {
        let wire = sample();
        let mut core = message_in(&wire, 1 << 20).unwrap();
        assert_eq!(core.body.as_ref(), "grüße 😀 \0 end".as_bytes());
        assert_eq!(core.body_kind, BodyKind::Text);
        assert_eq!(core.header(CORRELATION_ID), Some("c-1"));
        assert_eq!(core.header(REPLY_TO), Some("/queue/temp.ID:host-1-2-3:1:1"));
        assert_eq!(core.property("count"), Some(&Value::Int(5)));
        assert_eq!(core.producer.as_ref().map(|p| p.seq), Some(9));
        core.id = 42;
        core.destination = to_core(&wire.destination);
        let back = message_out(&core);
        assert_eq!(
            back.text(1 << 20).unwrap().as_deref(),
            Some("grüße 😀 \0 end")
        );
        assert_eq!(back.properties().unwrap(), wire.properties().unwrap());
        assert_eq!(back.correlation_id, wire.correlation_id);
        assert_eq!(back.reply_to, wire.reply_to);
        assert_eq!(back.jms_type, wire.jms_type);
        assert_eq!(back.timestamp, wire.timestamp);
        assert_eq!((back.group_id, back.group_sequence), (wire.group_id, 3));
        assert_eq!(back.message_id.to_string(), wire.message_id.to_string());
        assert_eq!(back.message_id.broker_sequence_id, 42);
        assert_eq!(back.priority, 7);
    }

    #[test]
    fn stomp_messages_get_a_broker_message_id_and_string_properties() {
        let core = Message {
            id: 77,
            destination: Destination::Queue("q".into()),
            priority: 4,
            expires: 0,
            persistent: false,
            headers: vec![("k".into(), "v".into()), (TYPE.into(), "t".into())].into(),
            body: Bytes::from_static(b"\x00\x01"),
            body_kind: BodyKind::Bytes,
            client_id: None,
            redelivery_count: 2,
            redelivered: true,
            producer: None,
            scheduled: 0,
            origin: 0,
        };
        let out = message_out(&core);
        assert_eq!(out.kind, MessageKind::Bytes);
        assert_eq!(out.content.as_deref(), Some(&b"\x00\x01"[..]));
        assert_eq!(out.message_id.to_string(), "ID:baton:0:0:77");
        assert_eq!(out.jms_type.as_deref(), Some("t"));
        assert_eq!(out.redelivery_counter, 2);
        let recovered = Message {
            redelivery_count: 0,
            ..core.clone()
        };
        assert_eq!(
            message_out(&recovered).redelivery_counter,
            1,
            "a recovered message (redelivered, never counted) reads JMSRedelivered"
        );
        let props = out.properties().unwrap();
        assert_eq!(props.get("k"), Some(&WireValue::String("v".into())));
        assert!(props.get(TYPE).is_none());
    }

    #[test]
    fn temporary_and_composite_destinations_map_both_ways() {
        let temp = WireDestination::new(DestinationKind::TempQueue, "ID:h-1:1:3");
        assert_eq!(to_core(&temp), Destination::Queue("temp.ID:h-1:1:3".into()));
        assert_eq!(from_core(&to_core(&temp)), temp);
        let stomp_temp = Destination::Topic("temp.node-4.replies".into());
        assert_eq!(to_core(&from_core(&stomp_temp)), stomp_temp);
        let composite = WireDestination::queue("A,topic://B");
        assert_eq!(
            destinations(&composite).unwrap(),
            vec![
                Destination::Queue("A".into()),
                Destination::Topic("B".into())
            ]
        );
        assert!(destinations(&WireDestination::queue("")).is_err());
    }
}
