//! The message store: what the master's broker reads and writes (commit,
//! recovery, paging of deep queues). The reads are the same SQL on every
//! backend but for placeholders; [`message_store_impl!`] implements
//! [`MessageStore`] with them, and its `commit_in_turn` groups the batch into a
//! [`CommitPlan`](super::plan::CommitPlan) once and hands it to the
//! backend's renderer.
//!
//! A queue's "plain waiting" messages are its rows with `scheduled = 0`;
//! the others (scheduled, or waiting out a redelivery delay) and every topic
//! row are held in memory from promotion on. A page reads one priority by
//! the `(destination, priority, id)` index.

use super::plan::CommitTurn;
use super::rows::{DurableSub, MESSAGE_COLUMNS};
use super::{StoreError, WriteOp};
use crate::message::Message;
use async_trait::async_trait;

/// Stored messages, producer sequences and durable subscriptions. Every
/// time comparison uses the database's clock.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Applies every op in one transaction, fenced: as its last statement
    /// before COMMIT the transaction reads the lock row with a shared row
    /// lock (SQLite: the write lock from `BEGIN IMMEDIATE`) and fails with
    /// [`StoreError::Fenced`] (committing nothing) unless its epoch is
    /// `epoch`. In the pipeline it runs the statements
    /// up to the durable subscriptions, then waits for `turn`; when the
    /// batch before it did not commit in full, rolls back and fails with
    /// [`StoreError::EarlierFailed`]; otherwise writes the forgotten
    /// producers and producer marks, reads the fence and commits
    /// ([`CommitPlan`](super::plan::CommitPlan) has the order).
    async fn commit_in_turn(
        &self,
        epoch: i64,
        ops: &[WriteOp],
        turn: &CommitTurn,
    ) -> Result<(), StoreError>;
    /// Whether message `id` is stored, read after every commit of this
    /// node that may still be running has ended: under an exclusive lock
    /// on the lock row, which waits for the shared fencing lock a commit
    /// holds until it ends (SQLite: under the write lock). The writer
    /// settles a commit in doubt ([`StoreError::in_doubt`]) with its first
    /// inserted message. Fails with [`StoreError::Fenced`] unless the
    /// lock row's epoch is `epoch`.
    async fn stored_after_commits(&self, epoch: i64, id: i64) -> Result<bool, StoreError>;
    /// Highest message id ever stored and still present (0 if none).
    async fn max_message_id(&self) -> Result<i64, StoreError>;
    /// The last recorded sequence of every producer.
    async fn load_producers(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Every durable subscription, by client id and name.
    async fn load_durables(&self) -> Result<Vec<DurableSub>, StoreError>;
    /// Every stored message that is not a plain waiting queue message
    /// (topic messages, scheduled ones, delayed redeliveries), in id order:
    /// promotion loads these whole and pages the queues.
    async fn load_held(&self) -> Result<Vec<Message>, StoreError>;
    /// How many plain waiting messages each queue has: (`/queue/NAME`, n).
    async fn queue_depths(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Up to `limit` plain waiting messages of `destination` at `priority`
    /// with id >= `from`, in id order.
    async fn load_queue_page(
        &self,
        destination: &str,
        priority: u8,
        from: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// Reclaims the space of deleted messages where the database does not
    /// do it soon enough by itself (PostgreSQL: `VACUUM` of the message
    /// table, which autovacuum visits at most once per `autovacuum_naptime`).
    /// `false` when the backend needs nothing.
    async fn vacuum(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}

const PLAIN_QUEUE_ROW: &str = "scheduled = 0 AND destination LIKE '/queue/%'";

/// The shared statements for one table prefix.
pub struct MessageSql {
    pub max_id: String,
    pub producers: String,
    pub durables: String,
    pub held: String,
    pub depths: String,
    pub page: String,
    /// The spill delete of [`super::plan::RowSql`].
    pub delete_spilled: String,
    /// The lock row's epoch, without the lock clause each use adds (see
    /// [`check_epoch!`]).
    pub epoch: String,
    /// 1 if message `id` is stored, else 0.
    pub stored: String,
}

impl MessageSql {
    /// Tables named `{prefix}msgs` etc., each name between `quote`s (MySQL
    /// needs them: `lock` is a reserved word there, and the prefix may be
    /// empty); `ph(n)` is the n-th placeholder (1-based).
    pub fn new(prefix: &str, quote: &str, ph: impl Fn(usize) -> String) -> MessageSql {
        let name = |table: &str| format!("{quote}{prefix}{table}{quote}");
        let table = name("msgs");
        MessageSql {
            max_id: format!("SELECT MAX(id) FROM {table}"),
            epoch: format!("SELECT epoch FROM {} WHERE name = {}", name("lock"), ph(1)),
            stored: format!("SELECT COUNT(*) FROM {table} WHERE id = {}", ph(1)),
            producers: format!("SELECT producer_id, last_seq FROM {}", name("producers")),
            durables: format!(
                "SELECT client_id, subscription, destination, selector, last_acked_id \
                 FROM {} ORDER BY client_id, subscription",
                name("acks")
            ),
            held: format!(
                "SELECT {MESSAGE_COLUMNS} FROM {table} WHERE NOT ({PLAIN_QUEUE_ROW}) ORDER BY id"
            ),
            depths: format!(
                "SELECT destination, COUNT(*) AS n FROM {table} WHERE {PLAIN_QUEUE_ROW} GROUP BY destination"
            ),
            page: format!(
                "SELECT {MESSAGE_COLUMNS} FROM {table} WHERE destination = {} AND priority = {} AND id >= {} \
                 AND scheduled = 0 ORDER BY id LIMIT {}",
                ph(1),
                ph(2),
                ph(3),
                ph(4)
            ),
            delete_spilled: format!(
                "DELETE FROM {table} WHERE destination = {} AND priority = {} AND id >= {} AND id <= {} \
                 AND scheduled = 0",
                ph(1),
                ph(2),
                ph(3),
                ph(4)
            ),
        }
    }
}

/// Runs the parameterless query `$sql` on `$pool` and collects every row
/// mapped by `$map` (which returns a `Result`); for use in an async fn
/// returning `Result<_, StoreError>`.
macro_rules! fetch_rows {
    ($pool:expr, $sql:expr, $map:expr) => {
        sqlx::query($sql)
            .fetch_all($pool)
            .await?
            .iter()
            .map($map)
            .collect()
    };
}
pub(crate) use fetch_rows;

/// Reads the lock row's epoch on `$conn` with `$store`'s
/// [`MessageSql::epoch`] and the lock clause `$lock` (the fence's shared
/// lock, or `FOR UPDATE` to wait for every commit holding it) and returns
/// [`StoreError::Fenced`](super::StoreError::Fenced) unless it is `$epoch`;
/// for use in an async fn returning `Result<_, StoreError>`.
macro_rules! check_epoch {
    ($store:expr, $conn:expr, $lock:expr, $epoch:expr) => {{
        let sql = format!("{} {}", $store.message_sql.epoch, $lock);
        let current: i64 = sqlx::query_scalar(&sql)
            .bind($crate::store::LOCK_NAME)
            .fetch_one($conn)
            .await?;
        if current != $epoch {
            return Err($crate::store::StoreError::Fenced {
                epoch: $epoch,
                current,
            });
        }
    }};
}
pub(crate) use check_epoch;

/// Implements [`MessageStore`] for a backend: `$store` has the fields
/// `pool` and `message_sql` (its [`MessageSql`]) and an
/// `async fn commit_plan(&self, epoch, &CommitPlan, &CommitTurn)`, the
/// backend's rendering of a plan, and the constants `READ_BACK_BEGIN` and
/// `READ_BACK_LOCK`: how [`MessageStore::stored_after_commits`] begins its
/// transaction and locks the lock row to wait for running commits; its rows implement
/// [`ReadRow`](super::rows::ReadRow). Any further items (`vacuum`) follow.
macro_rules! message_store_impl {
    ($store:ty $(, $($extra:tt)*)?) => {
        #[async_trait::async_trait]
        impl $crate::store::MessageStore for $store {
            async fn commit_in_turn(
                &self,
                epoch: i64,
                ops: &[$crate::store::WriteOp],
                turn: &$crate::store::CommitTurn,
            ) -> Result<(), $crate::store::StoreError> {
                let plan = $crate::store::plan::CommitPlan::of(ops);
                self.commit_plan(epoch, &plan, turn).await
            }

            async fn stored_after_commits(
                &self,
                epoch: i64,
                id: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                $crate::store::sqlutil::on_own_connection(&self.pool, async |conn| {
                    let mut tx = sqlx::Connection::begin_with(conn, Self::READ_BACK_BEGIN).await?;
                    $crate::store::message_store::check_epoch!(self, &mut *tx, Self::READ_BACK_LOCK, epoch);
                    let stored: i64 = sqlx::query_scalar(&self.message_sql.stored)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(stored > 0)
                })
                .await
            }

            async fn max_message_id(&self) -> Result<i64, $crate::store::StoreError> {
                let max: Option<i64> = sqlx::query_scalar(&self.message_sql.max_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(max.unwrap_or(0))
            }

            async fn load_producers(
                &self,
            ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                $crate::store::message_store::fetch_rows!(&self.pool, &self.message_sql.producers, |r| $crate::store::rows::text_and_int(r, "producer_id", "last_seq"))
            }

            async fn load_durables(
                &self,
            ) -> Result<Vec<$crate::store::DurableSub>, $crate::store::StoreError> {
                $crate::store::message_store::fetch_rows!(&self.pool, &self.message_sql.durables, $crate::store::rows::durable)
            }

            async fn load_held(
                &self,
            ) -> Result<Vec<$crate::message::Message>, $crate::store::StoreError> {
                $crate::store::message_store::fetch_rows!(&self.pool, &self.message_sql.held, $crate::store::rows::message)
            }

            async fn queue_depths(&self) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                $crate::store::message_store::fetch_rows!(&self.pool, &self.message_sql.depths, |r| $crate::store::rows::text_and_int(r, "destination", "n"))
            }

            async fn load_queue_page(
                &self,
                destination: &str,
                priority: u8,
                from: i64,
                limit: usize,
            ) -> Result<Vec<$crate::message::Message>, $crate::store::StoreError> {
                let rows = sqlx::query(&self.message_sql.page)
                    .bind(destination)
                    .bind(i16::from(priority))
                    .bind(from)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($crate::store::rows::message).collect()
            }

            $($($extra)*)?
        }
    };
}
pub(crate) use message_store_impl;
