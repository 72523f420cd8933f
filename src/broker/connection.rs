//! One client connection as the core sees it, whatever its protocol. A
//! protocol adapter (STOMP, OpenWire) turns each frame into a [`Command`]
//! and runs it with [`Connection::execute`]; deliveries come back through
//! the connection's [`Outbox`]. The core owns what a connection holds
//! beyond its socket: its id, its `client-id`, its temporary destinations
//! (named here), its open transactions, message ids, and how many of its
//! operations still wait for their commit.
//!
//! The adapter's connection task is the single owner of its `Connection`:
//! transactions are buffered here, not in the shared state, and nothing
//! here takes the state's lock across an `.await`.

use super::{
    AckKind, AckRequest, Broker, BrokerError, Confirm, ConnId, Outbox, Seen, SubscribeSpec,
    TEMP_PREFIX,
};
use crate::message::{Destination, Message};
use crate::wildcard::is_pattern;
use foldhash::HashMap;
use futures::FutureExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Names a transaction within its connection (the adapter's own id, as
/// text).
pub type TxId = String;

/// What a client asks of the core.
#[derive(Debug)]
pub enum Command {
    /// Start receiving.
    Subscribe(SubscribeSpec),
    /// Stop a subscription by its id; of its unacknowledged messages, those
    /// the client had `seen` count as failed deliveries.
    Unsubscribe { id: String, seen: Seen },
    /// End the durable subscription of this name (and the connection's
    /// `client-id`) for good.
    UnsubscribeDurable(String),
    /// Send `message` to each of `destinations` (a composite send: one
    /// copy per destination, each with its own id). Inside `tx` it waits
    /// for the commit of that transaction.
    Publish {
        message: Message,
        destinations: Vec<Destination>,
        tx: Option<TxId>,
    },
    /// Acknowledge (or refuse) a delivery; inside `tx` it waits for the
    /// commit of that transaction. With `wait`, the confirmation resolves
    /// once the resulting deletes are committed.
    Ack {
        ack: AckRequest,
        tx: Option<TxId>,
        wait: bool,
    },
    /// Open a transaction.
    Begin(TxId),
    /// Apply a transaction's sends and acknowledgements atomically.
    Commit(TxId),
    /// Drop a transaction's sends and acknowledgements. With `redeliver`
    /// the messages it acknowledged count as failed deliveries and go back
    /// (STOMP's ABORT); without, they stay in flight with their consumer,
    /// whose client redelivers them itself (a JMS session's rollback).
    Rollback { tx: TxId, redeliver: bool },
}

#[derive(Default)]
struct Transaction {
    sends: Vec<Message>,
    acks: Vec<AckRequest>,
}

/// Why transaction `t` is not open: refused by
/// `limits.max_transactions_per_connection`, else unknown.
fn not_open(refused: &VecDeque<TxId>, broker: &Broker, t: &str) -> BrokerError {
    if refused.iter().any(|r| r == t) {
        BrokerError::TooManyTransactions(broker.max_transactions_per_connection())
    } else {
        BrokerError::UnknownTransaction(t.to_string())
    }
}

/// A connection's handle on the core.
pub struct Connection {
    broker: Broker,
    id: ConnId,
    outbox: Arc<Outbox>,
    client_id: Option<String>,
    transactions: HashMap<TxId, Transaction>,
    /// The latest transactions refused by
    /// `limits.max_transactions_per_connection` (at most
    /// [`Connection::REFUSED_KEPT`]): their sends, acks and commit get that
    /// error rather than "unknown transaction" (an OpenWire BEGIN gets no
    /// answer).
    refused: VecDeque<TxId>,
    /// Operations of this connection submitted but not yet committed.
    uncommitted: Arc<AtomicUsize>,
    /// Prefix of the names of this connection's temporary destinations.
    temp_prefix: String,
    closed: bool,
}

/// The start of the names of connection `conn`'s temporary destinations
/// on the node labelled `label`.
pub fn temp_prefix(label: &str, conn: ConnId) -> String {
    format!("{TEMP_PREFIX}{label}-{conn}.")
}

/// What a protocol does with a connection one of whose sends could not be
/// stored; the writer fails that connection's later sends of the same
/// producer only when the client will resend them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailedSend {
    /// STOMP: the ERROR closes the connection, and the client resends the
    /// failed send and every later one, in order, over a new connection.
    Close,
    /// OpenWire: the send gets an exception and the connection carries
    /// on; the producer's later sends are new sends, stored as such.
    KeepOpen,
}

impl Broker {
    /// Registers a new connection; deliveries for it appear in its outbox.
    /// `label` (the node id) goes into the names of its temporary
    /// destinations, so they are unique across the cluster.
    pub fn open(&self, label: &str, after_failed_send: AfterFailedSend) -> Connection {
        let (id, outbox) = self.connect();
        if after_failed_send == AfterFailedSend::KeepOpen {
            self.inner.store.keeps_open_after_failed_sends(id);
        }
        Connection {
            broker: self.clone(),
            id,
            outbox,
            client_id: None,
            transactions: HashMap::default(),
            refused: VecDeque::new(),
            uncommitted: Arc::new(AtomicUsize::new(0)),
            temp_prefix: temp_prefix(label, id),
            closed: false,
        }
    }
}

impl Connection {
    /// Refused transactions remembered for their error.
    const REFUSED_KEPT: usize = 16;

    pub fn id(&self) -> ConnId {
        self.id
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The `client-id` this connection holds, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Reserves a `client-id` (durable subscriptions are named by it);
    /// `resume` lets a reconnect of the same client replace its stale
    /// connection (see `State::claim_client_id`).
    pub fn claim_client_id(
        &mut self,
        client_id: &str,
        resume: Option<&str>,
    ) -> Result<(), BrokerError> {
        self.broker.claim_client_id(self.id, client_id, resume)?;
        self.client_id = Some(client_id.to_string());
        Ok(())
    }

    /// Where this connection's temporary destinations are named: every
    /// name under it is the connection's own.
    pub fn temp_prefix(&self) -> &str {
        &self.temp_prefix
    }

    /// This connection's temporary queue (or topic) `name`, created on
    /// first use; deleted with the connection.
    pub fn temp_destination(&self, queue: bool, name: &str) -> Result<Destination, BrokerError> {
        if name.is_empty() || is_pattern(name) {
            return Err(BrokerError::BadTempName(name.to_string()));
        }
        let full = format!("{}{name}", self.temp_prefix);
        let dest = if queue {
            Destination::Queue(full)
        } else {
            Destination::Topic(full)
        };
        crate::message::check_name(dest.name())?;
        self.broker.create_temp(self.id, &dest)?;
        Ok(dest)
    }

    /// A destination a client named: fails for a temporary destination
    /// whose connection is gone.
    pub fn existing(&self, dest: Destination) -> Result<Destination, BrokerError> {
        self.broker.check_temp(&dest)?;
        Ok(dest)
    }

    /// A fresh message id.
    pub fn next_id(&self) -> i64 {
        self.broker.next_id()
    }

    /// Runs one command. The confirmation, if any, resolves once what the
    /// command changed is committed; confirmations of one connection are
    /// meant to be awaited in order.
    pub async fn execute(&mut self, command: Command) -> Result<Option<Confirm>, BrokerError> {
        let conn = self.id;
        match command {
            Command::Subscribe(spec) => {
                let confirm = self.broker.subscribe(conn, spec).await?;
                Ok(self.track(confirm))
            }
            Command::Unsubscribe { id, seen } => {
                self.broker.unsubscribe(conn, &id, seen)?;
                Ok(None)
            }
            Command::UnsubscribeDurable(name) => {
                let client_id = self
                    .client_id
                    .clone()
                    .ok_or(BrokerError::DurableNeedsClientId)?;
                self.broker.unsubscribe_durable(conn, &client_id, &name)?;
                Ok(None)
            }
            Command::Publish {
                message,
                destinations,
                tx,
            } => {
                let mut messages = self.copies(message, destinations)?;
                self.broker
                    .note_producers(conn, messages.iter().map(|m| &m.destination));
                match tx {
                    Some(t) => {
                        self.broker.charge(&mut messages);
                        self.transaction(&t)?.sends.extend(messages);
                        Ok(None)
                    }
                    None => {
                        let after_earlier = self.uncommitted.load(Ordering::Relaxed) > 0;
                        let confirm = self.broker.publish(messages, after_earlier).await?;
                        Ok(self.track(confirm))
                    }
                }
            }
            Command::Ack { ack, tx, wait } => match tx {
                // A delivered ack only widens the prefetch window; held
                // until the commit it would stall a transaction consuming
                // more than its prefetch.
                Some(t) if ack.kind != AckKind::Delivered => {
                    self.transaction(&t)?.acks.push(ack);
                    Ok(None)
                }
                _ => {
                    let confirm = self.broker.acknowledge(conn, ack, wait).await?;
                    Ok(self.track(confirm))
                }
            },
            Command::Begin(t) => {
                if self.transactions.contains_key(&t) {
                    return Err(BrokerError::TransactionOpen(t));
                }
                let max = self.broker.max_transactions_per_connection();
                if self.transactions.len() >= max {
                    crate::metrics::limit_hit("limits.max_transactions_per_connection");
                    if self.refused.len() == Self::REFUSED_KEPT {
                        self.refused.pop_front();
                    }
                    self.refused.push_back(t);
                    return Err(BrokerError::TooManyTransactions(max));
                }
                self.transactions.insert(t, Transaction::default());
                Ok(None)
            }
            Command::Commit(t) => {
                let Some(tx) = self.transactions.remove(&t) else {
                    return Err(self.end_unknown(&t));
                };
                let confirm = self.broker.commit_tx(conn, tx.sends, tx.acks).await?;
                Ok(self.track(confirm))
            }
            Command::Rollback { tx, redeliver } => {
                let Some(open) = self.transactions.remove(&tx) else {
                    // Rolling back one the limit refused: nothing to undo.
                    return match self.end_unknown(&tx) {
                        BrokerError::TooManyTransactions(_) => Ok(None),
                        e => Err(e),
                    };
                };
                if redeliver {
                    self.roll_back(open).await;
                }
                Ok(None)
            }
        }
    }

    /// Reports deliveries written to the socket (auto-acknowledged
    /// subscriptions consume them now).
    pub fn written(&self, delivered: &[(Arc<str>, i64)]) {
        self.broker.written(self.id, delivered);
    }

    /// Leaves the broker: open transactions are rolled back, subscriptions
    /// end (their unacknowledged queue messages are redelivered), temporary
    /// destinations and the `client-id` are released. Closing twice is
    /// harmless; the confirmations of earlier commands still resolve.
    pub async fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let open: Vec<Transaction> = self.transactions.drain().map(|(_, t)| t).collect();
        for tx in open {
            self.roll_back(tx).await;
        }
        self.broker.disconnect(self.id);
    }

    /// One message per destination, each with its own id; a message to a
    /// temporary destination is never persistent, and refused once the
    /// destination is gone.
    fn copies(
        &self,
        message: Message,
        destinations: Vec<Destination>,
    ) -> Result<Vec<Message>, BrokerError> {
        let mut out = Vec::with_capacity(destinations.len());
        for destination in destinations {
            if is_pattern(destination.name()) {
                return Err(BrokerError::SendToPattern(destination.to_string()));
            }
            let mut m = message.clone();
            m.id = self.broker.next_id();
            m.origin = self.id;
            if destination.name().starts_with(TEMP_PREFIX) {
                self.broker.check_temp(&destination)?;
                m.persistent = false;
            }
            m.destination = destination;
            out.push(m);
        }
        Ok(out)
    }

    fn transaction(&mut self, t: &str) -> Result<&mut Transaction, BrokerError> {
        let (refused, broker) = (&self.refused, &self.broker);
        self.transactions
            .get_mut(t)
            .ok_or_else(|| not_open(refused, broker, t))
    }

    /// The commit or rollback of `t`, which is not open: why, and the
    /// refusal is forgotten.
    fn end_unknown(&mut self, t: &str) -> BrokerError {
        let e = not_open(&self.refused, &self.broker, t);
        self.refused.retain(|r| r != t);
        e
    }

    async fn roll_back(&self, tx: Transaction) {
        for mut ack in tx.acks {
            ack.kind = AckKind::Nack;
            if let Err(e) = self.broker.acknowledge(self.id, ack, false).await {
                tracing::debug!(error = %e, "rolled-back acknowledgement no longer applies");
            }
        }
    }

    /// Counts a confirmation as uncommitted until it resolves, so a later
    /// send that needs no commit still waits behind it (per-producer order).
    fn track(&self, confirm: Option<Confirm>) -> Option<Confirm> {
        let confirm = confirm?;
        let uncommitted = self.uncommitted.clone();
        uncommitted.fetch_add(1, Ordering::Relaxed);
        Some(
            confirm
                .map(move |r| {
                    uncommitted.fetch_sub(1, Ordering::Relaxed);
                    r
                })
                .boxed(),
        )
    }
}
