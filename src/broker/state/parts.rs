//! The parts of the core's state that belong to one feature each: durable
//! subscriptions (`durable/`), the spill and the pager (`paging/`), the
//! scheduler (`schedule/`). Data only; each feature's folder holds the
//! operations on its part.

use super::SubKey;
use crate::broker::pending::Pending;
use crate::message::{Destination, Message};
use crate::selector::Selector;
use foldhash::{HashMap, HashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// (client id, subscription name).
pub type DurableKey = (Arc<str>, Arc<str>);

/// The durable subscriptions and the stored topic messages they hold.
#[derive(Default)]
pub(in crate::broker) struct Durables {
    pub(in crate::broker) subscriptions: HashMap<DurableKey, Durable>,
    /// Stored topic message id -> durable subscriptions yet to consume it.
    pub(in crate::broker) topic_refs: HashMap<i64, u32>,
}

pub(in crate::broker) struct Durable {
    pub(in crate::broker) destination: Destination,
    pub(in crate::broker) selector: Option<Selector>,
    /// The subscription it is attached to, while a client is.
    pub(in crate::broker) active: Option<SubKey>,
    /// Messages waiting while nobody is attached.
    pub(in crate::broker) backlog: Pending,
    /// Persistent messages routed here and not yet acknowledged.
    pub(in crate::broker) outstanding: BTreeSet<i64>,
    /// Highest persistent message id routed here (or acknowledged).
    pub(in crate::broker) high: i64,
    pub(in crate::broker) last_acked: i64,
}

/// A stored durable subscription, as loaded at promotion.
#[derive(Debug, Clone)]
pub struct DurableRecord {
    pub client_id: String,
    pub name: String,
    pub destination: Destination,
    pub selector: Option<Selector>,
    pub last_acked: i64,
}

/// Priorities 0..=9, one cursor each.
pub const PRIORITIES: usize = 10;

#[derive(Debug)]
pub(in crate::broker) struct Spill {
    /// Stored messages at priority p with id >= `from[p]` are in the
    /// database only (except `resident` ones).
    pub(in crate::broker) from: [i64; PRIORITIES],
    /// How many there are, for the queue depth.
    pub(in crate::broker) count: u64,
    /// Messages with ids up to this were loaded at promotion and may have
    /// been delivered before: they are paged in with `redelivered`.
    pub(in crate::broker) recovered_upto: i64,
    /// The highest id spilled (a purge deletes no row above it).
    pub(in crate::broker) max_id: i64,
    /// Stored messages in memory although their id is past the cursor
    /// (dead letters, scheduled copies, admin moves routed meanwhile); a
    /// page that reads them again skips them.
    pub(in crate::broker) resident: HashSet<i64>,
    /// The token of the page read in flight.
    pub(in crate::broker) loading: Option<u64>,
    /// Spilled while that read was in flight.
    pub(in crate::broker) arrived: Vec<Message>,
    /// Something was spilled since that read started, so its "nothing
    /// more" does not mean the spill is over.
    pub(in crate::broker) spilled_since: bool,
}

/// Which queues wait for a page read, and what the pager task needs.
#[derive(Default)]
pub(in crate::broker) struct Pager {
    /// Queues waiting for a page read.
    pub(in crate::broker) wanted: BTreeSet<String>,
    /// Wakes the pager task.
    pub(in crate::broker) wake: Arc<tokio::sync::Notify>,
    pub(in crate::broker) token: u64,
    /// Stored messages whose commit completes before they are routed.
    pub(in crate::broker) unrouted: HashSet<i64>,
}

/// Scheduled jobs and delayed topic redeliveries, by due time.
#[derive(Default)]
pub(in crate::broker) struct Scheduler {
    /// Scheduled messages by (due time, id).
    pub(in crate::broker) jobs: BTreeMap<(i64, i64), Message>,
    /// Topic subscriptions with delayed redeliveries, by (due time, seq).
    pub(in crate::broker) topic_delays: BTreeMap<(i64, u64), SubKey>,
    pub(in crate::broker) next_delay_seq: u64,
}
