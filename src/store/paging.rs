//! The SQL of paging (`broker/state/paging.rs`), the same on every backend
//! but for quoting and placeholders: what promotion loads whole, the
//! waiting messages per queue, one page of a queue at one priority, and
//! the delete of a purged queue's spilled rows. Each backend implements
//! [`Paging`] (and its `delete_spilled`, run inside its group commit) with
//! [`paging_impl!`].
//!
//! A queue's "plain waiting" messages are its rows with `scheduled = 0`;
//! the others (scheduled, or waiting out a redelivery delay) and every topic
//! row are held in memory from promotion on. A page reads one priority by
//! the `(destination, priority, id)` index.

use super::StoreError;
use crate::message::Message;

const COLUMNS: &str = "id, destination, priority, expires, scheduled, redeliveries, headers, body";
const PLAIN_QUEUE_ROW: &str = "scheduled = 0 AND destination LIKE '/queue/%'";

/// The statements for one message table.
pub struct PageSql {
    pub held: String,
    pub depths: String,
    pub page: String,
    pub delete_spilled: String,
}

impl PageSql {
    /// `table` as it is written in SQL (quoted where needed); `ph(n)` is the
    /// n-th placeholder (1-based).
    pub fn new(table: &str, ph: impl Fn(usize) -> String) -> PageSql {
        PageSql {
            held: format!("SELECT {COLUMNS} FROM {table} WHERE NOT ({PLAIN_QUEUE_ROW}) ORDER BY id"),
            depths: format!(
                "SELECT destination, COUNT(*) AS n FROM {table} WHERE {PLAIN_QUEUE_ROW} GROUP BY destination"
            ),
            page: format!(
                "SELECT {COLUMNS} FROM {table} WHERE destination = {} AND priority = {} AND id >= {} \
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

/// The reads of paging; a supertrait of [`super::Store`].
#[async_trait::async_trait]
pub trait Paging: Send + Sync {
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
}

/// Implements [`Paging`] for a backend, and `delete_spilled` (every
/// `WriteOp::DeleteSpilled` of a batch, in its transaction on `$conn`):
/// `$store` has `pool` and `prefix`, `$msg` decodes a message row, `$text`
/// a text column, `$ph(n)` is the n-th placeholder.
macro_rules! paging_impl {
    ($store:ty, $conn:ty, $msg:path, $text:expr, $ph:expr) => {
        impl $store {
            fn page_sql(&self) -> $crate::store::paging::PageSql {
                $crate::store::paging::PageSql::new(&format!("{}msgs", self.prefix), $ph)
            }

            async fn delete_spilled(
                &self,
                tx: &mut $conn,
                ops: &[$crate::store::WriteOp],
            ) -> Result<(), $crate::store::StoreError> {
                let sql = self.page_sql().delete_spilled;
                for op in ops {
                    if let $crate::store::WriteOp::DeleteSpilled {
                        destination,
                        ranges,
                    } = op
                    {
                        for (priority, first, last) in ranges {
                            sqlx::query(&sql)
                                .bind(destination)
                                .bind(i16::from(*priority))
                                .bind(first)
                                .bind(last)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::paging::Paging for $store {
            async fn load_held(
                &self,
            ) -> Result<Vec<$crate::message::Message>, $crate::store::StoreError> {
                let rows = sqlx::query(&self.page_sql().held)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($msg).collect()
            }

            async fn queue_depths(&self) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                let rows = sqlx::query(&self.page_sql().depths)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((($text)(r, "destination")?, r.try_get::<i64, _>("n")?)))
                    .collect()
            }

            async fn load_queue_page(
                &self,
                destination: &str,
                priority: u8,
                from: i64,
                limit: usize,
            ) -> Result<Vec<$crate::message::Message>, $crate::store::StoreError> {
                let rows = sqlx::query(&self.page_sql().page)
                    .bind(destination)
                    .bind(i16::from(priority))
                    .bind(from)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($msg).collect()
            }
        }
    };
}
pub(crate) use paging_impl;
