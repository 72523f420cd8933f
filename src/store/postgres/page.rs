//! Paging reads and the delete of spilled rows on PostgreSQL (SQL in
//! `store/paging.rs`).

use super::{row_to_message, PgStore};
use crate::message::Message;
use crate::store::paging::{dollar, PageSql};
use crate::store::{StoreError, WriteOp};

impl PgStore {
    fn page_sql(&self) -> PageSql {
        PageSql::new(&format!("{}msgs", self.prefix), dollar)
    }

    pub(super) async fn held(&self) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&self.page_sql().held)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_message).collect()
    }

    pub(super) async fn depths(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(&self.page_sql().depths)
            .fetch_all(&self.pool)
            .await?)
    }

    pub(super) async fn page(
        &self,
        destination: &str,
        priority: u8,
        from: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&self.page_sql().page)
            .bind(destination)
            .bind(i16::from(priority))
            .bind(from)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_message).collect()
    }

    /// Runs every `WriteOp::DeleteSpilled` of `ops` in `tx`.
    pub(super) async fn delete_spilled(
        &self,
        tx: &mut sqlx::PgConnection,
        ops: &[WriteOp],
    ) -> Result<(), StoreError> {
        let sql = self.page_sql().delete_spilled;
        for op in ops {
            if let WriteOp::DeleteSpilled {
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
