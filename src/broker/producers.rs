//! Duplicate detection for producers that resend after a failover.
//!
//! A client tags each send with its producer id and a sequence number. The
//! master keeps, per producer, the highest sequence committed (loaded from
//! the `producers` table at promotion, written in the same transaction as
//! the messages) and the sequences submitted but not yet committed. A send
//! whose sequence was committed is a duplicate: it is dropped and still
//! confirmed. A resend of a sequence still in flight (the client reconnected
//! to the same node before the original committed) waits for the original's
//! outcome instead of storing a second copy. If the original fails, the
//! resend fails with it, and its connection counts as one a send of the
//! producer failed on (the broker tells the writer of each waiting resend,
//! `GroupCommit::resend_waiting`, and [`Producers::finished`] names them
//! again), so the writer fails that connection's later sends of the
//! producer too: the client sends them again after the failed one, and a
//! copy stored meanwhile would be stored twice.
//!
//! A send that failed keeps the producer's mark below its sequence until it
//! is stored ([`FailedSeqs`]): a later send of the same producer that did
//! commit must not make the failed one's resend a "duplicate" confirmed
//! without being stored. The sends above it are not duplicates then (a
//! resend of one is stored again): a second copy rather than a lost one.

use super::BrokerError;
use crate::message::{FailedSeqs, ProducerSeq};
use foldhash::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What to do with one tagged send.
#[derive(Debug)]
pub enum Check {
    /// Never seen: store and route it; report its outcome with
    /// [`Producers::finished`].
    New,
    /// Already committed: drop it and confirm at once.
    Duplicate,
    /// The original is still being committed: drop this copy and confirm
    /// with the original's outcome.
    InFlight(oneshot::Receiver<Result<(), BrokerError>>),
}

/// Resends waiting for an original: the connection each came from, and
/// where to send the original's outcome.
type Waiters = Vec<(u64, oneshot::Sender<Result<(), BrokerError>>)>;

#[derive(Default)]
struct Entry {
    /// Every send up to this one counts as stored; never at or above a
    /// failed send's sequence.
    committed: i64,
    in_flight: BTreeMap<i64, Waiters>,
    failed: FailedSeqs,
    /// Unix ms of the last send seen (or of loading).
    last_used: i64,
}

/// Every producer's sequence state on this master.
#[derive(Default)]
pub struct Producers {
    entries: HashMap<Arc<str>, Entry>,
}

impl Producers {
    /// Starts from the committed sequences found in the store.
    pub fn from_committed(rows: Vec<(String, i64)>, now_ms: i64) -> Producers {
        let entries = rows
            .into_iter()
            .map(|(id, committed)| {
                (
                    Arc::from(id),
                    Entry {
                        committed,
                        in_flight: BTreeMap::new(),
                        failed: FailedSeqs::default(),
                        last_used: now_ms,
                    },
                )
            })
            .collect();
        Producers { entries }
    }

    /// Classifies one send from connection `origin`; a `New` one is now in
    /// flight.
    pub fn check(&mut self, p: &ProducerSeq, origin: u64, now_ms: i64) -> Check {
        let entry = self.entries.entry(p.id.clone()).or_default();
        entry.last_used = now_ms;
        if p.seq <= entry.committed {
            return Check::Duplicate;
        }
        match entry.in_flight.get_mut(&p.seq) {
            Some(waiters) => {
                let (tx, rx) = oneshot::channel();
                waiters.push((origin, tx));
                Check::InFlight(rx)
            }
            None => {
                entry.in_flight.insert(p.seq, Vec::new());
                Check::New
            }
        }
    }

    /// Records the outcome of sends previously classified `New`, and
    /// answers every resend that waited for them. Returns those resends,
    /// each with its connection.
    pub fn finished(
        &mut self,
        sends: &[ProducerSeq],
        result: &Result<(), BrokerError>,
    ) -> Vec<(ProducerSeq, u64)> {
        let mut answered = Vec::new();
        for p in sends {
            let Some(entry) = self.entries.get_mut(&p.id) else {
                continue;
            };
            if let Some(waiters) = entry.in_flight.remove(&p.seq) {
                for (origin, w) in waiters {
                    answered.push((p.clone(), origin));
                    let _ = w.send(result.clone());
                }
            }
            if result.is_ok() {
                entry.failed.stored(p.seq);
                let highest = entry.failed.cap().map_or(p.seq, |cap| p.seq.min(cap));
                entry.committed = entry.committed.max(highest);
            } else {
                entry.failed.failed(p.seq);
                // A later send that committed first must not cover it.
                entry.committed = entry.committed.min(p.seq - 1);
            }
        }
        answered
    }

    /// Forgets producers idle since before `cutoff_ms` with nothing in
    /// flight; returns how many.
    pub fn forget_idle(&mut self, cutoff_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, e| e.last_used >= cutoff_ms || !e.in_flight.is_empty());
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(id: &str, seq: i64) -> ProducerSeq {
        ProducerSeq {
            id: Arc::from(id),
            seq,
        }
    }

    impl Producers {
        fn check_at(&mut self, p: &ProducerSeq) -> Check {
            self.check(p, 1, 100)
        }
    }

    #[test]
    fn idle_producers_are_forgotten_unless_in_flight() {
        let mut p = Producers::from_committed(vec![("old".into(), 5)], 10);
        assert!(matches!(p.check(&seq("busy", 1), 1, 20), Check::New));
        assert!(matches!(p.check(&seq("recent", 1), 1, 200), Check::New));
        p.finished(&[seq("recent", 1)], &Ok(()));
        assert_eq!(p.forget_idle(100), 1, "only 'old' goes");
        assert!(matches!(p.check(&seq("old", 5), 1, 300), Check::New));
        assert!(matches!(
            p.check(&seq("recent", 1), 1, 300),
            Check::Duplicate
        ));
    }

    #[test]
    fn committed_sequences_are_duplicates() {
        let mut p = Producers::from_committed(vec![("a".into(), 5)], 0);
        assert!(matches!(p.check_at(&seq("a", 5)), Check::Duplicate));
        assert!(matches!(p.check_at(&seq("a", 1)), Check::Duplicate));
        assert!(matches!(p.check_at(&seq("a", 6)), Check::New));
        assert!(matches!(p.check_at(&seq("b", 1)), Check::New));
    }

    #[test]
    fn a_resend_in_flight_waits_for_the_original() {
        let mut p = Producers::default();
        assert!(matches!(p.check_at(&seq("a", 1)), Check::New));
        let Check::InFlight(mut rx) = p.check_at(&seq("a", 1)) else {
            panic!("expected in flight");
        };
        assert!(rx.try_recv().is_err());
        assert_eq!(p.finished(&[seq("a", 1)], &Ok(())), vec![(seq("a", 1), 1)]);
        assert!(matches!(rx.try_recv(), Ok(Ok(()))));
        assert!(matches!(p.check_at(&seq("a", 1)), Check::Duplicate));
    }

    #[test]
    fn a_failed_original_is_not_committed() {
        let mut p = Producers::default();
        assert!(matches!(p.check(&seq("a", 1), 1, 100), Check::New));
        let Check::InFlight(mut rx) = p.check(&seq("a", 1), 2, 100) else {
            panic!("expected in flight");
        };
        let failed = p.finished(&[seq("a", 1)], &Err(BrokerError::ShuttingDown));
        assert!(matches!(rx.try_recv(), Ok(Err(_))));
        assert_eq!(
            failed,
            vec![(seq("a", 1), 2)],
            "the resend is answered with it, on its own connection"
        );
        assert!(matches!(p.check_at(&seq("a", 1)), Check::New));
    }

    #[test]
    fn a_failed_send_is_not_covered_by_a_later_one() {
        let mut p = Producers::default();
        for s in 1..=4 {
            assert!(matches!(p.check_at(&seq("a", s)), Check::New));
        }
        p.finished(&[seq("a", 1)], &Ok(()));
        p.finished(&[seq("a", 2)], &Err(BrokerError::ShuttingDown));
        p.finished(&[seq("a", 3)], &Ok(()));
        assert!(
            matches!(p.check_at(&seq("a", 2)), Check::New),
            "the failed send's resend is stored"
        );
        assert!(
            matches!(p.check_at(&seq("a", 3)), Check::New),
            "above a failed send nothing counts as a duplicate"
        );
        assert!(matches!(p.check_at(&seq("a", 1)), Check::Duplicate));
        p.finished(&[seq("a", 2)], &Ok(()));
        p.finished(&[seq("a", 3)], &Ok(()));
        p.finished(&[seq("a", 4)], &Ok(()));
        assert!(
            matches!(p.check_at(&seq("a", 4)), Check::Duplicate),
            "stored at last, the mark moves on"
        );
    }

    #[test]
    fn a_failure_after_a_later_commit_lowers_the_mark() {
        let mut p = Producers::default();
        for s in 1..=2 {
            assert!(matches!(p.check_at(&seq("a", s)), Check::New));
        }
        p.finished(&[seq("a", 2)], &Ok(()));
        p.finished(&[seq("a", 1)], &Err(BrokerError::ShuttingDown));
        assert!(matches!(p.check_at(&seq("a", 1)), Check::New));
    }

    #[test]
    fn out_of_order_commits_keep_the_highest() {
        let mut p = Producers::default();
        for s in 1..=3 {
            assert!(matches!(p.check_at(&seq("a", s)), Check::New));
        }
        p.finished(&[seq("a", 3)], &Ok(()));
        p.finished(&[seq("a", 1), seq("a", 2)], &Ok(()));
        assert!(matches!(p.check_at(&seq("a", 3)), Check::Duplicate));
        assert!(matches!(p.check_at(&seq("a", 4)), Check::New));
    }
}
