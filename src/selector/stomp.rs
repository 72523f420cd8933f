//! Message properties of a STOMP message, as ActiveMQ's STOMP support maps
//! them: the JMS header names read the STOMP headers (or the fields the
//! broker knows), every other identifier is the header of that name, as a
//! string.

use std::borrow::Cow;

use super::value::{parse_numeric, Num, Properties, Value};
use crate::message::Message;

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
        lookup(name, &self.header, &self.known)
    }
}

/// The properties of a broker [`Message`]: its headers, its fields as
/// [`KnownFields`], and `JMSDestination` from its destination.
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
        if name == "JMSDestination" {
            return Some(Value::Str(Cow::Owned(self.msg.destination.to_string())));
        }
        lookup(name, &|h| self.msg.header(h), &self.known)
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
        }
    }
}

fn int_header<'m>(header: &dyn Fn(&str) -> Option<&'m str>, name: &str) -> Option<i64> {
    match parse_numeric(header(name)?)? {
        Num::Int(i) => Some(i),
        Num::Float(_) => None,
    }
}

fn bool_header<'m>(header: &dyn Fn(&str) -> Option<&'m str>, name: &str) -> Option<bool> {
    header(name).map(|v| v.eq_ignore_ascii_case("true"))
}

/// The value of identifier `name` (see [`StompProperties`]).
fn lookup<'m>(
    name: &str,
    header: &dyn Fn(&str) -> Option<&'m str>,
    k: &KnownFields,
) -> Option<Value<'m>> {
    let str_header = |h: &str| header(h).map(Value::str);
    match name {
        "JMSPriority" => Some(Value::Int(
            k.priority
                .map(i64::from)
                .or_else(|| int_header(header, "priority"))
                .unwrap_or(DEFAULT_PRIORITY),
        )),
        "JMSType" => str_header("type"),
        "JMSCorrelationID" => str_header("correlation-id"),
        "JMSMessageID" => match k.message_id {
            Some(id) => Some(Value::Str(Cow::Owned(id.to_string()))),
            None => str_header("message-id"),
        },
        "JMSTimestamp" => k
            .timestamp
            .or_else(|| int_header(header, "timestamp"))
            .map(Value::Int),
        "JMSExpiration" => Some(Value::Int(
            k.expires
                .or_else(|| int_header(header, "expires"))
                .unwrap_or(0),
        )),
        "JMSDeliveryMode" => {
            let persistent = k
                .persistent
                .or_else(|| bool_header(header, "persistent"))
                .unwrap_or(false);
            Some(Value::str(if persistent {
                "PERSISTENT"
            } else {
                "NON_PERSISTENT"
            }))
        }
        "JMSRedelivered" => Some(Value::Bool(
            k.redelivered
                .or_else(|| bool_header(header, "redelivered"))
                .unwrap_or(false),
        )),
        "JMSXGroupID" => str_header("JMSXGroupID"),
        "JMSReplyTo" => str_header("reply-to"),
        "JMSDestination" => str_header("destination"),
        other => str_header(other),
    }
}
