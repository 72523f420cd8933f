//! Persistence, split by concern: [`Lease`] (the election's lock row and
//! session lock), [`Registry`] (the node registry), [`MessageStore`]
//! (commit, recovery, paging) and [`Inspect`] (admin reads); [`Store`] is
//! one database with all of them. Also the group-commit writer in front of
//! the message store, and the backend chosen by URL.

mod cancel;
pub mod inspect;
mod message_store;
mod migrate;
mod mysql;
mod plan;
mod postgres;
mod rows;
mod session;
mod sqlite;
mod sqlutil;
mod writer;

pub use inspect::Inspect;
pub use message_store::MessageStore;
pub use plan::{CommitTurn, TurnOutcome};
pub use rows::DurableSub;
pub use writer::{Completion, GroupCommit, Term, WriterConfig};

use crate::config::{Backend, DatabaseConfig};
use crate::message::{Message, Meta, ProducerSeq};
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
    #[error("database schema version {found} is newer than this baton (knows up to {known}): upgrade baton or point it to another database (the schema was left untouched)")]
    SchemaTooNew { found: i64, known: u32 },
    #[error("a stored message is corrupt (id {id}): {reason}")]
    Corrupt { id: i64, reason: String },
    #[error("the store is shutting down")]
    Closed,
    #[error("fenced: this node's epoch {epoch} is over, the lock row is at epoch {current}")]
    Fenced { epoch: i64, current: i64 },
    #[error("the database did not answer within {0} ms")]
    Timeout(u64),
    /// A pipelined commit rolled back because a batch before it did not
    /// commit in full (the writer retries it).
    #[error("an earlier group commit failed; this one was rolled back")]
    EarlierFailed,
    /// Not committed: an earlier send of the same producer from the same
    /// connection failed and is not stored yet (resend from that one).
    #[error("an earlier send of this producer failed: not stored, resend from the failed one")]
    EarlierSendFailed,
}

impl StoreError {
    /// Whether a failed commit may have committed all the same: it timed
    /// out, or its connection failed, after its statements (the COMMIT
    /// among them) may have reached the database. An answer from the
    /// database itself, a fence, or no connection at all is certain.
    pub fn in_doubt(&self) -> bool {
        match self {
            StoreError::Timeout(_) => true,
            StoreError::Database(e) => matches!(
                **e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
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
    /// Record a failed delivery of a stored message, and when it may be
    /// redelivered (Unix ms in `scheduled`; 0 = at once).
    SetRedeliveries { id: i64, count: u32, at: i64 },
    /// Re-home a message, e.g. to a dead-letter queue, with new headers
    /// and expiry; its redelivery count and delay are reset.
    Move {
        id: i64,
        destination: String,
        meta: Meta,
        expires: i64,
    },
    /// A scheduled message's next due time (Unix ms) and headers (the
    /// repeats left).
    Reschedule { id: i64, at: i64, meta: Meta },
    /// Record that a producer's send with this sequence is stored, for
    /// duplicate detection after a failover (the `producers` table).
    Producer(ProducerSeq),
    /// Create (or replace) a durable subscription in `acks`.
    DurableSave {
        client_id: String,
        name: String,
        destination: String,
        selector: Option<String>,
        last_acked: i64,
    },
    /// A durable subscription acknowledged every message up to `last_acked`.
    DurableAck {
        client_id: String,
        name: String,
        last_acked: i64,
    },
    /// Remove a durable subscription.
    DurableDelete { client_id: String, name: String },
    /// Remove the spilled rows of a purged queue: its plain waiting
    /// messages at each `(priority, first id, last id)` range
    /// (`broker/state/paging.rs`).
    DeleteSpilled {
        destination: String,
        ranges: Vec<(u8, i64, i64)>,
    },
    /// Forget producers whose sequence was not updated for `idle_ms`
    /// (by the database's clock).
    ForgetProducers { idle_ms: i64 },
}

/// The name of the election row in `<prefix>lock`; one per cluster (clusters
/// sharing a database use different table prefixes).
pub const LOCK_NAME: &str = "baton";

/// What a node writes into the lock row when it becomes master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub node_id: String,
    pub stomp_addr: String,
    pub admin_addr: String,
}

/// The lock row as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    pub holder: Option<String>,
    pub epoch: i64,
    pub stomp_addr: Option<String>,
    pub admin_addr: Option<String>,
    /// Lease left, by the database's clock (negative: expired).
    pub lease_remaining_ms: i64,
}

/// One row of `<prefix>nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    pub stomp_addr: String,
    pub admin_addr: String,
    /// `master` or `slave`.
    pub role: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms by the database's clock; ignored when writing.
    pub last_seen: i64,
}

/// The election's part of the database: the lock row (holder, epoch,
/// lease on the database's clock) and the session lock. Every time
/// comparison uses the database's clock.
#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// Takes the lock row when it is free or its lease has expired, or,
    /// when `with_session` (the caller holds the session lock), also when
    /// the row's holder claimed it with the session lock (`session_held`):
    /// that holder's session must be gone. Sets holder, epoch + 1,
    /// lease_expires = now + `lease_ms`, `session_held = with_session`,
    /// addresses. Returns the new epoch, or `None` when someone else holds
    /// it.
    async fn try_acquire(
        &self,
        claim: &Claim,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<Option<i64>, StoreError>;
    /// Extends the lease (and records whether the holder has the session
    /// lock) if `node_id` still holds `epoch`; `false` = lost.
    async fn renew(
        &self,
        node_id: &str,
        epoch: i64,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<bool, StoreError>;
    /// Frees the lock row (holder NULL, lease expired) if still ours.
    async fn release(&self, node_id: &str, epoch: i64) -> Result<(), StoreError>;
    /// The lock row now.
    async fn lock_state(&self) -> Result<LockState, StoreError>;
    /// A handle on the database session lock (session mode), on its own
    /// connection; `None` when the backend has none (SQLite).
    fn session_lock(&self) -> Option<Box<dyn SessionLock>>;
}

/// The admin login a node generated for a cluster without `[auth]` users:
/// only the argon2 hash of the password is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedLogin {
    pub password_hash: String,
    pub created_by: String,
    /// Unix ms by the database's clock; ignored when writing.
    pub created_at: i64,
}

/// The node registry (`<prefix>nodes`): who is in the cluster, and the
/// cluster's generated admin login.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Upserts this node's row with `last_seen` = database now.
    async fn heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError>;
    /// Every registered node, by id.
    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError>;
    /// Stores `ours` as the cluster's generated admin login unless one is
    /// stored already, and returns the cluster's login and whether it is
    /// `ours` (stored by this call). `None` where nodes do not share a
    /// database server (SQLite: each node generates its own, as always).
    async fn generated_login(
        &self,
        ours: &GeneratedLogin,
    ) -> Result<Option<(GeneratedLogin, bool)>, StoreError>;
}

/// One database: every part above over one connection pool. Each backend
/// type implements all of them; callers take the part they need (the
/// election a [`Lease`], the writer and the broker a [`MessageStore`], the
/// admin server [`Inspect`]). Every method is one round trip or one
/// transaction; batching is the writer's job.
#[async_trait]
pub trait Store: Lease + Registry + MessageStore + Inspect {
    /// Cheap liveness check.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes every connection.
    async fn close(&self);
}

/// A database session lock (`pg_advisory_lock`, `GET_LOCK`) held on a
/// dedicated connection: the database frees it when that connection dies.
#[async_trait]
pub trait SessionLock: Send {
    /// Tries once, without waiting, to hold the lock (connecting first if
    /// needed). `true` while held on a live connection.
    async fn try_lock(&mut self) -> Result<bool, StoreError>;
    /// Releases the lock and closes the connection.
    async fn unlock(&mut self);
}

/// Opens the backend named by `database.url` and brings its schema up to
/// date.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    let url = &config.url;
    match Backend::of(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(sqlite::SqliteStore::open(config).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(postgres::PgStore::open(config).await?)),
        Some(Backend::Mysql) => Ok(Arc::new(mysql::MySqlStore::open(config).await?)),
        None => Err(StoreError::Open {
            url: sqlutil::redact_url(url),
            reason: "expected sqlite:PATH, postgres://, postgresql://, mysql:// or mariadb://"
                .to_string(),
        }),
    }
}
