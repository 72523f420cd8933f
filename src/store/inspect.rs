//! Read-only queries for the admin server: browse stored messages page
//! by page, count them per destination, report pool usage. Direct
//! queries, outside the group commit, so a slave can answer them too.
//! Each backend implements [`Inspect`] with [`inspect_impl!`].

use super::StoreError;
use crate::message::Message;
use async_trait::async_trait;

/// Connections of the pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait]
pub trait Inspect: Send + Sync {
    /// Stored messages of `destination` (`/queue/NAME`) with id > `after`,
    /// in id order, at most `limit`.
    async fn browse(
        &self,
        destination: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// One stored message.
    async fn message(&self, id: i64) -> Result<Option<Message>, StoreError>;
    /// Stored messages per destination.
    async fn depths(&self) -> Result<Vec<(String, i64)>, StoreError>;
    fn pool_usage(&self) -> PoolUsage;
}

/// Implements [`Inspect`] for a backend: `$store` has `pool` and `prefix`,
/// its rows implement [`ReadRow`](super::rows::ReadRow), `$ph(n)` is the
/// n-th placeholder.
macro_rules! inspect_impl {
    ($store:ty, $ph:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::inspect::Inspect for $store {
            async fn browse(
                &self,
                destination: &str,
                after: i64,
                limit: u32,
            ) -> Result<Vec<$crate::message::Message>, $crate::store::StoreError> {
                let ph: fn(usize) -> String = $ph;
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM {}msgs WHERE destination = {} AND id > {} ORDER BY id LIMIT {}",
                    $crate::store::rows::MESSAGE_COLUMNS,
                    self.prefix,
                    ph(1),
                    ph(2),
                    ph(3)
                ))
                .bind(destination)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map($crate::store::rows::message).collect()
            }

            async fn message(
                &self,
                id: i64,
            ) -> Result<Option<$crate::message::Message>, $crate::store::StoreError> {
                let ph: fn(usize) -> String = $ph;
                let row = sqlx::query(&format!(
                    "SELECT {} FROM {}msgs WHERE id = {}",
                    $crate::store::rows::MESSAGE_COLUMNS,
                    self.prefix,
                    ph(1)
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map($crate::store::rows::message).transpose()
            }

            async fn depths(&self) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT destination, COUNT(*) AS n FROM {}msgs GROUP BY destination",
                    self.prefix
                );
                $crate::store::message_store::fetch_rows!(&self.pool, &sql, |r| {
                    $crate::store::rows::text_and_int(r, "destination", "n")
                })
            }

            fn pool_usage(&self) -> $crate::store::inspect::PoolUsage {
                $crate::store::inspect::PoolUsage {
                    size: self.pool.size(),
                    idle: self.pool.num_idle() as u32,
                    max: self.pool.options().get_max_connections(),
                }
            }
        }
    };
}
pub(crate) use inspect_impl;
