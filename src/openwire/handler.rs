//! One OpenWire connection's protocol state: turns each client command
//! into core [`Command`](crate::broker::Command)s, and deliveries into
//! MessageDispatches. No I/O here; the session task owns the socket.
//!
//! Every answer goes through `pending`, in command order: a sync send's
//! Response only once its commit is durable, the others at once.

use super::command::{
    ack_type, destination_operation, last_delivered, transaction_type, ConnectionError,
    ConnectionInfo, ConsumerInfo, DestinationInfo, ExceptionResponse, MessageAck, MessageDispatch,
    ProducerAck, ProducerInfo, RemoveInfo, RemovedObject, Response, TransactionInfo,
};
use super::frame::Oversized;
use super::message::Message as WireMessage;
use super::translate::{self, TranslateError};
use super::types::{ConnectionId, ConsumerId, ExceptionClass, TransactionId};
use super::Command;
use crate::auth::{self, Access, LoginError, Logins, Principal};
use crate::broker::{
    AckKind, AckMode, AckRequest, AfterFailedSend, Broker, BrokerError, Command as Core, Confirm,
    Connection, Delivery, DurableName, Seen, SubscribeSpec,
};
use crate::message::Destination;
use crate::selector::Selector;
use foldhash::{HashMap, HashSet};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::FutureExt;
use std::sync::Arc;

/// Settings every OpenWire connection shares.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Largest frame accepted (and advertised as MaxFrameSize).
    pub max_frame_bytes: usize,
    /// Most sends and acknowledgements waiting for their commit before the
    /// broker stops reading from the connection.
    pub max_pending_commits: usize,
    /// Shared with the other messaging listeners.
    pub admission: crate::admission::Admission,
    /// The node id: BrokerInfo's name and the names of temporary
    /// destinations.
    pub node_id: String,
    /// Logins and the permission map.
    pub logins: Arc<Logins>,
    /// Most unacknowledged messages a consumer may hold.
    pub max_prefetch: usize,
    /// Most producers one connection may hold open.
    pub max_producers: usize,
}

/// Why a command failed, as the client will be told.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Forbidden(#[from] auth::Forbidden),
    #[error(transparent)]
    Message(#[from] TranslateError),
    #[error("invalid selector: {0}")]
    Selector(String),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("{0} before ConnectionInfo")]
    NotConnected(&'static str),
    #[error("this connection already has {0} producers open, the most allowed (limits.max_producers_per_connection); close one (MessageProducer.close()) or use another connection")]
    TooManyProducers(usize),
}

impl CommandError {
    /// The Java exception class the client sees: the one place errors
    /// become OpenWire exceptions.
    pub fn class(&self) -> ExceptionClass {
        match self {
            CommandError::Login(_) => ExceptionClass::Security,
            CommandError::Forbidden(_) => ExceptionClass::JmsSecurity,
            CommandError::Selector(_) => ExceptionClass::InvalidSelector,
            CommandError::Message(TranslateError::Destination(_)) => {
                ExceptionClass::InvalidDestination
            }
            CommandError::Message(_) | CommandError::Unsupported(_) => ExceptionClass::JmsException,
            CommandError::NotConnected(_) => ExceptionClass::IllegalState,
            CommandError::TooManyProducers(_) => ExceptionClass::ResourceAllocation,
            CommandError::Broker(e) => match e {
                BrokerError::Destination(_)
                | BrokerError::BadPattern(_)
                | BrokerError::NotOwner(_)
                | BrokerError::TempInUse(_)
                | BrokerError::BrowseTopic(_)
                | BrokerError::SendToPattern(_)
                | BrokerError::BadTempName(_)
                | BrokerError::DurableNeedsTopic(_)
                | BrokerError::UnknownDurable(_) => ExceptionClass::InvalidDestination,
                BrokerError::TempGone(_) => ExceptionClass::DestinationDoesNotExist,
                BrokerError::ClientIdInUse(_) | BrokerError::DurableNeedsClientId => {
                    ExceptionClass::InvalidClientId
                }
                BrokerError::UnknownTransaction(_) => ExceptionClass::TransactionRolledBack,
                BrokerError::TooManySubscriptions(_)
                | BrokerError::TooManyTransactions(_)
                | BrokerError::TooManyTemps(_) => ExceptionClass::ResourceAllocation,
                _ => ExceptionClass::JmsException,
            },
        }
    }
}

/// An answer owed to the client once its operation is durable: the
/// Response (or ExceptionResponse) for `correlation`, or, for a command
/// that wanted none, a ConnectionError if it failed.
pub type Pending = BoxFuture<'static, Answer>;

/// What goes back for one command.
pub struct Answer {
    pub correlation: Option<i32>,
    pub result: Result<(), CommandError>,
    /// For an async send from a producer with a window: the ProducerAck
    /// that gives its room back (after the Response or ConnectionError).
    pub producer_ack: Option<ProducerAck>,
}

/// ActiveMQ's `Message.getSize()` of a received message, the size a
/// ProducerAck gives back: the client counted at most this much.
const MINIMUM_MESSAGE_SIZE: usize = 1024;

/// One consumer of this connection.
struct Consumer {
    id: ConsumerId,
    /// A consumer of advisory topics (`ActiveMQ.Advisory.…`): subscribed
    /// to each topic of its (composite) destination, auto-acknowledged.
    advisory: bool,
    /// Its core subscriptions: the consumer id, or for an advisory consumer
    /// `<consumer id>|<n>` per topic.
    subscriptions: Vec<String>,
    /// The durable subscription it is attached to.
    durable: Option<String>,
}

pub struct Handler {
    broker: Broker,
    config: Arc<ConnectionSettings>,
    pub peer: String,
    /// The negotiated OpenWire version.
    pub version: i32,
    /// After ConnectionInfo: the core connection, who logged in, the id.
    core: Option<Connection>,
    principal: Option<Principal>,
    connection_id: Option<ConnectionId>,
    consumers: HashMap<String, Consumer>,
    /// Temporary destinations this connection created.
    temps: HashSet<Destination>,
    /// Answers in command order.
    pub pending: FuturesOrdered<Pending>,
    /// Pulls waiting with a timeout: consumer → due (Unix ms).
    pub pulls: HashMap<String, i64>,
    /// Set by ShutdownInfo or a refused login: finish answers, close.
    pub closing: bool,
    /// Open producers, by producer id (`limits.max_producers_per_connection`).
    producers: HashSet<String>,
    /// Those that asked for ProducerAcks (ProducerInfo windowSize > 0).
    windows: HashSet<String>,
}

impl Handler {
    pub fn new(broker: Broker, config: Arc<ConnectionSettings>, peer: String) -> Handler {
        Handler {
            broker,
            config,
            peer,
            version: 0,
            core: None,
            principal: None,
            connection_id: None,
            consumers: HashMap::default(),
            temps: HashSet::default(),
            pending: FuturesOrdered::new(),
            pulls: HashMap::default(),
            closing: false,
            producers: HashSet::default(),
            windows: HashSet::default(),
        }
    }

    pub fn core(&self) -> Option<&Connection> {
        self.core.as_ref()
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Queues the answer to a command: at once, or when `confirm`
    /// resolves (so an async send's ProducerAck waits for its commit, and
    /// a producer with a window cannot outrun the store).
    fn answer(
        &mut self,
        command_id: i32,
        response_required: bool,
        confirm: Option<Confirm>,
        producer_ack: Option<ProducerAck>,
    ) {
        let correlation = response_required.then_some(command_id);
        match confirm {
            None if correlation.is_none() && producer_ack.is_none() => {}
            None => self.pending.push_back(
                futures::future::ready(Answer {
                    correlation,
                    result: Ok(()),
                    producer_ack,
                })
                .boxed(),
            ),
            Some(confirm) => self.pending.push_back(
                confirm
                    .map(move |r| Answer {
                        correlation,
                        result: r.map_err(CommandError::from),
                        producer_ack,
                    })
                    .boxed(),
            ),
        }
    }

    /// Queues a failure: an ExceptionResponse, or a ConnectionError for a
    /// command that wanted no answer.
    fn fail(
        &mut self,
        command_id: i32,
        response_required: bool,
        e: CommandError,
        producer_ack: Option<ProducerAck>,
    ) {
        let correlation = response_required.then_some(command_id);
        self.pending.push_back(
            futures::future::ready(Answer {
                correlation,
                result: Err(e),
                producer_ack,
            })
            .boxed(),
        );
    }

    /// The ProducerAck an async send owes its producer, if the producer
    /// has a window: ActiveMQ's size of the message (`Message.getSize()`,
    /// what the client added to its window's usage, or more).
    fn producer_ack(&self, m: &WireMessage) -> Option<ProducerAck> {
        if m.response_required
            || self.windows.is_empty()
            || !self.windows.contains(&m.producer_id.to_string())
        {
            return None;
        }
        let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len());
        let size = MINIMUM_MESSAGE_SIZE + len(&m.marshalled_properties) + len(&m.content);
        Some(ProducerAck {
            producer_id: Some(m.producer_id.clone()),
            size: i32::try_from(size).unwrap_or(i32::MAX),
            ..ProducerAck::default()
        })
    }

    /// The ProducerAck for an oversized asynchronous send that was
    /// skipped unread, if its producer has a window: the client counted
    /// the message (at most its frame and ActiveMQ's minimum size), and
    /// would otherwise wait for that room forever.
    pub fn oversized_ack(&self, o: &Oversized) -> Option<ProducerAck> {
        let producer = o.producer_id.as_ref()?;
        if o.response_required || !self.windows.contains(&producer.to_string()) {
            return None;
        }
        Some(ProducerAck {
            producer_id: Some(producer.clone()),
            size: i32::try_from(o.size + MINIMUM_MESSAGE_SIZE).unwrap_or(i32::MAX),
            ..ProducerAck::default()
        })
    }

    /// Handles one command from the client (after the WireFormatInfo).
    pub async fn on_command(&mut self, command: Command) {
        let (id, required) = (command.command_id(), command.response_required());
        let producer_ack = match &command {
            Command::Message(m) => self.producer_ack(m),
            _ => None,
        };
        let result = match command {
            Command::ConnectionInfo(info) => self.connect(*info).await,
            Command::KeepAliveInfo(_)
            | Command::ControlCommand(_)
            | Command::FlushCommand(_)
            | Command::ConnectionControl(_)
            | Command::SessionInfo(_)
            | Command::WireFormatInfo(_) => Ok(None),
            Command::ProducerInfo(info) => self.add_producer(&info),
            Command::ShutdownInfo(_) => {
                self.close().await;
                self.closing = true;
                Ok(None)
            }
            other if self.core.is_none() => Err(CommandError::NotConnected(other.name())),
            Command::ConsumerInfo(info) => self.subscribe(*info).await,
            Command::RemoveInfo(info) => self.remove(*info).await,
            Command::Message(m) => self.publish(*m).await,
            Command::MessageAck(ack) => self.acknowledge(*ack).await,
            Command::TransactionInfo(tx) => return self.transaction(*tx).await,
            Command::DestinationInfo(info) => self.destination(*info),
            Command::RemoveSubscriptionInfo(info) => {
                let name = info.subscription_name.clone().unwrap_or_default();
                if self
                    .consumers
                    .values()
                    .any(|c| c.durable.as_deref() == Some(name.as_str()))
                {
                    // JMS: a subscription with an open consumer cannot be
                    // removed, not even by its own connection.
                    Err(BrokerError::DurableActive(name).into())
                } else {
                    self.run(Core::UnsubscribeDurable(name)).await
                }
            }
            Command::MessagePull(pull) => self.pull(&pull.consumer_id, pull.timeout),
            Command::ConsumerControl(c) => {
                if let Some(consumer) = &c.consumer_id {
                    let prefetch = self.prefetch(c.prefetch);
                    self.broker
                        .set_prefetch(self.conn_id(), &consumer.to_string(), prefetch);
                }
                Ok(None)
            }
            other => Err(CommandError::Unsupported(unsupported(other.name()))),
        };
        match result {
            Ok(confirm) => self.answer(id, required, confirm, producer_ack),
            Err(e) => self.fail(id, required, e, producer_ack),
        }
    }

    fn conn_id(&self) -> u64 {
        self.core.as_ref().map_or(0, Connection::id)
    }

    async fn run(&mut self, command: Core) -> Result<Option<Confirm>, CommandError> {
        let core = self
            .core
            .as_mut()
            .ok_or(CommandError::NotConnected("a command"))?;
        Ok(core.execute(command).await?)
    }

    async fn connect(&mut self, info: ConnectionInfo) -> Result<Option<Confirm>, CommandError> {
        if self.core.is_some() {
            // A replay on the same socket: nothing new.
            return Ok(None);
        }
        let who = self
            .config
            .logins
            .login(
                info.user_name.as_deref(),
                info.password.as_deref(),
                &self.peer,
            )
            .await
            .inspect_err(|_| self.closing = true)?;
        let mut core = self
            .broker
            .open(&self.config.node_id, AfterFailedSend::KeepOpen);
        if let Some(client_id) = info.client_id.as_deref() {
            // Only the same user may take its own stale connection over:
            // a ConnectionId is no secret (it is in every JMSReplyTo).
            let resume = format!("{}\n{}", who.name, info.connection_id);
            if let Err(e) = core.claim_client_id(client_id, Some(&resume)) {
                core.close().await;
                self.closing = true;
                return Err(e.into());
            }
        }
        core.outbox().describe(crate::broker::ConnMeta {
            peer: self.peer.clone(),
            protocol: crate::broker::Protocol::OpenWire,
            version: self.version.to_string(),
            client_id: info.client_id.clone(),
            connected_at: crate::message::now_ms(),
        });
        self.principal = Some(who);
        self.connection_id = Some(info.connection_id);
        self.core = Some(core);
        Ok(None)
    }

    /// Refuses what the principal may not do (own temporary destinations
    /// are always allowed).
    fn authorize(&self, access: Access, dest: &Destination) -> Result<(), CommandError> {
        if self.temps.contains(dest) {
            return Ok(());
        }
        match &self.principal {
            Some(who) => Ok(auth::check(who, access, dest, "")?),
            None => Err(CommandError::NotConnected("a destination")),
        }
    }

    fn prefetch(&self, requested: i32) -> usize {
        usize::try_from(requested)
            .unwrap_or(0)
            .min(self.config.max_prefetch)
    }

    async fn subscribe(&mut self, info: ConsumerInfo) -> Result<Option<Confirm>, CommandError> {
        let key = info.consumer_id.to_string();
        if self.consumers.contains_key(&key) {
            // Replayed after a failover to the same broker: already there.
            return Ok(None);
        }
        if info.destination.name.starts_with(ADVISORY_PREFIX) {
            return self.subscribe_advisories(key, info).await;
        }
        let mut dests = translate::destinations(&info.destination)?;
        if dests.len() != 1 {
            return Err(CommandError::Unsupported(
                "a consumer of a composite destination is not supported; create one consumer per destination",
            ));
        }
        let destination = dests.remove(0);
        self.authorize(Access::Read, &destination)?;
        let selector = match info.selector.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let s = Selector::parse(text).map_err(|e| CommandError::Selector(e.to_string()))?;
                (!s.is_match_all()).then_some(s)
            }
        };
        let durable = match &info.subscription_name {
            None => None,
            Some(name) => Some(DurableName {
                client_id: self
                    .core
                    .as_ref()
                    .and_then(Connection::client_id)
                    .ok_or(BrokerError::DurableNeedsClientId)?
                    .to_string(),
                name: name.clone(),
                created_after: 0,
            }),
        };
        let spec = SubscribeSpec {
            id: key.clone(),
            destination,
            ack: AckMode::Client,
            prefetch: self.prefetch(info.prefetch_size),
            exclusive: info.exclusive,
            browser: info.browser,
            durable,
            selector,
            no_local: info.no_local,
        };
        let key_copy = key.clone();
        let confirm = self.run(Core::Subscribe(spec)).await?;
        self.consumers.insert(
            key,
            Consumer {
                id: info.consumer_id,
                advisory: false,
                subscriptions: vec![key_copy],
                durable: info.subscription_name,
            },
        );
        Ok(confirm)
    }

    async fn remove(&mut self, info: RemoveInfo) -> Result<Option<Confirm>, CommandError> {
        let seen = match info.last_delivered_sequence_id {
            last_delivered::UNKNOWN => Seen::All,
            n if n < 0 => Seen::Nothing,
            n => Seen::UpTo(n),
        };
        match info.object_id {
            RemovedObject::Consumer(id) => {
                self.unsubscribe(&id.to_string(), seen).await;
                Ok(None)
            }
            RemovedObject::Session(session) => {
                let prefix = format!("{session}:");
                let mine: Vec<String> = self
                    .consumers
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for key in mine {
                    self.unsubscribe(&key, Seen::All).await;
                }
                self.producers.retain(|p| !p.starts_with(&prefix));
                self.windows.retain(|p| !p.starts_with(&prefix));
                Ok(None)
            }
            RemovedObject::Producer(id) => {
                let id = id.to_string();
                self.producers.remove(&id);
                self.windows.remove(&id);
                Ok(None)
            }
            RemovedObject::Connection(_) => {
                self.close().await;
                Ok(None)
            }
        }
    }

    /// A new producer, within `limits.max_producers_per_connection` (a
    /// failover replay's ProducerInfo for one already open counts once).
    fn add_producer(&mut self, info: &ProducerInfo) -> Result<Option<Confirm>, CommandError> {
        let id = info.producer_id.to_string();
        if !self.producers.contains(&id) {
            if self.producers.len() >= self.config.max_producers {
                crate::metrics::limit_hit("limits.max_producers_per_connection");
                return Err(CommandError::TooManyProducers(self.config.max_producers));
            }
            self.producers.insert(id.clone());
        }
        if info.window_size > 0 {
            self.windows.insert(id);
        }
        Ok(None)
    }

    async fn unsubscribe(&mut self, key: &str, seen: Seen) {
        let Some(consumer) = self.consumers.remove(key) else {
            return;
        };
        self.pulls.remove(key);
        for id in consumer.subscriptions {
            let command = Core::Unsubscribe { id, seen };
            if let Err(e) = self.run(command).await {
                tracing::debug!(error = %e, consumer = key, "consumer already gone");
            }
        }
    }

    /// The client's advisory consumer (`ActiveMQ.Advisory.TempQueue,
    /// ActiveMQ.Advisory.TempTopic` at connect): one auto-acknowledged core
    /// subscription per topic. Advisory topics carry only the names of
    /// temporary destinations, so no permission is needed to read them
    /// (ActiveMQ needs an explicit grant on `ActiveMQ.Advisory.>`).
    async fn subscribe_advisories(
        &mut self,
        key: String,
        info: ConsumerInfo,
    ) -> Result<Option<Confirm>, CommandError> {
        let mut subscriptions = Vec::new();
        for (n, destination) in translate::destinations(&info.destination)?
            .into_iter()
            .enumerate()
        {
            if !destination.name().starts_with(ADVISORY_PREFIX) {
                return Err(CommandError::Unsupported(
                    "a composite consumer mixing advisory and other topics is not supported",
                ));
            }
            let id = format!("{key}|{n}");
            let spec = SubscribeSpec {
                id: id.clone(),
                destination,
                ack: AckMode::Auto,
                prefetch: self.config.max_prefetch,
                exclusive: false,
                browser: false,
                durable: None,
                selector: None,
                no_local: false,
            };
            self.run(Core::Subscribe(spec)).await?;
            subscriptions.push(id);
        }
        self.consumers.insert(
            key,
            Consumer {
                id: info.consumer_id,
                advisory: true,
                subscriptions,
                durable: None,
            },
        );
        Ok(None)
    }

    async fn publish(&mut self, m: WireMessage) -> Result<Option<Confirm>, CommandError> {
        let destinations = translate::destinations(&m.destination)?;
        for d in &destinations {
            self.authorize(Access::Write, d)?;
        }
        let mut message = translate::message_in(&m, self.config.max_frame_bytes)?;
        // AMQ_SCHEDULED_DELAY / PERIOD / REPEAT, as from STOMP.
        message.scheduled = crate::broker::first_due(&message, crate::message::now_ms())
            .map_err(TranslateError::Schedule)?;
        let tx = m.transaction_id.as_ref().map(tx_key);
        self.run(Core::Publish {
            message,
            destinations,
            tx,
        })
        .await
    }

    async fn acknowledge(&mut self, ack: MessageAck) -> Result<Option<Confirm>, CommandError> {
        let kind = match ack.ack_type {
            ack_type::DELIVERED => AckKind::Delivered,
            ack_type::STANDARD => AckKind::Ack,
            ack_type::INDIVIDUAL => AckKind::Individual,
            ack_type::POISON => AckKind::Poison(
                ack.poison_cause
                    .as_ref()
                    .and_then(|t| t.message())
                    .unwrap_or("")
                    .to_string(),
            ),
            ack_type::EXPIRED => AckKind::Expired,
            // REDELIVERED and unknown types: informational.
            _ => return Ok(None),
        };
        let Some(last) = &ack.last_message_id else {
            return Ok(None);
        };
        let key = ack.consumer_id.to_string();
        if self.consumers.get(&key).is_none_or(|c| c.advisory) {
            return Ok(None);
        }
        let request = AckRequest {
            subscription: Some(key),
            message_id: last.broker_sequence_id,
            first: ack.first_message_id.as_ref().map(|m| m.broker_sequence_id),
            kind,
        };
        let command = Core::Ack {
            ack: request,
            tx: ack.transaction_id.as_ref().map(tx_key),
            wait: ack.response_required,
        };
        match self.run(command).await {
            // An ack of a message this broker no longer holds for the
            // consumer (already acknowledged, or from before a failover)
            // changes nothing.
            Err(CommandError::Broker(BrokerError::NotInFlight(id))) => {
                tracing::debug!(id, "acknowledged message not in flight");
                Ok(None)
            }
            other => other,
        }
    }

    /// A TransactionInfo answers itself (a RECOVER wants a
    /// DataArrayResponse).
    async fn transaction(&mut self, tx: TransactionInfo) {
        let (id, required) = (tx.command_id, tx.response_required);
        if let TransactionId::Xa(_) = tx.transaction_id {
            return self.fail(
                id,
                required,
                CommandError::Unsupported("XA transactions are not supported"),
                None,
            );
        }
        let key = tx_key(&tx.transaction_id);
        let result = match tx.transaction_type {
            transaction_type::BEGIN => match self.run(Core::Begin(key)).await {
                Err(CommandError::Broker(BrokerError::TransactionOpen(_))) => Ok(None),
                other => other,
            },
            transaction_type::COMMIT_ONE_PHASE => self.run(Core::Commit(key)).await,
            transaction_type::ROLLBACK => match self
                .run(Core::Rollback {
                    tx: key,
                    redeliver: false,
                })
                .await
            {
                // After a failover the transaction is gone anyway.
                Err(CommandError::Broker(BrokerError::UnknownTransaction(_))) => Ok(None),
                other => other,
            },
            _ => Err(CommandError::Unsupported(
                "only local transactions (begin, commit, rollback) are supported",
            )),
        };
        match result {
            Ok(confirm) => self.answer(id, required, confirm, None),
            Err(e) => self.fail(id, required, e, None),
        }
    }

    fn destination(&mut self, info: DestinationInfo) -> Result<Option<Confirm>, CommandError> {
        if !info.destination.kind.is_temporary() {
            // ActiveMQ creates ordinary destinations on first use.
            return Ok(None);
        }
        let dest = translate::to_core(&info.destination);
        if info.operation_type == destination_operation::ADD {
            self.broker.create_temp(self.conn_id(), &dest)?;
            self.temps.insert(dest);
        } else {
            self.broker.delete_temp(self.conn_id(), &dest)?;
            self.temps.remove(&dest);
        }
        Ok(None)
    }

    /// A prefetch-0 consumer's receive. With `timeout` −1 a null dispatch
    /// answers at once when nothing is there; with a positive timeout the
    /// session sends it when the time is up.
    fn pull(
        &mut self,
        consumer: &ConsumerId,
        timeout: i64,
    ) -> Result<Option<Confirm>, CommandError> {
        let key = consumer.to_string();
        if !self.consumers.contains_key(&key) {
            return Ok(None);
        }
        let sent = self.broker.pull(self.conn_id(), &key)?;
        if !sent && timeout != 0 {
            let due = if timeout < 0 {
                0
            } else {
                crate::message::now_ms().saturating_add(timeout)
            };
            self.pulls.insert(key, due);
        }
        Ok(None)
    }

    /// The pulls due by `now` that nothing answered: their null dispatches.
    pub fn expired_pulls(&mut self, now: i64) -> Vec<Command> {
        let due: Vec<String> = self
            .pulls
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in due {
            self.pulls.remove(&key);
            if self.broker.cancel_pull(self.conn_id(), &key) {
                if let Some(c) = self.consumers.get(&key) {
                    out.push(MessageDispatch::null(c.id.clone()).into());
                }
            }
        }
        out
    }

    /// The earliest due pull, if any.
    pub fn next_pull_due(&self) -> Option<i64> {
        self.pulls.values().min().copied()
    }

    /// The MessageDispatch of one delivery (a browse's end marker becomes
    /// the null dispatch).
    pub fn dispatch(&mut self, d: &Delivery) -> Option<Command> {
        let key = d.subscription.split('|').next().unwrap_or_default();
        let consumer = self.consumers.get(key)?;
        if d.message.header(crate::broker::BROWSER_END).is_some() && d.message.id == 0 {
            return Some(MessageDispatch::null(consumer.id.clone()).into());
        }
        // A pull answered by a message is no longer waiting.
        self.pulls.remove(&*d.subscription);
        let message = if consumer.advisory {
            translate::advisory_out(&d.message)?
        } else {
            translate::message_out(&d.message)
        };
        Some(
            MessageDispatch {
                consumer_id: consumer.id.clone(),
                destination: Some(message.destination.clone()),
                redelivery_counter: message.redelivery_counter,
                message: Some(Box::new(message)),
                ..MessageDispatch::default()
            }
            .into(),
        )
    }

    /// The answer to a finished operation, then its ProducerAck if any.
    pub fn reply(&self, answer: Answer) -> [Option<Command>; 2] {
        let first = match (answer.correlation, answer.result) {
            (Some(c), Ok(())) => Some(Response::new(c).into()),
            (Some(c), Err(e)) => Some(ExceptionResponse::new(c, e.class(), e.to_string()).into()),
            (None, Ok(())) => None,
            (None, Err(e)) => Some(
                ConnectionError::new(e.class(), e.to_string(), self.connection_id.clone()).into(),
            ),
        };
        [first, answer.producer_ack.map(Command::from)]
    }

    /// Leaves the broker: transactions roll back, consumers end (their
    /// unacknowledged messages are redelivered), temporary destinations go.
    pub async fn close(&mut self) {
        self.consumers.clear();
        self.pulls.clear();
        if let Some(core) = self.core.as_mut() {
            core.close().await;
        }
    }
}

/// Topics whose consumers get advisories.
const ADVISORY_PREFIX: &str = "ActiveMQ.Advisory.";

/// The core's name of an OpenWire transaction.
fn tx_key(tx: &TransactionId) -> String {
    match tx {
        TransactionId::Local(t) => t.to_string(),
        TransactionId::Xa(_) => "xa".to_string(),
    }
}

fn unsupported(name: &'static str) -> &'static str {
    match name {
        "ProducerAck" | "MessageDispatch" | "BrokerInfo" => {
            "this command is sent by brokers, not clients"
        }
        _ => "this command is not supported by Baton",
    }
}
