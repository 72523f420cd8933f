//! Admin operations on the core's state: look at a queue's messages in
//! memory, take one out, purge, remove a destination, list connections.
//! Nothing here awaits.

use crate::broker::outbox::ConnMeta;
use crate::broker::state::{DestInfo, State};
use crate::broker::AckMode;
use crate::message::{Destination, Message};
use crate::store::WriteOp;

/// Why an admin operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminOpError {
    #[error("{0} does not exist")]
    NoSuchDestination(String),
    #[error("message {id} is not waiting in {dest}")]
    NoSuchMessage { id: i64, dest: String },
    #[error("message {0} is being delivered to a consumer; it can be managed once it is back in the queue")]
    InFlight(i64),
    #[error("message {id} of {dest} may be stored beyond the queue's in-memory window (broker.queue_window); it can be managed once consumers have paged it in, or purge the queue")]
    BeyondWindow { id: i64, dest: String },
    #[error("{dest} has {consumers} consumer(s); close them first")]
    HasConsumers { dest: String, consumers: usize },
    #[error("there is no connection {0}")]
    NoSuchConnection(u64),
    #[error("the change could not be stored: {0}")]
    Store(String),
}

/// One subscription of a connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubView {
    pub id: String,
    pub destination: String,
    pub ack: &'static str,
    pub prefetch: usize,
    pub inflight: usize,
}

/// One client connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnView {
    pub id: u64,
    pub peer: Option<String>,
    /// `stomp`, `openwire` or `websocket`.
    pub protocol: Option<&'static str>,
    /// The protocol version the connection negotiated.
    pub protocol_version: Option<String>,
    /// The client id the client gave, if any.
    pub client_id: Option<String>,
    pub connected_at: Option<i64>,
    pub subscriptions: Vec<SubView>,
}

impl State {
    /// Every destination the broker knows, sorted.
    pub fn destinations(&self) -> Vec<DestInfo> {
        let mut out: Vec<DestInfo> = self
            .destinations
            .queues
            .iter()
            .map(|(n, q)| DestInfo {
                destination: Destination::Queue(n.clone()),
                depth: q.pending.len() + self.spilled(n) as usize,
                inflight: q
                    .consumers
                    .iter()
                    .filter_map(|k| self.subscriptions.get(k))
                    .map(|s| s.inflight.len())
                    .sum(),
                consumers: q.consumers.len(),
                producers: q.producers.len(),
                stats: q.stats,
            })
            .chain(self.destinations.topics.iter().map(|(n, t)| DestInfo {
                destination: Destination::Topic(n.clone()),
                depth: 0,
                inflight: 0,
                consumers: t.subscribers.len(),
                producers: t.producers.len(),
                stats: t.stats,
            }))
            .collect();
        out.sort_by(|a, b| a.destination.cmp(&b.destination));
        out
    }

    /// Messages of queue `name` in memory (waiting and in flight) with id >
    /// `after`, in id order; with `transient_only`, only non-persistent ones.
    pub fn memory_messages(
        &self,
        name: &str,
        after: i64,
        limit: usize,
        transient_only: bool,
    ) -> Vec<Message> {
        let Some(q) = self.destinations.queues.get(name) else {
            return Vec::new();
        };
        let inflight = q
            .consumers
            .iter()
            .filter_map(|k| self.subscriptions.get(k))
            .flat_map(|s| s.inflight.values());
        let mut out: Vec<Message> = q
            .pending
            .iter()
            .chain(inflight)
            .filter(|m| m.id > after && !(transient_only && m.persistent))
            .cloned()
            .collect();
        out.sort_by_key(|m| m.id);
        out.truncate(limit);
        out
    }

    /// Takes message `id` out of queue `name` (only while it waits).
    pub fn take_waiting(&mut self, name: &str, id: i64) -> Result<Message, AdminOpError> {
        let dest = Destination::Queue(name.to_string());
        let in_flight = self.memory_messages(name, id.saturating_sub(1), 1, false);
        let q = self
            .destinations
            .queues
            .get_mut(name)
            .ok_or_else(|| AdminOpError::NoSuchDestination(dest.to_string()))?;
        if let Some(m) = q.pending.remove_where(|m| m.id == id).pop() {
            return Ok(m);
        }
        if in_flight.first().is_some_and(|m| m.id == id) {
            return Err(AdminOpError::InFlight(id));
        }
        Err(self.not_in_memory(name, id))
    }

    /// Why message `id` of queue `name` is not in memory: beyond the
    /// window of a queue that spills, or not there.
    pub fn not_in_memory(&self, name: &str, id: i64) -> AdminOpError {
        let dest = Destination::Queue(name.to_string()).to_string();
        if self.spilled(name) > 0 {
            AdminOpError::BeyondWindow { id, dest }
        } else {
            AdminOpError::NoSuchMessage { id, dest }
        }
    }

    /// A copy of message `id` of queue `name`, waiting or in flight.
    pub fn find_in_queue(&self, name: &str, id: i64) -> Option<Message> {
        self.memory_messages(name, id.saturating_sub(1), 1, false)
            .pop()
            .filter(|m| m.id == id)
    }

    /// Removes every waiting message of queue `name`, also those waiting
    /// for a redelivery delay (messages in flight stay with their
    /// consumers), and returns how many.
    pub fn purge(&mut self, name: &str, ops: &mut Vec<WriteOp>) -> Result<usize, AdminOpError> {
        let delayed: Vec<(i64, i64)> = self
            .scheduler
            .jobs
            .iter()
            .filter(|(_, m)| m.redelivery_count > 0 && m.destination.is_queue())
            .filter(|(_, m)| m.destination.name() == name)
            .map(|(k, _)| *k)
            .collect();
        let q = self
            .destinations
            .queues
            .get_mut(name)
            .ok_or_else(|| AdminOpError::NoSuchDestination(format!("/queue/{name}")))?;
        let mut gone = q.pending.drain();
        gone.extend(delayed.iter().filter_map(|k| self.scheduler.jobs.remove(k)));
        ops.extend(
            gone.iter()
                .filter(|m| m.persistent)
                .map(|m| WriteOp::Delete(m.id)),
        );
        let spilled = self.purge_spill(name, ops) as usize;
        Ok(gone.len() + spilled)
    }

    /// Forgets a destination without consumers, dropping its messages.
    pub fn remove_destination(
        &mut self,
        dest: &Destination,
        ops: &mut Vec<WriteOp>,
    ) -> Result<usize, AdminOpError> {
        let missing = || AdminOpError::NoSuchDestination(dest.to_string());
        let consumers = match dest {
            Destination::Queue(n) => self
                .destinations
                .queues
                .get(n)
                .ok_or_else(missing)?
                .consumers
                .len(),
            Destination::Topic(n) => self
                .destinations
                .topics
                .get(n)
                .ok_or_else(missing)?
                .subscribers
                .len(),
        };
        if consumers > 0 {
            return Err(AdminOpError::HasConsumers {
                dest: dest.to_string(),
                consumers,
            });
        }
        if let Some(owner) = self.owner_of(dest) {
            self.forget_temp(owner, dest, ops);
        }
        match dest {
            Destination::Queue(n) => {
                let purged = self.purge(n, ops)?;
                self.destinations.queues.remove(n);
                Ok(purged)
            }
            Destination::Topic(n) => {
                self.destinations.topics.remove(n);
                Ok(0)
            }
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.by_id.len()
    }

    pub fn connections(&self) -> Vec<ConnView> {
        let mut out: Vec<ConnView> = self
            .connections
            .by_id
            .iter()
            .map(|(id, c)| {
                let meta: Option<&ConnMeta> = c.outbox.meta();
                let subscriptions = c
                    .subs
                    .iter()
                    .filter_map(|s| {
                        self.subscriptions
                            .get(&(*id, s.clone()))
                            .map(|sub| (s, sub))
                    })
                    .map(|(s, sub)| SubView {
                        id: s.to_string(),
                        destination: sub.destination.to_string(),
                        ack: match sub.ack {
                            AckMode::Auto => "auto",
                            AckMode::Client => "client",
                            AckMode::ClientIndividual => "client-individual",
                        },
                        prefetch: sub.prefetch,
                        inflight: sub.inflight.len(),
                    })
                    .collect();
                ConnView {
                    id: *id,
                    peer: meta.map(|m| m.peer.clone()),
                    protocol: meta.map(|m| m.protocol.as_str()),
                    protocol_version: meta.map(|m| m.version.clone()),
                    client_id: meta.and_then(|m| m.client_id.clone()),
                    connected_at: meta.map(|m| m.connected_at),
                    subscriptions,
                }
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// Asks connection `id` to close with an ERROR carrying `reason`.
    pub fn close_connection(&self, id: u64, reason: String) -> Result<(), AdminOpError> {
        let c = self
            .connections
            .by_id
            .get(&id)
            .ok_or(AdminOpError::NoSuchConnection(id))?;
        c.outbox.close(reason);
        Ok(())
    }
}
