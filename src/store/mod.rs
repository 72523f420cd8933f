//! Persistence: the `Store` interface every backend implements, the
//! group-commit writer in front of it, and the backend chosen by URL.

mod migrate;
mod sqlite;
mod writer;

pub use writer::{Completion, GroupCommit, WriterStats};

use crate::config::DatabaseConfig;
use crate::message::Message;
use async_trait::async_trait;
use std::sync::Arc;

/// A failure of the storage layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("cannot open the database '{url}': {reason}")]
    Open { url: String, reason: String },
    #[error("migration {version} failed: {reason}")]
    Migration { version: u32, reason: String },
    #[error("a stored message is corrupt (id {id}): {reason}")]
    Corrupt { id: i64, reason: String },
    #[error("the store is shutting down")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

/// One change inside a group-commit transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Store a persistent message.
    Insert(Message),
    /// Remove a message (acknowledged, expired).
    Delete(i64),
    /// Record a failed delivery of a stored message.
    SetRedeliveries { id: i64, count: u32 },
    /// Re-home a message, e.g. to a dead-letter queue, with new headers.
    Move {
        id: i64,
        destination: String,
        headers: Vec<(String, String)>,
    },
}

/// What a database backend provides. Every method is one round trip or one
/// transaction; batching is the writer's job.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Highest message id ever stored and still present (0 if none).
    async fn max_message_id(&self) -> Result<i64, StoreError>;
    /// Every stored message, in id order.
    async fn load_messages(&self) -> Result<Vec<Message>, StoreError>;
    /// Applies every op in one transaction.
    async fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError>;
    /// Cheap liveness check.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes every connection.
    async fn close(&self);
}

/// Opens the backend named by `database.url` and brings its schema up to
/// date.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    let url = &config.url;
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(config).await?))
    } else {
        Err(StoreError::Open {
            url: url.to_string(),
            reason: "only sqlite: URLs are supported by this build".to_string(),
        })
    }
}

/// Serialises user headers for storage.
fn encode_headers(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".to_string())
}

/// Reads headers written by [`encode_headers`].
fn decode_headers(id: i64, text: &str) -> Result<Vec<(String, String)>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        id,
        reason: format!("headers are not valid JSON: {e}"),
    })
}
