//! The broker core's state and every synchronous operation on it. The
//! `Broker` facade holds it behind a std mutex for short sections; nothing
//! here awaits. Store writes an operation causes are returned as `WriteOp`s.
//!
//! This file holds the data model, made of named parts (destinations,
//! connections, subscriptions, durable subscriptions, scheduler, pager),
//! and the operations on connections and subscriptions. Each feature adds
//! its own operations in its folder: `dispatch.rs` routes and hands out
//! messages, `ack.rs` handles acknowledgements, redelivery,
//! dead-lettering and expiry, `durable/state.rs`, `paging/state.rs`,
//! `schedule/state.rs` and `admin/state.rs` theirs.

mod groups;
mod limits;

mod parts;

pub(super) use parts::{Durable, Durables, Pager, Scheduler, Spill};
pub use parts::{DurableKey, DurableRecord, PRIORITIES};

use super::outbox::{Delivery, Outbox};
use super::pending::Pending;
use super::{AckMode, BrokerError, SubscribeSpec, TEMP_PREFIX};
use crate::message::{Destination, Message};
use crate::selector::{MessageProperties, Selector};
use crate::store::WriteOp;
use crate::wildcard;
use foldhash::{HashMap, HashSet};
use std::collections::BTreeMap;
use std::sync::Arc;

pub type ConnId = u64;
pub(super) type SubKey = (ConnId, Arc<str>);

/// Core settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub policies: super::policy::Policies,
    /// The broker's message ids (`Broker::next_id`): new dead letters of topic messages.
    pub ids: Arc<std::sync::atomic::AtomicI64>,
    pub topic_pending_limit: usize,
    /// `broker.queue_window` and `broker.queue_window_bytes` (`paging.rs`).
    pub queue_window: usize,
    pub queue_window_bytes: usize,
    /// `limits.max_subscriptions_per_connection`.
    pub max_subscriptions_per_connection: usize,
    /// `limits.max_transactions_per_connection` (kept by `Connection`).
    pub max_transactions_per_connection: usize,
    /// `limits.max_temp_destinations_per_connection`.
    pub max_temp_destinations_per_connection: usize,
    /// `limits.max_unacked_per_consumer`: caps every subscription's prefetch.
    pub max_unacked_per_consumer: usize,
    /// `limits.max_non_persistent_bytes` (the budget lives in `Broker`).
    pub max_non_persistent_bytes: u64,
    /// Idle producers are forgotten after this long (duplicate detection).
    pub producer_retention_ms: i64,
}

/// Counters for one destination.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DestStats {
    pub enqueued: u64,
    pub dequeued: u64,
    pub expired: u64,
    pub dead_lettered: u64,
}

#[derive(Default)]
pub(super) struct Queue {
    pub(super) pending: Pending,
    /// Consumers subscribed to this very name, in subscription order.
    pub(super) consumers: Vec<SubKey>,
    pub(super) next: usize,
    pub(super) stats: DestStats,
    /// Message group (`JMSXGroupID`) -> the consumer it is pinned to.
    pub(super) groups: groups::MessageGroups,
    /// A temporary queue: the connection that owns it.
    pub(super) owner: Option<ConnId>,
    /// Connections that sent here and are still connected.
    pub(super) producers: HashSet<ConnId>,
    /// Stored messages in the database only (`paging.rs`).
    pub(super) spill: Option<Spill>,
    /// The highest id of a stored message put into memory.
    pub(super) high_id: i64,
}

#[derive(Default)]
pub(super) struct Topic {
    pub(super) subscribers: Vec<SubKey>,
    pub(super) stats: DestStats,
    /// A temporary topic: the connection that owns it.
    pub(super) owner: Option<ConnId>,
    /// Connections that sent here and are still connected.
    pub(super) producers: HashSet<ConnId>,
}

pub(super) struct Subscription {
    pub(super) destination: Destination,
    pub(super) ack: AckMode,
    pub(super) prefetch: usize,
    /// Most messages in flight, acknowledged or not.
    pub(super) max_inflight: usize,
    /// The only consumer of its queue while it is the first exclusive one.
    pub(super) exclusive: bool,
    /// Skips messages its own connection sent (topics).
    pub(super) no_local: bool,
    /// Delivered, not yet acknowledged, by delivery sequence.
    pub(super) inflight: BTreeMap<u64, Message>,
    /// The client reported messages up to this sequence as handed to the
    /// application (`AckKind::Delivered`): they leave the prefetch window.
    pub(super) delivered_upto: Option<u64>,
    /// A pull is waiting (`prefetch` 0 consumers): one more message may go
    /// out beyond the window.
    pub(super) pull: bool,
    pub(super) seq_of: HashMap<i64, u64>,
    pub(super) next_seq: u64,
    /// Topic subscriptions only: fanned-out messages not yet handed out.
    pub(super) backlog: Pending,
    /// Topic subscriptions only: failed deliveries waiting out their
    /// redelivery delay, by (due time, id).
    pub(super) delayed: BTreeMap<(i64, i64), Message>,
    /// Attached to this durable subscription.
    pub(super) durable: Option<DurableKey>,
    pub(super) selector: Option<Selector>,
}

pub(super) struct Conn {
    pub(super) outbox: Arc<Outbox>,
    pub(super) subs: Vec<Arc<str>>,
    /// Temporary destinations it owns.
    pub(super) temps: usize,
}

/// What an acknowledgement asks for. `Ack`, `Nack`, `Poison` and
/// `Expired` cover the named message and either the range from the
/// request's first message or, on a client-mode subscription without one,
/// every earlier one still in flight (in delivery order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// Consumed.
    Ack,
    /// A failed delivery: redelivered, or dead-lettered once the policy's
    /// redeliveries are used up.
    Nack,
    /// Consumed: exactly this message, whatever the subscription's mode.
    Individual,
    /// The client gave up on the message: to the dead-letter queue now,
    /// with this cause.
    Poison(String),
    /// The message expired in the client: counted and handled as expired.
    Expired,
    /// Handed to the application, not yet consumed: messages up to this
    /// one no longer count against the prefetch window (a transaction or
    /// client-acknowledge session consuming more than its prefetch).
    Delivered,
}

/// Which of a closed subscription's unacknowledged messages the client
/// had seen: those count as failed deliveries (redelivered with a higher
/// count); the rest were only prefetched and go back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Every message written to the client (STOMP; a lost connection).
    All,
    /// Messages delivered up to and including this id.
    UpTo(i64),
    /// None of them.
    Nothing,
}

pub struct State {
    pub(super) config: CoreConfig,
    pub(super) destinations: Destinations,
    pub(super) connections: Connections,
    /// Every subscription, by connection and subscription id.
    pub(super) subscriptions: HashMap<SubKey, Subscription>,
    pub(super) durable: Durables,
    pub(super) scheduler: Scheduler,
    pub(super) pager: Pager,
}

/// The queues and topics in memory, and the subscriptions to patterns.
#[derive(Default)]
pub(super) struct Destinations {
    pub(super) queues: HashMap<String, Queue>,
    pub(super) topics: HashMap<String, Topic>,
    /// Subscriptions to queue / topic patterns (`orders.*`, `PRICE.>`).
    pub(super) wild_queue_subs: Vec<SubKey>,
    pub(super) wild_topic_subs: Vec<SubKey>,
}

/// The connections and the `client-id`s they hold.
#[derive(Default)]
pub(super) struct Connections {
    pub(super) by_id: HashMap<ConnId, Conn>,
    /// `client-id` -> the connection using it.
    pub(super) client_ids: HashMap<String, ClientIdHolder>,
}

/// The connection holding a `client-id`, and the name its client gave that
/// connection (OpenWire's ConnectionId), if any.
pub(super) struct ClientIdHolder {
    pub(super) conn: ConnId,
    pub(super) resume: Option<String>,
}

/// Snapshot of one destination for admin views and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestInfo {
    pub destination: Destination,
    pub depth: usize,
    pub inflight: usize,
    pub consumers: usize,
    /// Connections that sent to it and are still connected.
    pub producers: usize,
    pub stats: DestStats,
}

/// The header that puts a message into a message group.
pub const GROUP_HEADER: &str = "JMSXGroupID";
/// A message's place in its group; -1 closes the group once delivered, so
/// its next message may go to another consumer.
pub const GROUP_SEQ_HEADER: &str = "JMSXGroupSeq";

/// Body-less MESSAGE that ends a queue browse (`browser:end`).
pub const BROWSER_END: &str = "browser";

impl State {
    pub fn new(config: CoreConfig) -> State {
        State {
            config,
            destinations: Destinations::default(),
            connections: Connections::default(),
            subscriptions: HashMap::default(),
            durable: Durables::default(),
            scheduler: Scheduler::default(),
            pager: Pager::default(),
        }
    }

    pub fn add_conn(&mut self, conn: ConnId, outbox: Arc<Outbox>) {
        self.connections.by_id.insert(
            conn,
            Conn {
                outbox,
                subs: Vec::new(),
                temps: 0,
            },
        );
    }

    /// Removes a connection, all its subscriptions and its temporary
    /// destinations (whose messages are dropped).
    pub fn remove_conn(&mut self, conn: ConnId, ops: &mut Vec<WriteOp>) {
        let subs = self
            .connections
            .by_id
            .get(&conn)
            .map(|c| c.subs.clone())
            .unwrap_or_default();
        for id in subs {
            self.remove_sub(&(conn, id), Seen::All, ops);
        }
        self.connections.by_id.remove(&conn);
        self.connections.client_ids.retain(|_, h| h.conn != conn);
        for q in self.destinations.queues.values_mut() {
            q.producers.remove(&conn);
        }
        for t in self.destinations.topics.values_mut() {
            t.producers.remove(&conn);
        }
        let mut gone: Vec<Destination> = Vec::new();
        self.destinations.queues.retain(|n, q| {
            let keep = q.owner != Some(conn);
            if !keep {
                gone.push(Destination::Queue(n.clone()));
            }
            keep
        });
        self.destinations.topics.retain(|n, t| {
            let keep = t.owner != Some(conn);
            if !keep {
                gone.push(Destination::Topic(n.clone()));
            }
            keep
        });
        for dest in gone {
            self.advise(&dest, false, ops);
        }
    }

    /// Creates a temporary destination owned by `conn` (idempotent); a new
    /// one is announced to the advisory subscribers.
    pub fn create_temp(
        &mut self,
        conn: ConnId,
        dest: &Destination,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let Some(c) = self.connections.by_id.get(&conn) else {
            // Replaced by a reconnect of its client, or closing.
            return Err(BrokerError::ShuttingDown);
        };
        let held = c.temps;
        let existed = self.owner_of(dest).is_some();
        if !existed {
            let max = self.config.max_temp_destinations_per_connection;
            if held >= max {
                crate::metrics::limit_hit("limits.max_temp_destinations_per_connection");
                return Err(BrokerError::TooManyTemps(max));
            }
        }
        let owner = match dest {
            Destination::Queue(n) => {
                &mut self
                    .destinations
                    .queues
                    .entry(n.clone())
                    .or_insert_with(|| Queue {
                        owner: Some(conn),
                        ..Queue::default()
                    })
                    .owner
            }
            Destination::Topic(n) => {
                &mut self
                    .destinations
                    .topics
                    .entry(n.clone())
                    .or_insert_with(|| Topic {
                        owner: Some(conn),
                        ..Topic::default()
                    })
                    .owner
            }
        };
        match owner {
            Some(o) if *o == conn => {
                if !existed {
                    if let Some(c) = self.connections.by_id.get_mut(&conn) {
                        c.temps += 1;
                    }
                    self.advise(dest, true, ops);
                }
                Ok(())
            }
            _ => Err(BrokerError::NotOwner(dest.to_string())),
        }
    }

    /// Deletes a temporary destination of `conn` (JMS `TemporaryQueue.
    /// delete()`): refused while it has consumers, its unconsumed messages
    /// (never persistent) are dropped, and the advisory subscribers are
    /// told. Deleting one that is already gone succeeds.
    pub fn delete_temp(
        &mut self,
        conn: ConnId,
        dest: &Destination,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        match self.owner_of(dest) {
            None => return Ok(()),
            Some(o) if o != conn => return Err(BrokerError::NotOwner(dest.to_string())),
            Some(_) => {}
        }
        let in_use = match dest {
            Destination::Queue(n) => self
                .destinations
                .queues
                .get(n)
                .is_some_and(|q| !q.consumers.is_empty()),
            Destination::Topic(n) => self
                .destinations
                .topics
                .get(n)
                .is_some_and(|t| !t.subscribers.is_empty()),
        };
        if in_use {
            return Err(BrokerError::TempInUse(dest.to_string()));
        }
        self.forget_temp(conn, dest, ops);
        match dest {
            Destination::Queue(n) => {
                self.destinations.queues.remove(n);
            }
            Destination::Topic(n) => {
                self.destinations.topics.remove(n);
            }
        }
        Ok(())
    }

    /// A temporary destination of `owner` goes (deleted by it or by an
    /// administrator): it leaves the owner's count, and the advisory
    /// subscribers are told.
    pub(super) fn forget_temp(
        &mut self,
        owner: ConnId,
        dest: &Destination,
        ops: &mut Vec<WriteOp>,
    ) {
        if let Some(c) = self.connections.by_id.get_mut(&owner) {
            c.temps = c.temps.saturating_sub(1);
        }
        self.advise(dest, false, ops);
    }

    /// `conn` sends to `dest` (counted as one of its producers).
    pub fn note_producer(&mut self, conn: ConnId, dest: &Destination) {
        if !self.connections.by_id.contains_key(&conn) {
            return;
        }
        let producers = match dest {
            Destination::Queue(n) => {
                &mut self
                    .destinations
                    .queues
                    .entry(n.clone())
                    .or_default()
                    .producers
            }
            Destination::Topic(n) => {
                &mut self
                    .destinations
                    .topics
                    .entry(n.clone())
                    .or_default()
                    .producers
            }
        };
        producers.insert(conn);
    }

    /// Fails for a temporary destination whose connection is gone.
    pub fn check_temp(&self, dest: &Destination) -> Result<(), BrokerError> {
        if dest.name().starts_with(TEMP_PREFIX) && self.owner_of(dest).is_none() {
            return Err(BrokerError::TempGone(dest.to_string()));
        }
        Ok(())
    }

    /// The connection owning a temporary destination, if it is one.
    pub(super) fn owner_of(&self, dest: &Destination) -> Option<ConnId> {
        match dest {
            Destination::Queue(n) => self.destinations.queues.get(n).and_then(|q| q.owner),
            Destination::Topic(n) => self.destinations.topics.get(n).and_then(|t| t.owner),
        }
    }

    pub fn subscribe(
        &mut self,
        conn: ConnId,
        mut spec: SubscribeSpec,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let id: Arc<str> = Arc::from(spec.id.as_str());
        let key = (conn, id.clone());
        if self.subscriptions.contains_key(&key) {
            return Err(BrokerError::DuplicateSubscription(spec.id));
        }
        self.within_limits(conn, &mut spec)?;
        let name = spec.destination.name();
        let pattern = wildcard::is_pattern(name);
        if pattern {
            wildcard::check_pattern(name).map_err(BrokerError::BadPattern)?;
        }
        self.check_temp(&spec.destination)?;
        if self
            .owner_of(&spec.destination)
            .is_some_and(|owner| owner != conn)
        {
            return Err(BrokerError::NotOwner(spec.destination.to_string()));
        }
        if spec.browser {
            return self.browse(conn, spec);
        }
        if let Some(d) = spec.durable.clone() {
            if pattern {
                return Err(BrokerError::DurableNeedsTopic(spec.destination.to_string()));
            }
            return self.subscribe_durable(conn, &d.client_id, &d.name, spec, d.created_after, ops);
        }
        match (&spec.destination, pattern) {
            (Destination::Queue(_), true) => self.destinations.wild_queue_subs.push(key.clone()),
            (Destination::Topic(_), true) => self.destinations.wild_topic_subs.push(key.clone()),
            (Destination::Queue(n), false) => self
                .destinations
                .queues
                .entry(n.clone())
                .or_default()
                .consumers
                .push(key.clone()),
            (Destination::Topic(n), false) => self
                .destinations
                .topics
                .entry(n.clone())
                .or_default()
                .subscribers
                .push(key.clone()),
        }
        if let Some(c) = self.connections.by_id.get_mut(&conn) {
            c.subs.push(id);
        }
        let dest = spec.destination.clone();
        self.subscriptions.insert(
            key.clone(),
            Subscription::new(spec, self.config.max_unacked_per_consumer),
        );
        if let (Destination::Topic(name), false) = (&dest, pattern) {
            self.advise_existing(&key, name, ops);
        }
        self.dispatch(&dest, ops);
        Ok(())
    }

    pub fn unsubscribe(
        &mut self,
        conn: ConnId,
        id: &str,
        seen: Seen,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let key: SubKey = (conn, Arc::from(id));
        if !self.subscriptions.contains_key(&key) {
            return Err(BrokerError::UnknownSubscription(id.to_string()));
        }
        if let Some(c) = self.connections.by_id.get_mut(&conn) {
            c.subs.retain(|s| **s != *id);
        }
        self.remove_sub(&key, seen, ops);
        Ok(())
    }

    /// Removes a subscription. Deliveries still waiting in the outbox never
    /// reached the client and go back unchanged; of the rest in flight,
    /// those the client had `seen` count as failed deliveries.
    pub(super) fn remove_sub(&mut self, key: &SubKey, seen: Seen, ops: &mut Vec<WriteOp>) {
        let Some(mut sub) = self.subscriptions.remove(key) else {
            return;
        };
        let unwritten = self
            .connections
            .by_id
            .get(&key.0)
            .map(|c| c.outbox.remove_for(&key.1))
            .unwrap_or_default();
        if let Some(dkey) = sub.durable.clone() {
            // Waiting out a redelivery delay: redelivered on return.
            for (_, m) in std::mem::take(&mut sub.delayed) {
                sub.backlog.insert(m);
            }
            // Never written: back to the backlog as they were.
            for d in unwritten {
                if let Some(m) = sub
                    .seq_of
                    .remove(&d.message.id)
                    .and_then(|s| sub.inflight.remove(&s))
                {
                    sub.backlog.insert(m);
                }
            }
            self.detach_durable(&dkey, sub);
            return;
        }
        let mut touched: Vec<Destination> = vec![sub.destination.clone()];
        for d in unwritten {
            if let Some(seq) = sub.seq_of.remove(&d.message.id) {
                if let Some(m) = sub.inflight.remove(&seq) {
                    touched.push(m.destination.clone());
                    self.unwritten_back(m, ops);
                }
            }
        }
        self.destinations.wild_queue_subs.retain(|k| k != key);
        self.destinations.wild_topic_subs.retain(|k| k != key);
        match &sub.destination {
            Destination::Queue(n) => {
                if let Some(q) = self.destinations.queues.get_mut(n) {
                    q.consumers.retain(|k| k != key);
                }
                for q in self.destinations.queues.values_mut() {
                    q.groups.forget(key);
                }
                let last_seen = match seen {
                    Seen::UpTo(id) => sub.seq_of.get(&id).copied(),
                    _ => None,
                };
                for (seq, m) in std::mem::take(&mut sub.inflight) {
                    touched.push(m.destination.clone());
                    let was_seen = match seen {
                        Seen::All => true,
                        Seen::Nothing => false,
                        // By delivery order; by id if that message is no
                        // longer in flight.
                        Seen::UpTo(id) => last_seen.map_or(m.id <= id, |s| seq <= s),
                    };
                    if was_seen {
                        self.requeue_to_queue(redelivered(m), true, ops);
                    } else {
                        self.requeue_to_queue(m, false, ops);
                    }
                }
            }
            Destination::Topic(n) => {
                if let Some(t) = self.destinations.topics.get_mut(n) {
                    t.subscribers.retain(|k| k != key);
                }
            }
        }
        touched.sort();
        touched.dedup();
        for dest in touched.iter().filter(|d| d.is_queue()) {
            self.dispatch(dest, ops);
        }
    }

    /// Names of existing queues `Consumer.<anything>.<topic>`: where a
    /// message sent to the virtual topic `<topic>` is copied.
    pub fn virtual_topic_queues(&self, topic: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .destinations
            .queues
            .keys()
            .filter(|q| {
                q.strip_prefix("Consumer.")
                    .and_then(|rest| rest.split_once('.'))
                    .is_some_and(|(group, t)| !group.is_empty() && t == topic)
            })
            .cloned()
            .collect();
        out.sort();
        out
    }
}

pub(super) fn selects(selector: Option<&Selector>, m: &Message) -> bool {
    selector.is_none_or(|s| s.matches(&MessageProperties::new(m)))
}

pub(super) fn redelivered(mut m: Message) -> Message {
    m.redelivery_count += 1;
    m.redelivered = true;
    m
}

impl Subscription {
    /// `max_unacked`: `limits.max_unacked_per_consumer`, which holds however
    /// far DELIVERED acks widen the window (a transaction or a client-ack
    /// session consuming past its prefetch).
    pub(super) fn new(spec: SubscribeSpec, max_unacked: usize) -> Subscription {
        Subscription {
            destination: spec.destination,
            ack: spec.ack,
            prefetch: spec.prefetch,
            max_inflight: max_unacked.max(spec.prefetch),
            exclusive: spec.exclusive,
            no_local: spec.no_local,
            inflight: BTreeMap::new(),
            delivered_upto: None,
            pull: false,
            seq_of: HashMap::default(),
            next_seq: 0,
            backlog: Pending::default(),
            delayed: BTreeMap::new(),
            durable: None,
            selector: spec.selector,
        }
    }

    /// Whether the subscription's selector (if any) selects `m`.
    pub(super) fn wants(&self, m: &Message) -> bool {
        selects(self.selector.as_ref(), m)
    }

    /// Room for one more delivery: within the prefetch window (which
    /// DELIVERED acks widen), and never more unacknowledged messages in
    /// all than `limits.max_unacked_per_consumer`.
    pub(super) fn has_credit(&self) -> bool {
        self.inflight.len() < self.max_inflight && (self.pull || self.unconsumed() < self.prefetch)
    }

    /// In flight and not yet handed to the application.
    fn unconsumed(&self) -> usize {
        match self.delivered_upto {
            None => self.inflight.len(),
            Some(s) => self.inflight.range(s + 1..).count(),
        }
    }

    pub(super) fn deliver(&mut self, id: &Arc<str>, m: Message, outbox: &Outbox) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(m.id, seq);
        self.inflight.insert(seq, m.clone());
        if self.unconsumed() > self.prefetch {
            // Beyond the window: this delivery answers the waiting pull.
            self.pull = false;
        }
        outbox.push(Delivery {
            subscription: id.clone(),
            ack: self.ack,
            message: m,
        });
    }
}

#[cfg(test)]
mod tests;
