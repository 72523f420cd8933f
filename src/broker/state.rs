//! The broker core's state and every synchronous operation on it. The
//! `Broker` facade holds it behind a std mutex for short sections; nothing
//! here awaits. Store writes an operation causes are returned as `WriteOp`s.

use super::outbox::{Delivery, Outbox};

use super::pending::Pending;
use super::{AckMode, BrokerError, SubscribeSpec};
use crate::message::{now_ms, Destination, Message};
use crate::store::WriteOp;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub type ConnId = u64;
type SubKey = (ConnId, Arc<str>);

/// Core settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub max_redeliveries: u32,
    pub dlq_prefix: String,
    pub topic_pending_limit: usize,
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
struct Queue {
    pending: Pending,
    consumers: Vec<SubKey>,
    next: usize,
    stats: DestStats,
}

#[derive(Default)]
struct Topic {
    subscribers: Vec<SubKey>,
    stats: DestStats,
}

struct Subscription {
    destination: Destination,
    ack: AckMode,
    prefetch: usize,
    /// Delivered, not yet acknowledged, by delivery sequence.
    inflight: BTreeMap<u64, Message>,
    seq_of: HashMap<i64, u64>,
    next_seq: u64,
    /// Topic subscriptions only: fanned-out messages not yet handed out.
    backlog: Pending,
}

struct Conn {
    outbox: Arc<Outbox>,
    subs: Vec<Arc<str>>,
}

/// What the acknowledgement frame asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    Ack,
    Nack,
}

pub struct State {
    config: CoreConfig,
    queues: HashMap<String, Queue>,
    topics: HashMap<String, Topic>,
    subs: HashMap<SubKey, Subscription>,
    conns: HashMap<ConnId, Conn>,
}

/// Snapshot of one destination for admin views and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestInfo {
    pub destination: Destination,
    pub depth: usize,
    pub inflight: usize,
    pub consumers: usize,
    pub stats: DestStats,
}

impl State {
    pub fn new(config: CoreConfig) -> State {
        State {
            config,
            queues: HashMap::new(),
            topics: HashMap::new(),
            subs: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    pub fn add_conn(&mut self, conn: ConnId, outbox: Arc<Outbox>) {
        self.conns.insert(
            conn,
            Conn {
                outbox,
                subs: Vec::new(),
            },
        );
    }

    /// Removes a connection and all its subscriptions.
    pub fn remove_conn(&mut self, conn: ConnId, ops: &mut Vec<WriteOp>) {
        let subs = self
            .conns
            .get(&conn)
            .map(|c| c.subs.clone())
            .unwrap_or_default();
        for id in subs {
            self.remove_sub(&(conn, id), ops);
        }
        self.conns.remove(&conn);
    }

    pub fn subscribe(
        &mut self,
        conn: ConnId,
        spec: SubscribeSpec,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let id: Arc<str> = Arc::from(spec.id.as_str());
        let key = (conn, id.clone());
        if self.subs.contains_key(&key) {
            return Err(BrokerError::DuplicateSubscription(spec.id));
        }
        let c = self.conns.get_mut(&conn).ok_or(BrokerError::ShuttingDown)?;
        c.subs.push(id);
        match &spec.destination {
            Destination::Queue(n) => self
                .queues
                .entry(n.clone())
                .or_default()
                .consumers
                .push(key.clone()),
            Destination::Topic(n) => self
                .topics
                .entry(n.clone())
                .or_default()
                .subscribers
                .push(key.clone()),
        }
        let dest = spec.destination.clone();
        self.subs.insert(
            key,
            Subscription {
                destination: spec.destination,
                ack: spec.ack,
                prefetch: spec.prefetch.max(1),
                inflight: BTreeMap::new(),
                seq_of: HashMap::new(),
                next_seq: 0,
                backlog: Pending::default(),
            },
        );
        self.dispatch(&dest, ops);
        Ok(())
    }

    pub fn unsubscribe(
        &mut self,
        conn: ConnId,
        id: &str,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let key: SubKey = (conn, Arc::from(id));
        if !self.subs.contains_key(&key) {
            return Err(BrokerError::UnknownSubscription(id.to_string()));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.subs.retain(|s| **s != *id);
        }
        self.remove_sub(&key, ops);
        Ok(())
    }

    /// Removes a subscription. Deliveries still waiting in the outbox never
    /// reached the client and go back unchanged; the rest in flight count as
    /// failed deliveries.
    fn remove_sub(&mut self, key: &SubKey, ops: &mut Vec<WriteOp>) {
        let Some(mut sub) = self.subs.remove(key) else {
            return;
        };
        let unwritten = self
            .conns
            .get(&key.0)
            .map(|c| c.outbox.remove_for(&key.1))
            .unwrap_or_default();
        for d in unwritten {
            if let Some(seq) = sub.seq_of.remove(&d.message.id) {
                if let Some(m) = sub.inflight.remove(&seq) {
                    self.unwritten_back(m, ops);
                }
            }
        }
        match &sub.destination {
            Destination::Queue(n) => {
                if let Some(q) = self.queues.get_mut(n) {
                    q.consumers.retain(|k| k != key);
                    for (_, m) in std::mem::take(&mut sub.inflight) {
                        self.requeue_to_queue(redelivered(m), true, ops);
                    }
                }
                let dest = sub.destination.clone();
                self.dispatch(&dest, ops);
            }
            Destination::Topic(n) => {
                if let Some(t) = self.topics.get_mut(n) {
                    t.subscribers.retain(|k| k != key);
                }
            }
        }
    }

    /// Routes a message that is committed (persistent) or needs no commit.
    pub fn route(&mut self, message: Message, ops: &mut Vec<WriteOp>) {
        let now = now_ms();
        let dest = message.destination.clone();
        match &dest {
            Destination::Queue(n) => {
                let q = self.queues.entry(n.clone()).or_default();
                if message.is_expired(now) {
                    q.stats.expired += 1;
                    if message.persistent {
                        ops.push(WriteOp::Delete(message.id));
                    }
                    return;
                }
                q.stats.enqueued += 1;
                q.pending.insert(message);
            }
            Destination::Topic(n) => {
                let t = self.topics.entry(n.clone()).or_default();
                if message.is_expired(now) {
                    t.stats.expired += 1;
                    return;
                }
                t.stats.enqueued += 1;
                let limit = self.config.topic_pending_limit;
                for key in t.subscribers.clone() {
                    let Some(sub) = self.subs.get_mut(&key) else {
                        continue;
                    };
                    sub.backlog.insert(message.clone());
                    if sub.backlog.len() > limit {
                        sub.backlog.drain();
                        if let Some(c) = self.conns.get(&key.0) {
                            c.outbox.close(format!(
                                "slow consumer: subscription '{}' on {} has more than {} undelivered messages",
                                key.1, dest, limit
                            ));
                        }
                    }
                }
            }
        }
        self.dispatch(&dest, ops);
    }

    /// Hands out messages to subscriptions with free prefetch.
    fn dispatch(&mut self, dest: &Destination, ops: &mut Vec<WriteOp>) {
        match dest {
            Destination::Queue(n) => self.dispatch_queue(n, ops),
            Destination::Topic(n) => {
                let keys = self
                    .topics
                    .get(n)
                    .map(|t| t.subscribers.clone())
                    .unwrap_or_default();
                for key in keys {
                    self.dispatch_topic_sub(&key);
                }
            }
        }
    }

    fn dispatch_queue(&mut self, name: &str, ops: &mut Vec<WriteOp>) {
        let State {
            queues,
            subs,
            conns,
            ..
        } = self;
        let Some(q) = queues.get_mut(name) else {
            return;
        };
        let now = now_ms();
        while !q.pending.is_empty() && !q.consumers.is_empty() {
            let n = q.consumers.len();
            let Some(idx) = (0..n)
                .map(|i| (q.next + i) % n)
                .find(|&i| subs.get(&q.consumers[i]).is_some_and(|s| s.has_credit()))
            else {
                break;
            };
            let Some(m) = q.pending.pop() else { break };
            if m.is_expired(now) {
                q.stats.expired += 1;
                if m.persistent {
                    ops.push(WriteOp::Delete(m.id));
                }
                continue;
            }
            q.next = (idx + 1) % n;
            let key = &q.consumers[idx];
            if let (Some(sub), Some(c)) = (subs.get_mut(key), conns.get(&key.0)) {
                sub.deliver(&key.1, m, &c.outbox);
            }
        }
    }

    fn dispatch_topic_sub(&mut self, key: &SubKey) {
        let (Some(sub), Some(c)) = (self.subs.get_mut(key), self.conns.get(&key.0)) else {
            return;
        };
        let now = now_ms();
        while sub.has_credit() {
            let Some(m) = sub.backlog.pop() else { break };
            if !m.is_expired(now) {
                sub.deliver(&key.1, m, &c.outbox);
            }
        }
    }

    /// ACK or NACK of `message_id`. Without `subscription` (STOMP 1.0) the
    /// connection's subscription holding the message is used. Client-mode
    /// subscriptions acknowledge cumulatively.
    pub fn acknowledge(
        &mut self,
        conn: ConnId,
        subscription: Option<&str>,
        message_id: i64,
        kind: AckKind,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let key = self.find_holder(conn, subscription, message_id)?;
        let Some(sub) = self.subs.get_mut(&key) else {
            return Err(BrokerError::NotInFlight(message_id));
        };
        let Some(&seq) = sub.seq_of.get(&message_id) else {
            return Err(BrokerError::NotInFlight(message_id));
        };
        let taken: Vec<Message> = if sub.ack == AckMode::Client {
            let rest = sub.inflight.split_off(&(seq + 1));
            let done = std::mem::replace(&mut sub.inflight, rest);
            done.into_values().collect()
        } else {
            sub.inflight.remove(&seq).into_iter().collect()
        };
        for m in &taken {
            sub.seq_of.remove(&m.id);
        }
        let dest = sub.destination.clone();
        for m in taken {
            match kind {
                AckKind::Ack => self.consumed(m, ops),
                AckKind::Nack => self.requeue(&key, m, true, ops),
            }
        }
        self.dispatch(&dest, ops);
        Ok(())
    }

    /// Auto-acknowledges deliveries once written to the socket.
    pub fn written(&mut self, conn: ConnId, delivered: &[(Arc<str>, i64)], ops: &mut Vec<WriteOp>) {
        let mut touched = HashSet::new();
        for (sub_id, id) in delivered {
            let key = (conn, sub_id.clone());
            let Some(sub) = self.subs.get_mut(&key) else {
                continue;
            };
            if sub.ack != AckMode::Auto {
                continue;
            }
            if let Some(m) = sub.seq_of.remove(id).and_then(|s| sub.inflight.remove(&s)) {
                touched.insert(sub.destination.clone());
                self.consumed(m, ops);
            }
        }
        for dest in touched {
            self.dispatch(&dest, ops);
        }
    }

    /// Fails unless every acknowledgement names a message in flight.
    pub fn check_acks(&self, conn: ConnId, acks: &[super::AckRequest]) -> Result<(), BrokerError> {
        for a in acks {
            let key = self.find_holder(conn, a.subscription.as_deref(), a.message_id)?;
            if !self
                .subs
                .get(&key)
                .is_some_and(|s| s.seq_of.contains_key(&a.message_id))
            {
                return Err(BrokerError::NotInFlight(a.message_id));
            }
        }
        Ok(())
    }

    fn find_holder(
        &self,
        conn: ConnId,
        subscription: Option<&str>,
        id: i64,
    ) -> Result<SubKey, BrokerError> {
        match subscription {
            Some(s) => {
                let key = (conn, Arc::from(s));
                if self.subs.contains_key(&key) {
                    Ok(key)
                } else {
                    Err(BrokerError::UnknownSubscription(s.to_string()))
                }
            }
            None => self
                .conns
                .get(&conn)
                .and_then(|c| {
                    c.subs.iter().find(|s| {
                        self.subs
                            .get(&(conn, (*s).clone()))
                            .is_some_and(|sub| sub.seq_of.contains_key(&id))
                    })
                })
                .map(|s| (conn, s.clone()))
                .ok_or(BrokerError::NotInFlight(id)),
        }
    }

    fn consumed(&mut self, m: Message, ops: &mut Vec<WriteOp>) {
        if let Some(s) = self.stats_mut(&m.destination) {
            s.dequeued += 1;
        }
        if m.persistent && m.destination.is_queue() {
            ops.push(WriteOp::Delete(m.id));
        }
    }

    fn stats_mut(&mut self, d: &Destination) -> Option<&mut DestStats> {
        match d {
            Destination::Queue(n) => self.queues.get_mut(n).map(|q| &mut q.stats),
            Destination::Topic(n) => self.topics.get_mut(n).map(|t| &mut t.stats),
        }
    }

    /// Puts a message back for another attempt, or dead-letters it once it
    /// has used up its redeliveries.
    fn requeue(&mut self, key: &SubKey, m: Message, failed: bool, ops: &mut Vec<WriteOp>) {
        let m = if failed { redelivered(m) } else { m };
        match &m.destination {
            Destination::Queue(_) => self.requeue_to_queue(m, failed, ops),
            Destination::Topic(_) => {
                if m.redelivery_count > self.config.max_redeliveries {
                    self.dead_letter(m, ops);
                } else if let Some(sub) = self.subs.get_mut(key) {
                    sub.backlog.insert(m);
                }
            }
        }
    }

    fn unwritten_back(&mut self, m: Message, ops: &mut Vec<WriteOp>) {
        if m.destination.is_queue() {
            self.requeue_to_queue(m, false, ops);
        }
    }

    /// `counted`: this return is a failed delivery; a persistent message's
    /// count is stored so the dead-letter limit holds across restarts.
    fn requeue_to_queue(&mut self, m: Message, counted: bool, ops: &mut Vec<WriteOp>) {
        let is_dlq = m.destination.name().starts_with(&self.config.dlq_prefix);
        if m.redelivery_count > self.config.max_redeliveries && !is_dlq {
            self.dead_letter(m, ops);
            return;
        }
        if counted && m.persistent {
            ops.push(WriteOp::SetRedeliveries {
                id: m.id,
                count: m.redelivery_count,
            });
        }
        if let Some(q) = self.queues.get_mut(m.destination.name()) {
            q.pending.insert(m);
        }
    }

    fn dead_letter(&mut self, mut m: Message, ops: &mut Vec<WriteOp>) {
        let from = m.destination.clone();
        if let Some(s) = self.stats_mut(&from) {
            s.dead_lettered += 1;
        }
        let cause = format!(
            "delivery failed {} times (max_redeliveries = {})",
            m.redelivery_count, self.config.max_redeliveries
        );
        m.headers
            .retain(|(k, _)| k != "dlqDeliveryFailureCause" && k != "original-destination");
        m.headers.push(("dlqDeliveryFailureCause".into(), cause));
        m.headers
            .push(("original-destination".into(), from.to_string()));
        m.destination = Destination::Queue(format!("{}{}", self.config.dlq_prefix, from.name()));
        m.redelivery_count = 0;
        if m.persistent {
            if from.is_queue() {
                ops.push(WriteOp::Move {
                    id: m.id,
                    destination: m.destination.to_string(),
                    headers: m.headers.clone(),
                });
            } else {
                ops.push(WriteOp::Insert(m.clone()));
            }
        }
        self.route(m, ops);
    }

    /// Drops expired messages still waiting in queues.
    pub fn expire(&mut self, ops: &mut Vec<WriteOp>) {
        let now = now_ms();
        for q in self.queues.values_mut() {
            let gone = q.pending.remove_where(|m| m.is_expired(now));
            q.stats.expired += gone.len() as u64;
            ops.extend(
                gone.into_iter()
                    .filter(|m| m.persistent)
                    .map(|m| WriteOp::Delete(m.id)),
            );
        }
    }

    /// Every destination the broker knows, sorted.
    pub fn destinations(&self) -> Vec<DestInfo> {
        let mut out: Vec<DestInfo> = self
            .queues
            .iter()
            .map(|(n, q)| DestInfo {
                destination: Destination::Queue(n.clone()),
                depth: q.pending.len(),
                inflight: q
                    .consumers
                    .iter()
                    .filter_map(|k| self.subs.get(k))
                    .map(|s| s.inflight.len())
                    .sum(),
                consumers: q.consumers.len(),
                stats: q.stats,
            })
            .chain(self.topics.iter().map(|(n, t)| DestInfo {
                destination: Destination::Topic(n.clone()),
                depth: 0,
                inflight: 0,
                consumers: t.subscribers.len(),
                stats: t.stats,
            }))
            .collect();
        out.sort_by(|a, b| a.destination.cmp(&b.destination));
        out
    }
}

fn redelivered(mut m: Message) -> Message {
    m.redelivery_count += 1;
    m.redelivered = true;
    m
}

impl Subscription {
    fn has_credit(&self) -> bool {
        self.inflight.len() < self.prefetch
    }

    fn deliver(&mut self, id: &Arc<str>, m: Message, outbox: &Outbox) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(m.id, seq);
        self.inflight.insert(seq, m.clone());
        outbox.push(Delivery {
            subscription: id.clone(),
            ack: self.ack,
            message: m,
        });
    }
}

#[path = "state_admin.rs"]
mod admin;
pub use admin::{AdminOpError, ConnView, SubView};

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
