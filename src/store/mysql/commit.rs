//! The MySQL/MariaDB group commit: one transaction per batch, multi-row
//! `INSERT ... VALUES` and `IN (...)` statements of at most
//! `ROWS_PER_STATEMENT` rows, and the fencing read of the lock row last,
//! before COMMIT.

use super::{MySqlStore, NOW_MS, ROWS_PER_STATEMENT};
use crate::message::Message;
use crate::store::sqlutil::batches;
use crate::store::{
    durable_ops, encode_headers, forget_producers, producer_marks, StoreError, WriteOp, LOCK_NAME,
};
use sqlx::{MySql, QueryBuilder};

impl MySqlStore {
    pub(super) async fn commit_batch(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        let p = &self.prefix;
        let mut tx = self.pool.begin().await?;
        let inserts: Vec<&Message> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Insert(m) => Some(m),
                _ => None,
            })
            .collect();
        for batch in batches(&inserts, ROWS_PER_STATEMENT, self.insert_bytes) {
            let mut qb: QueryBuilder<MySql> = QueryBuilder::new(format!(
                "INSERT INTO `{p}msgs` (id, destination, priority, expires, scheduled, redeliveries, headers, body) "
            ));
            qb.push_values(batch, |mut row, m| {
                row.push_bind(m.id)
                    .push_bind(m.destination.to_string())
                    .push_bind(i16::from(m.priority))
                    .push_bind(m.expires)
                    .push_bind(m.scheduled)
                    .push_bind(i64::from(m.redelivery_count))
                    .push_bind(encode_headers(&m.headers))
                    .push_bind(m.body.as_ref());
            });
            qb.build().execute(&mut *tx).await?;
        }
        for op in ops {
            if let WriteOp::SetRedeliveries { id, count, at } = op {
                sqlx::query(&format!(
                    "UPDATE `{p}msgs` SET redeliveries = ?, scheduled = ? WHERE id = ?"
                ))
                .bind(i64::from(*count).min(i64::from(i32::MAX)))
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        for op in ops {
            if let WriteOp::Move {
                id,
                destination,
                headers,
                expires,
            } = op
            {
                sqlx::query(&format!(
                    "UPDATE `{p}msgs` SET destination = ?, headers = ?, expires = ?, redeliveries = 0, scheduled = 0 WHERE id = ?"
                ))
                .bind(destination)
                .bind(encode_headers(headers))
                .bind(expires)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        for op in ops {
            if let WriteOp::Reschedule { id, at, headers } = op {
                sqlx::query(&format!(
                    "UPDATE `{p}msgs` SET scheduled = ?, headers = ? WHERE id = ?"
                ))
                .bind(at)
                .bind(encode_headers(headers))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        let deletes: Vec<i64> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Delete(id) => Some(*id),
                _ => None,
            })
            .collect();
        for chunk in deletes.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<MySql> =
                QueryBuilder::new(format!("DELETE FROM `{p}msgs` WHERE id IN ("));
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
            qb.build().execute(&mut *tx).await?;
        }
        self.delete_spilled(&mut tx, ops).await?;
        for op in durable_ops(ops) {
            match op {
                WriteOp::DurableSave {
                    client_id,
                    name,
                    destination,
                    selector,
                    last_acked,
                } => sqlx::query(&format!(
                    "INSERT INTO `{p}acks` (client_id, subscription, destination, selector, last_acked_id) \
                     VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE destination = VALUES(destination), last_acked_id = VALUES(last_acked_id), selector = VALUES(selector)"
                ))
                .bind(client_id)
                .bind(name)
                .bind(destination)
                .bind(selector)
                .bind(last_acked)
                .execute(&mut *tx)
                .await?,
                WriteOp::DurableAck {
                    client_id,
                    name,
                    last_acked,
                } => sqlx::query(&format!(
                    "UPDATE `{p}acks` SET last_acked_id = GREATEST(last_acked_id, ?) \
                     WHERE client_id = ? AND subscription = ?"
                ))
                .bind(last_acked)
                .bind(client_id)
                .bind(name)
                .execute(&mut *tx)
                .await?,
                WriteOp::DurableDelete { client_id, name } => sqlx::query(&format!(
                    "DELETE FROM `{p}acks` WHERE client_id = ? AND subscription = ?"
                ))
                .bind(client_id)
                .bind(name)
                .execute(&mut *tx)
                .await?,
                _ => continue,
            };
        }
        if let Some(idle_ms) = forget_producers(ops) {
            sqlx::query(&format!(
                "DELETE FROM `{p}producers` WHERE updated_at < {NOW_MS} - ?"
            ))
            .bind(idle_ms)
            .execute(&mut *tx)
            .await?;
        }
        let marks = producer_marks(ops);
        if !marks.is_empty() {
            let mut qb: QueryBuilder<MySql> = QueryBuilder::new(format!(
                "INSERT INTO `{p}producers` (producer_id, last_seq, updated_at) "
            ));
            qb.push_values(&marks, |mut row, (id, seq)| {
                row.push_bind(*id)
                    .push_bind(*seq)
                    .push_unseparated(format!(", {NOW_MS}"));
            });
            qb.push(
                " ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq)), \
                 updated_at = VALUES(updated_at)",
            );
            qb.build().execute(&mut *tx).await?;
        }
        // Fencing, last: the shared row lock conflicts with try_acquire's
        // UPDATE, so a new master's claim and this commit are ordered (the
        // claim waits for the commit, or this read sees the new epoch and
        // everything above rolls back). Taken at the end, it is held only
        // for the COMMIT, so the lease renewal (an UPDATE of the same row)
        // never waits for a long batch.
        let current: i64 = sqlx::query_scalar(&format!(
            "SELECT epoch FROM `{p}lock` WHERE name = ? LOCK IN SHARE MODE"
        ))
        .bind(LOCK_NAME)
        .fetch_one(&mut *tx)
        .await?;
        if current != epoch {
            return Err(StoreError::Fenced { epoch, current });
        }
        tx.commit().await?;
        Ok(())
    }
}
