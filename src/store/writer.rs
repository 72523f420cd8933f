//! The group-commit writer: one task owns the write path, drains whatever
//! queued while the previous commit was in flight into one transaction,
//! commits, then completes every waiter. No timer.
//!
//! Up to `pipeline` transactions run at once, each on its own pooled
//! connection, and they commit strictly in batch order: a batch runs its
//! statements at once, then waits for its [`CommitTurn`], the outcome of
//! the batch before it, and commits only if that one committed in full
//! (its producer marks, the fencing read and COMMIT come after the wait;
//! `plan.rs` says why). Otherwise it rolls back and is committed again
//! once that outcome is known, when the failed sends' producers are known:
//! a producer's mark is never committed over a send of its that failed
//! ([`FailedSends`]), or the next master (and this one) would take that
//! send's resend for a duplicate and confirm it without storing it (found
//! by the chaos soak, tests/chaos.rs, when batches committed out of order).
//! A later send of that producer over the same connection fails too (the
//! client resends it after the failed one; stored without its mark, its
//! resend would be stored twice, which the soak found as well), unless the
//! connection stays open after a failed send (OpenWire,
//! [`GroupCommit::keeps_open_after_failed_sends`]): nobody resends those. The same
//! holds when the database rejects a whole batch and each request is
//! committed on its own: a failed one bounds its producer's marks in the
//! requests after it. A batch marking a producer with a failed send starts
//! after every batch in flight, so it is decided on their outcomes.
//!
//! Waiters are completed in batch order, so a message is never routed
//! before one sent earlier. Ops of different batches do not depend on each
//! other: a message is routed (and so acknowledged, moved, ...) only after
//! its insert committed, and when it is dispatched earlier the ops on it
//! wait for its insert's batch ([`PendingInserts`]). A batch that updates
//! or deletes a message a batch in flight also touches starts after it
//! (else it could lock that row first and then wait for the earlier batch,
//! which waits for the row); durable-subscription ops, whose order matters
//! across batches, and spill deletes (row ranges) run alone with nothing
//! else in flight.

use super::cancel::{cancel_out, inserted_ids, PendingInserts};
use super::plan::TurnOutcome;
use super::{CommitTurn, MessageStore, StoreError, WriteOp};
use crate::message::{FailedSeqs, ProducerSeq};
use futures::stream::{FuturesOrdered, StreamExt};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Shared with the writer task: failed sends known outside it too.
    failed: Arc<FailedSends>,
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
    /// Longest a batch waits for more requests when the batches before it
    /// were shared by several producers (zero: never; see [`CommitWait`]).
    pub commit_wait: Duration,
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
            wait: CommitWait::new(config.commit_wait),
        };
        let failed = Arc::<FailedSends>::default();
        let task = tokio::spawn(run(
            store,
            term,
            batches,
            failed.clone(),
            config.pipeline.max(1),
        ));
        (
            GroupCommit {
                tx,
                side,
                failed,
                pending,
            },
            task,
        )
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

    /// A resend of `producer`'s send (still being committed) arrived from
    /// connection `origin` and waits for it. Should that send fail, the
    /// resend fails with it, and `origin` counts as a connection the send
    /// failed on: its later sends of the producer fail too (its client
    /// resends them after the failed one). Call it before submitting
    /// anything else of that connection.
    pub fn resend_waiting(&self, producer: &ProducerSeq, origin: u64) {
        self.failed
            .waiting()
            .entry((producer.id.clone(), producer.seq))
            .or_default()
            .push(origin);
    }

    /// The resends `sends` (sequence, connection) got their original's
    /// outcome, `failed` or not: from a [`Completion`], so before the
    /// writer decides another batch. Covers a resend that came after the
    /// writer had settled its original, too late for
    /// [`GroupCommit::resend_waiting`].
    pub fn resends_answered(&self, sends: &[(ProducerSeq, u64)], failed: bool) {
        let mut book = self.failed.lock();
        for (p, origin) in sends {
            self.failed.settle_waiting(&p.id, p.seq);
            if failed {
                self.failed.failed(&mut book, &p.id, p.seq, *origin);
            }
        }
    }

    /// Connection `origin` stays open after a failed send (the client is
    /// told that send failed and carries on): its later sends are not
    /// failed with it. Until [`GroupCommit::connection_closed`].
    pub fn keeps_open_after_failed_sends(&self, origin: u64) {
        self.failed.keep_open().insert(origin);
    }

    /// Connection `origin` is gone.
    pub fn connection_closed(&self, origin: u64) {
        self.failed.keep_open().remove(&origin);
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
    wait: CommitWait,
}

/// When a batch waits a little for more requests (`database.commit_wait_us`).
///
/// Synchronous producers fall into cohorts: while one commit runs, the
/// producers it does not hold queue their next send; the ones it confirms
/// are still answering their receipts when the next batch is taken, so
/// they miss it, and 16 producers make batches of about 8, each paying a
/// whole commit (PostgreSQL's `commit_delay` answers the same problem).
/// When the recent batches held several requests (at least
/// [`CommitWait::SIBLINGS`]), a batch waits up to the configured time for
/// as many requests as the largest of them, so the confirmed producers
/// join it. A lone producer never waits.
#[derive(Debug, Clone)]
struct CommitWait {
    max: Duration,
    /// Requests in the most recent batches, newest last.
    recent: VecDeque<usize>,
}

impl CommitWait {
    /// Batches remembered.
    const WINDOW: usize = 8;
    /// Fewest requests in a recent batch for the next one to wait.
    const SIBLINGS: usize = 4;

    fn new(max: Duration) -> CommitWait {
        CommitWait {
            max,
            recent: VecDeque::with_capacity(Self::WINDOW),
        }
    }

    /// How many requests a batch holding `have` should wait for, if any.
    fn target(&self, have: usize) -> Option<usize> {
        if self.max.is_zero() {
            return None;
        }
        let most = self.recent.iter().copied().max().unwrap_or(0);
        (most >= Self::SIBLINGS && have < most).then_some(most)
    }

    /// Records the requests of a batch taken.
    fn taken(&mut self, requests: usize) {
        if self.recent.len() == Self::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(requests);
    }
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
            if let Some(target) = self.wait.target(batch.requests.len()) {
                let until = tokio::time::Instant::now() + self.wait.max;
                while !*closed && batch.ops.len() < self.max_ops && batch.requests.len() < target {
                    match tokio::time::timeout_at(until, self.rx.recv()).await {
                        Ok(Some(r)) => batch.add(r),
                        Ok(None) => *closed = true,
                        Err(_) => break,
                    }
                }
            }
            if !batch.requests.is_empty() {
                self.wait.taken(batch.requests.len());
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
    /// Whether the batch must commit alone, after every earlier batch:
    /// durable-subscription ops, whose order matters across batches (an
    /// acknowledgement run before the save it follows would change
    /// nothing), and spill deletes, which lock a range of rows.
    fn runs_alone(&self) -> bool {
        self.ops.iter().any(|op| {
            matches!(
                op,
                WriteOp::DurableSave { .. }
                    | WriteOp::DurableAck { .. }
                    | WriteOp::DurableDelete { .. }
                    | WriteOp::DeleteSpilled { .. }
            )
        })
    }

    /// The stored messages the batch updates or deletes. A batch that
    /// shares one with a batch in flight starts after it: run at once, the
    /// later batch could lock the row first and then wait for the earlier
    /// one's commit, which waits for that row.
    fn touched(&self) -> HashSet<i64> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Delete(id)
                | WriteOp::SetRedeliveries { id, .. }
                | WriteOp::Move { id, .. }
                | WriteOp::Reschedule { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }
}

/// A committed (or failed) batch's waiters with their outcomes, in order.
type Outcomes = Vec<(Completion, Result<(), StoreError>)>;

/// One producer's sends that failed and were not stored since, and the
/// connections they came from.
#[derive(Default, Clone)]
struct Failed {
    seqs: FailedSeqs,
    origins: HashSet<u64>,
}

/// Per producer, the sends that failed and were not stored since. No
/// producer mark over the lowest is committed, or the next master (and
/// this one) would take that send's resend for a duplicate and confirm it
/// without storing it. A later send of the producer from the connection a
/// send failed on is failed too: the client resends it after the failed
/// one anyway (the ERROR closes that connection, and its RECEIPT would be
/// lost with it), so it is stored once, under its mark. One from another
/// connection (the client gave up on the failed send), or from one that
/// stays open after a failed send (OpenWire: the client was told, and its
/// later sends are new ones), is stored without its mark: its resend would
/// be stored again rather than lost.
#[derive(Default)]
struct FailedSends {
    failed: Mutex<HashMap<Arc<str>, Failed>>,
    /// Connections that stay open after a failed send (OpenWire: the
    /// client gets an exception and carries on), so their later sends are
    /// not failed: nobody resends them.
    keep_open: Mutex<HashSet<u64>>,
    /// Resends waiting for an original still being committed, by producer
    /// and sequence: the connections they came from. If the original
    /// fails, they fail with it, so their connections count as ones the
    /// send failed on, from the moment the original's failure is known
    /// here (in the same batch too).
    waiting: Mutex<Waiting>,
}

/// Resends waiting for their original: (producer, sequence) -> the
/// connections they came from.
type Waiting = HashMap<(Arc<str>, i64), Vec<u64>>;

/// Whether connection `origin`'s client resends a failed send and every
/// later one (so those later sends fail with it): not for an unknown
/// origin (0) or one that stays open after a failed send (`keep_open`).
fn resends_after_failure(origin: u64, keep_open: &HashSet<u64>) -> bool {
    origin != 0 && !keep_open.contains(&origin)
}

/// The connection a request's messages came from (0 if unknown, say a
/// persistent send to a topic without durable subscribers, which inserts
/// nothing: never counted as a connection a send failed on).
fn origin_of(ops: &[WriteOp]) -> u64 {
    ops.iter()
        .find_map(|op| match op {
            WriteOp::Insert(m) => Some(m.origin),
            _ => None,
        })
        .unwrap_or(0)
}

/// The sequences of `producer` that `ops` mark.
fn marks_of(ops: &[WriteOp], producer: &str) -> Vec<i64> {
    ops.iter()
        .filter_map(|op| match op {
            WriteOp::Producer(p) if &*p.id == producer => Some(p.seq),
            _ => None,
        })
        .collect()
}

/// What to commit of a batch, given the failed sends.
struct Decided<'a> {
    /// The ops to commit: the requests not refused (without the marks a
    /// failed send bounds), then the side ops.
    ops: Cow<'a, [WriteOp]>,
    /// Per request: failed without being committed.
    refused: Vec<bool>,
}

impl FailedSends {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Failed>> {
        self.failed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep_open(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.keep_open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connections of the resends waiting for `producer`'s `seq`,
    /// forgotten: that send's outcome is known.
    fn settle_waiting(&self, producer: &Arc<str>, seq: i64) -> Vec<u64> {
        let mut waiting = self.waiting();
        if waiting.is_empty() {
            return Vec::new();
        }
        waiting.remove(&(producer.clone(), seq)).unwrap_or_default()
    }

    /// Origins a failure of `producer`'s `seq` fails too, besides its own:
    /// the resends waiting for it (unknown and kept-open ones excepted).
    fn waiting_origins(&self, producer: &Arc<str>, seq: i64) -> Vec<u64> {
        let waiting = self.waiting();
        if waiting.is_empty() {
            return Vec::new();
        }
        let keep_open = self.keep_open();
        waiting
            .get(&(producer.clone(), seq))
            .map(|origins| {
                origins
                    .iter()
                    .copied()
                    .filter(|&o| resends_after_failure(o, &keep_open))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records that `producer`'s send `seq` from connection `origin`
    /// failed (an unknown origin, 0, or one kept open fails nothing else).
    fn failed(
        &self,
        failed: &mut HashMap<Arc<str>, Failed>,
        producer: &Arc<str>,
        seq: i64,
        origin: u64,
    ) {
        let f = failed.entry(producer.clone()).or_default();
        f.seqs.failed(seq);
        if resends_after_failure(origin, &self.keep_open()) {
            f.origins.insert(origin);
        }
    }

    /// Whether `ops` mark a producer with a failed send.
    fn involves(&self, ops: &[WriteOp]) -> bool {
        let failed = self.lock();
        !failed.is_empty()
            && ops
                .iter()
                .any(|op| matches!(op, WriteOp::Producer(p) if failed.contains_key(&p.id)))
    }

    /// Decides, request by request in order (`ranges` of `ops`; `side`
    /// the ops nobody waits for), what to commit: a request marking a
    /// producer over a failed send that neither it nor an earlier request
    /// here stores is refused when it comes from a connection a send of
    /// that producer failed on, else committed without those marks.
    fn decide<'a>(
        &self,
        ops: &'a [WriteOp],
        ranges: &[Range<usize>],
        side: Range<usize>,
    ) -> Decided<'a> {
        let failed = self.lock();
        let involved = !failed.is_empty()
            && ops
                .iter()
                .any(|op| matches!(op, WriteOp::Producer(p) if failed.contains_key(&p.id)));
        if !involved {
            // The ranges are consecutive, and the side ops follow them.
            let start = ranges.first().map_or(side.start, |r| r.start);
            let end = if side.is_empty() {
                ranges.last().map_or(start, |r| r.end)
            } else {
                side.end
            };
            return Decided {
                ops: Cow::Borrowed(&ops[start..end]),
                refused: vec![false; ranges.len()],
            };
        }
        // What the failed sends will be if this batch commits, and the
        // connections whose resends wait for a send refused here.
        let mut after: HashMap<Arc<str>, FailedSeqs> = HashMap::new();
        let mut refused_origins: HashMap<Arc<str>, HashSet<u64>> = HashMap::new();
        let mut out = Vec::with_capacity(ops.len());
        let mut refused = Vec::with_capacity(ranges.len());
        for range in ranges {
            let mine = &ops[range.clone()];
            let origin = origin_of(mine);
            let mut refuse = false;
            let mut caps: HashMap<&str, i64> = HashMap::new();
            for op in mine {
                let WriteOp::Producer(p) = op else { continue };
                let Some(f) = failed.get(&p.id) else { continue };
                let now = after.entry(p.id.clone()).or_insert_with(|| f.seqs.clone());
                let seqs = marks_of(mine, &p.id);
                if let Some(cap) = now.cap_storing(&seqs) {
                    if seqs.iter().any(|&s| s > cap) {
                        let failed_here = refused_origins
                            .get(&p.id)
                            .is_some_and(|o| o.contains(&origin));
                        if f.origins.contains(&origin) || failed_here {
                            refuse = true;
                        } else {
                            caps.insert(&p.id, cap);
                        }
                    }
                }
            }
            for op in mine {
                let WriteOp::Producer(p) = op else {
                    if !refuse {
                        out.push(op.clone());
                    }
                    continue;
                };
                if let Some(now) = after.get_mut(&p.id) {
                    if refuse {
                        now.failed(p.seq);
                        refused_origins
                            .entry(p.id.clone())
                            .or_default()
                            .extend(self.waiting_origins(&p.id, p.seq));
                    } else {
                        now.stored(p.seq);
                    }
                }
                if !refuse && caps.get(&*p.id).is_none_or(|&cap| p.seq <= cap) {
                    out.push(op.clone());
                }
            }
            refused.push(refuse);
        }
        out.extend_from_slice(&ops[side]);
        Decided {
            ops: Cow::Owned(out),
            refused,
        }
    }

    /// Records the outcome of one request's sends (and of the resends
    /// waiting for them).
    fn record(&self, ops: &[WriteOp], result: &Result<(), StoreError>) {
        let mut failed = self.lock();
        for op in ops {
            let WriteOp::Producer(p) = op else { continue };
            let waiting = self.settle_waiting(&p.id, p.seq);
            if result.is_err() {
                self.failed(&mut failed, &p.id, p.seq, origin_of(ops));
                for origin in waiting {
                    self.failed(&mut failed, &p.id, p.seq, origin);
                }
            } else if let Some(f) = failed.get_mut(&p.id) {
                f.seqs.stored(p.seq);
                if f.seqs.is_empty() {
                    failed.remove(&p.id);
                }
            }
        }
    }
}

/// What every commit of one writer shares.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn MessageStore>,
    term: Term,
    pending: Option<Arc<PendingInserts>>,
    failed: Arc<FailedSends>,
    side: Arc<SideQueue>,
    /// Set once every handle is gone: the writer flushes what is queued
    /// and stops, so nothing is queued again.
    stopping: Arc<AtomicBool>,
}

impl Shared {
    /// Queues the deletes among `ops` (acknowledged messages) again after
    /// their commit failed while this node stays master: dropped, their
    /// rows would stay until the next failover while this master believes
    /// them gone. Without waking the writer: they ride along with the next
    /// commit (a database that fails at once is not hammered). A delete is
    /// idempotent, so committing it later is safe; the other side ops are
    /// not retried (a later redelivery count may have been written since).
    fn requeue_deletes(&self, ops: &[WriteOp], error: &StoreError) {
        if self.term.over.is_cancelled()
            || self.stopping.load(Ordering::Relaxed)
            || matches!(error, StoreError::Fenced { .. } | StoreError::Closed)
        {
            return;
        }
        let deletes: Vec<WriteOp> = ops
            .iter()
            .filter(|op| matches!(op, WriteOp::Delete(_)))
            .cloned()
            .collect();
        if deletes.is_empty() {
            return;
        }
        if let Ok(mut q) = self.side.ops.lock() {
            q.extend(deletes);
        }
    }
}

async fn run(
    store: Arc<dyn MessageStore>,
    term: Term,
    mut batches: Batches,
    failed: Arc<FailedSends>,
    pipeline: usize,
) {
    let shared = Shared {
        store,
        term,
        pending: batches.pending.clone(),
        failed,
        side: batches.side.clone(),
        stopping: Arc::default(),
    };
    let mut closed = false;
    let mut in_flight = FuturesOrdered::new();
    // The messages each batch in flight touches, in batch order.
    let mut touched: VecDeque<HashSet<i64>> = VecDeque::new();
    // The turn of the batch after the last one started.
    let mut next_turn = CommitTurn::now();
    loop {
        let room = in_flight.len() < pipeline;
        tokio::select! {
            biased;
            Some(outcomes) = in_flight.next(), if !in_flight.is_empty() => {
                touched.pop_front();
                complete(&batches, outcomes);
            }
            batch = batches.next(&mut closed), if room => {
                if closed {
                    shared.stopping.store(true, Ordering::Relaxed);
                }
                let Some(batch) = batch else { break };
                let alone = batch.runs_alone();
                let ids = batch.touched();
                // A producer with a failed send: decided on every earlier
                // outcome.
                let after_all = shared.failed.involves(&batch.ops);
                if alone || after_all || touched.iter().any(|t| !t.is_disjoint(&ids)) {
                    while let Some(outcomes) = in_flight.next().await {
                        complete(&batches, outcomes);
                    }
                    touched.clear();
                }
                let turn = if in_flight.is_empty() {
                    CommitTurn::now()
                } else {
                    std::mem::take(&mut next_turn)
                };
                let (outcome, after) = CommitTurn::next();
                next_turn = after;
                let commit = commit_batch(shared.clone(), batch, turn, outcome);
                if alone {
                    let outcomes = commit.await;
                    complete(&batches, outcomes);
                } else {
                    touched.push_back(ids);
                    in_flight.push_back(commit);
                }
            }
        }
    }
    while let Some(outcomes) = in_flight.next().await {
        complete(&batches, outcomes);
    }
    // Ops deferred for the batches just finished.
    while let Some(batch) = batches.next(&mut closed).await {
        let (outcome, _) = CommitTurn::next();
        let outcomes = commit_batch(shared.clone(), batch, CommitTurn::now(), outcome).await;
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

/// Commits one batch in its `turn` and returns its waiters with their
/// outcomes; reports into `outcome` whether every request committed.
///
/// Rolled back because an earlier batch did not commit in full, the batch
/// is committed again once that outcome is known, with the failed sends
/// known by then ([`FailedSends::decide`]). When the database rejects the
/// whole batch, each request is committed on its own (after the turn), so
/// one bad request (say, a body over the server's packet limit) does not
/// fail everybody else's; a failed one bounds its producer's marks in the
/// requests after it.
async fn commit_batch(
    shared: Shared,
    batch: Batch,
    turn: CommitTurn,
    outcome: TurnOutcome,
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
    let mut ranges = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        ranges.push(start..end);
        start = end;
    }
    let side = start..ops.len();
    let (mut refused, mut result) = attempt(&shared, &ops, &ranges, side.clone(), &turn).await;
    // Decided again on the failure before it: the batches after this one
    // were decided before that failure too, so they must not commit as
    // decided either (with three or more in flight, one could commit a
    // mark over the failed send). Reported as not in full, they roll back
    // and are decided again in turn.
    let redecided = matches!(result, Err(StoreError::EarlierFailed));
    if redecided {
        (refused, result) = attempt(&shared, &ops, &ranges, side.clone(), &CommitTurn::now()).await;
    }
    let mut in_full = !redecided;
    let mut outcomes = Vec::with_capacity(requests.len());
    if requests.len() > 1 && rejected_by_database(&result) {
        // The earlier batches' outcomes first: they bound marks too.
        let _ = turn.wait().await;
        for (r, range) in requests.into_iter().zip(ranges) {
            let (refused, result) = attempt(
                &shared,
                &ops,
                std::slice::from_ref(&range),
                0..0,
                &CommitTurn::now(),
            )
            .await;
            let result = if refused[0] {
                Err(StoreError::EarlierSendFailed)
            } else {
                result
            };
            shared.failed.record(&ops[range], &result);
            in_full &= result.is_ok();
            outcomes.push((r.done, result));
        }
        if let Err(e) = commit_once(
            &shared.store,
            &shared.term,
            &ops[side.clone()],
            &CommitTurn::now(),
        )
        .await
        {
            tracing::error!(error = %e, "acknowledgement and expiry writes failed");
            shared.requeue_deletes(&ops[side], &e);
            in_full = false;
        }
    } else {
        for ((r, range), refused) in requests.into_iter().zip(ranges).zip(refused) {
            let result = if refused {
                Err(StoreError::EarlierSendFailed)
            } else {
                result.clone()
            };
            shared.failed.record(&ops[range], &result);
            in_full &= result.is_ok();
            outcomes.push((r.done, result));
        }
        if let Err(e) = &result {
            shared.requeue_deletes(&ops[side], e);
            in_full = false;
        }
    }
    outcome.report(in_full);
    if let Some(p) = &shared.pending {
        p.finished(&inserted);
    }
    outcomes
}

/// Decides what to commit of the requests `ranges` and the side ops `side`
/// of `ops`, and commits it in `turn`: which requests were refused, and
/// the outcome of the rest.
async fn attempt(
    shared: &Shared,
    ops: &[WriteOp],
    ranges: &[Range<usize>],
    side: Range<usize>,
    turn: &CommitTurn,
) -> (Vec<bool>, Result<(), StoreError>) {
    let decided = shared.failed.decide(ops, ranges, side);
    let result = commit_once(&shared.store, &shared.term, &decided.ops, turn).await;
    (decided.refused, result)
}

/// True when the database itself refused the transaction (as opposed to
/// being unreachable, slow, or fencing us off).
fn rejected_by_database(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Database(e)) if matches!(**e, sqlx::Error::Database(_)))
}

/// One fenced transaction in `turn`, abandoned when the term ends, and
/// bounded by the commit timeout counted from when its turn comes (the
/// wait for the batch before it is bounded by that batch's timeout).
async fn commit_once(
    store: &Arc<dyn MessageStore>,
    term: &Term,
    ops: &[WriteOp],
    turn: &CommitTurn,
) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Ok(());
    }
    if term.over.is_cancelled() {
        return Err(StoreError::Closed);
    }
    let started = std::time::Instant::now();
    let deadline = async {
        let _ = turn.wait().await;
        tokio::time::sleep(term.commit_timeout).await;
    };
    let result = tokio::select! {
        biased;
        _ = term.over.cancelled() => Err(StoreError::Closed),
        r = store.commit_in_turn(term.epoch, ops, turn) => r,
        () = deadline => Err(StoreError::Timeout(term.commit_timeout.as_millis() as u64)),
    };
    let result = match result {
        Err(e) if e.in_doubt() => settle(store, term, ops, e).await,
        other => other,
    };
    // A batch rolled back for an earlier one is committed again: counted then.
    if !matches!(result, Err(StoreError::EarlierFailed)) {
        crate::metrics::commit(ops.len(), started.elapsed(), result.is_ok());
    }
    match &result {
        Ok(()) | Err(StoreError::Closed | StoreError::EarlierFailed) => {}
        Err(e) => {
            tracing::error!(error = %e, ops = ops.len(), "group commit failed");
            if matches!(e, StoreError::Fenced { .. }) {
                term.fenced.cancel();
            }
        }
    }
    result
}

/// How long [`read_back`] waits before asking the database again.
const SETTLE_RETRY: Duration = Duration::from_millis(100);

/// Settles a commit in doubt (`error`, see [`StoreError::in_doubt`]) by
/// reading it back ([`read_back`]). Stored, the commit counts as
/// committed: its senders are confirmed, and a resend of theirs is a
/// duplicate, not a second copy. Otherwise it keeps its error; a batch
/// without inserts (acknowledgements, redelivery counts) has nothing to
/// read back: its deletes are queued again, and nobody resends it.
async fn settle(
    store: &Arc<dyn MessageStore>,
    term: &Term,
    ops: &[WriteOp],
    error: StoreError,
) -> Result<(), StoreError> {
    let stored = read_back(store, term, ops).await;
    crate::metrics::commit_in_doubt(match stored {
        Some(true) => "stored",
        Some(false) => "not_stored",
        None => "unsettled",
    });
    if stored == Some(true) {
        tracing::warn!(error = %error, ops = ops.len(), "group commit in doubt: read back, it was committed");
        Ok(())
    } else {
        Err(error)
    }
}

/// Whether the first message `ops` insert is stored, read once every
/// commit of this node still running has ended
/// ([`MessageStore::stored_after_commits`]); asked again until the
/// database answers. `None` when `ops` insert nothing, or the term ends (or
/// is found fenced) first: the next master reads the outcome from the
/// database anyway. The batches after it wait meanwhile.
async fn read_back(store: &Arc<dyn MessageStore>, term: &Term, ops: &[WriteOp]) -> Option<bool> {
    let id = ops.iter().find_map(|op| match op {
        WriteOp::Insert(m) => Some(m.id),
        _ => None,
    })?;
    loop {
        let read = tokio::select! {
            biased;
            _ = term.over.cancelled() => return None,
            r = tokio::time::timeout(term.commit_timeout, store.stored_after_commits(term.epoch, id)) => r,
        };
        match read {
            Ok(Ok(stored)) => return Some(stored),
            Ok(Err(StoreError::Fenced { .. })) => {
                term.fenced.cancel();
                return None;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "group commit in doubt: the read-back failed; asking again");
            }
            Err(_) => {
                tracing::debug!("group commit in doubt: the read-back timed out; asking again");
            }
        }
        tokio::select! {
            _ = term.over.cancelled() => return None,
            () = tokio::time::sleep(SETTLE_RETRY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ProducerSeq;
    use crate::store::plan::test_message;
    use crate::store::DurableSub;
    use async_trait::async_trait;
    use tokio::sync::oneshot;

    /// Bodies this long are rejected by the fake database.
    const TOO_BIG: usize = 100;

    #[derive(Debug)]
    struct TooBig;

    impl std::fmt::Display for TooBig {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("packet too big")
        }
    }

    impl std::error::Error for TooBig {}

    impl sqlx::error::DatabaseError for TooBig {
        fn message(&self) -> &str {
            "packet too big"
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    /// A database that holds its first commit until the test releases it
    /// (with the outcome to give), rejects any commit with a body of
    /// [`TOO_BIG`] bytes, and otherwise commits in its turn; with
    /// `answer_lost` set, the next commit commits and then times out.
    struct Fake {
        calls: Mutex<usize>,
        entered: mpsc::UnboundedSender<usize>,
        first: Mutex<Option<oneshot::Receiver<Result<(), StoreError>>>>,
        committed: Mutex<Vec<WriteOp>>,
        answer_lost: AtomicBool,
    }

    #[async_trait]
    impl MessageStore for Fake {
        async fn commit_in_turn(
            &self,
            _epoch: i64,
            ops: &[WriteOp],
            turn: &CommitTurn,
        ) -> Result<(), StoreError> {
            let call = {
                let mut calls = self.calls.lock().expect("calls");
                *calls += 1;
                *calls
            };
            let _ = self.entered.send(call);
            let first = self.first.lock().expect("first").take();
            if let Some(release) = first {
                release.await.expect("released")?;
            }
            let too_big = ops
                .iter()
                .any(|op| matches!(op, WriteOp::Insert(m) if m.body.len() >= TOO_BIG));
            if too_big {
                return Err(sqlx::Error::Database(Box::new(TooBig)).into());
            }
            turn.wait().await?;
            self.committed
                .lock()
                .expect("committed")
                .extend(ops.iter().cloned());
            if self.answer_lost.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Timeout(1));
            }
            Ok(())
        }
        async fn stored_after_commits(&self, _epoch: i64, id: i64) -> Result<bool, StoreError> {
            let committed = self.committed.lock().expect("committed");
            Ok(committed
                .iter()
                .any(|op| matches!(op, WriteOp::Insert(m) if m.id == id)))
        }
        async fn max_message_id(&self) -> Result<i64, StoreError> {
            Ok(0)
        }
        async fn load_producers(&self) -> Result<Vec<(String, i64)>, StoreError> {
            Ok(Vec::new())
        }
        async fn load_durables(&self) -> Result<Vec<DurableSub>, StoreError> {
            Ok(Vec::new())
        }
        async fn load_held(&self) -> Result<Vec<crate::message::Message>, StoreError> {
            Ok(Vec::new())
        }
        async fn queue_depths(&self) -> Result<Vec<(String, i64)>, StoreError> {
            Ok(Vec::new())
        }
        async fn load_queue_page(
            &self,
            _destination: &str,
            _priority: u8,
            _from: i64,
            _limit: usize,
        ) -> Result<Vec<crate::message::Message>, StoreError> {
            Ok(Vec::new())
        }
    }

    struct Harness {
        store: Arc<Fake>,
        writer: GroupCommit,
        entered: mpsc::UnboundedReceiver<usize>,
        release: Option<oneshot::Sender<Result<(), StoreError>>>,
        done_tx: mpsc::UnboundedSender<(i64, bool)>,
        done: mpsc::UnboundedReceiver<(i64, bool)>,
    }

    fn harness(pipeline: usize) -> Harness {
        let (entered_tx, entered) = mpsc::unbounded_channel();
        let (release, first) = oneshot::channel();
        let store = Arc::new(Fake {
            calls: Mutex::new(0),
            entered: entered_tx,
            first: Mutex::new(Some(first)),
            committed: Mutex::new(Vec::new()),
            answer_lost: AtomicBool::new(false),
        });
        let term = Term {
            epoch: 1,
            fenced: CancellationToken::new(),
            over: CancellationToken::new(),
            commit_timeout: Duration::from_secs(600),
        };
        let config = WriterConfig {
            capacity: 16,
            max_batch_ops: 100,
            commit_wait: Duration::ZERO,
            pipeline,
            track_inserts: false,
        };
        let (writer, _task) = GroupCommit::start(store.clone(), term, config);
        let (done_tx, done) = mpsc::unbounded_channel();
        Harness {
            store,
            writer,
            entered,
            release: Some(release),
            done_tx,
            done,
        }
    }

    impl Harness {
        /// Submits message `seq` of producer `producer` with a body of
        /// `body` bytes, from connection `origin`; its outcome comes as
        /// `(seq, ok)`.
        async fn send(&self, producer: &str, seq: i64, body: usize, origin: u64) {
            let mut m = test_message(seq, body);
            m.origin = origin;
            let ops = vec![
                WriteOp::Insert(m),
                WriteOp::Producer(ProducerSeq {
                    id: Arc::from(producer),
                    seq,
                }),
            ];
            let done = self.done_tx.clone();
            self.writer
                .submit(
                    ops,
                    Box::new(move |r| {
                        let _ = done.send((seq, r.is_ok()));
                    }),
                )
                .await;
        }

        async fn outcomes(&mut self, n: usize) -> Vec<(i64, bool)> {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(self.done.recv().await.expect("outcome"));
            }
            out
        }

        fn committed(&self) -> (Vec<i64>, Vec<i64>) {
            let ops = self.store.committed.lock().expect("committed");
            let inserts = ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Insert(m) => Some(m.id),
                    _ => None,
                })
                .collect();
            let marks = ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Producer(p) => Some(p.seq),
                    _ => None,
                })
                .collect();
            (inserts, marks)
        }
    }

    /// Waiting starts once a recent batch held several producers, and
    /// aims at the largest recent batch.
    #[test]
    fn a_batch_waits_only_after_batches_shared_by_several_producers() {
        let off = CommitWait::new(Duration::ZERO);
        assert_eq!(off.target(1), None, "0 never waits");
        let mut w = CommitWait::new(Duration::from_micros(300));
        assert_eq!(w.target(1), None, "nothing seen yet");
        w.taken(1);
        w.taken(3);
        assert_eq!(w.target(1), None, "too few producers to wait for");
        // Two cohorts of 8 and 8: a batch of 8 waits for as many as the
        // largest recent batch, once one held all 16.
        w.taken(8);
        assert_eq!(w.target(8), None, "already as large as the largest");
        assert_eq!(w.target(5), Some(8));
        w.taken(16);
        assert_eq!(w.target(8), Some(16));
        assert_eq!(w.target(16), None);
        // The largest batch is forgotten after WINDOW smaller ones.
        for _ in 0..CommitWait::WINDOW {
            w.taken(2);
        }
        assert_eq!(w.target(1), None);
    }

    /// A batch that waits takes the requests that arrive meanwhile, and
    /// stops at the deadline when they do not come. The clock is paused:
    /// the outcome does not depend on how busy the machine is.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_batch_takes_late_requests_up_to_its_deadline() {
        let (tx, rx) = mpsc::channel(16);
        let mut batches = Batches {
            rx,
            side: Arc::new(SideQueue::default()),
            pending: None,
            max_ops: 100,
            wait: CommitWait::new(Duration::from_millis(200)),
        };
        batches.wait.taken(4);
        let request = |id: i64| Request {
            ops: vec![WriteOp::Delete(id)],
            done: Box::new(|_| {}),
        };
        tx.send(request(1)).await.expect("queued");
        let late = tx.clone();
        tokio::spawn(async move {
            for id in 2..=4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                late.send(request(id)).await.expect("queued");
            }
        });
        let mut closed = false;
        let batch = batches.next(&mut closed).await.expect("a batch");
        assert_eq!(batch.requests.len(), 4, "the late requests joined");
        // Nothing more comes: the next batch of one ends at its deadline
        // (it returns instead of waiting for a fourth request).
        tx.send(request(5)).await.expect("queued");
        let batch = batches.next(&mut closed).await.expect("a batch");
        assert_eq!(batch.requests.len(), 1);
    }

    /// A batch rejected as a whole is retried request by request. After
    /// the failed send, the producer's next one from the same connection
    /// is failed too (its client resends it after the failed one), and one
    /// from another connection is stored without its mark; once the failed
    /// ones are resent and stored, the marks move on.
    #[tokio::test]
    async fn a_failed_request_bounds_its_producers_marks_in_the_same_batch() {
        let mut h = harness(1);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        // All queue behind the held first batch: one batch.
        h.send("p", 2, TOO_BIG, 1).await;
        h.send("p", 3, 1, 1).await;
        h.send("p", 4, 1, 2).await;
        h.release
            .take()
            .expect("release")
            .send(Ok(()))
            .expect("send");
        assert_eq!(
            h.outcomes(4).await,
            [(1, true), (2, false), (3, false), (4, true)]
        );
        assert_eq!(h.committed(), (vec![1, 4], vec![1]));

        // The client resends 2 (smaller now) and 3 from a new connection.
        h.send("p", 2, 1, 3).await;
        h.send("p", 3, 1, 3).await;
        assert_eq!(h.outcomes(2).await, [(2, true), (3, true)]);
        h.send("p", 5, 1, 3).await;
        assert_eq!(h.outcomes(1).await, [(5, true)]);
        let (inserts, marks) = h.committed();
        assert_eq!(inserts, [1, 4, 2, 3, 5]);
        assert_eq!(
            marks.iter().max(),
            Some(&5),
            "stored at last, marks move on"
        );
        assert!(!marks.contains(&4));
    }

    /// A resend that waited for its original and failed with it (the
    /// broker reports it with `resends_answered`) counts as a send failed
    /// on the resend's connection: that connection's later sends of the
    /// producer fail too (its client sends them again after the failed
    /// one), another connection's are stored without the mark.
    #[tokio::test]
    async fn a_resend_failed_with_its_original_fails_its_connections_later_sends() {
        let mut h = harness(1);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.release
            .take()
            .expect("release")
            .send(Ok(()))
            .expect("send");
        assert_eq!(h.outcomes(1).await, [(1, true)]);
        let resend = ProducerSeq {
            id: Arc::from("p"),
            seq: 2,
        };
        h.writer.resends_answered(&[(resend, 2)], true);
        h.send("p", 3, 1, 2).await;
        assert_eq!(h.outcomes(1).await, [(3, false)]);
        h.send("p", 4, 1, 3).await;
        assert_eq!(h.outcomes(1).await, [(4, true)]);
        assert_eq!(h.committed(), (vec![1, 4], vec![1]));
        // Resent in order from a new connection: stored, the marks move on.
        h.send("p", 2, 1, 4).await;
        h.send("p", 3, 1, 4).await;
        assert_eq!(h.outcomes(2).await, [(2, true), (3, true)]);
        let (inserts, marks) = h.committed();
        assert_eq!(inserts, [1, 4, 2, 3]);
        assert_eq!(marks.iter().max(), Some(&3));
    }

    /// The same when the original and the resend's connection's later
    /// send are in one batch: the original is refused (its connection had
    /// a send fail), and the later send of the connection whose resend
    /// waits for it (`resend_waiting`) is refused with it, not stored to
    /// be resent and stored again.
    #[tokio::test]
    async fn a_later_send_in_the_same_batch_as_the_refused_original_is_refused_too() {
        let mut h = harness(1);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.send("p", 2, 1, 1).await;
        let original = ProducerSeq {
            id: Arc::from("p"),
            seq: 2,
        };
        h.writer.resend_waiting(&original, 2);
        h.send("p", 3, 1, 2).await;
        h.release
            .take()
            .expect("release")
            .send(Err(StoreError::Timeout(1)))
            .expect("send");
        assert_eq!(h.outcomes(3).await, [(1, false), (2, false), (3, false)]);
        assert_eq!(h.committed(), (vec![], vec![]));
    }

    /// A connection that stays open after a failed send (OpenWire): the
    /// producer's later sends over it are stored (without a mark over the
    /// failed one), not failed in the expectation of a resend.
    #[tokio::test]
    async fn a_connection_kept_open_after_a_failed_send_carries_on() {
        let mut h = harness(1);
        h.writer.keeps_open_after_failed_sends(1);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.send("p", 2, TOO_BIG, 1).await;
        h.send("p", 3, 1, 1).await;
        h.release
            .take()
            .expect("release")
            .send(Ok(()))
            .expect("send");
        assert_eq!(h.outcomes(3).await, [(1, true), (2, false), (3, true)]);
        assert_eq!(h.committed(), (vec![1, 3], vec![1]));
        h.send("p", 4, 1, 1).await;
        assert_eq!(h.outcomes(1).await, [(4, true)]);
        assert_eq!(h.committed(), (vec![1, 3, 4], vec![1]));
        // Closed, the connection's id no longer counts as kept open.
        h.writer.connection_closed(1);
        h.send("p", 5, TOO_BIG, 1).await;
        h.send("p", 6, 1, 1).await;
        assert_eq!(h.outcomes(2).await, [(5, false), (6, false)]);
    }

    /// Two batches in flight; the first fails: the second does not commit
    /// before it, and then commits without the failed producer's later
    /// send from the same connection, but with another producer's.
    #[tokio::test]
    async fn a_batch_commits_only_after_the_one_before_it() {
        let mut h = harness(2);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.send("p", 2, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(2), "two batches in flight");
        h.release
            .take()
            .expect("release")
            .send(Err(StoreError::Timeout(1)))
            .expect("send");
        assert_eq!(h.outcomes(2).await, [(1, false), (2, false)]);
        assert_eq!(h.committed(), (vec![], vec![]));
    }

    /// Three batches in flight; the first fails. The second is decided
    /// again and commits; the third was decided before the failure too, so
    /// it must not commit its producer's mark over the failed send either.
    #[tokio::test]
    async fn no_batch_in_flight_commits_a_mark_decided_before_a_failure() {
        let mut h = harness(3);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.send("q", 7, 1, 2).await;
        assert_eq!(h.entered.recv().await, Some(2));
        h.send("p", 2, 1, 3).await;
        assert_eq!(h.entered.recv().await, Some(3), "three batches in flight");
        h.release
            .take()
            .expect("release")
            .send(Err(StoreError::Timeout(1)))
            .expect("send");
        assert_eq!(h.outcomes(3).await, [(1, false), (7, true), (2, true)]);
        assert_eq!(
            h.committed(),
            (vec![7, 2], vec![7]),
            "p's 2 is stored without its mark: 1 failed"
        );
    }

    #[tokio::test]
    async fn other_producers_commit_after_a_failed_batch() {
        let mut h = harness(2);
        h.send("p", 1, 1, 1).await;
        assert_eq!(h.entered.recv().await, Some(1));
        h.send("q", 7, 1, 2).await;
        assert_eq!(h.entered.recv().await, Some(2), "two batches in flight");
        h.release
            .take()
            .expect("release")
            .send(Err(StoreError::Timeout(1)))
            .expect("send");
        assert_eq!(h.outcomes(2).await, [(1, false), (7, true)]);
        assert_eq!(h.committed(), (vec![7], vec![7]));
    }

    /// A commit that timed out after committing is read back: its sender
    /// is confirmed, and no failed send bounds its producer's marks. A
    /// commit in doubt that did not commit stays failed (the tests above).
    #[tokio::test]
    async fn a_commit_in_doubt_is_settled_by_reading_it_back() {
        let mut h = harness(1);
        h.store.answer_lost.store(true, Ordering::SeqCst);
        h.send("p", 1, 1, 1).await;
        h.release
            .take()
            .expect("release")
            .send(Ok(()))
            .expect("send");
        assert_eq!(h.outcomes(1).await, [(1, true)], "confirmed, not failed");
        h.send("p", 2, 1, 1).await;
        assert_eq!(h.outcomes(1).await, [(2, true)]);
        assert_eq!(
            h.committed(),
            (vec![1, 2], vec![1, 2]),
            "stored once each, marks move on"
        );
    }

    /// An acknowledgement's delete in a failed commit is committed with
    /// the next one (this node is still master).
    #[tokio::test]
    async fn a_failed_commits_deletes_ride_along_with_the_next() {
        let mut h = harness(1);
        h.writer.push(vec![WriteOp::Delete(99)]);
        assert_eq!(h.entered.recv().await, Some(1));
        h.release
            .take()
            .expect("release")
            .send(Err(StoreError::Timeout(1)))
            .expect("send");
        h.send("q", 7, 1, 2).await;
        assert_eq!(h.outcomes(1).await, [(7, true)]);
        let ops = h.store.committed.lock().expect("committed");
        assert!(ops.iter().any(|op| matches!(op, WriteOp::Delete(99))));
    }
}
