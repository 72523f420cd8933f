//! The PostgreSQL group commit: one transaction per batch, inserts as
//! `INSERT ... SELECT FROM UNNEST` of arrays, updates and deletes by id
//! arrays, and the fencing read of the lock row last, before COMMIT.

use super::{clamp_count, PgStore, MAX_INSERT_BYTES, MAX_INSERT_ROWS, NOW_MS};
use crate::message::Message;
use crate::store::sqlutil::batches;
use crate::store::{
    durable_ops, encode_headers, forget_producers, producer_marks, StoreError, WriteOp, LOCK_NAME,
};
use std::collections::BTreeMap;

impl PgStore {
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
        for batch in batches(&inserts, MAX_INSERT_ROWS, MAX_INSERT_BYTES) {
            let ids: Vec<i64> = batch.iter().map(|m| m.id).collect();
            let dests: Vec<String> = batch.iter().map(|m| m.destination.to_string()).collect();
            let prios: Vec<i16> = batch.iter().map(|m| i16::from(m.priority)).collect();
            let expires: Vec<i64> = batch.iter().map(|m| m.expires).collect();
            let scheduled: Vec<i64> = batch.iter().map(|m| m.scheduled).collect();
            let redeliveries: Vec<i32> = batch
                .iter()
                .map(|m| clamp_count(m.redelivery_count))
                .collect();
            let headers: Vec<String> = batch.iter().map(|m| encode_headers(&m.headers)).collect();
            let bodies: Vec<&[u8]> = batch.iter().map(|m| m.body.as_ref()).collect();
            sqlx::query(&format!(
                "INSERT INTO {p}msgs (id, destination, priority, expires, redeliveries, headers, body, scheduled) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], \
                 $5::integer[], $6::text[], $7::bytea[], $8::bigint[])"
            ))
            .bind(ids)
            .bind(dests)
            .bind(prios)
            .bind(expires)
            .bind(redeliveries)
            .bind(headers)
            .bind(bodies)
            .bind(scheduled)
            .execute(&mut *tx)
            .await?;
        }
        // Later ops on the same id win, as when applied one by one.
        let mut counts: BTreeMap<i64, (i32, i64)> = BTreeMap::new();
        for op in ops {
            if let WriteOp::SetRedeliveries { id, count, at } = op {
                counts.insert(*id, (clamp_count(*count), *at));
            }
        }
        if !counts.is_empty() {
            let ids: Vec<i64> = counts.keys().copied().collect();
            let values: Vec<i32> = counts.values().map(|v| v.0).collect();
            let due: Vec<i64> = counts.values().map(|v| v.1).collect();
            sqlx::query(&format!(
                "UPDATE {p}msgs AS m SET redeliveries = u.n, scheduled = u.at \
                 FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[]) AS u(id, n, at) WHERE m.id = u.id"
            ))
            .bind(ids)
            .bind(values)
            .bind(due)
            .execute(&mut *tx)
            .await?;
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
                    "UPDATE {p}msgs SET destination = $1, headers = $2, expires = $3, redeliveries = 0, scheduled = 0 WHERE id = $4"
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
                    "UPDATE {p}msgs SET scheduled = $1, headers = $2 WHERE id = $3"
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
        if !deletes.is_empty() {
            sqlx::query(&format!("DELETE FROM {p}msgs WHERE id = ANY($1)"))
                .bind(deletes)
                .execute(&mut *tx)
                .await?;
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
                    "INSERT INTO {p}acks (client_id, subscription, destination, selector, last_acked_id) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, subscription) DO UPDATE SET destination = EXCLUDED.destination, last_acked_id = EXCLUDED.last_acked_id, selector = EXCLUDED.selector"
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
                    "UPDATE {p}acks SET last_acked_id = GREATEST(last_acked_id, $1) \
                     WHERE client_id = $2 AND subscription = $3"
                ))
                .bind(last_acked)
                .bind(client_id)
                .bind(name)
                .execute(&mut *tx)
                .await?,
                WriteOp::DurableDelete { client_id, name } => sqlx::query(&format!(
                    "DELETE FROM {p}acks WHERE client_id = $1 AND subscription = $2"
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
                "DELETE FROM {p}producers WHERE updated_at < {NOW_MS} - $1"
            ))
            .bind(idle_ms)
            .execute(&mut *tx)
            .await?;
        }
        let marks = producer_marks(ops);
        if !marks.is_empty() {
            let (ids, seqs): (Vec<&str>, Vec<i64>) = marks.into_iter().unzip();
            sqlx::query(&format!(
                "INSERT INTO {p}producers (producer_id, last_seq, updated_at) \
                 SELECT u.id, u.seq, {NOW_MS} FROM UNNEST($1::text[], $2::bigint[]) AS u(id, seq) \
                 ON CONFLICT (producer_id) DO UPDATE SET \
                 last_seq = GREATEST({p}producers.last_seq, EXCLUDED.last_seq), \
                 updated_at = EXCLUDED.updated_at"
            ))
            .bind(ids)
            .bind(seqs)
            .execute(&mut *tx)
            .await?;
        }
        // Fencing, last: the shared row lock conflicts with try_acquire's
        // UPDATE, so a new master's claim and this commit are ordered (the
        // claim waits for the commit, or this read sees the new epoch and
        // everything above rolls back). Taken at the end, it is held only
        // for the COMMIT, so the lease renewal (an UPDATE of the same row)
        // never waits for a long batch.
        let current: i64 = sqlx::query_scalar(&format!(
            "SELECT epoch FROM {p}lock WHERE name = $1 FOR SHARE"
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
