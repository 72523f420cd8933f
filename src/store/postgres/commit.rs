//! The PostgreSQL group commit: one transaction per batch, inserts as
//! `INSERT ... SELECT FROM UNNEST` of arrays, updates and deletes by id
//! arrays, and the fencing read of the lock row.
//!
//! A small batch of only inserts, deletes and producer marks (the steady
//! state of produce + consume) is one statement, so one round trip and an
//! implicit transaction: data-modifying CTEs that write only when the
//! fencing CTE sees our epoch. Every other batch is an explicit
//! transaction of one statement per kind of op, fenced last.

use super::{clamp_count, PgStore, MAX_INSERT_BYTES, MAX_INSERT_ROWS, NOW_MS};
use crate::message::Message;
use crate::store::sqlutil::batches;
use crate::store::{
    durable_ops, encode_headers, forget_producers, producer_marks, StoreError, WriteOp, LOCK_NAME,
};
use sqlx::postgres::PgArguments;
use sqlx::Arguments;
use std::collections::BTreeMap;

impl PgStore {
    pub(super) async fn commit_batch(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        if fits_one_statement(ops) {
            self.commit_in_one_statement(epoch, ops).await
        } else {
            self.commit_in_steps(epoch, ops).await
        }
    }

    /// One statement: the fencing row lock is held while it runs, which
    /// [`fits_one_statement`] keeps short.
    async fn commit_in_one_statement(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        let p = &self.prefix;
        let inserts = inserted(ops);
        let rows = InsertArrays::of(&inserts);
        let deletes: Vec<i64> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Delete(id) => Some(*id),
                _ => None,
            })
            .collect();
        let (producers, seqs): (Vec<&str>, Vec<i64>) = producer_marks(ops).into_iter().unzip();
        let sql = one_statement_sql(p, !deletes.is_empty(), !producers.is_empty());
        let mut args = PgArguments::default();
        args.add(LOCK_NAME).map_err(sqlx::Error::Encode)?;
        args.add(epoch).map_err(sqlx::Error::Encode)?;
        rows.add_to(&mut args)?;
        if !deletes.is_empty() {
            args.add(deletes).map_err(sqlx::Error::Encode)?;
        }
        if !producers.is_empty() {
            args.add(producers).map_err(sqlx::Error::Encode)?;
            args.add(seqs).map_err(sqlx::Error::Encode)?;
        }
        let current: i64 = sqlx::query_scalar_with(&sql, args)
            .fetch_one(&self.pool)
            .await?;
        if current != epoch {
            return Err(StoreError::Fenced { epoch, current });
        }
        Ok(())
    }

    async fn commit_in_steps(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        let p = &self.prefix;
        let mut tx = self.pool.begin().await?;
        let inserts = inserted(ops);
        for batch in batches(&inserts, MAX_INSERT_ROWS, MAX_INSERT_BYTES) {
            let mut args = PgArguments::default();
            InsertArrays::of(&batch).add_to(&mut args)?;
            sqlx::query_with(
                &format!(
                    "INSERT INTO {p}msgs (id, destination, priority, expires, redeliveries, headers, body, scheduled) \
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], \
                     $5::integer[], $6::text[], $7::bytea[], $8::bigint[])"
                ),
                args,
            )
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
            sqlx::query(&format!(
                "DELETE FROM {p}msgs AS m USING UNNEST($1::bigint[]) AS d(id) WHERE m.id = d.id"
            ))
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

/// The single-statement commit. Parts without rows are left out rather
/// than given empty arrays: a cached plan made while the table was small
/// may scan it whole, and an empty `DELETE` would pay that on every commit.
/// Deletes join the ids (`USING UNNEST`) instead of `id = ANY(...)`: on a
/// queue table with few live rows the planner took `id = ANY` for a full
/// scan of the `(destination, priority, id)` index, which is slow while it
/// holds the dead entries of the last seconds; the join probes the primary
/// key once per id.
fn one_statement_sql(p: &str, deletes: bool, producers: bool) -> String {
    let mut sql = format!(
        "WITH fence AS (SELECT epoch FROM {p}lock WHERE name = $1 FOR SHARE), \
         ours AS (SELECT 1 FROM fence WHERE epoch = $2), \
         ins AS (INSERT INTO {p}msgs (id, destination, priority, expires, redeliveries, headers, body, scheduled) \
           SELECT u.* FROM UNNEST($3::bigint[], $4::text[], $5::smallint[], $6::bigint[], \
           $7::integer[], $8::text[], $9::bytea[], $10::bigint[]) AS u WHERE EXISTS (SELECT 1 FROM ours))"
    );
    let mut next = 11;
    if deletes {
        sql.push_str(&format!(
            ", del AS (DELETE FROM {p}msgs AS m USING UNNEST(${next}::bigint[]) AS d(id) \
             WHERE m.id = d.id AND EXISTS (SELECT 1 FROM ours))"
        ));
        next += 1;
    }
    if producers {
        let seq = next + 1;
        sql.push_str(&format!(
            ", prod AS (INSERT INTO {p}producers (producer_id, last_seq, updated_at) \
             SELECT u.id, u.seq, {NOW_MS} FROM UNNEST(${next}::text[], ${seq}::bigint[]) AS u(id, seq) \
             WHERE EXISTS (SELECT 1 FROM ours) \
             ON CONFLICT (producer_id) DO UPDATE SET \
             last_seq = GREATEST({p}producers.last_seq, EXCLUDED.last_seq), \
             updated_at = EXCLUDED.updated_at)"
        ));
    }
    sql.push_str(" SELECT epoch FROM fence");
    sql
}

/// Most ops a single-statement commit carries; a larger batch (a burst of
/// acknowledgements after a drain, say) holds the fencing lock only for
/// its COMMIT, so the lease renewal never waits for it.
const ONE_STATEMENT_MAX_OPS: usize = 1024;

/// True when `ops` are only inserts, deletes and producer marks, few
/// enough for one statement, with inserts that fit one `INSERT` (rows and
/// bytes). The batch has been through `cancel_out`, so no delete is of a
/// row inserted here (a CTE would not see that row).
fn fits_one_statement(ops: &[WriteOp]) -> bool {
    ops.len() <= ONE_STATEMENT_MAX_OPS
        && ops.iter().all(|op| {
            matches!(
                op,
                WriteOp::Insert(_) | WriteOp::Delete(_) | WriteOp::Producer(_)
            )
        })
        && batches(&inserted(ops), MAX_INSERT_ROWS, MAX_INSERT_BYTES).len() <= 1
}

fn inserted(ops: &[WriteOp]) -> Vec<&Message> {
    ops.iter()
        .filter_map(|op| match op {
            WriteOp::Insert(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The columns of inserted messages, as the arrays `UNNEST` takes.
struct InsertArrays<'a> {
    ids: Vec<i64>,
    dests: Vec<String>,
    prios: Vec<i16>,
    expires: Vec<i64>,
    redeliveries: Vec<i32>,
    headers: Vec<String>,
    bodies: Vec<&'a [u8]>,
    scheduled: Vec<i64>,
}

impl<'a> InsertArrays<'a> {
    fn of(batch: &[&'a Message]) -> InsertArrays<'a> {
        InsertArrays {
            ids: batch.iter().map(|m| m.id).collect(),
            dests: batch.iter().map(|m| m.destination.to_string()).collect(),
            prios: batch.iter().map(|m| i16::from(m.priority)).collect(),
            expires: batch.iter().map(|m| m.expires).collect(),
            redeliveries: batch
                .iter()
                .map(|m| clamp_count(m.redelivery_count))
                .collect(),
            headers: batch.iter().map(|m| encode_headers(&m.headers)).collect(),
            bodies: batch.iter().map(|m| m.body.as_ref()).collect(),
            scheduled: batch.iter().map(|m| m.scheduled).collect(),
        }
    }

    /// Appends the eight arrays as the next parameters, in column order.
    fn add_to(self, args: &mut PgArguments) -> Result<(), sqlx::Error> {
        args.add(self.ids).map_err(sqlx::Error::Encode)?;
        args.add(self.dests).map_err(sqlx::Error::Encode)?;
        args.add(self.prios).map_err(sqlx::Error::Encode)?;
        args.add(self.expires).map_err(sqlx::Error::Encode)?;
        args.add(self.redeliveries).map_err(sqlx::Error::Encode)?;
        args.add(self.headers).map_err(sqlx::Error::Encode)?;
        args.add(self.bodies).map_err(sqlx::Error::Encode)?;
        args.add(self.scheduled).map_err(sqlx::Error::Encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_batches_of_inserts_deletes_and_marks_are_one_statement() {
        let deletes: Vec<WriteOp> = (0..10).map(WriteOp::Delete).collect();
        assert!(fits_one_statement(&deletes));
        let many: Vec<WriteOp> = (0..=ONE_STATEMENT_MAX_OPS as i64)
            .map(WriteOp::Delete)
            .collect();
        assert!(!fits_one_statement(&many));
        let with_update = [
            WriteOp::Delete(1),
            WriteOp::SetRedeliveries {
                id: 2,
                count: 1,
                at: 0,
            },
        ];
        assert!(!fits_one_statement(&with_update));
        let big = |id| {
            WriteOp::Insert(Message {
                id,
                destination: crate::message::Destination::Queue("q".into()),
                priority: 4,
                expires: 0,
                persistent: true,
                headers: Vec::new(),
                body: bytes::Bytes::from(vec![0u8; MAX_INSERT_BYTES / 2 + 1]),
                redelivery_count: 0,
                redelivered: false,
                producer: None,
                scheduled: 0,
            })
        };
        assert!(fits_one_statement(&[big(1)]));
        assert!(!fits_one_statement(&[big(1), big(2)]));
    }

    #[test]
    fn parts_without_rows_are_left_out_and_parameters_stay_numbered() {
        let plain = one_statement_sql("b_", false, false);
        assert!(!plain.contains("DELETE") && !plain.contains("producers"));
        let both = one_statement_sql("b_", true, true);
        assert!(both.contains("UNNEST($11::bigint[]) AS d(id)"));
        assert!(both.contains("UNNEST($12::text[], $13::bigint[])"));
        let marks = one_statement_sql("b_", false, true);
        assert!(marks.contains("UNNEST($11::text[], $12::bigint[])"));
    }
}
