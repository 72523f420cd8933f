//! The commit plan: a group commit's ops grouped once, whatever the
//! database, into what its transaction writes. Each backend only renders
//! a plan in its own SQL (`postgres.rs`, `mysql.rs`, `sqlite.rs`), in the
//! same order: inserts, redelivery updates, moves, reschedules, deletes,
//! spill deletes, durable subscriptions, forgotten producers, producer
//! marks, and the fencing read last before COMMIT (SQLite: first, under
//! the write lock `BEGIN IMMEDIATE` took).
//!
//! A pipelined batch commits only after the batch before it committed in
//! full: the backend runs its statements up to the durable subscriptions,
//! then waits for its [`CommitTurn`], and only then writes the forgotten
//! producers and the producer marks, reads the fence and commits (or rolls
//! back with [`StoreError::EarlierFailed`]). The producer rows come after
//! the wait because consecutive batches share them (one producer's marks):
//! taken before it, a later batch could hold a row the earlier one needs
//! while it waits for that earlier one, a lock cycle no database sees.
//!
//! The per-row statements every backend runs alike are [`update_rows!`]
//! and [`remaining_rows!`], given the backend's [`RowSql`].

use super::rows::{count_column, encode_headers, MessageRow};
use super::{StoreError, WriteOp};
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::BTreeMap;
use tokio::sync::watch;

/// When a pipelined batch may commit: once the batch before it has
/// committed in full (which that batch only did after the one before it,
/// and so on). Cheap to clone; [`CommitTurn::now`] has nothing to wait for.
#[derive(Debug, Clone, Default)]
pub struct CommitTurn {
    /// The earlier batch's outcome: `None` while it runs, then whether it
    /// committed in full. A dropped sender counts as a failure.
    earlier: Option<watch::Receiver<Option<bool>>>,
}

/// The writer's side of a [`CommitTurn`]: the outcome of its batch, for
/// the batch after it.
#[derive(Debug)]
pub struct TurnOutcome(watch::Sender<Option<bool>>);

impl CommitTurn {
    /// No batch before this one is in flight.
    pub fn now() -> CommitTurn {
        CommitTurn::default()
    }

    /// A turn for the batch after the one that reports into the returned
    /// [`TurnOutcome`].
    pub fn next() -> (TurnOutcome, CommitTurn) {
        let (tx, rx) = watch::channel(None);
        (TurnOutcome(tx), CommitTurn { earlier: Some(rx) })
    }

    /// True when the turn has come and the earlier batch committed (or
    /// there is none): [`CommitTurn::wait`] would return `Ok` at once.
    pub fn is_open(&self) -> bool {
        self.earlier
            .as_ref()
            .is_none_or(|rx| *rx.borrow() == Some(true))
    }

    /// Waits for the earlier batch's outcome: `Ok` when it committed in
    /// full, [`StoreError::EarlierFailed`] otherwise.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let Some(rx) = &self.earlier else {
            return Ok(());
        };
        let mut rx = rx.clone();
        let in_full = matches!(rx.wait_for(Option::is_some).await, Ok(o) if *o == Some(true));
        if in_full {
            Ok(())
        } else {
            Err(StoreError::EarlierFailed)
        }
    }
}

impl TurnOutcome {
    /// Reports the batch's outcome to the batch after it.
    pub fn report(self, committed_in_full: bool) {
        self.0.send_replace(Some(committed_in_full));
    }
}

/// What one transaction writes.
#[derive(Debug, Default)]
pub struct CommitPlan<'a> {
    /// How many ops the batch had.
    pub ops: usize,
    /// New messages, in op order.
    pub inserts: Vec<MessageRow<'a>>,
    /// Redelivery counts and due times, by id; the last op on an id wins.
    pub redeliveries: Vec<Redelivery>,
    /// Messages re-homed (dead-lettered), in op order.
    pub moves: Vec<Moved<'a>>,
    /// Scheduled messages' next due times, in op order.
    pub reschedules: Vec<Rescheduled>,
    /// Messages removed, in op order.
    pub deletes: Vec<i64>,
    /// Spilled rows of purged queues.
    pub spilled: Vec<SpillRange<'a>>,
    /// Durable-subscription changes, in op order, without acknowledgements
    /// a later one of the same subscription supersedes.
    pub durables: Vec<DurableChange<'a>>,
    /// Forget producers idle this long (the shortest asked for).
    pub forget_idle_ms: Option<i64>,
    /// The highest sequence per producer, by producer id.
    pub producer_marks: Vec<(&'a str, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    pub id: i64,
    pub count: i32,
    /// Unix ms; 0 = at once.
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved<'a> {
    pub id: i64,
    pub destination: &'a str,
    pub headers: String,
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescheduled {
    pub id: i64,
    pub at: i64,
    pub headers: String,
}

/// Plain waiting rows of `destination` at `priority` with ids in
/// `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpillRange<'a> {
    pub destination: &'a str,
    pub priority: i16,
    pub first: i64,
    pub last: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurableChange<'a> {
    /// Create or replace.
    Save {
        client_id: &'a str,
        name: &'a str,
        destination: &'a str,
        selector: Option<&'a str>,
        last_acked: i64,
    },
    /// Raise `last_acked_id` (never lower it).
    Ack {
        client_id: &'a str,
        name: &'a str,
        last_acked: i64,
    },
    Delete {
        client_id: &'a str,
        name: &'a str,
    },
}

impl<'a> DurableChange<'a> {
    fn subscription(&self) -> (&'a str, &'a str) {
        match *self {
            DurableChange::Save {
                client_id, name, ..
            }
            | DurableChange::Ack {
                client_id, name, ..
            }
            | DurableChange::Delete { client_id, name } => (client_id, name),
        }
    }
}

impl<'a> CommitPlan<'a> {
    /// Groups `ops` (one walk over them).
    pub fn of(ops: &'a [WriteOp]) -> CommitPlan<'a> {
        let mut plan = CommitPlan {
            ops: ops.len(),
            ..CommitPlan::default()
        };
        let mut redeliveries: BTreeMap<i64, Redelivery> = BTreeMap::new();
        let mut marks: BTreeMap<&str, i64> = BTreeMap::new();
        for op in ops {
            match op {
                WriteOp::Insert(m) => plan.inserts.push(MessageRow::of(m)),
                WriteOp::Delete(id) => plan.deletes.push(*id),
                WriteOp::SetRedeliveries { id, count, at } => {
                    redeliveries.insert(
                        *id,
                        Redelivery {
                            id: *id,
                            count: count_column(*count),
                            at: *at,
                        },
                    );
                }
                WriteOp::Move {
                    id,
                    destination,
                    meta,
                    expires,
                } => plan.moves.push(Moved {
                    id: *id,
                    destination,
                    headers: encode_headers(meta),
                    expires: *expires,
                }),
                WriteOp::Reschedule { id, at, meta } => plan.reschedules.push(Rescheduled {
                    id: *id,
                    at: *at,
                    headers: encode_headers(meta),
                }),
                WriteOp::Producer(p) => {
                    let seq = marks.entry(&p.id).or_insert(p.seq);
                    *seq = (*seq).max(p.seq);
                }
                WriteOp::DurableSave {
                    client_id,
                    name,
                    destination,
                    selector,
                    last_acked,
                } => plan.durables.push(DurableChange::Save {
                    client_id,
                    name,
                    destination,
                    selector: selector.as_deref(),
                    last_acked: *last_acked,
                }),
                WriteOp::DurableAck {
                    client_id,
                    name,
                    last_acked,
                } => plan.ack_durable(client_id, name, *last_acked),
                WriteOp::DurableDelete { client_id, name } => plan
                    .durables
                    .push(DurableChange::Delete { client_id, name }),
                WriteOp::DeleteSpilled {
                    destination,
                    ranges,
                } => plan
                    .spilled
                    .extend(ranges.iter().map(|&(priority, first, last)| SpillRange {
                        destination,
                        priority: i16::from(priority),
                        first,
                        last,
                    })),
                WriteOp::ForgetProducers { idle_ms } => {
                    plan.forget_idle_ms =
                        Some(plan.forget_idle_ms.map_or(*idle_ms, |f| f.min(*idle_ms)));
                }
            }
        }
        plan.redeliveries = redeliveries.into_values().collect();
        plan.producer_marks = marks.into_iter().collect();
        plan
    }

    /// An acknowledgement replaces the previous one of the same
    /// subscription if nothing else of it came in between.
    fn ack_durable(&mut self, client_id: &'a str, name: &'a str, last_acked: i64) {
        let key = (client_id, name);
        if let Some(pos) = self.durables.iter().rposition(|d| d.subscription() == key) {
            if matches!(self.durables[pos], DurableChange::Ack { .. }) {
                self.durables.remove(pos);
            }
        }
        self.durables.push(DurableChange::Ack {
            client_id,
            name,
            last_acked,
        });
    }

    /// True when the plan writes only messages (inserts, deletes) and
    /// producer marks: the steady state of produce + consume.
    pub fn only_inserts_deletes_marks(&self) -> bool {
        self.redeliveries.is_empty()
            && self.moves.is_empty()
            && self.reschedules.is_empty()
            && self.spilled.is_empty()
            && self.durables.is_empty()
            && self.forget_idle_ms.is_none()
    }
}

/// Splits `rows` into runs of at most `max_rows` rows and, unless a
/// single row is bigger, at most `max_bytes` (by [`MessageRow::size`]), so
/// one statement stays within the server's packet limit.
pub fn chunks<'r, 'a>(
    rows: &'r [MessageRow<'a>],
    max_rows: usize,
    max_bytes: usize,
) -> Vec<&'r [MessageRow<'a>]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, row) in rows.iter().enumerate() {
        let size = row.size();
        if i > start && (i - start >= max_rows || bytes + size > max_bytes) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// `INSERT INTO table (...) VALUES (...), ...` of `rows`, bound value by
/// value: the multi-row insert of the backends without arrays (SQLite,
/// MySQL).
pub fn insert_values<'q, DB>(table: &str, rows: &'q [MessageRow<'q>]) -> QueryBuilder<'q, DB>
where
    DB: Database,
    DB::Arguments<'q>: Default,
    i64: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    i16: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!(
        "INSERT INTO {table} (id, destination, priority, expires, scheduled, redeliveries, headers, body) "
    ));
    qb.push_values(rows, |mut row, m| {
        row.push_bind(m.id)
            .push_bind(m.destination.as_str())
            .push_bind(m.priority)
            .push_bind(m.expires)
            .push_bind(m.scheduled)
            .push_bind(m.redeliveries)
            .push_bind(m.headers.as_str())
            .push_bind(m.body);
    });
    qb
}

/// A backend's SQL for the plan parts written one statement per row;
/// placeholders take the values in the order named.
pub struct RowSql {
    /// `redeliveries, scheduled, id`; `None` where the backend writes
    /// [`CommitPlan::redeliveries`] in one statement of its own.
    pub set_redeliveries: Option<String>,
    /// `destination, headers, expires, id` (redelivery count and due time
    /// reset).
    pub move_to: String,
    /// `scheduled, headers, id`.
    pub reschedule: String,
    /// `destination, priority, first id, last id`.
    pub delete_spilled: String,
    /// `client_id, subscription, destination, selector, last_acked_id`:
    /// insert or replace.
    pub durable_save: String,
    /// `last_acked_id, client_id, subscription`: raise, never lower.
    pub durable_ack: String,
    /// `client_id, subscription`.
    pub durable_delete: String,
    /// `idle ms`: producers not updated for that long by the database's
    /// clock.
    pub forget_producers: String,
}

/// Runs the redelivery updates (unless the backend writes them itself),
/// moves and reschedules of `$plan` on the transaction `$tx`, one
/// statement each, with the SQL of `$sql` ([`RowSql`]). Evaluates to
/// `Result<(), sqlx::Error>`.
macro_rules! update_rows {
    ($tx:expr, $plan:expr, $sql:expr) => {
        async {
            let (plan, sql): (
                &$crate::store::plan::CommitPlan,
                &$crate::store::plan::RowSql,
            ) = ($plan, $sql);
            if let Some(set) = &sql.set_redeliveries {
                for r in &plan.redeliveries {
                    sqlx::query(set)
                        .bind(r.count)
                        .bind(r.at)
                        .bind(r.id)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            for m in &plan.moves {
                sqlx::query(&sql.move_to)
                    .bind(m.destination)
                    .bind(&m.headers)
                    .bind(m.expires)
                    .bind(m.id)
                    .execute(&mut *$tx)
                    .await?;
            }
            for r in &plan.reschedules {
                sqlx::query(&sql.reschedule)
                    .bind(r.at)
                    .bind(&r.headers)
                    .bind(r.id)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use update_rows;

/// Runs the spill deletes and durable-subscription changes of `$plan` on
/// `$tx`, one statement each, with the SQL of `$sql` ([`RowSql`]).
/// Evaluates to `Result<(), sqlx::Error>`.
macro_rules! remaining_rows {
    ($tx:expr, $plan:expr, $sql:expr) => {
        async {
            use $crate::store::plan::DurableChange;
            let (plan, sql): (
                &$crate::store::plan::CommitPlan,
                &$crate::store::plan::RowSql,
            ) = ($plan, $sql);
            for s in &plan.spilled {
                sqlx::query(&sql.delete_spilled)
                    .bind(s.destination)
                    .bind(s.priority)
                    .bind(s.first)
                    .bind(s.last)
                    .execute(&mut *$tx)
                    .await?;
            }
            for d in &plan.durables {
                let query = match *d {
                    DurableChange::Save {
                        client_id,
                        name,
                        destination,
                        selector,
                        last_acked,
                    } => sqlx::query(&sql.durable_save)
                        .bind(client_id)
                        .bind(name)
                        .bind(destination)
                        .bind(selector)
                        .bind(last_acked),
                    DurableChange::Ack {
                        client_id,
                        name,
                        last_acked,
                    } => sqlx::query(&sql.durable_ack)
                        .bind(last_acked)
                        .bind(client_id)
                        .bind(name),
                    DurableChange::Delete { client_id, name } => {
                        sqlx::query(&sql.durable_delete).bind(client_id).bind(name)
                    }
                };
                query.execute(&mut *$tx).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use remaining_rows;

/// Forgets the idle producers of `$plan` on `$tx` (after the
/// [`CommitTurn`], like the producer marks), with the SQL of `$sql`
/// ([`RowSql`]). Evaluates to `Result<(), sqlx::Error>`.
macro_rules! forget_producers {
    ($tx:expr, $plan:expr, $sql:expr) => {
        async {
            let (plan, sql): (
                &$crate::store::plan::CommitPlan,
                &$crate::store::plan::RowSql,
            ) = ($plan, $sql);
            if let Some(idle_ms) = plan.forget_idle_ms {
                sqlx::query(&sql.forget_producers)
                    .bind(idle_ms)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use forget_producers;

/// A plain queue message with a body of `body` zero bytes, for unit tests
/// of the store.
#[cfg(test)]
pub(super) fn test_message(id: i64, body: usize) -> crate::message::Message {
    crate::message::Message {
        id,
        destination: crate::message::Destination::Queue("q".into()),
        priority: 4,
        expires: 0,
        persistent: true,
        headers: Vec::new().into(),
        body: bytes::Bytes::from(vec![0u8; body]),
        redelivery_count: 0,
        redelivered: false,
        producer: None,
        scheduled: 0,
        body_kind: Default::default(),
        client_id: None,
        origin: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, ProducerSeq};

    use crate::store::plan::test_message as msg;

    fn ack(name: &str, last_acked: i64) -> WriteOp {
        WriteOp::DurableAck {
            client_id: "c".into(),
            name: name.into(),
            last_acked,
        }
    }

    #[test]
    fn ops_are_grouped_by_kind() {
        let ops = vec![
            WriteOp::Insert(msg(1, 3)),
            WriteOp::Producer(ProducerSeq {
                id: "p".into(),
                seq: 5,
            }),
            WriteOp::Delete(7),
            WriteOp::SetRedeliveries {
                id: 2,
                count: 7,
                at: 0,
            },
            WriteOp::Producer(ProducerSeq {
                id: "p".into(),
                seq: 3,
            }),
            WriteOp::SetRedeliveries {
                id: 2,
                count: 3,
                at: 9,
            },
            WriteOp::SetRedeliveries {
                id: 1,
                count: u32::MAX,
                at: 0,
            },
            WriteOp::ForgetProducers { idle_ms: 50 },
            WriteOp::ForgetProducers { idle_ms: 10 },
            WriteOp::DeleteSpilled {
                destination: "/queue/q".into(),
                ranges: vec![(4, 10, 20), (0, 30, 40)],
            },
            WriteOp::Insert(msg(3, 0)),
        ];
        let plan = CommitPlan::of(&ops);
        assert_eq!(plan.ops, ops.len());
        assert_eq!(
            plan.inserts.iter().map(|r| r.id).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(plan.deletes, [7]);
        assert_eq!(
            plan.redeliveries,
            [
                Redelivery {
                    id: 1,
                    count: i32::MAX,
                    at: 0
                },
                Redelivery {
                    id: 2,
                    count: 3,
                    at: 9
                }
            ],
            "by id, the last op on an id wins"
        );
        assert_eq!(plan.producer_marks, [("p", 5)], "the highest sequence");
        assert_eq!(plan.forget_idle_ms, Some(10));
        assert_eq!(plan.spilled.len(), 2);
        assert_eq!(plan.spilled[1].priority, 0);
        assert!(!plan.only_inserts_deletes_marks());
    }

    #[test]
    fn a_later_ack_supersedes_an_earlier_one_only_when_adjacent() {
        let save = WriteOp::DurableSave {
            client_id: "c".into(),
            name: "a".into(),
            destination: "/topic/t".into(),
            selector: None,
            last_acked: 0,
        };
        let ops = vec![
            ack("a", 1),
            ack("b", 1),
            ack("a", 2),
            save,
            ack("a", 3),
            ack("a", 4),
        ];
        let plan = CommitPlan::of(&ops);
        let acks: Vec<_> = plan
            .durables
            .iter()
            .map(|d| match d {
                DurableChange::Ack {
                    name, last_acked, ..
                } => format!("{name}{last_acked}"),
                DurableChange::Save { name, .. } => format!("save {name}"),
                DurableChange::Delete { name, .. } => format!("delete {name}"),
            })
            .collect();
        assert_eq!(acks, ["b1", "a2", "save a", "a4"]);
    }

    #[test]
    fn chunks_respect_rows_and_bytes() {
        let small: Vec<Message> = (0..10).map(|i| msg(i, 10)).collect();
        let plan_ops: Vec<WriteOp> = small.into_iter().map(WriteOp::Insert).collect();
        let plan = CommitPlan::of(&plan_ops);
        let sizes: Vec<usize> = chunks(&plan.inserts, 4, 1 << 20)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let big: Vec<WriteOp> = (0..3).map(|i| WriteOp::Insert(msg(i, 1000))).collect();
        let plan = CommitPlan::of(&big);
        let sizes: Vec<usize> = chunks(&plan.inserts, 100, 500)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(chunks(&[], 10, 10).is_empty());
    }
}
