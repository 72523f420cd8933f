//! Acknowledgements, redelivery, dead-lettering and expiry.

use super::{redelivered, AckKind, ConnId, DestStats, State, SubKey};
use crate::broker::{AckMode, AckRequest, BrokerError};
use crate::message::{now_ms, Destination, Message};
use crate::store::WriteOp;
use std::collections::HashSet;
use std::sync::Arc;

impl State {
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
                AckKind::Ack => self.consumed_by(&key, m, ops),
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

    /// `key`'s subscription consumed `m`.
    fn consumed_by(&mut self, key: &SubKey, m: Message, ops: &mut Vec<WriteOp>) {
        let durable = self.subs.get(key).and_then(|s| s.durable.clone());
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
                    let durable = self.subs.get(key).and_then(|s| s.durable.clone());
                    let id = m.id;
                    self.dead_letter(m, ops);
                    if let Some(dkey) = durable {
                        self.durable_done(&dkey, id, ops);
                    }
                } else if let Some(sub) = self.subs.get_mut(key) {
                    sub.backlog.insert(m);
                }
            }
        }
    }

    pub(super) fn unwritten_back(&mut self, m: Message, ops: &mut Vec<WriteOp>) {
        if m.destination.is_queue() {
            self.requeue_to_queue(m, false, ops);
        }
    }

    /// `counted`: this return is a failed delivery; a persistent message's
    /// count is stored so the dead-letter limit holds across restarts.
    pub(super) fn requeue_to_queue(&mut self, m: Message, counted: bool, ops: &mut Vec<WriteOp>) {
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
}
