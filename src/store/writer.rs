//! The group-commit writer: one task owns the write path, drains whatever
//! queued while the previous commit was in flight into one transaction,
//! commits, then completes every waiter. No timer.

use super::cancel::{cancel_out, PendingInserts};
use super::{Store, StoreError, WriteOp};
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
    /// Inserts not yet taken into a batch; tracked only when messages are
    /// dispatched before their commit (`broker.dispatch_before_commit`).
    pending: Option<Arc<PendingInserts>>,
}

impl GroupCommit {
    /// Starts the writer. `capacity` bounds queued waiting requests (the
    /// producers' backpressure); `max_batch_ops` bounds one transaction.
    ///
    /// Every transaction is fenced on the term's epoch. With
    /// `track_inserts`, a delete whose insert is still queued waits for it
    /// (needed when messages are dispatched before they are committed).
    pub fn start(
        store: Arc<dyn Store>,
        term: Term,
        capacity: usize,
        max_batch_ops: usize,
        track_inserts: bool,
    ) -> (GroupCommit, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let side = Arc::new(SideQueue::default());
        let pending = track_inserts.then(Arc::default);
        let batches = Batches {
            rx,
            side: side.clone(),
            pending: pending.clone(),
            max_ops: max_batch_ops.max(1),
        };
        let task = tokio::spawn(run(store, term, batches));
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
                p.taken(&req.ops);
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
            if let Some(p) = &self.pending {
                p.taken(&batch.ops);
            }
            self.take_side_ops(&mut batch.ops);
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
    fn take_side_ops(&self, ops: &mut Vec<WriteOp>) {
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
            Some(p) => p.defer(taken),
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

async fn run(store: Arc<dyn Store>, term: Term, mut batches: Batches) {
    let mut closed = false;
    while let Some(Batch {
        requests,
        mut ops,
        mut ends,
    }) = batches.next(&mut closed).await
    {
        let cancelled = cancel_out(&mut ops, &mut ends);
        if cancelled > 0 {
            crate::metrics::cancelled(cancelled);
        }
        let result = commit_once(&store, &term, &ops).await;
        if requests.len() > 1 && rejected_by_database(&result) {
            // One bad request (say, a body over the server's packet limit)
            // must not fail everybody else's: commit each on its own.
            let mut start = 0;
            for (r, end) in requests.into_iter().zip(ends) {
                (r.done)(commit_once(&store, &term, &ops[start..end]).await);
                start = end;
            }
            if let Err(e) = commit_once(&store, &term, &ops[start..]).await {
                tracing::error!(error = %e, "acknowledgement and expiry writes failed");
            }
            continue;
        }
        for r in requests {
            (r.done)(result.clone());
        }
    }
    tracing::debug!("group-commit writer stopped");
}

/// True when the database itself refused the transaction (as opposed to
/// being unreachable, slow, or fencing us off).
fn rejected_by_database(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Database(e)) if matches!(**e, sqlx::Error::Database(_)))
}

/// One fenced transaction, bounded by the commit timeout and abandoned when
/// the term ends.
async fn commit_once(
    store: &Arc<dyn Store>,
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
