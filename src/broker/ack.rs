//! Acknowledgements, redelivery, dead-lettering and expiry.

use crate::broker::state::{redelivered, AckKind, ConnId, DestStats, State, SubKey};
use crate::broker::{AckMode, AckRequest, BrokerError};
use crate::message::{now_ms, Destination, Message};
use crate::store::WriteOp;
use foldhash::HashSet;
use std::sync::Arc;

impl State {
    /// ACK or NACK of `ack.message_id`. Without a subscription (STOMP
    /// 1.0) the connection's subscription holding the message is used.
    /// With `ack.first` the messages in flight from it to the named one are
    /// covered (an OpenWire range: a transaction's poison ack after too many
    /// rollbacks), or only the named one when `first` is no longer in
    /// flight; without it client-mode subscriptions acknowledge
    /// cumulatively.
    pub fn acknowledge(
        &mut self,
        conn: ConnId,
        ack: &AckRequest,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let message_id = ack.message_id;
        let kind = &ack.kind;
        let key = self.find_holder(conn, ack.subscription.as_deref(), message_id)?;
        let Some(sub) = self.subscriptions.get_mut(&key) else {
            return Err(BrokerError::NotInFlight(message_id));
        };
        let Some(&seq) = sub.seq_of.get(&message_id) else {
            return Err(BrokerError::NotInFlight(message_id));
        };
        if *kind == AckKind::Delivered {
            sub.delivered_upto = sub.delivered_upto.max(Some(seq));
            let dest = sub.destination.clone();
            self.dispatch(&dest, ops);
            return Ok(());
        }
        let from = match (kind, ack.first) {
            (AckKind::Individual, _) => seq,
            (_, Some(first)) => sub
                .seq_of
                .get(&first)
                .copied()
                .filter(|f| *f <= seq)
                .unwrap_or(seq),
            (_, None) if sub.ack == AckMode::Client => 0,
            (_, None) => seq,
        };
        let seqs: Vec<u64> = sub.inflight.range(from..=seq).map(|(s, _)| *s).collect();
        let taken: Vec<Message> = seqs.iter().filter_map(|s| sub.inflight.remove(s)).collect();
        for m in &taken {
            sub.seq_of.remove(&m.id);
        }
        let dest = sub.destination.clone();
        for m in taken {
            match kind {
                AckKind::Ack | AckKind::Individual => self.consumed_by(&key, m, ops),
                AckKind::Nack => self.requeue(&key, m, true, ops),
                AckKind::Poison(cause) => self.poisoned(&key, m, cause, ops),
                AckKind::Expired if m.destination.is_queue() => self.expired(m, ops),
                AckKind::Expired => self.topic_expired(&key, m, ops),
                AckKind::Delivered => {}
            }
        }
        self.dispatch(&dest, ops);
        Ok(())
    }

    /// The client gave up on `m`: to its dead-letter queue at once.
    fn poisoned(&mut self, key: &SubKey, m: Message, cause: &str, ops: &mut Vec<WriteOp>) {
        let durable = self.subscriptions.get(key).and_then(|s| s.durable.clone());
        let id = m.id;
        let cause = if cause.is_empty() {
            "the client gave up on the message (poison acknowledgement)"
        } else {
            cause
        };
        self.dead_letter(m, cause, ops);
        if let Some(dkey) = durable {
            self.durable_done(&dkey, id, ops);
        }
    }

    /// See [`crate::broker::Broker::pull`].
    pub fn pull(
        &mut self,
        conn: ConnId,
        id: &str,
        ops: &mut Vec<WriteOp>,
    ) -> Result<bool, BrokerError> {
        let key: SubKey = (conn, Arc::from(id));
        let Some(sub) = self.subscriptions.get_mut(&key) else {
            return Err(BrokerError::UnknownSubscription(id.to_string()));
        };
        sub.pull = true;
        let dest = sub.destination.clone();
        if dest.is_queue() {
            self.dispatch(&dest, ops);
        } else {
            self.dispatch_topic_sub(&key, ops);
        }
        Ok(self.subscriptions.get(&key).is_some_and(|s| !s.pull))
    }

    /// See [`crate::broker::Broker::set_prefetch`].
    pub fn set_prefetch(
        &mut self,
        conn: ConnId,
        id: &str,
        prefetch: usize,
        ops: &mut Vec<WriteOp>,
    ) {
        let key: SubKey = (conn, Arc::from(id));
        let Some(sub) = self.subscriptions.get_mut(&key) else {
            return;
        };
        sub.prefetch = prefetch.min(self.config.max_unacked_per_consumer);
        let dest = sub.destination.clone();
        if dest.is_queue() {
            self.dispatch(&dest, ops);
        } else {
            self.dispatch_topic_sub(&key, ops);
        }
    }

    /// See [`crate::broker::Broker::cancel_pull`].
    pub fn cancel_pull(&mut self, conn: ConnId, id: &str) -> bool {
        let key: SubKey = (conn, Arc::from(id));
        self.subscriptions
            .get_mut(&key)
            .is_some_and(|s| std::mem::replace(&mut s.pull, false))
    }

    /// Auto-acknowledges deliveries once written to the socket.
    pub fn written(&mut self, conn: ConnId, delivered: &[(Arc<str>, i64)], ops: &mut Vec<WriteOp>) {
        let mut touched = HashSet::default();
        for (sub_id, id) in delivered {
            let key = (conn, sub_id.clone());
            let Some(sub) = self.subscriptions.get_mut(&key) else {
                continue;
            };
            if sub.ack != AckMode::Auto {
                continue;
            }
            if let Some(m) = sub.seq_of.remove(id).and_then(|s| sub.inflight.remove(&s)) {
                touched.insert(sub.destination.clone());
                self.consumed_by(&key, m, ops);
            }
        }
        for dest in touched {
            self.dispatch(&dest, ops);
        }
    }

    /// Fails unless every acknowledgement names a message in flight.
    pub fn check_acks(&self, conn: ConnId, acks: &[AckRequest]) -> Result<(), BrokerError> {
        for a in acks {
            let key = self.find_holder(conn, a.subscription.as_deref(), a.message_id)?;
            if !self
                .subscriptions
                .get(&key)
                .is_some_and(|s| s.seq_of.contains_key(&a.message_id))
            {
                return Err(BrokerError::NotInFlight(a.message_id));
            }
        }
        Ok(())
    }

    /// The id of the message in flight to `conn` (on `subscription`, else
    /// on any of its subscriptions) that its sending client named
    /// `client_id`: an OpenWire message's JMSMessageID, which STOMP shows
    /// as its `message-id`, so STOMP 1.0/1.1 acknowledge by it.
    pub fn in_flight_by_client_id(
        &self,
        conn: ConnId,
        subscription: Option<&str>,
        client_id: &str,
    ) -> Option<i64> {
        let subs: Vec<Arc<str>> = match subscription {
            Some(s) => vec![Arc::from(s)],
            None => self
                .connections
                .by_id
                .get(&conn)
                .map(|c| c.subs.to_vec())
                .unwrap_or_default(),
        };
        subs.into_iter().find_map(|s| {
            self.subscriptions.get(&(conn, s)).and_then(|sub| {
                sub.inflight
                    .values()
                    .find(|m| m.client_id.as_deref() == Some(client_id))
                    .map(|m| m.id)
            })
        })
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
                if self.subscriptions.contains_key(&key) {
                    Ok(key)
                } else {
                    Err(BrokerError::UnknownSubscription(s.to_string()))
                }
            }
            None => self
                .connections
                .by_id
                .get(&conn)
                .and_then(|c| {
                    c.subs.iter().find(|s| {
                        self.subscriptions
                            .get(&(conn, (*s).clone()))
                            .is_some_and(|sub| sub.seq_of.contains_key(&id))
                    })
                })
                .map(|s| (conn, s.clone()))
                .ok_or(BrokerError::NotInFlight(id)),
        }
    }

    /// `key`'s subscription consumed `m`.
    fn consumed_by(&mut self, key: &SubKey, m: Message, ops: &mut Vec<WriteOp>) {
        let durable = self.subscriptions.get(key).and_then(|s| s.durable.clone());
        let id = m.id;
        self.consumed(m, ops);
        if let Some(dkey) = durable {
            self.durable_done(&dkey, id, ops);
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
            Destination::Queue(n) => self.destinations.queues.get_mut(n).map(|q| &mut q.stats),
            Destination::Topic(n) => self.destinations.topics.get_mut(n).map(|t| &mut t.stats),
        }
    }

    /// Puts a message back for another attempt, or dead-letters it once it
    /// has used up its redeliveries.
    fn requeue(&mut self, key: &SubKey, m: Message, failed: bool, ops: &mut Vec<WriteOp>) {
        let m = if failed { redelivered(m) } else { m };
        match &m.destination {
            Destination::Queue(_) => self.requeue_to_queue(m, failed, ops),
            Destination::Topic(_) => {
                if let Some(cause) = self.exhausted(&m) {
                    let durable = self.subscriptions.get(key).and_then(|s| s.durable.clone());
                    let id = m.id;
                    self.dead_letter(m, &cause, ops);
                    if let Some(dkey) = durable {
                        self.durable_done(&dkey, id, ops);
                    }
                } else {
                    self.requeue_to_subscription(key, m, failed);
                }
            }
        }
    }

    /// Back into a topic subscription's backlog, after the policy's
    /// redelivery delay when this return is a failed delivery. The delay
    /// is kept in memory only: after a failover a durable subscription's
    /// messages come back at once (with `redelivered:true`).
    fn requeue_to_subscription(&mut self, key: &SubKey, m: Message, failed: bool) {
        let delay = if failed {
            self.config
                .policies
                .of(&m.destination)
                .redelivery_delay(m.redelivery_count)
        } else {
            0
        };
        let Some(sub) = self.subscriptions.get_mut(key) else {
            return;
        };
        if delay <= 0 {
            sub.backlog.insert(m);
            return;
        }
        let at = now_ms().saturating_add(delay);
        sub.delayed.insert((at, m.id), m);
        self.scheduler.next_delay_seq += 1;
        self.scheduler
            .topic_delays
            .insert((at, self.scheduler.next_delay_seq), key.clone());
    }

    /// Topic redeliveries due at `now` go back into their subscriptions'
    /// backlogs and are handed out.
    pub(super) fn topic_redeliveries_due(&mut self, now: i64, ops: &mut Vec<WriteOp>) {
        while let Some(entry) = self.scheduler.topic_delays.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let Some(sub) = self.subscriptions.get_mut(&key) else {
                continue;
            };
            let later = sub.delayed.split_off(&(now.saturating_add(1), i64::MIN));
            for (_, m) in std::mem::replace(&mut sub.delayed, later) {
                sub.backlog.insert(m);
            }
            self.dispatch_topic_sub(&key, ops);
        }
    }

    /// Why `m` must be dead-lettered now, if it has failed more often than
    /// its destination's policy allows (never in a dead-letter destination).
    fn exhausted(&self, m: &Message) -> Option<String> {
        let policies = &self.config.policies;
        let max = policies.of(&m.destination).max_redeliveries;
        (m.redelivery_count > max && !policies.is_dead_letter(&m.destination)).then(|| {
            format!(
                "delivery failed {} times (max_redeliveries = {max})",
                m.redelivery_count
            )
        })
    }

    pub(super) fn unwritten_back(&mut self, m: Message, ops: &mut Vec<WriteOp>) {
        if m.destination.is_queue() {
            self.requeue_to_queue(m, false, ops);
        }
    }

    /// `counted`: this return is a failed delivery; a persistent message's
    /// count is stored so the dead-letter limit holds across restarts. With
    /// a redelivery delay the message waits with the scheduled messages
    /// (its due time stored with the count, so the delay survives a
    /// failover) and comes back through `redelivery_due`.
    pub(super) fn requeue_to_queue(
        &mut self,
        mut m: Message,
        counted: bool,
        ops: &mut Vec<WriteOp>,
    ) {
        if let Some(cause) = self.exhausted(&m) {
            self.dead_letter(m, &cause, ops);
            return;
        }
        let delay = if counted {
            self.config
                .policies
                .of(&m.destination)
                .redelivery_delay(m.redelivery_count)
        } else {
            0
        };
        let at = if delay > 0 {
            now_ms().saturating_add(delay)
        } else {
            0
        };
        if counted && m.persistent {
            ops.push(WriteOp::SetRedeliveries {
                id: m.id,
                count: m.redelivery_count,
                at,
            });
        }
        if at > 0 {
            m.scheduled = at;
            self.hold(m);
            return;
        }
        if let Some(q) = self.destinations.queues.get_mut(m.destination.name()) {
            State::note_resident(q, &m);
            q.pending.insert(m);
        }
    }

    /// A delayed redelivery is due: back into its queue.
    pub(super) fn redelivery_due(&mut self, mut m: Message, ops: &mut Vec<WriteOp>) {
        m.scheduled = 0;
        let dest = m.destination.clone();
        let prioritized = self.config.policies.of(&dest).prioritized;
        let q = self
            .destinations
            .queues
            .entry(dest.name().to_string())
            .or_default();
        q.pending.set_prioritized(prioritized);
        State::note_resident(q, &m);
        q.pending.insert(m);
        self.dispatch(&dest, ops);
    }

    /// Sends `m` to its policy's dead-letter destination (or drops it with
    /// the discard strategy), with `dlqDeliveryFailureCause`,
    /// `original-destination` and, if it had one, `originalExpiration`;
    /// a dead letter never expires.
    fn dead_letter(&mut self, mut m: Message, cause: &str, ops: &mut Vec<WriteOp>) {
        let from = m.destination.clone();
        if let Some(s) = self.stats_mut(&from) {
            s.dead_lettered += 1;
        }
        let Some(to) = self
            .config
            .policies
            .of(&from)
            .dead_letter_destination(&from)
        else {
            if m.persistent && from.is_queue() {
                ops.push(WriteOp::Delete(m.id));
            }
            return;
        };
        let expires = m.expires;
        m.edit_headers(|headers| {
            headers.retain(|(k, _)| {
                ![CAUSE, ORIGINAL_DESTINATION, ORIGINAL_EXPIRATION, "expires"].contains(&k.as_str())
            });
            headers.push((CAUSE.into(), cause.into()));
            headers.push((ORIGINAL_DESTINATION.into(), from.to_string().into()));
            if expires > 0 {
                headers.push((ORIGINAL_EXPIRATION.into(), expires.to_string().into()));
            }
        });
        m.expires = 0;
        m.scheduled = 0;
        if !from.is_queue() {
            // A topic message is shared: its dead letter is a new message
            // (one per subscription that gave up on it).
            m.id = self
                .config
                .ids
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        m.destination = to;
        m.redelivery_count = 0;
        if m.persistent {
            if from.is_queue() {
                ops.push(WriteOp::Move {
                    id: m.id,
                    destination: m.destination.to_string(),
                    meta: m.meta(),
                    expires: 0,
                });
            } else if self.keeps(&m.destination) {
                ops.push(WriteOp::Insert(m.clone()));
            }
        }
        self.route(m, ops);
    }

    /// An expired queue message leaves: to the dead-letter queue when its
    /// policy has `process_expired` (counted as expired and dead-lettered),
    /// else dropped (counted as expired).
    pub(super) fn expired(&mut self, m: Message, ops: &mut Vec<WriteOp>) {
        if let Some(s) = self.stats_mut(&m.destination) {
            s.expired += 1;
        }
        let policies = &self.config.policies;
        if m.destination.is_queue()
            && policies.of(&m.destination).process_expired
            && !policies.is_dead_letter(&m.destination)
        {
            self.dead_letter(m, "message expired", ops);
        } else if m.persistent && m.destination.is_queue() {
            ops.push(WriteOp::Delete(m.id));
        }
    }

    /// An expired message of topic subscription `key`: counted, to the
    /// dead-letter queue with `process_expired`, and done for its durable
    /// subscription (so the stored row and the `acks` cursor move on).
    pub(super) fn topic_expired(&mut self, key: &SubKey, m: Message, ops: &mut Vec<WriteOp>) {
        if let Some(s) = self.stats_mut(&m.destination) {
            s.expired += 1;
        }
        let durable = self.subscriptions.get(key).and_then(|s| s.durable.clone());
        let id = m.id;
        let policies = &self.config.policies;
        if policies.of(&m.destination).process_expired && !policies.is_dead_letter(&m.destination) {
            self.dead_letter(m, "message expired", ops);
        }
        if let Some(dkey) = durable {
            self.durable_done(&dkey, id, ops);
        }
    }

    /// Removes expired messages still waiting in queues.
    pub fn expire(&mut self, ops: &mut Vec<WriteOp>) {
        let now = now_ms();
        let gone: Vec<Message> = self
            .destinations
            .queues
            .values_mut()
            .flat_map(|q| q.pending.remove_where(|m| m.is_expired(now)))
            .collect();
        for m in gone {
            self.expired(m, ops);
        }
    }

    /// Applies the destination's default TTL and TTL ceiling to a message
    /// being sent (not to a scheduled job; its copies keep the job's expiry).
    pub fn stamp_ttl(&self, m: &mut Message, now: i64) {
        if m.scheduled == 0 {
            self.config.policies.of(&m.destination).stamp_ttl(m, now);
        }
    }
}

/// Why a message was dead-lettered (ActiveMQ's property name).
pub const CAUSE: &str = "dlqDeliveryFailureCause";
/// Where a dead letter was sent originally.
pub const ORIGINAL_DESTINATION: &str = "original-destination";
/// A dead letter's expiry before it was cleared.
pub const ORIGINAL_EXPIRATION: &str = "originalExpiration";
