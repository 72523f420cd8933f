//! The group-commit writer: one task owns the write path, drains whatever
//! queued while the previous commit was in flight into one transaction,
//! commits, then completes every waiter. No timer.

use super::{Store, StoreError, WriteOp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// Counters the writer keeps about itself.
#[derive(Default, Debug)]
pub struct WriterStats {
    pub transactions: AtomicU64,
    pub ops: AtomicU64,
    pub failures: AtomicU64,
}

/// Handle to the writer task. Cloneable; the task ends (after flushing)
/// when every handle is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Request>,
    side: Arc<SideQueue>,
    stats: Arc<WriterStats>,
}

impl GroupCommit {
    /// Starts the writer. `capacity` bounds queued waiting requests (the
    /// producers' backpressure); `max_batch_ops` bounds one transaction.
    ///
    /// Every transaction is fenced on `epoch`; when the store reports the
    /// epoch is over, `fenced` is cancelled so the node demotes.
    pub fn start(
        store: Arc<dyn Store>,
        epoch: i64,
        capacity: usize,
        max_batch_ops: usize,
        fenced: CancellationToken,
    ) -> (GroupCommit, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let side = Arc::new(SideQueue::default());
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(
            Fence {
                store,
                epoch,
                fenced,
            },
            rx,
            side.clone(),
            stats.clone(),
            max_batch_ops.max(1),
        ));
        (GroupCommit { tx, side, stats }, task)
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

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// The store and the term every commit is fenced on.
struct Fence {
    store: Arc<dyn Store>,
    epoch: i64,
    fenced: CancellationToken,
}

async fn run(
    fence: Fence,
    mut rx: mpsc::Receiver<Request>,
    side: Arc<SideQueue>,
    stats: Arc<WriterStats>,
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
        let mut ops: Vec<WriteOp> = Vec::new();
        for r in requests.iter_mut() {
            ops.append(&mut r.ops);
        }
        while !closed && ops.len() < max_batch_ops {
            match rx.try_recv() {
                Ok(mut r) => {
                    ops.append(&mut r.ops);
                    requests.push(r);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        if let Ok(mut q) = side.ops.lock() {
            ops.append(&mut q);
        }
        if ops.is_empty() && requests.is_empty() {
            if closed {
                break;
            }
            continue;
        }
        let result = if ops.is_empty() {
            Ok(())
        } else {
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            stats.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
            fence.store.commit(fence.epoch, &ops).await
        };
        if let Err(e) = &result {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, ops = ops.len(), "group commit failed");
            if matches!(e, StoreError::Fenced { .. }) {
                fence.fenced.cancel();
            }
        }
        for r in requests {
            (r.done)(result.clone());
        }
    }
    tracing::debug!("group-commit writer stopped");
}
