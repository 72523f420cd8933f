//! Paging: a queue keeps at most `broker.queue_window` messages (and
//! `broker.queue_window_bytes` of bodies) in memory. A stored message that
//! arrives while the window is full stays in the database only (it is
//! "spilled"); as the window drains, the pager task (`Broker::page_in`)
//! reads the next spilled messages back: highest priority first, then by
//! id (by id only on a FIFO queue).
//!
//! The spill is tracked per priority by a cursor: every stored message of
//! the queue at priority p with id >= `from[p]` that is not in memory is
//! spilled. A message in memory has an id below its priority's cursor, or
//! is listed in `resident`, so reading from the cursors never brings back
//! one that is already here. After a promotion every queue starts fully
//! spilled and is paged in the same way.
//!
//! A row is visible in the database before its commit's completion routes
//! it here, and commits may land out of id order. So a page skips the ids
//! still `unrouted` (their completion will route them, below the cursor by
//! then, into memory), and a message spilled while a read is in flight is
//! kept aside (`arrived`) until the page shows whether the read saw it.

use crate::broker::state::{Queue, Spill, State, PRIORITIES};
use crate::message::{Destination, Message};
use crate::store::WriteOp;
use foldhash::HashSet;

impl Spill {
    fn new(from: i64, count: u64, recovered_upto: i64) -> Spill {
        Spill {
            from: [from; PRIORITIES],
            count,
            recovered_upto,
            max_id: recovered_upto,
            resident: HashSet::default(),
            loading: None,
            arrived: Vec::new(),
            spilled_since: false,
        }
    }

    fn covers(&self, m: &Message) -> bool {
        m.id >= self.from[priority_index(m.priority)]
    }
}

fn priority_index(priority: u8) -> usize {
    usize::from(priority).min(PRIORITIES - 1)
}

/// A page read the pager makes for one queue.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub queue: String,
    pub token: u64,
    pub from: [i64; PRIORITIES],
    /// Most messages to read, and most body bytes to keep.
    pub room: usize,
    pub room_bytes: usize,
    /// Priority order (else id order).
    pub prioritized: bool,
}

/// What a page read found.
#[derive(Debug)]
pub struct Page {
    /// In delivery order.
    pub messages: Vec<Message>,
    /// The cursors after these messages.
    pub from: [i64; PRIORITIES],
    /// The database had no more spilled messages when it was read.
    pub exhausted: bool,
}

impl Queue {
    fn window_full(&self, window: usize, window_bytes: usize) -> bool {
        self.pending.len() >= window || self.pending.bytes() >= window_bytes
    }
}

impl State {
    /// Routes a persistent message whose insert is committed: into the
    /// database-only spill when its queue's window is full, else as usual.
    pub fn route_stored(&mut self, message: Message, ops: &mut Vec<WriteOp>) {
        self.pager.unrouted.remove(&message.id);
        let (window, window_bytes) = (self.config.queue_window, self.config.queue_window_bytes);
        if let (Destination::Queue(n), true) = (&message.destination, message.scheduled == 0) {
            if let Some(q) = self.destinations.queues.get_mut(n.as_str()) {
                let full = q.window_full(window, window_bytes);
                let high_id = q.high_id;
                let spill = match q.spill.as_mut() {
                    Some(s) if s.covers(&message) => Some(s),
                    Some(_) => None,
                    // A late commit with an id below what memory holds
                    // stays in memory, so the cursors stay above it.
                    None if full && message.id > high_id => {
                        Some(q.spill.insert(Spill::new(message.id, 0, 0)))
                    }
                    None => None,
                };
                if let Some(s) = spill {
                    s.count += 1;
                    s.spilled_since = true;
                    s.max_id = s.max_id.max(message.id);
                    q.stats.enqueued += 1;
                    if s.loading.is_some() {
                        s.arrived.push(message);
                    }
                    return;
                }
            }
        }
        self.route(message, ops);
    }

    /// Stored messages about to be committed and then routed: until they
    /// are (or their commit fails, `routes_failed`), pages skip them.
    pub fn expect_routes(&mut self, messages: &[Message]) {
        self.pager
            .unrouted
            .extend(messages.iter().filter(|m| m.persistent).map(|m| m.id));
    }

    /// Their commit failed: they will not be routed.
    pub fn routes_failed(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            self.pager.unrouted.remove(&id);
        }
    }

    /// Called by `route` for every message it puts into queue `q`'s memory.
    pub(in crate::broker) fn note_resident(q: &mut Queue, m: &Message) {
        if !m.persistent {
            return;
        }
        q.high_id = q.high_id.max(m.id);
        if let Some(s) = q.spill.as_mut().filter(|s| s.covers(m)) {
            s.resident.insert(m.id);
        }
    }

    /// Woken when a queue wants a page read.
    pub fn pager(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.pager.wake.clone()
    }

    /// After promotion: `count` stored messages of queue `name` are in the
    /// database only, every one with an id up to `recovered_upto`.
    pub fn restore_spill(&mut self, name: &str, count: u64, recovered_upto: i64) {
        let q = self
            .destinations
            .queues
            .entry(name.to_string())
            .or_default();
        q.stats.enqueued += count;
        q.spill = Some(Spill::new(i64::MIN, count, recovered_upto));
        self.want_page(name);
    }

    /// Stored messages of queue `name` only in the database.
    pub(in crate::broker) fn spilled(&self, name: &str) -> u64 {
        self.destinations
            .queues
            .get(name)
            .and_then(|q| q.spill.as_ref())
            .map_or(0, |s| s.count)
    }

    /// Asks the pager for a page of queue `name` when its window has
    /// drained to half and nothing is being read for it yet.
    pub(in crate::broker) fn want_page(&mut self, name: &str) {
        let (window, window_bytes) = (self.config.queue_window, self.config.queue_window_bytes);
        let Some(q) = self.destinations.queues.get(name) else {
            return;
        };
        let low = q.pending.len() <= window / 2 && q.pending.bytes() <= window_bytes / 2;
        if low && q.spill.as_ref().is_some_and(|s| s.loading.is_none()) {
            self.pager.wanted.insert(name.to_string());
            self.pager.wake.notify_one();
        }
    }

    /// The page reads to make now; each is marked in flight.
    pub fn take_page_requests(&mut self) -> Vec<PageRequest> {
        let window = self.config.queue_window;
        let mut out = Vec::new();
        for name in std::mem::take(&mut self.pager.wanted) {
            let prioritized = self
                .config
                .policies
                .of(&Destination::Queue(name.clone()))
                .prioritized;
            let Some(q) = self.destinations.queues.get_mut(&name) else {
                continue;
            };
            let room = window.saturating_sub(q.pending.len()).max(1);
            let room_bytes = self
                .config
                .queue_window_bytes
                .saturating_sub(q.pending.bytes());
            let Some(s) = q.spill.as_mut().filter(|s| s.loading.is_none()) else {
                continue;
            };
            self.pager.token += 1;
            s.loading = Some(self.pager.token);
            s.spilled_since = false;
            out.push(PageRequest {
                from: s.from,
                queue: name,
                token: self.pager.token,
                room,
                room_bytes,
                prioritized,
            });
        }
        out
    }

    /// Puts a page into its queue's memory and hands messages out. A page
    /// whose read was overtaken (a purge, a demotion) is dropped.
    pub fn paged_in(&mut self, request: &PageRequest, page: Page, ops: &mut Vec<WriteOp>) {
        let Some(q) = self.destinations.queues.get_mut(&request.queue) else {
            return;
        };
        let Some(s) = q
            .spill
            .as_mut()
            .filter(|s| s.loading == Some(request.token))
        else {
            return;
        };
        s.loading = None;
        s.from = page.from;
        let recovered_upto = s.recovered_upto;
        let read: HashSet<i64> = page.messages.iter().map(|m| m.id).collect();
        let mut fresh = Vec::with_capacity(page.messages.len());
        for mut m in page.messages {
            if s.resident.remove(&m.id) || self.pager.unrouted.contains(&m.id) {
                continue;
            }
            m.redelivered = m.id <= recovered_upto;
            fresh.push(m);
        }
        // Spilled during the read, behind the new cursor, and not seen by
        // it (committed after its snapshot): nothing would read them again.
        for m in std::mem::take(&mut s.arrived) {
            if !read.contains(&m.id) && !s.covers(&m) {
                fresh.push(m);
            }
        }
        s.count = s.count.saturating_sub(fresh.len() as u64);
        if page.exhausted && !s.spilled_since {
            if s.count != 0 {
                tracing::debug!(queue = %request.queue, count = s.count, "spill count corrected");
            }
            q.spill = None;
        }
        let prioritized = request.prioritized;
        q.pending.set_prioritized(prioritized);
        for m in fresh {
            q.high_id = q.high_id.max(m.id);
            q.pending.insert(m);
        }
        self.dispatch_queue(&request.queue, ops);
        self.want_page(&request.queue);
    }

    /// A page read failed: it is asked for again.
    pub fn page_failed(&mut self, request: &PageRequest) {
        if let Some(s) = self
            .destinations
            .queues
            .get_mut(&request.queue)
            .and_then(|q| q.spill.as_mut())
            .filter(|s| s.loading == Some(request.token))
        {
            s.loading = None;
            self.pager.wanted.insert(request.queue.clone());
        }
    }

    /// Drops queue `name`'s spill (a purge): its rows are deleted with the
    /// returned op. Returns how many messages it held.
    /// Rows of messages in memory (resident, in flight) and of commits not
    /// yet routed are kept.
    pub(in crate::broker) fn purge_spill(&mut self, name: &str, ops: &mut Vec<WriteOp>) -> u64 {
        let Some(s) = self
            .destinations
            .queues
            .get_mut(name)
            .and_then(|q| q.spill.take())
        else {
            return 0;
        };
        let mut keep: Vec<i64> = s
            .resident
            .iter()
            .chain(&self.pager.unrouted)
            .copied()
            .collect();
        keep.sort_unstable();
        let mut ranges = Vec::new();
        for (p, &from) in (0u8..).zip(&s.from) {
            ranges.extend(
                ranges_without(from, s.max_id, &keep)
                    .into_iter()
                    .map(|(a, b)| (p, a, b)),
            );
        }
        if !ranges.is_empty() {
            ops.push(WriteOp::DeleteSpilled {
                destination: Destination::Queue(name.to_string()).to_string(),
                ranges,
            });
        }
        s.count
    }
}

/// `first..=last` without the ids in `keep` (sorted), as inclusive ranges.
fn ranges_without(first: i64, last: i64, keep: &[i64]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = first;
    for &k in keep.iter().filter(|&&k| k >= first && k <= last) {
        if k > start {
            out.push((start, k - 1));
        }
        start = k.saturating_add(1);
    }
    if start <= last {
        out.push((start, last));
    }
    out
}

/// Orders the rows read for `request` (each priority's rows in id order,
/// `full[p]` when that read hit its limit) into a page.
pub fn page_from_rows(request: &PageRequest, mut rows: Vec<Message>, mut full: bool) -> Page {
    if request.prioritized {
        rows.sort_by_key(|m| (std::cmp::Reverse(m.priority), m.id));
    } else {
        rows.sort_by_key(|m| m.id);
    }
    let mut bytes = 0;
    let fits = rows
        .iter()
        .position(|m| {
            bytes += m.body.len();
            bytes > request.room_bytes
        })
        .unwrap_or(rows.len())
        .clamp(1, request.room);
    if rows.len() > fits {
        rows.truncate(fits);
        full = true;
    }
    let mut from = request.from;
    for m in &rows {
        let p = priority_index(m.priority);
        from[p] = from[p].max(m.id + 1);
    }
    Page {
        messages: rows,
        from,
        exhausted: !full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, priority: u8) -> Message {
        Message {
            id,
            destination: Destination::Queue("q".into()),
            priority,
            expires: 0,
            persistent: true,
            headers: vec![].into(),
            body: bytes::Bytes::from_static(b"x"),
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
            body_kind: Default::default(),
            client_id: None,
            origin: 0,
        }
    }

    fn request(room: usize, prioritized: bool) -> PageRequest {
        PageRequest {
            queue: "q".into(),
            token: 1,
            from: [5; PRIORITIES],
            room,
            room_bytes: usize::MAX,
            prioritized,
        }
    }

    #[test]
    fn a_prioritized_page_takes_high_priorities_first_and_moves_their_cursors() {
        let rows = vec![msg(7, 4), msg(8, 4), msg(9, 9), msg(6, 0)];
        let page = page_from_rows(&request(2, true), rows, false);
        let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![9, 7]);
        assert_eq!(page.from[9], 10);
        assert_eq!(page.from[4], 8);
        assert_eq!(page.from[0], 5, "priority 0 was not taken");
        assert!(!page.exhausted, "rows were left over");
    }

    #[test]
    fn a_fifo_page_goes_by_id_across_priorities() {
        let rows = vec![msg(7, 4), msg(9, 9), msg(6, 0)];
        let page = page_from_rows(&request(10, false), rows, false);
        let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![6, 7, 9]);
        assert!(page.exhausted);
    }

    #[test]
    fn a_read_that_hit_its_limit_is_not_the_end() {
        let page = page_from_rows(&request(10, true), vec![msg(7, 4)], true);
        assert!(!page.exhausted);
    }
}
