//! The properties of a broker message: typed JMS properties and the JMS
//! header pseudo-properties (OPENWIRE.md §3.16).

use super::util::sel;
use crate::message::{self, BodyKind, Destination, Message};
use crate::selector::{MessageProperties, Properties, Value};

/// A non-persistent queue message with these properties.
fn message(props: Vec<(&str, message::Value)>) -> Message {
    Message {
        id: 42,
        destination: Destination::Queue("orders".into()),
        priority: 4,
        expires: 0,
        persistent: false,
        headers: props.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        body: bytes::Bytes::new(),
        body_kind: BodyKind::Text,
        client_id: None,
        redelivery_count: 0,
        redelivered: false,
        producer: None,
        scheduled: 0,
        origin: 0,
    }
}

fn check(m: &Message, cases: &[(&str, bool)]) {
    let p = MessageProperties::new(m);
    for (text, want) in cases {
        assert_eq!(sel(text).matches(&p), *want, "{text}");
    }
}

#[test]
fn typed_properties_keep_their_type() {
    use message::Value as V;
    let m = message(vec![
        ("count", V::Int(7)),
        ("small", V::Byte(-3)),
        ("mid", V::Short(300)),
        ("big", V::Long(1 << 40)),
        ("flag", V::Bool(true)),
        ("off", V::Bool(false)),
        ("ratio", V::Double(0.25)),
        ("half", V::Float(0.5)),
        ("name", V::String("ann".into())),
    ]);
    let p = MessageProperties::new(&m);
    assert_eq!(p.get("count"), Some(Value::Int(7)));
    assert_eq!(p.get("small"), Some(Value::Int(-3)));
    assert_eq!(p.get("big"), Some(Value::Int(1 << 40)));
    assert_eq!(p.get("flag"), Some(Value::Bool(true)));
    assert_eq!(p.get("ratio"), Some(Value::Float(0.25)));
    assert_eq!(p.get("half"), Some(Value::Float(0.5)));
    assert_eq!(p.get("name"), Some(Value::from("ann")));
    check(
        &m,
        &[
            ("count > 5", true),
            ("count > 7", false),
            ("count = 7.0", true),
            ("count BETWEEN 1 AND 10", true),
            ("count IN (1, 7)", true),
            ("count + 1 = 8", true),
            ("small < 0 AND mid > 255", true),
            ("big = 1099511627776", true),
            ("flag = TRUE", true),
            ("flag", true),
            ("NOT off", true),
            ("off = TRUE", false),
            ("ratio < 0.5", true),
            ("ratio > 0.5", false),
            ("half = 0.5", true),
            ("name = 'ann'", true),
            ("name LIKE 'a%'", true),
            // The numeric-string rule works both ways (a string literal
            // meets a number); a boolean is not a number.
            ("count = '7'", true),
            ("count = 'seven'", false),
            ("count LIKE '7'", false),
            ("flag = 1", false),
            ("NOT (flag = 1)", false),
            ("missing IS NULL AND count IS NOT NULL", true),
        ],
    );
}

#[test]
fn string_properties_behave_as_stomp_headers() {
    // What a STOMP SEND stores: every header a string, numbers by the
    // numeric-string rule, two strings compared as strings.
    let m = message(vec![
        ("price", "150".into()),
        ("flag", "true".into()),
        ("code", "10".into()),
    ]);
    check(
        &m,
        &[
            ("price > 100", true),
            ("price = '150'", true),
            ("price = 150.0", true),
            ("flag = TRUE", true),
            ("flag", true),
            ("code < '9'", true),
            ("code < 9", false),
        ],
    );
}

#[test]
fn jms_header_fields() {
    use message::Value as V;
    let mut m = message(vec![
        ("correlation-id", "c-1".into()),
        ("reply-to", "/queue/replies".into()),
        ("type", "car".into()),
        ("timestamp", V::Long(1_700_000_000_000)),
        ("JMSXGroupID", "g1".into()),
        ("JMSXGroupSeq", V::Int(3)),
        ("JMSXUserID", "alice".into()),
    ]);
    m.priority = 8;
    m.expires = 1_800_000_000_000;
    m.persistent = true;
    m.redelivered = true;
    m.redelivery_count = 2;
    let p = MessageProperties::new(&m);
    assert_eq!(p.get("JMSDestination"), Some(Value::from("/queue/orders")));
    assert_eq!(p.get("JMSReplyTo"), Some(Value::from("/queue/replies")));
    assert_eq!(p.get("JMSType"), Some(Value::from("car")));
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(8)));
    assert_eq!(p.get("JMSMessageID"), Some(Value::from("42")));
    assert_eq!(p.get("JMSTimestamp"), Some(Value::Int(1_700_000_000_000)));
    assert_eq!(p.get("JMSCorrelationID"), Some(Value::from("c-1")));
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(1_800_000_000_000)));
    assert_eq!(p.get("JMSRedelivered"), Some(Value::Bool(true)));
    assert_eq!(p.get("JMSXDeliveryCount"), Some(Value::Int(3)));
    assert_eq!(p.get("JMSXGroupID"), Some(Value::from("g1")));
    assert_eq!(p.get("JMSXGroupSeq"), Some(Value::Int(3)));
    assert_eq!(p.get("JMSXUserID"), Some(Value::from("alice")));
    assert_eq!(p.get("JMSDeliveryMode"), Some(Value::from("PERSISTENT")));
    check(
        &m,
        &[
            ("JMSDestination = '/queue/orders'", true),
            ("JMSReplyTo = '/queue/replies'", true),
            ("JMSType = 'car'", true),
            ("JMSPriority > 7", true),
            ("JMSMessageID = '42'", true),
            ("JMSTimestamp BETWEEN 1600000000000 AND 1800000000000", true),
            ("JMSCorrelationID LIKE 'c-%'", true),
            ("JMSExpiration > 0", true),
            ("JMSRedelivered", true),
            ("JMSXDeliveryCount = 3", true),
            ("JMSXDeliveryCount > 3", false),
            ("JMSXGroupID = 'g1' AND JMSXGroupSeq = 3", true),
            ("JMSXGroupSeq + 1 = 4", true),
            ("JMSXUserID = 'alice'", true),
            ("JMSDeliveryMode = 'PERSISTENT'", true),
            ("JMSDeliveryMode = 'NON_PERSISTENT'", false),
        ],
    );
}

#[test]
fn jms_header_fields_of_a_plain_message() {
    let m = message(vec![]);
    let p = MessageProperties::new(&m);
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(4)));
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(0)));
    assert_eq!(p.get("JMSRedelivered"), Some(Value::Bool(false)));
    assert_eq!(p.get("JMSXDeliveryCount"), Some(Value::Int(1)));
    assert_eq!(
        p.get("JMSDeliveryMode"),
        Some(Value::from("NON_PERSISTENT"))
    );
    for name in [
        "JMSReplyTo",
        "JMSType",
        "JMSTimestamp",
        "JMSCorrelationID",
        "JMSXGroupID",
        "JMSXGroupSeq",
        "JMSXUserID",
    ] {
        assert_eq!(p.get(name), None, "{name}");
    }
}

#[test]
fn message_id_is_the_clients_when_it_gave_one() {
    let mut m = message(vec![]);
    m.client_id = Some("ID:host-1-2-3:1:1:1:1".into());
    let p = MessageProperties::new(&m);
    assert_eq!(
        p.get("JMSMessageID"),
        Some(Value::from("ID:host-1-2-3:1:1:1:1"))
    );
    check(&m, &[("JMSMessageID LIKE 'ID:host-%'", true)]);
}

#[test]
fn stomp_strings_for_numeric_header_fields() {
    // A STOMP SEND keeps `timestamp` and `JMSXGroupSeq` as strings; the
    // header fields still read them as numbers.
    let m = message(vec![
        ("timestamp", "1700000000000".into()),
        ("JMSXGroupSeq", "2".into()),
    ]);
    let p = MessageProperties::new(&m);
    assert_eq!(p.get("JMSTimestamp"), Some(Value::Int(1_700_000_000_000)));
    assert_eq!(p.get("JMSXGroupSeq"), Some(Value::Int(2)));
}
