//! A core [`Delivery`] as a STOMP MESSAGE frame, written straight into the
//! connection's write buffer: the message's headers are escaped from where
//! they are, never copied into a [`super::frame::Frame`] first.

use super::frame::{Command, FrameWriter, Version};
use crate::broker::{AckMode, Delivery};
use crate::message::{Destination, Value};
use bytes::BytesMut;

/// Writes `d` as a MESSAGE for a client of `version`: `subscription`,
/// `message-id` (ActiveMQ's: the JMSMessageID of a message an OpenWire
/// client sent, else Baton's id), an OpenWire message's JMS fields as
/// ActiveMQ shows them, `destination`, `ack` (1.2, unless the subscription
/// acknowledges automatically: `<id>:<subscription>`, what an ACK's `id`
/// names), `redelivered`, `redelivery-count`, the user headers,
/// `content-length` and the body.
pub fn encode_delivery(d: &Delivery, version: Version, dst: &mut BytesMut) {
    let m = &d.message;
    let headers_len: usize = m.headers.iter().map(|(k, _)| k.len() + 24).sum();
    dst.reserve(headers_len + m.body.len() + 256);
    let mut w = FrameWriter::start(Command::Message, version, dst);
    w.header("subscription", &d.subscription);
    match &m.client_id {
        Some(id) => {
            w.header("message-id", id);
            // A STOMP message keeps the headers it was sent with.
            w.header_int("priority", m.priority);
            w.header_int("expires", m.expires);
            if m.persistent {
                w.header("persistent", "true");
            }
        }
        None => w.header_int("message-id", m.id),
    }
    let (kind, name) = match &m.destination {
        Destination::Queue(n) => ("/queue/", n),
        Destination::Topic(n) => ("/topic/", n),
    };
    w.header_parts("destination", &[kind, name]);
    if version == Version::V1_2 && d.ack != AckMode::Auto {
        w.header_parts(
            "ack",
            &[itoa::Buffer::new().format(m.id), ":", &d.subscription],
        );
    }
    if m.redelivered {
        w.header("redelivered", "true");
    }
    if m.redelivery_count > 0 {
        w.header_int("redelivery-count", m.redelivery_count);
    }
    for (name, value) in m.headers.iter() {
        match value {
            Value::String(s) => w.header(name, s),
            other => w.header(name, &other.to_text()),
        }
    }
    w.header_int("content-length", m.body.len());
    w.finish(&m.body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{BodyKind, Message};
    use crate::stomp::frame::{encode, Frame};
    use bytes::Bytes;
    use std::sync::Arc;

    /// The MESSAGE as a [`Frame`] of owned headers, the way it was built
    /// before it was written straight from the message: the reference the
    /// direct writer must match byte for byte.
    fn as_frame(d: &Delivery, version: Version) -> Frame {
        let m = &d.message;
        let mut f = Frame::new(Command::Message);
        f.push_header("subscription", &*d.subscription);
        match &m.client_id {
            Some(id) => f.push_header("message-id", &**id),
            None => f.push_header("message-id", m.id.to_string()),
        }
        if m.client_id.is_some() {
            f.push_header("priority", m.priority.to_string());
            f.push_header("expires", m.expires.to_string());
            if m.persistent {
                f.push_header("persistent", "true");
            }
        }
        f.push_header("destination", m.destination.to_string());
        if version == Version::V1_2 && d.ack != AckMode::Auto {
            f.push_header("ack", format!("{}:{}", m.id, d.subscription));
        }
        if m.redelivered {
            f.push_header("redelivered", "true");
        }
        if m.redelivery_count > 0 {
            f.push_header("redelivery-count", m.redelivery_count.to_string());
        }
        for (k, v) in m.headers.iter() {
            f.push_header(k.clone(), v.to_text().into_owned());
        }
        f.push_header("content-length", m.body.len().to_string());
        f.body = m.body.clone();
        f
    }

    fn delivery(client_id: Option<&str>, ack: AckMode, redelivered: bool) -> Delivery {
        Delivery {
            subscription: Arc::from("sub:1"),
            ack,
            message: Message {
                id: 1_700_000_000_123_456,
                destination: Destination::Topic("a:b\\c".into()),
                priority: 7,
                expires: 1_900_000_000_000,
                persistent: true,
                headers: vec![
                    ("plain".into(), "value".into()),
                    ("es:ca\\pe".into(), "line\nbreak\r:colon".into()),
                    ("n".into(), Value::Long(-7)),
                    ("f".into(), Value::Double(0.5)),
                    ("b".into(), Value::Bool(true)),
                ]
                .into(),
                body: Bytes::from_static(b"\0body\xff"),
                body_kind: BodyKind::Bytes,
                client_id: client_id.map(Arc::from),
                redelivery_count: u32::from(redelivered) * 3,
                redelivered,
                producer: None,
                scheduled: 0,
                origin: 0,
            },
        }
    }

    #[test]
    fn writes_what_the_frame_would() {
        for version in Version::ALL {
            for client_id in [None, Some("ID:host-1:1:1:1:5")] {
                for ack in [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual] {
                    for redelivered in [false, true] {
                        let d = delivery(client_id, ack, redelivered);
                        let mut direct = BytesMut::new();
                        encode_delivery(&d, version, &mut direct);
                        let mut reference = BytesMut::new();
                        encode(&as_frame(&d, version), version, &mut reference);
                        assert_eq!(
                            direct, reference,
                            "{version} {client_id:?} {ack:?} {redelivered}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_ack_header_is_what_an_ack_names() {
        let d = delivery(None, AckMode::ClientIndividual, false);
        let mut out = BytesMut::new();
        encode_delivery(&d, Version::V1_2, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("\nack:1700000000123456\\csub\\c1\n"),
            "{text}"
        );
    }
}
