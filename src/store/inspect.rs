//! Read-mostly queries for the admin server: browse stored messages page
//! by page, count them per destination, list durable
//! subscriptions, report pool usage. Direct queries, outside the group
//! commit, so a slave can answer them too. Each backend implements
//! [`Inspect`] with [`inspect_impl!`] in its `inspect` child module.

use super::StoreError;
use crate::message::Message;
use async_trait::async_trait;

/// One row of `<prefix>acks`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DurableSub {
    pub client_id: String,
    pub subscription: String,
    pub destination: String,
    pub selector: Option<String>,
    pub last_acked_id: i64,
}

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
    /// Every durable subscription (`acks`), by client id and name.
    async fn subscriptions(&self) -> Result<Vec<DurableSub>, StoreError>;
    fn pool_usage(&self) -> PoolUsage;
}

/// Implements [`Inspect`] for a backend: `$store` has `pool` and `prefix`,
/// `$msg` decodes a message row, `$text` a text column, `$ph(n)` is the
/// n-th placeholder.
macro_rules! inspect_impl {
    ($store:ty, $msg:path, $text:expr, $ph:expr) => {
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
                    "SELECT id, destination, priority, expires, scheduled, redeliveries, headers, body FROM {}msgs WHERE destination = {} AND id > {} ORDER BY id LIMIT {}",
                    self.prefix, ph(1), ph(2), ph(3)
                ))
                .bind(destination)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map($msg).collect()
            }

            async fn message(
                &self,
                id: i64,
            ) -> Result<Option<$crate::message::Message>, $crate::store::StoreError> {
                let ph: fn(usize) -> String = $ph;
                let row = sqlx::query(&format!(
                    "SELECT id, destination, priority, expires, scheduled, redeliveries, headers, body FROM {}msgs WHERE id = {}",
                    self.prefix, ph(1)
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map($msg).transpose()
            }

            async fn depths(&self) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT destination, COUNT(*) AS n FROM {}msgs GROUP BY destination",
                    self.prefix
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((($text)(r, "destination")?, r.try_get::<i64, _>("n")?)))
                    .collect()
            }

            async fn subscriptions(
                &self,
            ) -> Result<Vec<$crate::store::inspect::DurableSub>, $crate::store::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT client_id, subscription, destination, selector, last_acked_id FROM {}acks ORDER BY client_id, subscription",
                    self.prefix
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let selector: Option<String> = match r.try_get::<Option<Vec<u8>>, _>("selector") {
                            Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
                            Err(_) => r.try_get("selector")?,
                        };
                        Ok($crate::store::inspect::DurableSub {
                            client_id: ($text)(r, "client_id")?,
                            subscription: ($text)(r, "subscription")?,
                            destination: ($text)(r, "destination")?,
                            selector,
                            last_acked_id: r.try_get("last_acked_id")?,
                        })
                    })
                    .collect()
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
