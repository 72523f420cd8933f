//! Insert/delete cancellation inside one group commit, and the registry of
//! inserts submitted but not yet taken by the writer.
//!
//! With `broker.dispatch_before_commit` a persistent queue message reaches
//! its consumer while its insert still waits for the writer. When the
//! consumer acknowledges before that insert is taken, the insert and the
//! acknowledgement's delete meet in one batch: the row would be written and
//! removed in the same transaction, so neither reaches the database.

use super::WriteOp;
use std::collections::HashSet;
use std::sync::Mutex;

/// The message id a per-message op is about (`None` for the others).
fn message_id(op: &WriteOp) -> Option<i64> {
    match op {
        WriteOp::Insert(m) => Some(m.id),
        WriteOp::Delete(id)
        | WriteOp::SetRedeliveries { id, .. }
        | WriteOp::Move { id, .. }
        | WriteOp::Reschedule { id, .. } => Some(*id),
        _ => None,
    }
}

/// Drops every message inserted and then deleted within `ops`, with every
/// op in between on it (they would update a row that ends up absent).
/// `ends[k]` is where request k's ops end; they are moved to match. Returns
/// the number of messages cancelled.
pub(super) fn cancel_out(ops: &mut Vec<WriteOp>, ends: &mut [usize]) -> usize {
    let mut inserted = HashSet::new();
    let mut cancelled = HashSet::new();
    for op in ops.iter() {
        match op {
            WriteOp::Insert(m) => {
                inserted.insert(m.id);
            }
            WriteOp::Delete(id) if inserted.contains(id) => {
                cancelled.insert(*id);
            }
            _ => {}
        }
    }
    if cancelled.is_empty() {
        return 0;
    }
    let old = std::mem::take(ops);
    let mut end = 0;
    for (i, op) in old.into_iter().enumerate() {
        while end < ends.len() && ends[end] <= i {
            ends[end] = ops.len();
            end += 1;
        }
        if !message_id(&op).is_some_and(|id| cancelled.contains(&id)) {
            ops.push(op);
        }
    }
    for e in &mut ends[end..] {
        *e = ops.len();
    }
    cancelled.len()
}

/// Ids of inserts submitted to the writer and not yet committed (or
/// failed). A later op on such a message must ride in the batch that
/// carries its insert (where the pair may cancel out) or wait for that
/// batch to finish, or it would run first and miss the row, or leave it
/// behind.
#[derive(Default)]
pub(super) struct PendingInserts {
    ids: Mutex<HashSet<i64>>,
}

/// The ids of the messages `ops` inserts.
pub(super) fn inserted_ids(ops: &[WriteOp]) -> HashSet<i64> {
    ops.iter()
        .filter_map(|op| match op {
            WriteOp::Insert(m) => Some(m.id),
            _ => None,
        })
        .collect()
}

impl PendingInserts {
    pub(super) fn submitted(&self, ops: &[WriteOp]) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.extend(inserted_ids(ops));
        }
    }

    /// The batch that carried these inserts finished (either way).
    pub(super) fn finished(&self, inserted: &HashSet<i64>) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.retain(|id| !inserted.contains(id));
        }
    }

    /// Splits side-queue ops into those that may ride in a batch inserting
    /// `batch` and those (deferred) about a message whose insert is still
    /// queued or in another batch not yet committed.
    pub(super) fn defer(
        &self,
        ops: Vec<WriteOp>,
        batch: &HashSet<i64>,
    ) -> (Vec<WriteOp>, Vec<WriteOp>) {
        let Ok(ids) = self.ids.lock() else {
            return (ops, Vec::new());
        };
        if ids.is_empty() {
            return (ops, Vec::new());
        }
        ops.into_iter().partition(|op| {
            !message_id(op).is_some_and(|id| ids.contains(&id) && !batch.contains(&id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(id: i64) -> WriteOp {
        WriteOp::Insert(crate::store::plan::test_message(id, 0))
    }

    fn ids(ops: &[WriteOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                WriteOp::Insert(m) => format!("I{}", m.id),
                WriteOp::Delete(id) => format!("D{id}"),
                WriteOp::SetRedeliveries { id, .. } => format!("R{id}"),
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn insert_then_delete_cancels_with_everything_between() {
        let mut ops = vec![
            insert(1),
            insert(2),
            WriteOp::SetRedeliveries {
                id: 1,
                count: 1,
                at: 0,
            },
            WriteOp::Delete(1),
            WriteOp::Delete(3),
        ];
        let mut ends = [2, 3, 5];
        assert_eq!(cancel_out(&mut ops, &mut ends), 1);
        assert_eq!(ids(&ops), ["I2", "D3"]);
        assert_eq!(ends, [1, 1, 2]);
    }

    #[test]
    fn delete_before_insert_or_alone_is_kept() {
        let mut ops = vec![WriteOp::Delete(1), insert(1), WriteOp::Delete(2)];
        let mut ends = [3];
        assert_eq!(cancel_out(&mut ops, &mut ends), 0);
        assert_eq!(ids(&ops), ["D1", "I1", "D2"]);
        assert_eq!(ends, [3]);
    }

    #[test]
    fn ends_of_emptied_requests_collapse() {
        let mut ops = vec![insert(7), WriteOp::Delete(7)];
        let mut ends = [1, 1, 2];
        assert_eq!(cancel_out(&mut ops, &mut ends), 1);
        assert!(ops.is_empty());
        assert_eq!(ends, [0, 0, 0]);
    }

    #[test]
    fn ops_on_uncommitted_inserts_of_other_batches_are_deferred() {
        let pending = PendingInserts::default();
        pending.submitted(&[insert(1), insert(2), insert(3)]);
        pending.finished(&inserted_ids(&[insert(3)]));
        let side = || {
            vec![
                WriteOp::Delete(1),
                WriteOp::Delete(2),
                WriteOp::Delete(3),
                WriteOp::SetRedeliveries {
                    id: 1,
                    count: 2,
                    at: 0,
                },
            ]
        };
        // Insert 2 is in the batch being built; 1 is queued or in flight.
        let (now, later) = pending.defer(side(), &inserted_ids(&[insert(2)]));
        assert_eq!(ids(&now), ["D2", "D3"]);
        assert_eq!(ids(&later), ["D1", "R1"]);
        pending.finished(&inserted_ids(&[insert(1), insert(2)]));
        let (now, later) = pending.defer(side(), &HashSet::new());
        assert_eq!(now.len(), 4);
        assert!(later.is_empty());
    }
}
