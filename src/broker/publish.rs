//! The publish path: duplicate detection, virtual-topic copies, the
//! rows to store, and routing once they are committed.

use super::producers::{Check, Producers};
use super::{AckRequest, Broker, BrokerError, Confirm, ConnId};
use crate::message::{Destination, Message, ProducerSeq};
use crate::store::WriteOp;
use futures::FutureExt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

impl Broker {
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
        mut messages: Vec<Message>,
        after_earlier: bool,
    ) -> Result<Option<Confirm>, BrokerError> {
        self.charge(&mut messages);
        self.apply(0, messages, Vec::new(), after_earlier).await
    }

    /// Applies a transaction's sends (charged to the memory budget when
    /// they were buffered) and acknowledgements together.
    pub async fn commit_tx(
        &self,
        conn: ConnId,
        messages: Vec<Message>,
        acks: Vec<AckRequest>,
    ) -> Result<Option<Confirm>, BrokerError> {
        self.apply(conn, messages, acks, true).await
    }

    pub(super) async fn apply(
        &self,
        conn: ConnId,
        messages: Vec<Message>,
        acks: Vec<AckRequest>,
        after_earlier: bool,
    ) -> Result<Option<Confirm>, BrokerError> {
        let mut ops: Vec<WriteOp> = Vec::new();
        if !acks.is_empty() {
            self.with_due(|st| {
                st.check_acks(conn, &acks)?;
                for a in &acks {
                    // Checked above; a miss now means an earlier cumulative
                    // ACK of this transaction already covered the message.
                    let covered = st.acknowledge(conn, a, &mut ops);
                    if let Err(e) = covered {
                        tracing::debug!(error = %e, "acknowledgement already covered");
                    }
                }
                Ok::<(), BrokerError>(())
            })?;
        }
        let Deduplicated {
            messages,
            marks,
            originals,
        } = self.deduplicate(messages);
        let mut messages = self.virtual_topic_copies(messages);
        let now = crate::message::now_ms();
        {
            let st = self.lock();
            for m in &mut messages {
                st.stamp_ttl(m, now);
            }
        }
        let stored: Vec<WriteOp> = {
            let st = self.lock();
            messages
                .iter()
                .filter(|m| m.persistent && !m.is_expired(now))
                .filter(|m| match &m.destination {
                    Destination::Queue(_) => true,
                    Destination::Topic(t) => m.scheduled != 0 || st.has_durables(t),
                })
                .map(|m| WriteOp::Insert(m.clone()))
                .collect()
        };
        ops.extend(stored);
        ops.extend(marks.iter().cloned().map(WriteOp::Producer));
        if ops.is_empty() && !after_earlier {
            self.route(messages);
            return Ok(wait_all(None, originals));
        }
        if self.dispatch_early(&acks, &messages) {
            let rx = self.publish_early(ops, messages, marks).await;
            return Ok(wait_all(Some(rx), originals));
        }
        let (tx, rx) = oneshot::channel();
        let broker = self.clone();
        self.lock().expect_routes(&messages);
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |result| {
                    let result = result.map_err(BrokerError::from);
                    if result.is_ok() {
                        broker.route_stored(messages);
                    } else {
                        broker.lock().routes_failed(messages.iter().map(|m| m.id));
                    }
                    broker.finished(&marks, &result);
                    let _ = tx.send(result);
                }),
            )
            .await;
        Ok(wait_all(Some(rx), originals))
    }

    /// With `broker.dispatch_before_commit`, plain persistent queue sends
    /// (not transactions, not scheduled) reach consumers while their insert
    /// waits for the writer; an acknowledgement that comes before the
    /// insert is taken cancels it out (see `store::cancel`).
    fn dispatch_early(&self, acks: &[AckRequest], messages: &[Message]) -> bool {
        self.inner.store.tracks_inserts()
            && acks.is_empty()
            && !messages.is_empty()
            && messages.iter().all(|m| {
                m.persistent && m.scheduled == 0 && matches!(m.destination, Destination::Queue(_))
            })
    }

    /// Submits the inserts, then routes the messages unless the commit has
    /// already failed; a commit that fails after routing takes back the
    /// messages still waiting (one already delivered stays with its
    /// consumer, and the producer, told the send failed, may send it again).
    async fn publish_early(
        &self,
        ops: Vec<WriteOp>,
        messages: Vec<Message>,
        marks: Vec<ProducerSeq>,
    ) -> oneshot::Receiver<Result<(), BrokerError>> {
        let gate = Arc::new(Mutex::new(Early::Submitting));
        let routed: Vec<(String, i64)> = messages
            .iter()
            .map(|m| (m.destination.name().to_string(), m.id))
            .collect();
        let (tx, rx) = oneshot::channel();
        let broker = self.clone();
        let done_gate = gate.clone();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |result| {
                    let result = result.map_err(BrokerError::from);
                    if result.is_err() {
                        let mut g = lock_gate(&done_gate);
                        if *g == Early::Routed {
                            let mut st = broker.lock();
                            for (queue, id) in &routed {
                                // Gone already means delivered: it stays.
                                let _ = st.take_waiting(queue, *id);
                            }
                        }
                        *g = Early::Failed;
                    }
                    broker.finished(&marks, &result);
                    let _ = tx.send(result);
                }),
            )
            .await;
        let mut g = lock_gate(&gate);
        if *g == Early::Submitting {
            self.route(messages);
            *g = Early::Routed;
        }
        rx
    }

    /// A message sent to a virtual topic `VirtualTopic.X` also goes, as a
    /// copy with its own id, to every queue `Consumer.<name>.VirtualTopic.X`
    /// that exists, so each consumer group load-balances the topic.
    fn virtual_topic_copies(&self, messages: Vec<Message>) -> Vec<Message> {
        if !messages.iter().any(is_virtual_topic) {
            return messages;
        }
        let mut out = Vec::with_capacity(messages.len());
        let st = self.lock();
        for m in messages {
            if is_virtual_topic(&m) {
                for q in st.virtual_topic_queues(m.destination.name()) {
                    let mut copy = m.clone();
                    copy.id = self.next_id();
                    copy.destination = Destination::Queue(q);
                    out.push(copy);
                }
            }
            out.push(m);
        }
        out
    }

    /// Records the outcome of the sends `marks` of one commit (in the
    /// writer's completion, so before it decides another batch), and tells
    /// the writer about the resends that waited for them: failed with
    /// them, they fail their connection's later sends of the producer too.
    fn finished(&self, marks: &[ProducerSeq], result: &Result<(), BrokerError>) {
        let answered = self.producers().finished(marks, result);
        if !answered.is_empty() {
            self.inner
                .store
                .resends_answered(&answered, result.is_err());
        }
    }

    pub(super) fn producers(&self) -> MutexGuard<'_, Producers> {
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
        let now = crate::message::now_ms();
        // Copies of one send (composite destinations) share a sequence and
        // share its fate.
        let mut last: Option<(ProducerSeq, bool)> = None;
        for m in messages {
            let Some(p) = m.producer.as_ref().filter(|_| m.persistent) else {
                out.messages.push(m);
                continue;
            };
            if let Some((seen, keep)) = &last {
                if seen == p {
                    if *keep {
                        out.messages.push(m);
                    }
                    continue;
                }
            }
            let keep = match producers.check(p, m.origin, now) {
                Check::New => {
                    out.marks.push(p.clone());
                    true
                }
                Check::Duplicate => {
                    tracing::debug!(producer = %p.id, seq = p.seq, "dropped a resent duplicate");
                    false
                }
                Check::InFlight(original) => {
                    self.inner.store.resend_waiting(p, m.origin);
                    out.originals.push(original);
                    false
                }
            };
            last = Some((p.clone(), keep));
            if keep {
                out.messages.push(m);
            }
        }
        out
    }
}

/// Topics with this prefix are virtual topics.
pub const VIRTUAL_TOPIC_PREFIX: &str = "VirtualTopic.";

fn is_virtual_topic(m: &Message) -> bool {
    !m.destination.is_queue() && m.destination.name().starts_with(VIRTUAL_TOPIC_PREFIX)
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
/// Where an early-dispatched publish stands; the gate orders routing and
/// the commit's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Early {
    Submitting,
    Routed,
    Failed,
}

fn lock_gate(gate: &Mutex<Early>) -> MutexGuard<'_, Early> {
    gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{AfterFailedSend, CoreConfig, Policies};
    use crate::config::DatabaseConfig;
    use crate::message::BodyKind;
    use crate::store::{self, Claim, GroupCommit, Term, WriterConfig};
    use sqlx::Connection as _;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// A persistent send to `/queue/q` of producer `p`, sequence `seq`,
    /// from connection `origin`.
    fn send(id: i64, seq: i64, origin: u64) -> Message {
        Message {
            id,
            destination: Destination::Queue("q".into()),
            priority: 4,
            expires: 0,
            persistent: true,
            headers: Vec::new().into(),
            body: bytes::Bytes::from_static(b"m"),
            body_kind: BodyKind::Bytes,
            client_id: None,
            redelivery_count: 0,
            redelivered: false,
            producer: Some(ProducerSeq {
                id: Arc::from("p"),
                seq,
            }),
            scheduled: 0,
            origin,
        }
    }

    async fn confirm(broker: &Broker, m: Message) -> Confirm {
        broker
            .publish(vec![m], false)
            .await
            .expect("published")
            .expect("a persistent send is confirmed")
    }

    /// The broker's side of the resend cascade (`store::writer` tests the
    /// writer's): a resend arrives while its original is being committed,
    /// the original fails (its id is taken), and the next send of the
    /// resend's connection fails with them instead of being stored (its
    /// client resends both, in order, over a new connection, where they
    /// are stored once).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resend_failed_with_its_original_fails_its_connections_next_send() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("b.db").display());
        let config = DatabaseConfig {
            url: url.clone(),
            ..DatabaseConfig::default()
        };
        let store = store::open(&config).await.expect("open");
        let claim = Claim {
            node_id: "n".into(),
            stomp_addr: String::new(),
            admin_addr: String::new(),
        };
        let epoch = store
            .try_acquire(&claim, 60_000, false)
            .await
            .expect("claim")
            .expect("free");
        let term = Term {
            epoch,
            fenced: CancellationToken::new(),
            over: CancellationToken::new(),
            commit_timeout: Duration::from_secs(60),
        };
        let writer_config = WriterConfig {
            capacity: 16,
            max_batch_ops: 100,
            commit_wait: Duration::ZERO,
            pipeline: 1,
            track_inserts: false,
        };
        let (writer, _task) = GroupCommit::start(store.clone(), term, writer_config);
        let core = CoreConfig {
            policies: Policies::new(5, "DLQ.", &[]),
            ids: Default::default(),
            topic_pending_limit: 1000,
            queue_window: 1000,
            queue_window_bytes: 1 << 20,
            max_subscriptions_per_connection: 100,
            max_transactions_per_connection: 1000,
            max_temp_destinations_per_connection: 1000,
            max_unacked_per_consumer: 1000,
            max_non_persistent_bytes: 1 << 20,
            producer_retention_ms: 3_600_000,
        };
        let broker = Broker::recover(store.as_ref(), writer, core)
            .await
            .expect("recover");
        let a = broker.open("n", AfterFailedSend::Close);
        let b = broker.open("n", AfterFailedSend::Close);

        // SQLite's write lock held, with a row under the original's id.
        let mut other = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        for sql in [
            "BEGIN IMMEDIATE",
            "INSERT INTO baton_msgs (id, destination, headers, body) VALUES (1000, 'q', '{}', x'')",
        ] {
            sqlx::query(sql).execute(&mut other).await.expect(sql);
        }
        let original = confirm(&broker, send(1000, 1, a.id())).await;
        let resend = confirm(&broker, send(1001, 1, b.id())).await;
        let next = confirm(&broker, send(1002, 2, b.id())).await;
        sqlx::query("COMMIT")
            .execute(&mut other)
            .await
            .expect("commit");
        assert!(original.await.is_err(), "the original's id is taken");
        assert!(resend.await.is_err(), "the resend fails with it");
        assert!(
            next.await.is_err(),
            "the resend's connection's next send fails too"
        );

        let c = broker.open("n", AfterFailedSend::Close);
        for (id, seq) in [(1003, 1), (1004, 2)] {
            confirm(&broker, send(id, seq, c.id()))
                .await
                .await
                .expect("resent over a new connection: stored");
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM baton_msgs WHERE id > 1000")
            .fetch_one(&mut other)
            .await
            .expect("count");
        assert_eq!(stored, 2, "each send stored once");
    }
}
