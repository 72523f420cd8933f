//! How a message and the other stored records look as table rows, for
//! every backend: the one place a [`Message`] is encoded into its columns
//! ([`MessageRow::of`], [`encode_headers`]) and decoded from them
//! ([`message`], [`decode_headers`]). Fields added to `Message` that live
//! in the `headers` JSON are a change here only.
//!
//! Backends differ only in how one column is read ([`ReadRow`]): SQLite
//! returns every integer as 64 bits, PostgreSQL as its declared width, and
//! MySQL flags the binary-collated text columns as binary.

use super::{LockState, NodeRecord, StoreError};
use crate::message::{Destination, Message};
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
            headers: encode_headers(&m.headers),
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

/// Serialises user headers for storage.
pub fn encode_headers(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".to_string())
}

/// Reads headers written by [`encode_headers`].
pub fn decode_headers(id: i64, text: &str) -> Result<Vec<(String, String)>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        id,
        reason: format!("headers are not valid JSON: {e}"),
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
    Ok(Message {
        id,
        destination,
        priority: row.int("priority")?.clamp(0, 9) as u8,
        expires: row.int("expires")?,
        persistent: true,
        headers: decode_headers(id, &row.text("headers")?)?,
        body: Bytes::from(row.bytes("body")?),
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
            headers: vec![("quote\"d".into(), "grüß\n".into())],
            body: Bytes::from_static(b"\0body\xff"),
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

    #[test]
    fn bad_headers_are_a_corrupt_row_not_a_panic() {
        let err = decode_headers(9, "{not json").expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { id: 9, .. }), "{err}");
        assert_eq!(count_column(u32::MAX), i32::MAX);
    }
}
