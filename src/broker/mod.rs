//! The broker core: destinations, dispatch, acknowledgements, redelivery and
//! dead-lettering, protocol-neutral. `Broker` is the async facade the
//! protocol adapters call; the state lives in `state::State` behind a std
//! mutex held only for short synchronous sections, never across `.await`.

pub mod outbox;
mod pending;
mod producers;
mod state;

pub use outbox::{Delivery, Outbox};
pub use state::{AckKind, ConnId, CoreConfig, DestInfo, DestStats};

use crate::message::ProducerSeq;
use crate::message::{Destination, DestinationError, Message};
use crate::store::{GroupCommit, Store, StoreError, WriteOp};
use futures::future::BoxFuture;
use futures::FutureExt;
use producers::{Check, Producers};
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
}

/// One acknowledgement, e.g. inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    pub subscription: Option<String>,
    pub message_id: i64,
    pub kind: AckKind,
}

/// Why the core refused an operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Destination(#[from] DestinationError),
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
    producers: Mutex<Producers>,
    store: GroupCommit,
    next_id: AtomicI64,
    next_conn: AtomicU64,
}

impl Broker {
    /// Loads every stored message and returns a broker ready to serve.
    /// Recovered messages may have been delivered before, so they carry
    /// `redelivered`.
    pub async fn recover(
        store: &Arc<dyn Store>,
        writer: GroupCommit,
        config: CoreConfig,
    ) -> Result<Broker, StoreError> {
        let max_id = store.max_message_id().await?;
        let messages = store.load_messages().await?;
        let producers = Producers::from_committed(store.load_producers().await?);
        let count = messages.len();
        // Ids must never repeat, also for non-persistent messages that were
        // never stored: start above both the store and the clock.
        let start = max_id.max(clock_micros()) + 1;
        let broker = Broker {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config)),
                producers: Mutex::new(producers),
                store: writer,
                next_id: AtomicI64::new(start),
                next_conn: AtomicU64::new(1),
            }),
        };
        let mut ops = Vec::new();
        {
            let mut st = broker.lock();
            for mut m in messages {
                m.redelivered = true;
                st.route(m, &mut ops);
            }
        }
        broker.inner.store.push(ops);
        tracing::info!(messages = count, "recovered persistent messages");
        Ok(broker)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        self.lock().remove_conn(conn, &mut ops);
        self.inner.store.push(ops);
    }

    pub fn subscribe(&self, conn: ConnId, spec: SubscribeSpec) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self.lock().subscribe(conn, spec, &mut ops);
        self.inner.store.push(ops);
        r
    }

    pub fn unsubscribe(&self, conn: ConnId, id: &str) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self.lock().unsubscribe(conn, id, &mut ops);
        self.inner.store.push(ops);
        r
    }

    /// Publishes messages atomically: persistent queue messages are stored
    /// in one transaction, and nothing is routed before that commit.
    /// Waits while the writer's queue is full; the returned future resolves
    /// after the commit.
    ///
    /// With `after_earlier`, messages that need no commit still wait for the
    /// writer, so they are routed after this producer's earlier persistent
    /// messages and per-producer order holds.
    pub async fn publish(
        &self,
        messages: Vec<Message>,
        after_earlier: bool,
    ) -> Result<Option<Confirm>, BrokerError> {
        self.apply(0, messages, Vec::new(), after_earlier).await
    }

    /// Applies a transaction's sends and acknowledgements together.
    pub async fn commit_tx(
        &self,
        conn: ConnId,
        messages: Vec<Message>,
        acks: Vec<AckRequest>,
    ) -> Result<Option<Confirm>, BrokerError> {
        self.apply(conn, messages, acks, true).await
    }

    async fn apply(
        &self,
        conn: ConnId,
        messages: Vec<Message>,
        acks: Vec<AckRequest>,
        after_earlier: bool,
    ) -> Result<Option<Confirm>, BrokerError> {
        let mut ops: Vec<WriteOp> = Vec::new();
        if !acks.is_empty() {
            let mut st = self.lock();
            st.check_acks(conn, &acks)?;
            for a in &acks {
                // Checked above; a miss now means an earlier cumulative ACK
                // of this transaction already covered the message.
                let covered = st.acknowledge(
                    conn,
                    a.subscription.as_deref(),
                    a.message_id,
                    a.kind,
                    &mut ops,
                );
                if let Err(e) = covered {
                    tracing::debug!(error = %e, "acknowledgement already covered");
                }
            }
        }
        let Deduplicated {
            messages,
            marks,
            originals,
        } = self.deduplicate(messages);
        let now = crate::message::now_ms();
        ops.extend(
            messages
                .iter()
                .filter(|m| m.persistent && m.destination.is_queue() && !m.is_expired(now))
                .map(|m| WriteOp::Insert(m.clone())),
        );
        ops.extend(marks.iter().cloned().map(WriteOp::Producer));
        if ops.is_empty() && !after_earlier {
            self.route(messages);
            return Ok(wait_all(None, originals));
        }
        let (tx, rx) = oneshot::channel();
        let broker = self.clone();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |result| {
                    let result = result.map_err(BrokerError::from);
                    if result.is_ok() {
                        broker.route(messages);
                    }
                    broker.producers().finished(&marks, &result);
                    let _ = tx.send(result);
                }),
            )
            .await;
        Ok(wait_all(Some(rx), originals))
    }

    fn producers(&self) -> MutexGuard<'_, Producers> {
        self.inner
            .producers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops persistent sends this master already has from the same
    /// producer (a client resending after a failover).
    fn deduplicate(&self, messages: Vec<Message>) -> Deduplicated {
        let mut out = Deduplicated {
            messages: Vec::with_capacity(messages.len()),
            marks: Vec::new(),
            originals: Vec::new(),
        };
        if messages.iter().all(|m| m.producer.is_none()) {
            out.messages = messages;
            return out;
        }
        let mut producers = self.producers();
        for m in messages {
            let Some(p) = m.producer.as_ref().filter(|_| m.persistent) else {
                out.messages.push(m);
                continue;
            };
            match producers.check(p) {
                Check::New => {
                    out.marks.push(p.clone());
                    out.messages.push(m);
                }
                Check::Duplicate => {
                    tracing::debug!(producer = %p.id, seq = p.seq, "dropped a resent duplicate");
                }
                Check::InFlight(original) => out.originals.push(original),
            }
        }
        out
    }

    fn route(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
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
        self.lock().acknowledge(
            conn,
            ack.subscription.as_deref(),
            ack.message_id,
            ack.kind,
            &mut ops,
        )?;
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

    /// Drops expired messages waiting in queues.
    pub fn expire(&self) {
        let mut ops = Vec::new();
        self.lock().expire(&mut ops);
        self.inner.store.push(ops);
    }

    pub fn destinations(&self) -> Vec<DestInfo> {
        self.lock().destinations()
    }
}

/// Sends left after duplicate detection.
struct Deduplicated {
    messages: Vec<Message>,
    /// Producer sequences to record with the messages.
    marks: Vec<ProducerSeq>,
    /// Outcomes of originals still committing, for resends dropped.
    originals: Vec<oneshot::Receiver<Result<(), BrokerError>>>,
}

/// Confirms once the commit (if any) and every original resolved.
fn wait_all(
    commit: Option<oneshot::Receiver<Result<(), BrokerError>>>,
    originals: Vec<oneshot::Receiver<Result<(), BrokerError>>>,
) -> Option<Confirm> {
    if commit.is_none() && originals.is_empty() {
        return None;
    }
    Some(
        async move {
            for rx in commit.into_iter().chain(originals) {
                rx.await.unwrap_or(Err(BrokerError::ShuttingDown))?;
            }
            Ok(())
        }
        .boxed(),
    )
}

fn clock_micros() -> i64 {
    crate::message::now_ms().saturating_mul(1000)
}
