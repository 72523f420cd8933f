//! What SEND and SUBSCRIBE frames ask for: destinations (composite,
//! temporary), message fields and headers, producer sequences, schedules,
//! and subscription options.

use super::{required, Handler, MESSAGE_TYPE, PRODUCER_ID, PRODUCER_SEQ, PROTOCOL_HEADERS};
use crate::broker::AckMode;
use crate::broker::{first_due, BrokerError, DurableName, SubscribeSpec};
use crate::message::{
    stamp_arrival, BodyKind, Destination, Message, ProducerSeq, Value, DEFAULT_PRIORITY,
    MAX_PRODUCER_ID_CHARS, TIMESTAMP,
};
use crate::selector::Selector;
use crate::stomp::error::{protocol, SessionError};
use crate::stomp::frame::{Frame, Version};
use std::sync::Arc;

impl Handler {
    /// A destination as a client names it: `/queue/..`, `/topic/..`, or
    /// `/temp-queue/NAME` / `/temp-topic/NAME`, which become this
    /// connection's own temporary destinations (created on first use).
    pub(super) fn resolve(&mut self, raw: &str) -> Result<Destination, SessionError> {
        let core = self.core()?;
        if let Some(name) = raw.strip_prefix("/temp-queue/") {
            return Ok(core.temp_destination(true, name)?);
        }
        if let Some(name) = raw.strip_prefix("/temp-topic/") {
            return Ok(core.temp_destination(false, name)?);
        }
        let dest = Destination::parse(raw).map_err(BrokerError::from)?;
        Ok(core.existing(dest)?)
    }

    /// A SEND's message and its destinations: one per part of a composite
    /// `destination` (`/queue/a,/topic/b`; a part without a leading `/`
    /// has the kind of the first part, as in ActiveMQ).
    pub(super) fn message_from(
        &mut self,
        frame: Frame,
    ) -> Result<(Message, Vec<Destination>), SessionError> {
        let raw = required(&frame, "destination")?.to_string();
        let mut destinations = Vec::new();
        let first = raw.trim_start();
        let kind = first
            .get(
                ..first
                    .get(1..)
                    .and_then(|r| r.find('/'))
                    .map_or(0, |i| i + 2),
            )
            .unwrap_or("");
        for part in raw.split(',').map(str::trim) {
            let full = if part.starts_with('/') {
                part.to_string()
            } else {
                format!("{kind}{part}")
            };
            destinations.push(self.resolve(&full)?);
        }
        let mut frame = frame;
        if let Some(reply_to) = frame.header("reply-to").map(str::to_string) {
            if reply_to.starts_with("/temp-") {
                let resolved = self.resolve(&reply_to)?.to_string();
                frame.set_header("reply-to", resolved);
            }
        }
        Ok((self.message_fields(frame)?, destinations))
    }

    /// Everything of a SEND but its destination (and id, which the core
    /// assigns).
    fn message_fields(&self, frame: Frame) -> Result<Message, SessionError> {
        let priority = match frame.header("priority") {
            None => DEFAULT_PRIORITY,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 9)
                .ok_or_else(|| {
                    protocol(format!(
                        "priority must be a whole number from 0 to 9, got '{p}'"
                    ))
                })?,
        };
        let expires = match frame.header("expires") {
            None => 0,
            Some(e) => e
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|e| *e >= 0)
                .ok_or_else(|| {
                    protocol(format!(
                        "expires must be epoch milliseconds (0 = never), got '{e}'"
                    ))
                })?,
        };
        if let Some(t) = frame.header(TIMESTAMP) {
            if !t.trim().parse::<i64>().is_ok_and(|t| t >= 0) {
                return Err(protocol(format!(
                    "timestamp must be epoch milliseconds, got '{t}'"
                )));
            }
        }
        let persistent = frame
            .header("persistent")
            .is_some_and(|p| p.eq_ignore_ascii_case("true"));
        let producer = producer_of(&frame)?;
        let body_kind = match frame.header(MESSAGE_TYPE) {
            Some("text") => BodyKind::Text,
            Some("bytes") => BodyKind::Bytes,
            Some(other) => {
                return Err(protocol(format!(
                    "{MESSAGE_TYPE} must be text or bytes, got '{other}'"
                )))
            }
            None if frame.header("content-length").is_some() => BodyKind::Bytes,
            None => BodyKind::Text,
        };
        // The user headers move from the frame into the message; of
        // repeated ones the first occurrence wins.
        let Frame {
            headers: raw, body, ..
        } = frame;
        let mut headers: Vec<(String, Value)> = Vec::with_capacity(raw.len() + 1);
        for (k, v) in raw {
            if !PROTOCOL_HEADERS.contains(&k.as_str()) && !headers.iter().any(|(n, _)| *n == k) {
                headers.push((k, Value::String(v)));
            }
        }
        let now = crate::message::now_ms();
        stamp_arrival(&mut headers, now);
        let mut message = Message {
            id: 0,
            destination: Destination::Queue(String::new()),
            priority,
            expires,
            persistent,
            headers: headers.into(),
            body,
            body_kind,
            client_id: None,
            redelivery_count: 0,
            redelivered: false,
            producer,
            scheduled: 0,
            origin: 0,
        };
        message.scheduled = first_due(&message, now).map_err(protocol)?;
        Ok(message)
    }

    pub(super) fn subscribe_spec(
        &mut self,
        frame: &Frame,
        version: Version,
    ) -> Result<SubscribeSpec, SessionError> {
        let dest = required(frame, "destination")?;
        let destination = self.resolve(dest)?;
        let id = match (frame.header("id"), version) {
            (Some(id), _) => id.to_string(),
            (None, Version::V1_0) => dest.to_string(),
            (None, _) => required(frame, "id")?.to_string(),
        };
        let ack = match frame.header("ack").unwrap_or("auto") {
            "auto" => AckMode::Auto,
            "client" => AckMode::Client,
            "client-individual" => AckMode::ClientIndividual,
            other => {
                return Err(protocol(format!(
                    "ack must be auto, client or client-individual, got '{other}'"
                )))
            }
        };
        let prefetch = match frame.header("activemq.prefetchSize") {
            None => self.config.default_prefetch,
            Some(p) => p
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| {
                    protocol(format!(
                        "activemq.prefetchSize must be a whole number of at least 1, got '{p}'"
                    ))
                })?,
        };
        Ok(SubscribeSpec {
            id,
            destination,
            ack,
            prefetch,
            selector: match frame.header("selector") {
                None => None,
                Some(text) => {
                    let s = Selector::parse(text).map_err(|e| protocol(e.to_string()))?;
                    (!s.is_match_all()).then_some(s)
                }
            },
            exclusive: flag(frame, "activemq.exclusive")?,
            no_local: flag(frame, "activemq.noLocal")?,
            browser: flag(frame, "browser")?,
            durable: match durable_name(frame) {
                None => None,
                Some(name) => Some(DurableName {
                    client_id: self
                        .core()?
                        .client_id()
                        .ok_or(BrokerError::DurableNeedsClientId)?
                        .to_string(),
                    name: name.to_string(),
                    created_after: 0,
                }),
            },
        })
    }
}

/// The producer id and sequence of a SEND, when it carries both.
fn producer_of(frame: &Frame) -> Result<Option<ProducerSeq>, SessionError> {
    let (id, seq) = match (frame.header(PRODUCER_ID), frame.header(PRODUCER_SEQ)) {
        (None, None) => return Ok(None),
        (Some(id), Some(seq)) => (id, seq),
        _ => {
            return Err(protocol(format!(
                "'{PRODUCER_ID}' and '{PRODUCER_SEQ}' go together: send both or neither"
            )))
        }
    };
    if id.is_empty() || id.chars().count() > MAX_PRODUCER_ID_CHARS {
        return Err(protocol(format!(
            "'{PRODUCER_ID}' must be 1 to {MAX_PRODUCER_ID_CHARS} characters"
        )));
    }
    let seq = seq
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            protocol(format!(
                "'{PRODUCER_SEQ}' must be a whole number of at least 1, got '{seq}'"
            ))
        })?;
    Ok(Some(ProducerSeq {
        id: Arc::from(id),
        seq,
    }))
}

/// The durable subscription a SUBSCRIBE or UNSUBSCRIBE names: ActiveMQ's
/// `activemq.subscriptionName` (or `durable-subscription-name`).
pub(super) fn durable_name(frame: &Frame) -> Option<&str> {
    frame
        .header("activemq.subscriptionName")
        .or_else(|| frame.header("durable-subscription-name"))
}

/// A `true`/`false` header (absent = false).
fn flag(frame: &Frame, name: &str) -> Result<bool, SessionError> {
    match frame.header(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(protocol(format!("{name} must be true or false, got '{v}'"))),
    }
}
