//! The STOMP header mapping.

use super::util::sel;
use crate::selector::{KnownFields, Properties, StompProperties, Value};

fn headers(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<&'static str> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

const HEADERS: &[(&str, &str)] = &[
    ("priority", "7"),
    ("type", "car"),
    ("correlation-id", "c-1"),
    ("message-id", "42"),
    ("timestamp", "1700000000000"),
    ("expires", "1800000000000"),
    ("persistent", "true"),
    ("redelivered", "true"),
    ("JMSXGroupID", "g1"),
    ("reply-to", "/queue/replies"),
    ("destination", "/queue/orders"),
    ("price", "150"),
    ("color", "blue"),
];

#[test]
fn jms_names_read_stomp_headers() {
    let p = StompProperties::new(headers(HEADERS), KnownFields::default());
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(7)));
    assert_eq!(p.get("JMSType"), Some(Value::from("car")));
    assert_eq!(p.get("JMSCorrelationID"), Some(Value::from("c-1")));
    assert_eq!(p.get("JMSMessageID"), Some(Value::from("42")));
    assert_eq!(p.get("JMSTimestamp"), Some(Value::Int(1_700_000_000_000)));
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(1_800_000_000_000)));
    assert_eq!(p.get("JMSDeliveryMode"), Some(Value::from("PERSISTENT")));
    assert_eq!(p.get("JMSRedelivered"), Some(Value::Bool(true)));
    assert_eq!(p.get("JMSXGroupID"), Some(Value::from("g1")));
    assert_eq!(p.get("JMSReplyTo"), Some(Value::from("/queue/replies")));
    assert_eq!(p.get("JMSDestination"), Some(Value::from("/queue/orders")));
    assert_eq!(p.get("price"), Some(Value::from("150")));
    assert_eq!(p.get("priority"), Some(Value::from("7")));
    assert_eq!(p.get("missing"), None);
    assert_eq!(p.get("jmspriority"), None);
}

#[test]
fn defaults_when_headers_are_absent() {
    let p = StompProperties::new(headers(&[]), KnownFields::default());
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(4)));
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(0)));
    assert_eq!(
        p.get("JMSDeliveryMode"),
        Some(Value::from("NON_PERSISTENT"))
    );
    assert_eq!(p.get("JMSRedelivered"), Some(Value::Bool(false)));
    for name in [
        "JMSType",
        "JMSCorrelationID",
        "JMSMessageID",
        "JMSTimestamp",
        "JMSXGroupID",
    ] {
        assert_eq!(p.get(name), None, "{name}");
    }
}

#[test]
fn known_fields_win_over_headers() {
    let known = KnownFields {
        priority: Some(9),
        expires: Some(5),
        persistent: Some(false),
        redelivered: Some(false),
        timestamp: Some(6),
        message_id: Some(77),
        redelivery_count: Some(2),
    };
    let p = StompProperties::new(headers(HEADERS), known);
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(9)));
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(5)));
    assert_eq!(
        p.get("JMSDeliveryMode"),
        Some(Value::from("NON_PERSISTENT"))
    );
    assert_eq!(p.get("JMSRedelivered"), Some(Value::Bool(false)));
    assert_eq!(p.get("JMSTimestamp"), Some(Value::Int(6)));
    assert_eq!(p.get("JMSMessageID"), Some(Value::from("77")));
    assert_eq!(p.get("JMSXDeliveryCount"), Some(Value::Int(3)));
}

#[test]
fn malformed_numeric_headers_fall_back() {
    const BAD: &[(&str, &str)] = &[
        ("priority", "high"),
        ("timestamp", "1.5"),
        ("expires", "soon"),
    ];
    let p = StompProperties::new(headers(BAD), KnownFields::default());
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(4)));
    assert_eq!(p.get("JMSTimestamp"), None);
    assert_eq!(p.get("JMSExpiration"), Some(Value::Int(0)));
}

#[test]
fn selectors_over_a_stomp_message() {
    let p = StompProperties::new(headers(HEADERS), KnownFields::default());
    for (text, want) in [
        ("price > 100", true),
        ("price > 200", false),
        ("JMSPriority > 5 AND color = 'blue'", true),
        ("JMSType = 'car' AND JMSDeliveryMode = 'PERSISTENT'", true),
        ("JMSRedelivered", true),
        ("JMSRedelivered = FALSE", false),
        ("JMSXGroupID IN ('g1', 'g2')", true),
        ("\"correlation-id\" LIKE 'c-%'", true),
        ("JMSCorrelationID = 'c-1'", true),
        ("missing IS NULL AND price IS NOT NULL", true),
        ("redelivered = TRUE", true),
        ("JMSTimestamp BETWEEN 1600000000000 AND 1800000000000", true),
    ] {
        assert_eq!(sel(text).matches(&p), want, "{text}");
    }
}

#[test]
fn broker_message_properties() {
    use crate::message::{Destination, Message};
    use crate::selector::MessageProperties;
    let m = Message {
        id: 42,
        destination: Destination::Queue("orders".into()),
        priority: 8,
        expires: 0,
        persistent: true,
        headers: vec![
            ("price".into(), "150".into()),
            ("type".into(), "car".into()),
            ("JMSXGroupID".into(), "g1".into()),
        ]
        .into(),
        body: bytes::Bytes::new(),
        redelivery_count: 1,
        redelivered: true,
        producer: None,
        scheduled: 0,
        body_kind: Default::default(),
        client_id: None,
        origin: 0,
    };
    let p = MessageProperties::new(&m);
    assert_eq!(p.get("JMSDestination"), Some(Value::from("/queue/orders")));
    assert_eq!(p.get("JMSMessageID"), Some(Value::from("42")));
    assert_eq!(p.get("JMSPriority"), Some(Value::Int(8)));
    assert_eq!(p.get("JMSTimestamp"), None);
    for (text, want) in [
        ("price > 100 AND JMSType = 'car'", true),
        (
            "JMSPriority >= 8 AND JMSRedelivered AND JMSDeliveryMode = 'PERSISTENT'",
            true,
        ),
        ("JMSDestination LIKE '/queue/%' AND JMSMessageID = 42", true),
        ("JMSExpiration = 0 AND JMSXGroupID = 'g1'", true),
        ("JMSXGroupID = 'g2'", false),
    ] {
        assert_eq!(sel(text).matches(&p), want, "{text}");
    }
}
