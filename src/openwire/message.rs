//! Messages (types 23–28, OPENWIRE.md §2.5) and their bodies (§4.2).
//!
//! Properties and content stay raw [`Bytes`] (slices of the received frame),
//! so a message passes through Baton without being taken apart; the helpers
//! here decode them when someone needs the values.

use std::io::Read;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::read::ZlibDecoder;

use super::error::{BodyError, EncodeError, FrameError};
use super::map::PrimitiveMap;
use super::types::{
    BrokerId, ConsumerId, Destination, DestinationInfo, MessageId, ProducerId, TransactionId,
};
use super::wire::{decode_modified_utf8, put_len, DataStructure, Reader, Wire};

/// Which JMS message type: only the type byte differs on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageKind {
    /// `ActiveMQMessage`: no body.
    #[default]
    Message,
    Bytes,
    Map,
    /// Java serialization: opaque, never deserialized.
    Object,
    /// Tagged primitives: opaque.
    Stream,
    Text,
}

impl MessageKind {
    pub const ALL: [MessageKind; 6] = [
        Self::Message,
        Self::Bytes,
        Self::Map,
        Self::Object,
        Self::Stream,
        Self::Text,
    ];

    pub fn type_code(self) -> u8 {
        match self {
            Self::Message => 23,
            Self::Bytes => 24,
            Self::Map => 25,
            Self::Object => 26,
            Self::Stream => 27,
            Self::Text => 28,
        }
    }

    pub fn from_type_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_code() == code)
    }
}

/// A JMS message: all 30 wire fields in order, plus its kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub kind: MessageKind,
    pub command_id: i32,
    /// True for a sync send (persistent, outside a transaction).
    pub response_required: bool,
    // 1–6
    pub producer_id: ProducerId,
    /// JMSDestination.
    pub destination: Destination,
    /// Set when sent in a transaction.
    pub transaction_id: Option<TransactionId>,
    /// Set by the broker when the message moves to a DLQ.
    pub original_destination: Option<Destination>,
    /// JMSMessageID.
    pub message_id: MessageId,
    pub original_transaction_id: Option<TransactionId>,
    // 7–15
    /// JMSXGroupID.
    pub group_id: Option<String>,
    /// JMSXGroupSeq.
    pub group_sequence: i32,
    /// JMSCorrelationID.
    pub correlation_id: Option<String>,
    /// JMSDeliveryMode PERSISTENT.
    pub persistent: bool,
    /// JMSExpiration: absolute epoch ms, 0 = never.
    pub expiration: i64,
    /// JMSPriority 0–9.
    pub priority: i8,
    /// JMSReplyTo.
    pub reply_to: Option<Destination>,
    /// JMSTimestamp.
    pub timestamp: i64,
    /// JMSType.
    pub jms_type: Option<String>,
    // 16–17
    /// The body, as sent (see the body helpers).
    pub content: Option<Bytes>,
    /// The user properties, a primitive map (see [`Message::properties`]).
    pub marshalled_properties: Option<Bytes>,
    // 18–30
    /// Only advisories: the temporary destination added or removed.
    pub data_structure: Option<Box<DestinationInfo>>,
    pub target_consumer_id: Option<ConsumerId>,
    /// The body is zlib-compressed.
    pub compressed: bool,
    /// JMSXDeliveryCount − 1.
    pub redelivery_counter: i32,
    pub broker_path: Option<Vec<BrokerId>>,
    pub arrival: i64,
    /// JMSXUserID.
    pub user_id: Option<String>,
    pub received_by_df_bridge: bool,
    pub droppable: bool,
    pub cluster: Option<Vec<BrokerId>>,
    pub broker_in_time: i64,
    pub broker_out_time: i64,
    pub jmsx_group_first_for_consumer: bool,
}

impl DataStructure for Message {
    fn read_body(code: u8, r: &mut Reader<'_>, field: &'static str) -> Result<Self, FrameError> {
        let kind =
            MessageKind::from_type_code(code).ok_or(FrameError::UnexpectedType { code, field })?;
        Ok(Message {
            kind,
            command_id: Wire::read(r, "Message.command_id")?,
            response_required: Wire::read(r, "Message.response_required")?,
            producer_id: Wire::read(r, "Message.producer_id")?,
            destination: Wire::read(r, "Message.destination")?,
            transaction_id: Wire::read(r, "Message.transaction_id")?,
            original_destination: Wire::read(r, "Message.original_destination")?,
            message_id: Wire::read(r, "Message.message_id")?,
            original_transaction_id: Wire::read(r, "Message.original_transaction_id")?,
            group_id: Wire::read(r, "Message.group_id")?,
            group_sequence: Wire::read(r, "Message.group_sequence")?,
            correlation_id: Wire::read(r, "Message.correlation_id")?,
            persistent: Wire::read(r, "Message.persistent")?,
            expiration: Wire::read(r, "Message.expiration")?,
            priority: Wire::read(r, "Message.priority")?,
            reply_to: Wire::read(r, "Message.reply_to")?,
            timestamp: Wire::read(r, "Message.timestamp")?,
            jms_type: Wire::read(r, "Message.type")?,
            content: Wire::read(r, "Message.content")?,
            marshalled_properties: Wire::read(r, "Message.marshalled_properties")?,
            data_structure: Wire::read(r, "Message.data_structure")?,
            target_consumer_id: Wire::read(r, "Message.target_consumer_id")?,
            compressed: Wire::read(r, "Message.compressed")?,
            redelivery_counter: Wire::read(r, "Message.redelivery_counter")?,
            broker_path: Wire::read(r, "Message.broker_path")?,
            arrival: Wire::read(r, "Message.arrival")?,
            user_id: Wire::read(r, "Message.user_id")?,
            received_by_df_bridge: Wire::read(r, "Message.recieved_by_df_bridge")?,
            droppable: Wire::read(r, "Message.droppable")?,
            cluster: Wire::read(r, "Message.cluster")?,
            broker_in_time: Wire::read(r, "Message.broker_in_time")?,
            broker_out_time: Wire::read(r, "Message.broker_out_time")?,
            jmsx_group_first_for_consumer: Wire::read(r, "Message.jmsx_group_first_for_consumer")?,
        })
    }

    fn type_code(&self) -> u8 {
        self.kind.type_code()
    }

    fn write_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.command_id.write(dst, "Message.command_id")?;
        self.response_required
            .write(dst, "Message.response_required")?;
        self.producer_id.write(dst, "Message.producer_id")?;
        self.destination.write(dst, "Message.destination")?;
        self.transaction_id.write(dst, "Message.transaction_id")?;
        self.original_destination
            .write(dst, "Message.original_destination")?;
        self.message_id.write(dst, "Message.message_id")?;
        self.original_transaction_id
            .write(dst, "Message.original_transaction_id")?;
        self.group_id.write(dst, "Message.group_id")?;
        self.group_sequence.write(dst, "Message.group_sequence")?;
        self.correlation_id.write(dst, "Message.correlation_id")?;
        self.persistent.write(dst, "Message.persistent")?;
        self.expiration.write(dst, "Message.expiration")?;
        self.priority.write(dst, "Message.priority")?;
        self.reply_to.write(dst, "Message.reply_to")?;
        self.timestamp.write(dst, "Message.timestamp")?;
        self.jms_type.write(dst, "Message.type")?;
        self.content.write(dst, "Message.content")?;
        self.marshalled_properties
            .write(dst, "Message.marshalled_properties")?;
        self.data_structure.write(dst, "Message.data_structure")?;
        self.target_consumer_id
            .write(dst, "Message.target_consumer_id")?;
        self.compressed.write(dst, "Message.compressed")?;
        self.redelivery_counter
            .write(dst, "Message.redelivery_counter")?;
        self.broker_path.write(dst, "Message.broker_path")?;
        self.arrival.write(dst, "Message.arrival")?;
        self.user_id.write(dst, "Message.user_id")?;
        self.received_by_df_bridge
            .write(dst, "Message.recieved_by_df_bridge")?;
        self.droppable.write(dst, "Message.droppable")?;
        self.cluster.write(dst, "Message.cluster")?;
        self.broker_in_time.write(dst, "Message.broker_in_time")?;
        self.broker_out_time.write(dst, "Message.broker_out_time")?;
        self.jmsx_group_first_for_consumer
            .write(dst, "Message.jmsx_group_first_for_consumer")
    }
}

impl Message {
    /// The user properties (an absent map is empty).
    pub fn properties(&self) -> Result<PrimitiveMap, BodyError> {
        match &self.marshalled_properties {
            None => Ok(PrimitiveMap::default()),
            Some(b) => Ok(PrimitiveMap::decode(b)?),
        }
    }

    /// Replaces the user properties (absent when `props` is empty).
    pub fn set_properties(&mut self, props: &PrimitiveMap) -> Result<(), EncodeError> {
        self.marshalled_properties = if props.is_empty() {
            None
        } else {
            Some(props.to_bytes()?)
        };
        Ok(())
    }

    /// The content with compression undone: BytesMessage's own layout (i32
    /// length + zlib stream), zlib for every other kind. At most `limit`
    /// bytes are inflated. Object and Stream bodies stay opaque bytes.
    pub fn uncompressed_content(&self, limit: usize) -> Result<Option<Bytes>, BodyError> {
        let Some(content) = &self.content else {
            return Ok(None);
        };
        if !self.compressed {
            return Ok(Some(content.clone()));
        }
        if self.kind != MessageKind::Bytes {
            return inflate(content, limit).map(Some);
        }
        // The i32 before the zlib stream is the body's length; the 5.17
        // client deflates its whole buffer, so the stream may inflate to
        // more (a 256-byte body came as 1028 bytes, zeros after the body).
        let mut r = Reader::new(content, false);
        let len = r.i32("BytesMessage uncompressed length")?;
        let len = usize::try_from(len).map_err(|_| {
            BodyError::Malformed(FrameError::NegativeLength {
                field: "BytesMessage uncompressed length",
                len: i64::from(len),
            })
        })?;
        if len > limit {
            return Err(BodyError::TooLarge { limit });
        }
        let mut body = inflate(&content.slice(4..), limit.max(len))?;
        if body.len() < len {
            return Err(BodyError::Compression(format!(
                "inflated to {} bytes, the header says {len}",
                body.len()
            )));
        }
        body.truncate(len);
        Ok(Some(body))
    }

    /// A TextMessage's text: i32 byte length + modified UTF-8 (§4.2), `None`
    /// for a null text. `limit` bounds the uncompressed size.
    pub fn text(&self, limit: usize) -> Result<Option<String>, BodyError> {
        let Some(body) = self.uncompressed_content(limit)? else {
            return Ok(None);
        };
        let mut r = Reader::new(&body, false);
        const FIELD: &str = "TextMessage text";
        let len = r.i32(FIELD)?;
        if len < 0 {
            return Ok(None);
        }
        let len = r.count(i64::from(len), 1, FIELD)?;
        let text = decode_modified_utf8(r.raw(len, FIELD)?, FIELD)?;
        if r.remaining() > 0 {
            return Err(FrameError::TrailingBytes {
                code: MessageKind::Text.type_code(),
                consumed: r.position(),
                size: body.len(),
            }
            .into());
        }
        Ok(Some(text))
    }

    /// Sets a TextMessage body (uncompressed); `None` = null text.
    pub fn set_text(&mut self, text: Option<&str>) -> Result<(), EncodeError> {
        self.compressed = false;
        self.content = match text {
            None => None,
            Some(t) => {
                let bytes = cesu8::to_java_cesu8(t);
                let mut buf = BytesMut::with_capacity(4 + bytes.len());
                put_len(&mut buf, bytes.len(), "TextMessage text")?;
                buf.put_slice(&bytes);
                Some(buf.freeze())
            }
        };
        Ok(())
    }

    /// A MapMessage's body (an absent body is an empty map).
    pub fn map_body(&self, limit: usize) -> Result<PrimitiveMap, BodyError> {
        match self.uncompressed_content(limit)? {
            None => Ok(PrimitiveMap::default()),
            Some(b) => Ok(PrimitiveMap::decode(&b)?),
        }
    }

    /// Sets a MapMessage body (uncompressed; absent when empty).
    pub fn set_map_body(&mut self, map: &PrimitiveMap) -> Result<(), EncodeError> {
        self.compressed = false;
        self.content = if map.is_empty() {
            None
        } else {
            Some(map.to_bytes()?)
        };
        Ok(())
    }
}

/// Inflates a zlib stream of at most `limit` bytes.
fn inflate(data: &Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(data.clone().reader())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Compression(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}
