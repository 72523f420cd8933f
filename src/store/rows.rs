//! How a message and the other stored records look as table rows, for
//! every backend: the one place a [`Message`] is encoded into its columns
//! ([`MessageRow::of`], [`encode_headers`]) and decoded from them
//! ([`message`], [`decode_headers`]). Fields added to `Message` that live
//! in the `headers` JSON are a change here only.
//!
//! Backends differ only in how one column is read ([`ReadRow`]): SQLite
//! returns every integer as 64 bits, PostgreSQL as its declared width, and
//! MySQL flags the binary-collated text columns as binary.

use super::{GeneratedLogin, LockState, NodeRecord, StoreError};
use crate::message::{BodyKind, Destination, Message, Meta, Value};
use bytes::Bytes;

/// One row of `<prefix>acks`: a durable topic subscription.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DurableSub {
    pub client_id: String,
    pub subscription: String,
    pub destination: String,
    pub selector: Option<String>,
    pub last_acked_id: i64,
}

/// The columns of a message row, in the order every `SELECT` lists them.
pub const MESSAGE_COLUMNS: &str =
    "id, destination, priority, expires, scheduled, redeliveries, headers, body";

/// One column of a result row, whatever the database.
pub trait ReadRow {
    /// An integer column of any width.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A binary column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;

    /// A text column that must not be NULL.
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?.ok_or_else(|| {
            StoreError::from(sqlx::Error::ColumnDecode {
                index: column.to_string(),
                source: "unexpected NULL".into(),
            })
        })
    }
}

/// A message as its row is written; `body` borrows the message's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow<'a> {
    pub id: i64,
    pub destination: String,
    pub priority: i16,
    pub expires: i64,
    pub scheduled: i64,
    pub redeliveries: i32,
    pub headers: String,
    pub body: &'a [u8],
}

impl<'a> MessageRow<'a> {
    pub fn of(m: &'a Message) -> MessageRow<'a> {
        MessageRow {
            id: m.id,
            destination: m.destination.to_string(),
            priority: i16::from(m.priority),
            expires: m.expires,
            scheduled: m.scheduled,
            redeliveries: count_column(m.redelivery_count),
            headers: encode_meta(&m.headers, m.body_kind, m.client_id.as_deref()),
            body: m.body.as_ref(),
        }
    }

    /// Bytes the row adds to a statement, roughly: what bounds a multi-row
    /// statement below the server's packet limit.
    pub fn size(&self) -> usize {
        self.body.len() + self.headers.len() + self.destination.len() + 64
    }
}

/// A redelivery count as stored (a 32-bit INTEGER on every backend).
pub fn count_column(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The `headers` column as JSON: `{"h": [[name, value], ...], "k": kind,
/// "id": client message id}`, where a string value is a JSON string and
/// any other a one-key object (`{"int": 5}`; floats by their bits, so NaN
/// and infinities survive). Rows written before typed properties hold a
/// plain array of string pairs, read as bytes messages (STOMP frames with
/// `content-length`, as most clients send them).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredMeta {
    h: Vec<(String, StoredValue)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum StoredValue {
    Text(String),
    Typed(Typed),
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Typed {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    FloatBits(u32),
    DoubleBits(u64),
}

impl From<&Value> for StoredValue {
    fn from(v: &Value) -> StoredValue {
        match v {
            Value::String(s) => StoredValue::Text(s.clone()),
            Value::Bool(b) => StoredValue::Typed(Typed::Bool(*b)),
            Value::Byte(n) => StoredValue::Typed(Typed::Byte(*n)),
            Value::Short(n) => StoredValue::Typed(Typed::Short(*n)),
            Value::Int(n) => StoredValue::Typed(Typed::Int(*n)),
            Value::Long(n) => StoredValue::Typed(Typed::Long(*n)),
            Value::Float(n) => StoredValue::Typed(Typed::FloatBits(n.to_bits())),
            Value::Double(n) => StoredValue::Typed(Typed::DoubleBits(n.to_bits())),
        }
    }
}

impl From<StoredValue> for Value {
    fn from(v: StoredValue) -> Value {
        match v {
            StoredValue::Text(s) => Value::String(s),
            StoredValue::Typed(Typed::Bool(b)) => Value::Bool(b),
            StoredValue::Typed(Typed::Byte(n)) => Value::Byte(n),
            StoredValue::Typed(Typed::Short(n)) => Value::Short(n),
            StoredValue::Typed(Typed::Int(n)) => Value::Int(n),
            StoredValue::Typed(Typed::Long(n)) => Value::Long(n),
            StoredValue::Typed(Typed::FloatBits(n)) => Value::Float(f32::from_bits(n)),
            StoredValue::Typed(Typed::DoubleBits(n)) => Value::Double(f64::from_bits(n)),
        }
    }
}

/// Serialises what a message keeps in its `headers` column.
pub fn encode_headers(meta: &Meta) -> String {
    encode_meta(&meta.headers, meta.body_kind, meta.client_id.as_deref())
}

/// [`encode_headers`] from the parts, borrowed: what a message row is
/// written with, without copying its headers first.
pub fn encode_meta(headers: &[(String, Value)], kind: BodyKind, client_id: Option<&str>) -> String {
    let stored = StoredMetaRef {
        h: HeadersRef(headers),
        k: (kind != BodyKind::Text).then(|| kind.as_str()),
        id: client_id,
    };
    serde_json::to_string(&stored).unwrap_or_else(|_| r#"{"h":[]}"#.to_string())
}

/// [`StoredMeta`] as it is written: the same JSON from borrowed parts.
#[derive(serde::Serialize)]
struct StoredMetaRef<'a> {
    h: HeadersRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// The `h` list of [`StoredMetaRef`]: `[name, value]` pairs, each value as
/// [`StoredValue`] writes it.
struct HeadersRef<'a>(&'a [(String, Value)]);

impl serde::Serialize for HeadersRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(k, v)| (k.as_str(), ValueRef(v))))
    }
}

/// One header value as [`StoredValue`] writes it, borrowed.
struct ValueRef<'a>(&'a Value);

impl serde::Serialize for ValueRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(s) => serializer.serialize_str(s),
            other => serde::Serialize::serialize(&StoredValue::from(other), serializer),
        }
    }
}

/// Reads what [`encode_headers`] wrote (or a row of the older format).
pub fn decode_headers(id: i64, text: &str) -> Result<Meta, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { id, reason };
    if text.trim_start().starts_with('[') {
        let headers: Vec<(String, String)> = serde_json::from_str(text)
            .map_err(|e| corrupt(format!("headers are not valid JSON: {e}")))?;
        return Ok(Meta {
            headers: headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            body_kind: BodyKind::Bytes,
            client_id: None,
        });
    }
    let stored: StoredMeta = serde_json::from_str(text)
        .map_err(|e| corrupt(format!("headers are not valid JSON: {e}")))?;
    let body_kind = match stored.k.as_deref() {
        None => BodyKind::Text,
        Some(k) => BodyKind::parse(k).ok_or_else(|| corrupt(format!("unknown body kind '{k}'")))?,
    };
    Ok(Meta {
        headers: stored.h.into_iter().map(|(k, v)| (k, v.into())).collect(),
        body_kind,
        client_id: stored.id.map(Into::into),
    })
}

/// A message read back from the [`MESSAGE_COLUMNS`] of a row. Stored
/// messages are persistent and may have been delivered before the row
/// was read; `redelivered` is the caller's to set.
pub fn message(row: &impl ReadRow) -> Result<Message, StoreError> {
    let id = row.int("id")?;
    let destination =
        Destination::parse(&row.text("destination")?).map_err(|e| StoreError::Corrupt {
            id,
            reason: e.to_string(),
        })?;
    let meta = decode_headers(id, &row.text("headers")?)?;
    Ok(Message {
        id,
        destination,
        priority: row.int("priority")?.clamp(0, 9) as u8,
        expires: row.int("expires")?,
        persistent: true,
        headers: meta.headers,
        body: Bytes::from(row.bytes("body")?),
        body_kind: meta.body_kind,
        client_id: meta.client_id,
        origin: 0,
        redelivery_count: row.int("redeliveries")?.clamp(0, i64::from(u32::MAX)) as u32,
        redelivered: false,
        producer: None,
        scheduled: row.int("scheduled")?,
    })
}

/// A text column and an integer one: a destination and its count, a
/// producer and its sequence.
pub fn text_and_int(
    row: &impl ReadRow,
    text: &str,
    int: &str,
) -> Result<(String, i64), StoreError> {
    Ok((row.text(text)?, row.int(int)?))
}

/// A row of `<prefix>acks`.
pub fn durable(row: &impl ReadRow) -> Result<DurableSub, StoreError> {
    Ok(DurableSub {
        client_id: row.text("client_id")?,
        subscription: row.text("subscription")?,
        destination: row.text("destination")?,
        selector: row.opt_text("selector")?,
        last_acked_id: row.int("last_acked_id")?,
    })
}

/// A row of `<prefix>nodes`.
pub fn node(row: &impl ReadRow) -> Result<NodeRecord, StoreError> {
    Ok(NodeRecord {
        node_id: row.text("node_id")?,
        stomp_addr: row.opt_text("stomp_addr")?.unwrap_or_default(),
        admin_addr: row.opt_text("admin_addr")?.unwrap_or_default(),
        role: row.text("role")?,
        started_at: row.int("started_at")?,
        last_seen: row.int("last_seen")?,
    })
}

/// The cluster's generated admin login.
pub fn generated_login(row: &impl ReadRow) -> Result<GeneratedLogin, StoreError> {
    Ok(GeneratedLogin {
        password_hash: row.text("password_hash")?,
        created_by: row.text("created_by")?,
        created_at: row.int("created_at")?,
    })
}

/// The lock row, with the lease left as `remaining`.
pub fn lock_state(row: &impl ReadRow) -> Result<LockState, StoreError> {
    Ok(LockState {
        holder: row.opt_text("holder")?,
        epoch: row.int("epoch")?,
        stomp_addr: row.opt_text("stomp_addr")?,
        admin_addr: row.opt_text("admin_addr")?,
        lease_remaining_ms: row.int("remaining")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A row as the backends hand it over, column by column.
    struct FakeRow(HashMap<&'static str, Option<Vec<u8>>>);

    impl ReadRow for FakeRow {
        fn int(&self, column: &str) -> Result<i64, StoreError> {
            let text = self.text(column)?;
            text.parse().map_err(|_| StoreError::Corrupt {
                id: 0,
                reason: format!("{column} = {text}"),
            })
        }
        fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0[column]
                .clone()
                .map(|b| String::from_utf8(b).expect("utf-8")))
        }
        fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
            Ok(self.0[column].clone().unwrap_or_default())
        }
    }

    #[test]
    fn a_message_survives_its_row() {
        let original = Message {
            id: 42,
            destination: Destination::Queue("orders".into()),
            priority: 7,
            expires: 1_900_000_000_000,
            persistent: true,
            headers: vec![
                ("quote\"d".into(), "grüß\n".into()),
                ("n".into(), Value::Long(-7)),
                ("f".into(), Value::Float(f32::NEG_INFINITY)),
                ("d".into(), Value::Double(0.1)),
                ("b".into(), Value::Bool(true)),
            ]
            .into(),
            body: Bytes::from_static(b"\0body\xff"),
            body_kind: BodyKind::Map,
            client_id: Some("ID:host-1:1:1:1:5".into()),
            origin: 0,
            redelivery_count: 3,
            redelivered: false,
            producer: None,
            scheduled: 5,
        };
        let row = MessageRow::of(&original);
        let cell = |s: String| Some(s.into_bytes());
        let read = FakeRow(HashMap::from([
            ("id", cell(row.id.to_string())),
            ("destination", cell(row.destination.clone())),
            ("priority", cell(row.priority.to_string())),
            ("expires", cell(row.expires.to_string())),
            ("scheduled", cell(row.scheduled.to_string())),
            ("redeliveries", cell(row.redeliveries.to_string())),
            ("headers", cell(row.headers.clone())),
            ("body", Some(row.body.to_vec())),
        ]));
        assert_eq!(message(&read).expect("decodes"), original);
    }

    /// The borrowed encoder writes exactly what [`StoredMeta`], the
    /// format rows are read with, writes.
    #[test]
    fn the_row_json_is_the_stored_format() {
        let headers: Vec<(String, Value)> = vec![
            ("a\"b".into(), "x\u{1F600}".into()),
            ("i".into(), Value::Int(5)),
            ("d".into(), Value::Double(f64::NAN)),
        ];
        for (kind, id) in [(BodyKind::Text, None), (BodyKind::Bytes, Some("ID:1"))] {
            let owned = StoredMeta {
                h: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), StoredValue::from(v)))
                    .collect(),
                k: (kind != BodyKind::Text).then(|| kind.as_str().to_string()),
                id: id.map(str::to_string),
            };
            let expected = serde_json::to_string(&owned).expect("json");
            assert_eq!(encode_meta(&headers, kind, id), expected);
        }
    }

    #[test]
    fn bad_headers_are_a_corrupt_row_not_a_panic() {
        let err = decode_headers(9, "{not json").expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { id: 9, .. }), "{err}");
        assert_eq!(count_column(u32::MAX), i32::MAX);
    }
}
