//! Message properties of a message, as ActiveMQ maps them: the JMS header
//! names read the fields the broker knows (or the STOMP headers that stand
//! for them), every other identifier is the header or property of that
//! name: a STOMP header as a string, a JMS property as its type.

use std::borrow::Cow;

use super::value::{parse_numeric, Num, Properties, Value};
use crate::message::{self, Message};

/// Fields of a message the broker knows as numbers/flags; each one given
/// wins over the STOMP header it stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnownFields {
    /// `JMSPriority` (else header `priority`, else 4).
    pub priority: Option<u8>,
    /// `JMSExpiration`, epoch ms, 0 = never (else header `expires`, else 0).
    pub expires: Option<i64>,
    /// `JMSDeliveryMode` (else header `persistent`: `true` = PERSISTENT).
    pub persistent: Option<bool>,
    /// `JMSRedelivered` (else header `redelivered`, else false).
    pub redelivered: Option<bool>,
    /// `JMSTimestamp`, epoch ms (else header `timestamp`, else NULL).
    pub timestamp: Option<i64>,
    /// `JMSMessageID` (else header `message-id`, else NULL).
    pub message_id: Option<i64>,
    /// How many times the message was redelivered: `JMSXDeliveryCount`
    /// is one more (else NULL).
    pub redelivery_count: Option<u32>,
}

/// JMS priority of a message that says nothing.
const DEFAULT_PRIORITY: i64 = 4;

/// The [`Properties`] of one STOMP message: `header` looks a header up by
/// name (the first one if repeated), `known` adds what the broker knows.
///
/// | identifier         | from                                   | type   |
/// |--------------------|----------------------------------------|--------|
/// | `JMSPriority`      | `priority` (default 4)                 | int    |
/// | `JMSType`          | `type`                                 | string |
/// | `JMSCorrelationID` | `correlation-id`                       | string |
/// | `JMSMessageID`     | `message-id`                           | string |
/// | `JMSTimestamp`     | `timestamp`                            | int    |
/// | `JMSExpiration`    | `expires` (default 0)                  | int    |
/// | `JMSDeliveryMode`  | `persistent`: `'PERSISTENT'` / `'NON_PERSISTENT'` | string |
/// | `JMSRedelivered`   | `redelivered` (default false)          | bool   |
/// | `JMSXGroupID`      | `JMSXGroupID`                          | string |
/// | `JMSXGroupSeq`     | `JMSXGroupSeq`                         | int    |
/// | `JMSXUserID`       | `JMSXUserID`                           | string |
/// | `JMSXDeliveryCount`| redelivery count + 1 (known fields only) | int  |
/// | `JMSReplyTo`       | `reply-to`                             | string |
/// | `JMSDestination`   | `destination`                          | string |
/// | anything else      | the header of that name                | string |
pub struct StompProperties<'m, F>
where
    F: Fn(&str) -> Option<&'m str>,
{
    header: F,
    known: KnownFields,
}

impl<'m, F> StompProperties<'m, F>
where
    F: Fn(&str) -> Option<&'m str>,
{
    pub fn new(header: F, known: KnownFields) -> Self {
        StompProperties { header, known }
    }
}

impl<'m, F> Properties for StompProperties<'m, F>
where
    F: Fn(&str) -> Option<&'m str>,
{
    fn get(&self, name: &str) -> Option<Value<'_>> {
        lookup(name, &|h| (self.header)(h).map(Value::str), &self.known)
    }
}

/// The properties of a broker [`Message`], STOMP's or JMS's: its
/// properties with their types (a JMS `int` compares as a number, a
/// `boolean` as a boolean; a STOMP header is a string, read by the
/// numeric-string rule as before), and the JMS header fields (OPENWIRE.md
/// §3.16) from the message's fields and the headers of ActiveMQ's STOMP
/// names:
///
/// | identifier          | from                                              | type   |
/// |---------------------|---------------------------------------------------|--------|
/// | `JMSDestination`    | the destination, `/queue/NAME` or `/topic/NAME`   | string |
/// | `JMSMessageID`      | the client's message id, else the broker's id     | string |
/// | `JMSPriority`, `JMSExpiration`, `JMSRedelivered` | the message's fields | int, int, bool |
/// | `JMSDeliveryMode`   | `'PERSISTENT'` / `'NON_PERSISTENT'`               | string |
/// | `JMSXDeliveryCount` | redelivery count + 1                              | int    |
/// | `JMSTimestamp`      | `timestamp`                                       | int    |
/// | `JMSXGroupSeq`      | `JMSXGroupSeq`                                    | int    |
/// | `JMSType`, `JMSCorrelationID`, `JMSReplyTo`, `JMSXGroupID`, `JMSXUserID` | `type`, `correlation-id`, `reply-to`, `JMSXGroupID`, `JMSXUserID` | as stored |
/// | anything else       | the property of that name                         | its type |
#[derive(Debug, Clone, Copy)]
pub struct MessageProperties<'m> {
    msg: &'m Message,
    known: KnownFields,
}

impl<'m> MessageProperties<'m> {
    pub fn new(msg: &'m Message) -> Self {
        MessageProperties {
            msg,
            known: KnownFields::from(msg),
        }
    }
}

impl Properties for MessageProperties<'_> {
    fn get(&self, name: &str) -> Option<Value<'_>> {
        match name {
            "JMSDestination" => Some(Value::Str(Cow::Owned(self.msg.destination.to_string()))),
            "JMSMessageID" => Some(match &self.msg.client_id {
                Some(id) => Value::str(id),
                None => Value::Str(Cow::Owned(self.msg.id.to_string())),
            }),
            _ => lookup(name, &|h| self.msg.property(h).map(typed), &self.known),
        }
    }
}

/// A message property as a selector value: every whole-number type is an
/// integer, `float` and `double` are floats.
fn typed(v: &message::Value) -> Value<'_> {
    match v {
        message::Value::Bool(b) => Value::Bool(*b),
        message::Value::Byte(n) => Value::Int(i64::from(*n)),
        message::Value::Short(n) => Value::Int(i64::from(*n)),
        message::Value::Int(n) => Value::Int(i64::from(*n)),
        message::Value::Long(n) => Value::Int(*n),
        message::Value::Float(n) => Value::Float(f64::from(*n)),
        message::Value::Double(n) => Value::Float(*n),
        message::Value::String(s) => Value::str(s),
    }
}

impl From<&Message> for KnownFields {
    fn from(m: &Message) -> Self {
        KnownFields {
            priority: Some(m.priority),
            expires: Some(m.expires),
            persistent: Some(m.persistent),
            redelivered: Some(m.redelivered),
            timestamp: None,
            message_id: Some(m.id),
            redelivery_count: Some(m.redelivery_count),
        }
    }
}

/// A property lookup: the value of the header or property of a name.
type Lookup<'a, 'm> = &'a dyn Fn(&str) -> Option<Value<'m>>;

/// A whole number: an integer property, or a string holding one.
fn int_of(lookup: Lookup<'_, '_>, name: &str) -> Option<i64> {
    match lookup(name)? {
        Value::Int(i) => Some(i),
        Value::Str(s) => match parse_numeric(&s)? {
            Num::Int(i) => Some(i),
            Num::Float(_) => None,
        },
        Value::Bool(_) | Value::Float(_) => None,
    }
}

/// A flag: a boolean property, or a string that is `true` in any case.
fn bool_of(lookup: Lookup<'_, '_>, name: &str) -> Option<bool> {
    match lookup(name)? {
        Value::Bool(b) => Some(b),
        Value::Str(s) => Some(s.eq_ignore_ascii_case("true")),
        Value::Int(_) | Value::Float(_) => Some(false),
    }
}

/// The value of identifier `name` (see [`StompProperties`] and
/// [`MessageProperties`]).
fn lookup<'m>(name: &str, get: Lookup<'_, 'm>, k: &KnownFields) -> Option<Value<'m>> {
    match name {
        "JMSPriority" => Some(Value::Int(
            k.priority
                .map(i64::from)
                .or_else(|| int_of(get, "priority"))
                .unwrap_or(DEFAULT_PRIORITY),
        )),
        "JMSType" => get("type"),
        "JMSCorrelationID" => get("correlation-id"),
        "JMSMessageID" => match k.message_id {
            Some(id) => Some(Value::Str(Cow::Owned(id.to_string()))),
            None => get("message-id"),
        },
        "JMSTimestamp" => k
            .timestamp
            .or_else(|| int_of(get, "timestamp"))
            .map(Value::Int),
        "JMSExpiration" => Some(Value::Int(
            k.expires.or_else(|| int_of(get, "expires")).unwrap_or(0),
        )),
        "JMSDeliveryMode" => {
            let persistent = k
                .persistent
                .or_else(|| bool_of(get, "persistent"))
                .unwrap_or(false);
            Some(Value::str(if persistent {
                "PERSISTENT"
            } else {
                "NON_PERSISTENT"
            }))
        }
        "JMSRedelivered" => Some(Value::Bool(
            k.redelivered
                .or_else(|| bool_of(get, "redelivered"))
                .unwrap_or(false),
        )),
        "JMSXDeliveryCount" => k.redelivery_count.map(|n| Value::Int(i64::from(n) + 1)),
        "JMSXGroupSeq" => int_of(get, "JMSXGroupSeq").map(Value::Int),
        "JMSReplyTo" => get("reply-to"),
        "JMSDestination" => get("destination"),
        other => get(other),
    }
}
