//! Duplicate detection for producers that resend after a failover.
//!
//! A client tags each send with its producer id and a sequence number. The
//! master keeps, per producer, the highest sequence committed (loaded from
//! the `producers` table at promotion, written in the same transaction as
//! the messages) and the sequences submitted but not yet committed. A send
//! whose sequence was committed is a duplicate: it is dropped and still
//! confirmed. A resend of a sequence still in flight (the client reconnected
//! to the same node before the original committed) waits for the original's
//! outcome instead of storing a second copy.

use super::BrokerError;
use crate::message::ProducerSeq;
use std::collections::{BTreeMap, HashMap};
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

type Waiters = Vec<oneshot::Sender<Result<(), BrokerError>>>;

#[derive(Default)]
struct Entry {
    committed: i64,
    in_flight: BTreeMap<i64, Waiters>,
}

/// Every producer's sequence state on this master.
#[derive(Default)]
pub struct Producers {
    entries: HashMap<Arc<str>, Entry>,
}

impl Producers {
    /// Starts from the committed sequences found in the store.
    pub fn from_committed(rows: Vec<(String, i64)>) -> Producers {
        let entries = rows
            .into_iter()
            .map(|(id, committed)| {
                (
                    Arc::from(id),
                    Entry {
                        committed,
                        in_flight: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Producers { entries }
    }

    /// Classifies one send; a `New` one is now in flight.
    pub fn check(&mut self, p: &ProducerSeq) -> Check {
        let entry = self.entries.entry(p.id.clone()).or_default();
        if p.seq <= entry.committed {
            return Check::Duplicate;
        }
        match entry.in_flight.get_mut(&p.seq) {
            Some(waiters) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Check::InFlight(rx)
            }
            None => {
                entry.in_flight.insert(p.seq, Vec::new());
                Check::New
            }
        }
    }

    /// Records the outcome of sends previously classified `New`, and
    /// answers every resend that waited for them.
    pub fn finished(&mut self, sends: &[ProducerSeq], result: &Result<(), BrokerError>) {
        for p in sends {
            let Some(entry) = self.entries.get_mut(&p.id) else {
                continue;
            };
            if let Some(waiters) = entry.in_flight.remove(&p.seq) {
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
            if result.is_ok() && p.seq > entry.committed {
                entry.committed = p.seq;
            }
        }
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

    #[test]
    fn committed_sequences_are_duplicates() {
        let mut p = Producers::from_committed(vec![("a".into(), 5)]);
        assert!(matches!(p.check(&seq("a", 5)), Check::Duplicate));
        assert!(matches!(p.check(&seq("a", 1)), Check::Duplicate));
        assert!(matches!(p.check(&seq("a", 6)), Check::New));
        assert!(matches!(p.check(&seq("b", 1)), Check::New));
    }

    #[test]
    fn a_resend_in_flight_waits_for_the_original() {
        let mut p = Producers::default();
        assert!(matches!(p.check(&seq("a", 1)), Check::New));
        let Check::InFlight(mut rx) = p.check(&seq("a", 1)) else {
            panic!("expected in flight");
        };
        assert!(rx.try_recv().is_err());
        p.finished(&[seq("a", 1)], &Ok(()));
        assert!(matches!(rx.try_recv(), Ok(Ok(()))));
        assert!(matches!(p.check(&seq("a", 1)), Check::Duplicate));
    }

    #[test]
    fn a_failed_original_is_not_committed() {
        let mut p = Producers::default();
        assert!(matches!(p.check(&seq("a", 1)), Check::New));
        let Check::InFlight(mut rx) = p.check(&seq("a", 1)) else {
            panic!("expected in flight");
        };
        p.finished(&[seq("a", 1)], &Err(BrokerError::ShuttingDown));
        assert!(matches!(rx.try_recv(), Ok(Err(_))));
        assert!(matches!(p.check(&seq("a", 1)), Check::New));
    }

    #[test]
    fn out_of_order_commits_keep_the_highest() {
        let mut p = Producers::default();
        for s in 1..=3 {
            assert!(matches!(p.check(&seq("a", s)), Check::New));
        }
        p.finished(&[seq("a", 3)], &Ok(()));
        p.finished(&[seq("a", 1), seq("a", 2)], &Ok(()));
        assert!(matches!(p.check(&seq("a", 3)), Check::Duplicate));
        assert!(matches!(p.check(&seq("a", 4)), Check::New));
    }
}
