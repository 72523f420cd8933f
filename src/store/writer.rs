//! The group-commit writer: one task owns the write path, drains whatever
//! queued while the previous commit was in flight into one transaction,
//! commits, then completes every waiter. No timer.

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
}

impl GroupCommit {
    /// Starts the writer. `capacity` bounds queued waiting requests (the
    /// producers' backpressure); `max_batch_ops` bounds one transaction.
    ///
    /// Every transaction is fenced on the term's epoch.
    pub fn start(
        store: Arc<dyn Store>,
        term: Term,
        capacity: usize,
        max_batch_ops: usize,
    ) -> (GroupCommit, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let side = Arc::new(SideQueue::default());
        let task = tokio::spawn(run(store, term, rx, side.clone(), max_batch_ops.max(1)));
        (GroupCommit { tx, side }, task)
    }

    /// Queues ops that must commit before `done` runs. Waits while the queue
    /// is full.
    pub async fn submit(&self, ops: Vec<WriteOp>, done: Completion) {
        if let Err(mpsc::error::SendError(req)) = self.tx.send(Request { ops, done }).await {
            (req.done)(Err(StoreError::Closed));
        }
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

async fn run(
    store: Arc<dyn Store>,
    term: Term,
    mut rx: mpsc::Receiver<Request>,
    side: Arc<SideQueue>,
    max_batch_ops: usize,
) {
    let mut closed = false;
    loop {
        let mut requests = Vec::new();
        if !closed {
            tokio::select! {
                biased;
                r = rx.recv() => match r {
                    Some(r) => requests.push(r),
                    None => closed = true,
                },
                _ = side.notify.notified() => {}
            }
        }
        // All ops of the batch in one vector; `ends[i]` is where request i's
        // ops end (the side queue's ops come last).
        let mut ops: Vec<WriteOp> = Vec::new();
        let mut ends = Vec::new();
        for r in requests.iter_mut() {
            ops.append(&mut r.ops);
            ends.push(ops.len());
        }
        while !closed && ops.len() < max_batch_ops {
            match rx.try_recv() {
                Ok(mut r) => {
                    ops.append(&mut r.ops);
                    ends.push(ops.len());
                    requests.push(r);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        if let Ok(mut q) = side.ops.lock() {
            // Bounded too: a long transaction holds the lock row's share
            // lock (and delays the lease renewal) for as long as it runs.
            let room = max_batch_ops.saturating_sub(ops.len()).max(1);
            if q.len() <= room {
                ops.append(&mut q);
            } else {
                ops.extend(q.drain(..room));
                side.notify.notify_one();
            }
        }
        if ops.is_empty() && requests.is_empty() {
            if closed {
                break;
            }
            continue;
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
