//! The broker core: destinations, dispatch, acknowledgements, redelivery and
//! dead-lettering, protocol-neutral. `Broker` is the async facade the
//! protocol adapters call; the state lives in `state::State` behind a std
//! mutex held only for short synchronous sections, never across `.await`.

mod ack;
mod admin;
pub mod advisory;
mod browse;
mod connection;
mod dispatch;
mod durable;
pub mod memory;
pub mod outbox;
mod paging;
mod pending;
pub mod policy;
mod producers;
mod publish;
pub mod schedule;
mod state;

pub use admin::{AdminOpError, ConnView, SubView};
pub use connection::{temp_prefix, AfterFailedSend, Command, Connection, TxId};
pub use outbox::{ConnMeta, Delivery, Outbox, Protocol};
pub use policy::Policies;
pub use publish::VIRTUAL_TOPIC_PREFIX;
pub use schedule::{first_due, JobView};
pub use state::{
    AckKind, ConnId, CoreConfig, DestInfo, DestStats, DurableRecord, Seen, BROWSER_END,
};

use crate::message::{Destination, DestinationError, Message};
use crate::selector::Selector;
use crate::store::{GroupCommit, MessageStore, StoreError, WriteOp};
use futures::future::BoxFuture;
use futures::FutureExt;
use producers::Producers;
use state::State;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// How a subscription acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// Consumed once written to the client.
    Auto,
    /// ACK covers this message and every earlier one of the subscription.
    Client,
    /// ACK covers exactly one message.
    ClientIndividual,
}

/// A new subscription.
#[derive(Debug, Clone)]
pub struct SubscribeSpec {
    pub id: String,
    pub destination: Destination,
    pub ack: AckMode,
    /// Most unacknowledged messages the subscription may hold.
    pub prefetch: usize,
    /// `activemq.exclusive`: the only consumer of its queue while first.
    pub exclusive: bool,
    /// `browser:true`: list the queue's messages once, consume nothing.
    pub browser: bool,
    /// `activemq.subscriptionName` (with the connection's `client-id`).
    pub durable: Option<DurableName>,
    /// `selector`: only messages it selects are delivered.
    pub selector: Option<Selector>,
    /// A topic subscription that skips its own connection's messages (JMS
    /// `noLocal`).
    pub no_local: bool,
}

/// Names a durable topic subscription.
#[derive(Debug, Clone)]
pub struct DurableName {
    pub client_id: String,
    pub name: String,
    /// Set by the broker: the last message id a new subscription skips.
    pub created_after: i64,
}

/// One acknowledgement, e.g. inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    pub subscription: Option<String>,
    pub message_id: i64,
    /// The first message of a range (OpenWire's `firstMessageId`): the
    /// ack covers the messages in flight from it to `message_id` (only
    /// `message_id` when it is no longer in flight). Without it a
    /// client-mode subscription acknowledges cumulatively.
    pub first: Option<i64>,
    pub kind: AckKind,
}

/// Why the core refused an operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Destination(#[from] DestinationError),
    #[error("transaction '{0}' is already open")]
    TransactionOpen(String),
    #[error("transaction '{0}' was not begun (or already ended)")]
    UnknownTransaction(String),
    #[error("temporary destination '{0}' needs a plain name")]
    BadTempName(String),
    #[error("there is already a subscription with id '{0}' on this connection")]
    DuplicateSubscription(String),
    #[error("there is no subscription with id '{0}' on this connection")]
    UnknownSubscription(String),
    #[error("message {0} is not waiting for an acknowledgement on this connection")]
    NotInFlight(i64),
    #[error("the message could not be stored: {0}")]
    Store(#[from] StoreError),
    #[error("the broker is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    BadPattern(String),
    #[error("{0} is a temporary destination of another connection")]
    NotOwner(String),
    #[error("the temporary destination {0} no longer exists (deleted, or its connection closed)")]
    TempGone(String),
    #[error("the temporary destination {0} still has consumers: close them before deleting it")]
    TempInUse(String),
    #[error("{0}: only queues can be browsed")]
    BrowseTopic(String),
    #[error("cannot send to the wildcard destination {0}; subscribe to it instead")]
    SendToPattern(String),
    #[error("client-id '{0}' is already used by another connection")]
    ClientIdInUse(String),
    #[error("durable subscriptions need a plain topic, not {0}")]
    DurableNeedsTopic(String),
    #[error("durable subscription '{0}' is already active")]
    DurableActive(String),
    #[error("there is no durable subscription '{0}' for this client-id")]
    UnknownDurable(String),
    #[error("a durable subscription needs a client-id header on CONNECT")]
    DurableNeedsClientId,
    #[error("this connection already has {0} subscriptions, the most allowed (limits.max_subscriptions_per_connection); unsubscribe first or use another connection")]
    TooManySubscriptions(usize),
    #[error("this connection already has {0} open transactions, the most allowed (limits.max_transactions_per_connection); commit or roll back one first")]
    TooManyTransactions(usize),
    #[error("this connection already has {0} temporary destinations, the most allowed (limits.max_temp_destinations_per_connection); delete one (JMS TemporaryQueue.delete()) or use another connection")]
    TooManyTemps(usize),
}

/// Resolves once the operation is durable. Operations that had nothing to
/// wait for return `None` instead.
pub type Confirm = BoxFuture<'static, Result<(), BrokerError>>;

/// Cloneable handle to the broker core.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Woken when a message is scheduled, so the scheduler re-plans.
    scheduled: tokio::sync::Notify,
    producers: Mutex<Producers>,
    producer_retention_ms: i64,
    /// `limits.max_transactions_per_connection`, which `Connection` keeps.
    max_transactions_per_connection: usize,
    /// Unix ms of the last sweep of idle producers.
    producers_pruned_at: AtomicI64,
    store: GroupCommit,
    next_id: Arc<AtomicI64>,
    next_conn: AtomicU64,
    /// Memory held by non-persistent messages.
    memory: Arc<memory::MemoryBudget>,
}

impl Broker {
    /// Loads every stored message and returns a broker ready to serve.
    /// Recovered messages may have been delivered before, so they carry
    /// `redelivered`.
    pub async fn recover(
        store: &dyn MessageStore,
        writer: GroupCommit,
        config: CoreConfig,
    ) -> Result<Broker, StoreError> {
        let max_id = store.max_message_id().await?;
        let messages = store.load_held().await?;
        let depths = store.queue_depths().await?;
        let producers =
            Producers::from_committed(store.load_producers().await?, crate::message::now_ms());
        let producer_retention_ms = config.producer_retention_ms;
        let max_transactions_per_connection = config.max_transactions_per_connection;
        let memory = memory::MemoryBudget::new(config.max_non_persistent_bytes);
        let count = messages.len() as i64 + depths.iter().map(|(_, n)| n).sum::<i64>();
        // Ids must never repeat, also for non-persistent messages that were
        // never stored: start above both the store and the clock.
        let start = max_id.max(clock_micros()) + 1;
        let ids = config.ids.clone();
        ids.store(start, Ordering::Relaxed);
        let broker = Broker {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config)),
                scheduled: tokio::sync::Notify::new(),
                producers: Mutex::new(producers),
                producer_retention_ms,
                max_transactions_per_connection,
                producers_pruned_at: AtomicI64::new(crate::message::now_ms()),
                store: writer,
                next_id: ids,
                next_conn: AtomicU64::new(1),
                memory,
            }),
        };
        let durables = durable::load_durables(store).await?;
        let durable_count = durables.len();
        let mut ops = Vec::new();
        {
            let mut st = broker.lock();
            for d in durables {
                st.restore_durable(d);
            }
            // Queues are paged in by the pager task, from the first id on.
            for (dest, n) in depths {
                if let Ok(Destination::Queue(name)) = Destination::parse(&dest) {
                    st.restore_spill(&name, n.max(0) as u64, max_id);
                }
            }
            let mut topic_ids = Vec::new();
            for mut m in messages {
                m.redelivered = true;
                if !m.destination.is_queue() {
                    topic_ids.push(m.id);
                }
                st.route(m, &mut ops);
            }
            // Stored for durable subscriptions that have all passed them.
            ops.extend(st.unreferenced(&topic_ids).into_iter().map(WriteOp::Delete));
        }
        broker.inner.store.push(ops);
        tracing::info!(
            messages = count,
            durable_subscriptions = durable_count,
            "recovered persistent messages"
        );
        Ok(broker)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The memory budget of non-persistent messages.
    pub fn memory(&self) -> &Arc<memory::MemoryBudget> {
        &self.inner.memory
    }

    /// Charges non-persistent messages to the memory budget; `publish`
    /// does it itself, transactions do it when a send is buffered.
    pub fn charge(&self, messages: &mut [Message]) {
        for m in messages {
            self.inner.memory.charge(m);
        }
    }

    /// A fresh message id.
    pub fn next_id(&self) -> i64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a connection; deliveries for it appear in the outbox.
    pub fn connect(&self) -> (ConnId, Arc<Outbox>) {
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let outbox = Arc::new(Outbox::default());
        self.lock().add_conn(id, outbox.clone());
        (id, outbox)
    }

    /// Forgets a connection: its unacknowledged queue messages are
    /// redelivered to other consumers.
    pub fn disconnect(&self, conn: ConnId) {
        let mut ops = Vec::new();
        self.with_due(|st| st.remove_conn(conn, &mut ops));
        self.inner.store.push(ops);
        self.inner.store.connection_closed(conn);
    }

    /// Subscribes. A new durable subscription is confirmed only once its
    /// row is committed, so a client that got the RECEIPT finds it again
    /// after a failover.
    pub async fn subscribe(
        &self,
        conn: ConnId,
        mut spec: SubscribeSpec,
    ) -> Result<Option<Confirm>, BrokerError> {
        if let Some(d) = spec.durable.as_mut() {
            d.created_after = self.inner.next_id.load(Ordering::Relaxed) - 1;
        }
        let mut ops = Vec::new();
        self.lock().subscribe(conn, spec, &mut ops)?;
        if !ops
            .iter()
            .any(|op| matches!(op, WriteOp::DurableSave { .. }))
        {
            self.inner.store.push(ops);
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |r| {
                    let _ = tx.send(r.map_err(BrokerError::from));
                }),
            )
            .await;
        Ok(Some(
            async move { rx.await.unwrap_or(Err(BrokerError::ShuttingDown)) }.boxed(),
        ))
    }

    /// Reserves a `client-id` for a connection.
    pub fn claim_client_id(
        &self,
        conn: ConnId,
        client_id: &str,
        resume: Option<&str>,
    ) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let stale = self.with_due(|st| st.claim_client_id(conn, client_id, resume, &mut ops));
        self.inner.store.push(ops);
        if let Some(old) = stale? {
            tracing::info!(
                client_id,
                old,
                new = conn,
                "a client reconnected over a new socket: its stale connection is closed"
            );
            self.inner.store.connection_closed(old);
        }
        Ok(())
    }

    /// Ends a subscription; its unacknowledged queue messages go back,
    /// those the client had `seen` as failed deliveries.
    pub fn unsubscribe(&self, conn: ConnId, id: &str, seen: Seen) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self.with_due(|st| st.unsubscribe(conn, id, seen, &mut ops));
        self.inner.store.push(ops);
        r
    }

    /// Lets one more message go out to subscription `id` beyond its
    /// prefetch window (a `prefetch` 0 consumer's receive). Returns whether
    /// one went out at once; otherwise the next matching message goes
    /// until [`Broker::cancel_pull`].
    pub fn pull(&self, conn: ConnId, id: &str) -> Result<bool, BrokerError> {
        let mut ops = Vec::new();
        let r = self.with_due(|st| st.pull(conn, id, &mut ops));
        self.inner.store.push(ops);
        r
    }

    /// Changes a subscription's prefetch (OpenWire's ConsumerControl, sent
    /// after a failover for consumers restored with prefetch 0).
    pub fn set_prefetch(&self, conn: ConnId, id: &str, prefetch: usize) {
        let mut ops = Vec::new();
        self.with_due(|st| st.set_prefetch(conn, id, prefetch, &mut ops));
        self.inner.store.push(ops);
    }

    /// See [`State::in_flight_by_client_id`]: the id of the message in
    /// flight to `conn` that its sending client named `client_id`.
    pub fn in_flight_by_client_id(
        &self,
        conn: ConnId,
        subscription: Option<&str>,
        client_id: &str,
    ) -> Option<i64> {
        self.lock()
            .in_flight_by_client_id(conn, subscription, client_id)
    }

    /// Withdraws a waiting pull; `true` if it was still waiting (nothing
    /// went out for it).
    pub fn cancel_pull(&self, conn: ConnId, id: &str) -> bool {
        self.lock().cancel_pull(conn, id)
    }

    /// Counts `conn` as a producer of each destination.
    pub fn note_producers<'a>(&self, conn: ConnId, dests: impl Iterator<Item = &'a Destination>) {
        let mut st = self.lock();
        for d in dests {
            st.note_producer(conn, d);
        }
    }

    /// Fails for a temporary destination whose connection is gone.
    pub fn check_temp(&self, dest: &Destination) -> Result<(), BrokerError> {
        self.lock().check_temp(dest)
    }

    /// Creates a temporary destination owned by `conn`.
    pub fn create_temp(&self, conn: ConnId, dest: &Destination) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self.lock().create_temp(conn, dest, &mut ops);
        self.inner.store.push(ops);
        r
    }

    /// `limits.max_transactions_per_connection`.
    pub fn max_transactions_per_connection(&self) -> usize {
        self.inner.max_transactions_per_connection
    }

    /// Deletes a temporary destination `conn` owns.
    pub fn delete_temp(&self, conn: ConnId, dest: &Destination) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self.lock().delete_temp(conn, dest, &mut ops);
        self.inner.store.push(ops);
        r
    }

    fn route(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        if messages.iter().any(|m| m.scheduled != 0) {
            self.inner.scheduled.notify_one();
        }
        let mut ops = Vec::new();
        {
            let mut st = self.lock();
            for m in messages {
                st.route(m, &mut ops);
            }
        }
        self.inner.store.push(ops);
    }

    /// ACK or NACK one message. With `wait`, the returned future resolves
    /// once the resulting deletes are committed.
    pub async fn acknowledge(
        &self,
        conn: ConnId,
        ack: AckRequest,
        wait: bool,
    ) -> Result<Option<Confirm>, BrokerError> {
        if wait {
            return self.apply(conn, Vec::new(), vec![ack], false).await;
        }
        let mut ops = Vec::new();
        self.with_due(|st| st.acknowledge(conn, &ack, &mut ops))?;
        self.inner.store.push(ops);
        Ok(None)
    }

    /// Reports deliveries written to the socket (auto-ack subscriptions
    /// consume them now).
    pub fn written(&self, conn: ConnId, delivered: &[(Arc<str>, i64)]) {
        let mut ops = Vec::new();
        self.lock().written(conn, delivered, &mut ops);
        self.inner.store.push(ops);
    }

    /// Drops expired messages waiting in queues, and (at most once a
    /// minute) producers idle for longer than the retention.
    pub fn expire(&self) {
        let mut ops = Vec::new();
        self.lock().expire(&mut ops);
        let now = crate::message::now_ms();
        let last = self.inner.producers_pruned_at.load(Ordering::Relaxed);
        if now - last >= PRODUCER_SWEEP_MS {
            self.inner.producers_pruned_at.store(now, Ordering::Relaxed);
            let idle_ms = self.inner.producer_retention_ms;
            let forgotten = self.producers().forget_idle(now.saturating_sub(idle_ms));
            if forgotten > 0 {
                tracing::debug!(forgotten, "forgot idle producers");
            }
            ops.push(WriteOp::ForgetProducers { idle_ms });
        }
        self.inner.store.push(ops);
    }

    pub fn destinations(&self) -> Vec<DestInfo> {
        self.lock().destinations()
    }
}

/// Names starting with this are temporary destinations: owned by one
/// connection, deleted with it, never persisted.
pub const TEMP_PREFIX: &str = "temp.";

/// How often idle producers are looked for.
const PRODUCER_SWEEP_MS: i64 = 60_000;

fn clock_micros() -> i64 {
    crate::message::now_ms().saturating_mul(1000)
}
