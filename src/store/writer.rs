//! The group-commit writer: one task owns the write path, drains whatever
//! queued while the previous commit was in flight into one transaction,
//! commits, then completes every waiter. No timer.
//!
//! Up to `pipeline` transactions run at once, each on its own pooled
//! connection; their waiters are completed strictly in batch order, so a
//! message is never routed before one sent earlier. That is safe because
//! ops of different batches do not depend on each other: a message is
//! routed (and so acknowledged, moved, ...) only after its insert
//! committed, and when it is dispatched earlier the ops on it wait for
//! its insert's batch ([`PendingInserts`]). Durable-subscription ops, whose
//! order matters across batches, run alone with nothing else in flight.

use super::cancel::{cancel_out, inserted_ids, PendingInserts};
use super::{MessageStore, StoreError, WriteOp};
use futures::stream::{FuturesOrdered, StreamExt};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Called once with the outcome of the transaction that carried the ops.
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Request {
    ops: Vec<WriteOp>,
    done: Completion,
}

/// Ops nobody waits for (acknowledgement deletes, expiry, dead-lettering).
/// Bounded by construction: each stored message yields at most a few.
#[derive(Default)]
struct SideQueue {
    ops: Mutex<Vec<WriteOp>>,
    notify: Notify,
}

/// Handle to the writer task. Cloneable; the task ends (after flushing)
/// when every handle is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Request>,
    side: Arc<SideQueue>,
    /// Inserts not yet committed; tracked only when messages are
    /// dispatched before their commit (`broker.dispatch_before_commit`).
    pending: Option<Arc<PendingInserts>>,
}

/// How the writer batches and commits.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests queued before producers wait (backpressure).
    pub capacity: usize,
    /// Most ops in one transaction.
    pub max_batch_ops: usize,
    /// Transactions in flight at once (1 = strictly one after another).
    pub pipeline: usize,
    /// Track inserts until they commit, so messages may be dispatched
    /// before their commit.
    pub track_inserts: bool,
}

impl GroupCommit {
    /// Starts the writer. Every transaction is fenced on the term's epoch.
    pub fn start(
        store: Arc<dyn MessageStore>,
        term: Term,
        config: WriterConfig,
    ) -> (GroupCommit, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let side = Arc::new(SideQueue::default());
        let pending = config.track_inserts.then(Arc::default);
        let batches = Batches {
            rx,
            side: side.clone(),
            pending: pending.clone(),
            max_ops: config.max_batch_ops.max(1),
        };
        let task = tokio::spawn(run(store, term, batches, config.pipeline.max(1)));
        (GroupCommit { tx, side, pending }, task)
    }

    /// Queues ops that must commit before `done` runs. Waits while the queue
    /// is full. Once it returns, the ops are queued: a delete pushed after
    /// that never reaches the database before them.
    pub async fn submit(&self, ops: Vec<WriteOp>, done: Completion) {
        if let Some(p) = &self.pending {
            p.submitted(&ops);
        }
        if let Err(mpsc::error::SendError(req)) = self.tx.send(Request { ops, done }).await {
            if let Some(p) = &self.pending {
                p.finished(&inserted_ids(&req.ops));
            }
            (req.done)(Err(StoreError::Closed));
        }
    }

    /// True when deletes wait for their still-queued inserts, so messages
    /// may be dispatched before they are committed.
    pub fn tracks_inserts(&self) -> bool {
        self.pending.is_some()
    }

    /// Queues ops nobody waits for; they ride along with the next commit.
    pub fn push(&self, ops: Vec<WriteOp>) {
        if ops.is_empty() {
            return;
        }
        if let Ok(mut q) = self.side.ops.lock() {
            q.extend(ops);
        }
        self.side.notify.notify_one();
    }
}

/// The master term the writer commits for.
#[derive(Debug, Clone)]
pub struct Term {
    /// Every transaction is fenced on this epoch.
    pub epoch: i64,
    /// Cancelled by the writer when the store reports the epoch is over, so
    /// the node demotes.
    pub fenced: CancellationToken,
    /// Cancelled by the node when the term ends (not on a graceful stop):
    /// the commit in flight is abandoned and every queued request fails at
    /// once, so demotion never waits on an unreachable database.
    pub over: CancellationToken,
    /// Longest one group commit may take before it counts as failed.
    pub commit_timeout: Duration,
}

/// Where the writer's batches come from.
struct Batches {
    rx: mpsc::Receiver<Request>,
    side: Arc<SideQueue>,
    pending: Option<Arc<PendingInserts>>,
    max_ops: usize,
}

/// One transaction's worth of work: the waiting requests and every op,
/// `ends[i]` being where request i's ops end (the side queue's come last).
struct Batch {
    requests: Vec<Request>,
    ops: Vec<WriteOp>,
    ends: Vec<usize>,
    /// Ids this batch inserts (tracked only with early dispatch).
    inserted: HashSet<i64>,
}

impl Batches {
    /// Waits for work and drains whatever else is queued into one batch;
    /// `None` once every handle is gone and everything was flushed.
    async fn next(&mut self, closed: &mut bool) -> Option<Batch> {
        loop {
            let mut batch = Batch {
                requests: Vec::new(),
                ops: Vec::new(),
                ends: Vec::new(),
                inserted: HashSet::new(),
            };
            if !*closed {
                tokio::select! {
                    biased;
                    r = self.rx.recv() => match r {
                        Some(r) => batch.add(r),
                        None => *closed = true,
                    },
                    _ = self.side.notify.notified() => {}
                }
            }
            while !*closed && batch.ops.len() < self.max_ops {
                match self.rx.try_recv() {
                    Ok(r) => batch.add(r),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => *closed = true,
                }
            }
            if self.pending.is_some() {
                batch.inserted = inserted_ids(&batch.ops);
            }
            self.take_side_ops(&mut batch.ops, &batch.inserted);
            if !batch.ops.is_empty() || !batch.requests.is_empty() {
                return Some(batch);
            }
            if *closed {
                return None;
            }
        }
    }

    /// Appends the side queue's ops, bounded too: a long transaction holds
    /// the lock row's share lock (and delays the lease renewal) for as long
    /// as it runs. Deletes of inserts still queued stay for a later batch.
    fn take_side_ops(&self, ops: &mut Vec<WriteOp>, inserted: &HashSet<i64>) {
        let Ok(mut q) = self.side.ops.lock() else {
            return;
        };
        let room = self.max_ops.saturating_sub(ops.len()).max(1);
        let taken: Vec<WriteOp> = if q.len() <= room {
            std::mem::take(&mut *q)
        } else {
            self.side.notify.notify_one();
            q.drain(..room).collect()
        };
        let (now, later) = match &self.pending {
            Some(p) => p.defer(taken, inserted),
            None => (taken, Vec::new()),
        };
        ops.extend(now);
        if !later.is_empty() {
            let rest = std::mem::replace(&mut *q, later);
            q.extend(rest);
        }
    }
}

impl Batch {
    fn add(&mut self, mut r: Request) {
        self.ops.append(&mut r.ops);
        self.ends.push(self.ops.len());
        self.requests.push(r);
    }
}

impl Batch {
    /// Ops whose order against other batches matters: such a batch runs
    /// alone.
    /// Whether the batch must commit alone, after every earlier batch.
    /// Besides durable-subscription ops, a producer's sequence mark: were
    /// it committed before an earlier batch holding that producer's lower
    /// sequences and that batch then failed (the master died), the next
    /// master would take the resends of those messages for duplicates and
    /// confirm them without storing them (found by the chaos soak,
    /// tests/chaos.rs).
    fn is_barrier(&self) -> bool {
        self.ops.iter().any(|op| {
            matches!(
                op,
                WriteOp::DurableSave { .. }
                    | WriteOp::DurableAck { .. }
                    | WriteOp::DurableDelete { .. }
                    | WriteOp::Producer(_)
            )
        })
    }
}

/// A committed (or failed) batch's waiters with their outcomes, in order.
type Outcomes = Vec<(Completion, Result<(), StoreError>)>;

async fn run(store: Arc<dyn MessageStore>, term: Term, mut batches: Batches, pipeline: usize) {
    let mut closed = false;
    let mut in_flight = FuturesOrdered::new();
    loop {
        let room = in_flight.len() < pipeline;
        tokio::select! {
            biased;
            Some(outcomes) = in_flight.next(), if !in_flight.is_empty() => {
                complete(&batches, outcomes);
            }
            batch = batches.next(&mut closed), if room => {
                let Some(batch) = batch else { break };
                if batch.is_barrier() {
                    while let Some(outcomes) = in_flight.next().await {
                        complete(&batches, outcomes);
                    }
                    let outcomes = commit_batch(store.clone(), term.clone(), batch, batches.pending.clone()).await;
                    complete(&batches, outcomes);
                } else {
                    in_flight.push_back(commit_batch(store.clone(), term.clone(), batch, batches.pending.clone()));
                }
            }
        }
    }
    while let Some(outcomes) = in_flight.next().await {
        complete(&batches, outcomes);
    }
    // Ops deferred for the batches just finished.
    while let Some(batch) = batches.next(&mut closed).await {
        let outcomes =
            commit_batch(store.clone(), term.clone(), batch, batches.pending.clone()).await;
        complete(&batches, outcomes);
    }
    tracing::debug!("group-commit writer stopped");
}

/// Runs the waiters of one finished batch, then wakes the writer if ops
/// deferred for it wait in the side queue.
fn complete(batches: &Batches, outcomes: Outcomes) {
    for (done, result) in outcomes {
        done(result);
    }
    if batches.pending.is_some() && batches.side.ops.lock().is_ok_and(|q| !q.is_empty()) {
        batches.side.notify.notify_one();
    }
}

/// Commits one batch (each request on its own if the database rejects the
/// whole) and returns its waiters with their outcomes.
async fn commit_batch(
    store: Arc<dyn MessageStore>,
    term: Term,
    batch: Batch,
    pending: Option<Arc<PendingInserts>>,
) -> Outcomes {
    let Batch {
        requests,
        mut ops,
        mut ends,
        inserted,
    } = batch;
    let cancelled = cancel_out(&mut ops, &mut ends);
    if cancelled > 0 {
        crate::metrics::cancelled(cancelled);
    }
    let result = commit_once(&store, &term, &ops).await;
    let outcomes: Outcomes = if requests.len() > 1 && rejected_by_database(&result) {
        // One bad request (say, a body over the server's packet limit)
        // must not fail everybody else's: commit each on its own.
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut start = 0;
        for (r, end) in requests.into_iter().zip(ends) {
            outcomes.push((r.done, commit_once(&store, &term, &ops[start..end]).await));
            start = end;
        }
        if let Err(e) = commit_once(&store, &term, &ops[start..]).await {
            tracing::error!(error = %e, "acknowledgement and expiry writes failed");
        }
        outcomes
    } else {
        requests
            .into_iter()
            .map(|r| (r.done, result.clone()))
            .collect()
    };
    if let Some(p) = pending {
        p.finished(&inserted);
    }
    outcomes
}

/// True when the database itself refused the transaction (as opposed to
/// being unreachable, slow, or fencing us off).
fn rejected_by_database(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Database(e)) if matches!(**e, sqlx::Error::Database(_)))
}

/// One fenced transaction, bounded by the commit timeout and abandoned when
/// the term ends.
async fn commit_once(
    store: &Arc<dyn MessageStore>,
    term: &Term,
    ops: &[WriteOp],
) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Ok(());
    }
    if term.over.is_cancelled() {
        return Err(StoreError::Closed);
    }
    let started = std::time::Instant::now();
    let result = tokio::select! {
        biased;
        _ = term.over.cancelled() => Err(StoreError::Closed),
        r = tokio::time::timeout(term.commit_timeout, store.commit(term.epoch, ops)) => {
            r.unwrap_or(Err(StoreError::Timeout(term.commit_timeout.as_millis() as u64)))
        }
    };
    crate::metrics::commit(ops.len(), started.elapsed(), result.is_ok());
    match &result {
        Ok(()) | Err(StoreError::Closed) => {}
        Err(e) => {
            tracing::error!(error = %e, ops = ops.len(), "group commit failed");
            if matches!(e, StoreError::Fenced { .. }) {
                term.fenced.cancel();
            }
        }
    }
    result
}
