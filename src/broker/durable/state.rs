//! Durable topic subscriptions (ActiveMQ's `client-id` +
//! `activemq.subscriptionName`). A durable subscription outlives its
//! connection: messages published to its topic while nobody is attached
//! wait in its backlog and are delivered when a connection with the same
//! client id subscribes again, on any node after a failover.
//!
//! Persistence follows ActiveMQ's JDBC store: persistent topic messages
//! with at least one durable subscription are stored once in `msgs`; the
//! `acks` table holds each subscription and the id up to which it has
//! acknowledged everything (`last_acked_id`). A stored topic message is
//! deleted once every durable subscription that received it acknowledged
//! it (a reference count per message).

use crate::broker::pending::Pending;
use crate::broker::state::{
    redelivered, ClientIdHolder, ConnId, Durable, DurableKey, DurableRecord, State, SubKey,
    Subscription,
};
use crate::broker::{BrokerError, SubscribeSpec};
use crate::message::{Destination, Message};
use crate::store::WriteOp;
use std::collections::BTreeSet;
use std::sync::Arc;

impl State {
    /// Reserves `client_id` for `conn`: one connection per client id, as
    /// in JMS. `resume` is the client's own name for the connection
    /// (OpenWire's ConnectionId): a connection holding the id under the
    /// same name is a stale socket of this very client (a failover
    /// reconnect that came back before the broker saw the old socket die).
    /// The new one wins: the old one is removed and told to close, and its
    /// id returned.
    pub fn claim_client_id(
        &mut self,
        conn: ConnId,
        client_id: &str,
        resume: Option<&str>,
        ops: &mut Vec<WriteOp>,
    ) -> Result<Option<ConnId>, BrokerError> {
        let stale = match self.connections.client_ids.get(client_id) {
            Some(h) if h.conn != conn => {
                if resume.is_none() || h.resume.as_deref() != resume {
                    return Err(BrokerError::ClientIdInUse(client_id.to_string()));
                }
                Some(h.conn)
            }
            _ => None,
        };
        if let Some(old) = stale {
            if let Some(c) = self.connections.by_id.get(&old) {
                c.outbox.close(
                    "replaced by a new connection of the same client (a failover reconnect)"
                        .to_string(),
                );
            }
            self.remove_conn(old, ops);
        }
        self.connections.client_ids.insert(
            client_id.to_string(),
            ClientIdHolder {
                conn,
                resume: resume.map(str::to_string),
            },
        );
        Ok(stale)
    }

    /// Restores a durable subscription loaded from the store (before the
    /// stored messages are routed).
    pub fn restore_durable(&mut self, r: DurableRecord) {
        self.durable.subscriptions.insert(
            (Arc::from(r.client_id), Arc::from(r.name)),
            Durable {
                destination: r.destination,
                selector: r.selector,
                active: None,
                backlog: Pending::default(),
                outstanding: BTreeSet::new(),
                high: r.last_acked,
                last_acked: r.last_acked,
            },
        );
    }

    /// Whether a persistent message to `topic` must be stored.
    pub fn has_durables(&self, topic: &str) -> bool {
        self.durable
            .subscriptions
            .values()
            .any(|d| d.destination.name() == topic)
    }

    /// Attaches `conn`'s new subscription to durable subscription
    /// `client_id`/`name`, creating it (recorded in the store) if needed.
    /// Messages published after `created_after` (a message id) are the
    /// ones a new durable subscription keeps.
    pub(in crate::broker) fn subscribe_durable(
        &mut self,
        conn: ConnId,
        client_id: &str,
        name: &str,
        spec: SubscribeSpec,
        created_after: i64,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        if !matches!(spec.destination, Destination::Topic(_)) {
            return Err(BrokerError::DurableNeedsTopic(spec.destination.to_string()));
        }
        let dkey: DurableKey = (Arc::from(client_id), Arc::from(name));
        let replaced = match self.durable.subscriptions.get(&dkey) {
            Some(d) if d.active.is_some() => {
                return Err(BrokerError::DurableActive(name.to_string()));
            }
            Some(d) => d.destination != spec.destination || d.selector != spec.selector,
            None => false,
        };
        if replaced {
            self.drop_durable(&dkey, ops);
        }
        if !self.durable.subscriptions.contains_key(&dkey) {
            ops.push(WriteOp::DurableSave {
                client_id: client_id.to_string(),
                name: name.to_string(),
                destination: spec.destination.to_string(),
                selector: spec.selector.as_ref().map(|s| s.text().to_string()),
                last_acked: created_after,
            });
            self.durable.subscriptions.insert(
                dkey.clone(),
                Durable {
                    destination: spec.destination.clone(),
                    selector: spec.selector.clone(),
                    active: None,
                    backlog: Pending::default(),
                    outstanding: BTreeSet::new(),
                    high: created_after,
                    last_acked: created_after,
                },
            );
        }
        let id: Arc<str> = Arc::from(spec.id.as_str());
        let key: SubKey = (conn, id.clone());
        let mut sub = Subscription::new(spec, self.config.max_unacked_per_consumer);
        sub.durable = Some(dkey.clone());
        if let Some(d) = self.durable.subscriptions.get_mut(&dkey) {
            sub.backlog = std::mem::take(&mut d.backlog);
            d.active = Some(key.clone());
        }
        if let Some(c) = self.connections.by_id.get_mut(&conn) {
            c.subs.push(id);
        }
        self.subscriptions.insert(key.clone(), sub);
        self.dispatch_topic_sub(&key, ops);
        Ok(())
    }

    /// Hands a topic message to every durable subscription of `topic`.
    pub(in crate::broker) fn route_to_durables(
        &mut self,
        m: &Message,
        topic: &str,
        ops: &mut Vec<WriteOp>,
    ) {
        let mut refs = 0u32;
        let mut wake = Vec::new();
        for d in self.durable.subscriptions.values_mut() {
            if d.destination.name() != topic || (m.persistent && m.id <= d.last_acked) {
                continue;
            }
            if !crate::broker::state::selects(d.selector.as_ref(), m) {
                continue;
            }
            if m.persistent {
                d.outstanding.insert(m.id);
                d.high = d.high.max(m.id);
                refs += 1;
            }
            match &d.active {
                Some(key) => {
                    if let Some(sub) = self.subscriptions.get_mut(key) {
                        sub.backlog.insert(m.clone());
                        wake.push(key.clone());
                    }
                }
                None => d.backlog.insert(m.clone()),
            }
        }
        if refs > 0 {
            self.durable.topic_refs.insert(m.id, refs);
        }
        for key in wake {
            self.dispatch_topic_sub(&key, ops);
        }
    }

    /// Stored topic messages no durable subscription wants any more.
    pub fn unreferenced(&self, ids: &[i64]) -> Vec<i64> {
        ids.iter()
            .copied()
            .filter(|id| !self.durable.topic_refs.contains_key(id))
            .collect()
    }

    /// A durable subscription consumed (or dead-lettered) message `id`.
    pub(in crate::broker) fn durable_done(
        &mut self,
        dkey: &DurableKey,
        id: i64,
        ops: &mut Vec<WriteOp>,
    ) {
        if let Some(d) = self.durable.subscriptions.get_mut(dkey) {
            if d.outstanding.remove(&id) {
                let upto = d.outstanding.first().map_or(d.high, |first| first - 1);
                if upto > d.last_acked {
                    d.last_acked = upto;
                    ops.push(WriteOp::DurableAck {
                        client_id: dkey.0.to_string(),
                        name: dkey.1.to_string(),
                        last_acked: upto,
                    });
                }
                self.release(id, ops);
            }
        }
    }

    fn release(&mut self, id: i64, ops: &mut Vec<WriteOp>) {
        if let Some(n) = self.durable.topic_refs.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.durable.topic_refs.remove(&id);
                ops.push(WriteOp::Delete(id));
            }
        }
    }

    /// The subscription attached to a durable one went away: what it had
    /// not acknowledged waits for the next attach (as redelivered).
    pub(in crate::broker) fn detach_durable(&mut self, dkey: &DurableKey, sub: Subscription) {
        let Some(d) = self.durable.subscriptions.get_mut(dkey) else {
            return;
        };
        d.active = None;
        for m in sub.inflight.into_values() {
            d.backlog.insert(redelivered(m));
        }
        for m in sub.backlog.snapshot() {
            d.backlog.insert(m);
        }
    }

    /// UNSUBSCRIBE with `activemq.subscriptionName`: removes the durable
    /// subscription for good (detaching `conn`'s subscription first).
    pub fn unsubscribe_durable(
        &mut self,
        conn: ConnId,
        client_id: &str,
        name: &str,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        // A connection replaced by a reconnect of its client no longer
        // speaks for the client id.
        if self.connections.client_ids.get(client_id).map(|h| h.conn) != Some(conn) {
            return Err(BrokerError::ShuttingDown);
        }
        let dkey: DurableKey = (Arc::from(client_id), Arc::from(name));
        let Some(d) = self.durable.subscriptions.get(&dkey) else {
            return Err(BrokerError::UnknownDurable(name.to_string()));
        };
        if let Some(key) = d.active.clone() {
            if key.0 != conn {
                return Err(BrokerError::DurableActive(name.to_string()));
            }
            if let Some(c) = self.connections.by_id.get_mut(&conn) {
                c.subs.retain(|s| *s != key.1);
            }
            self.remove_sub(&key, crate::broker::state::Seen::All, ops);
        }
        self.drop_durable(&dkey, ops);
        Ok(())
    }

    /// Removes a durable subscription that is not attached (admin API).
    pub fn remove_durable(
        &mut self,
        client_id: &str,
        name: &str,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), BrokerError> {
        let dkey: DurableKey = (Arc::from(client_id), Arc::from(name));
        match self.durable.subscriptions.get(&dkey) {
            None => Err(BrokerError::UnknownDurable(name.to_string())),
            Some(d) if d.active.is_some() => Err(BrokerError::DurableActive(name.to_string())),
            Some(_) => {
                self.drop_durable(&dkey, ops);
                Ok(())
            }
        }
    }

    fn drop_durable(&mut self, dkey: &DurableKey, ops: &mut Vec<WriteOp>) {
        let Some(d) = self.durable.subscriptions.remove(dkey) else {
            return;
        };
        for id in d.outstanding {
            self.release(id, ops);
        }
        ops.push(WriteOp::DurableDelete {
            client_id: dkey.0.to_string(),
            name: dkey.1.to_string(),
        });
    }
}
