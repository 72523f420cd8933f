//! One node's lifecycle: open the store, register, try for the master lock
//! as a slave, and on winning recover the state, bind the messaging port and
//! serve until the term ends (shutdown, lost lease, fencing); then drop the
//! in-memory state and go back to being a slave, or release the lock and
//! exit.

use crate::admin::{self, AdminState};
use crate::auth::Auth;
use crate::broker::{Broker, CoreConfig};
use crate::config::auth::Anonymous;
use crate::config::{Backend, Config};
use crate::election::{Election, TermEnd};
use crate::openwire::handler::ConnectionSettings;
use crate::status::NodeStatus;
use crate::stomp::{self, frame::Limits, SessionConfig};
use crate::stop::Stop;
use crate::store::{
    self, Claim, GroupCommit, MessageStore, NodeRecord, Registry, Store, StoreError, Term,
    WriterConfig,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen for {what} on {addr}: {source} (is another process using the port? change {key})")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        key: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("admin server failed: {0}")]
    Admin(std::io::Error),
    #[error("cannot generate the admin password: {0}")]
    Auth(String),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Binds the messaging ports: STOMP, and OpenWire and STOMP over WebSocket
/// unless they are off.
async fn bind_messaging(
    config: &Config,
) -> Result<(TcpListener, Option<TcpListener>, Option<TcpListener>), NodeError> {
    let stomp = bind(config.stomp.listen, "STOMP", "stomp.listen").await?;
    let openwire = match config.openwire_listen()? {
        None => None,
        Some(addr) => Some(bind(addr, "OpenWire", "openwire.listen").await?),
    };
    let websocket = match config.websocket.listen {
        None => None,
        Some(addr) => Some(bind(addr, "STOMP over WebSocket", "websocket.listen").await?),
    };
    Ok((stomp, openwire, websocket))
}

/// What the messaging listeners of every term share: who may log in, and
/// the TLS of the messaging ports (`stomp.tls_*`).
struct Messaging {
    auth: Arc<Auth>,
    tls: Option<TlsAcceptor>,
}

async fn bind(
    addr: SocketAddr,
    what: &'static str,
    key: &'static str,
) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            what,
            addr,
            key,
            source,
        })
}

fn default_node_id(admin_port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "baton".to_string());
    format!("{host}-{admin_port}")
}

/// Runs a node until `shutdown` fires and everything has drained.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), NodeError> {
    let stomp_tls = match config.stomp_tls()? {
        Some(files) => Some(TlsAcceptor::from(crate::tls::server_config(&files, &[])?)),
        None => None,
    };
    let admin_tls = match config.admin_tls()? {
        Some(files) => Some(crate::tls::server_config(&files, &[b"http/1.1"])?),
        None => None,
    };
    let admin_listener = bind(config.admin.listen, "admin HTTP", "admin.listen").await?;
    let admin_addr = admin_listener.local_addr().map_err(NodeError::Admin)?;
    let node_id = config
        .node_id
        .clone()
        .unwrap_or_else(|| default_node_id(admin_addr.port()));
    tracing::info!(node_id = %node_id, "starting baton {}", env!("CARGO_PKG_VERSION"));
    let status = Arc::new(NodeStatus::new(
        node_id.clone(),
        config.stomp.listen.to_string(),
        admin_addr.to_string(),
    ));
    let (auth, generated) = admin::auth_for(&config).map_err(NodeError::Auth)?;
    let messaging = Messaging {
        auth: auth.clone(),
        tls: stomp_tls,
    };
    let admin_task = tokio::spawn(admin::run(
        admin_listener,
        AdminState::new(status.clone(), auth.clone(), &config),
        admin_tls.clone(),
        shutdown.clone(),
    ));
    tracing::info!(addr = %admin_addr, tls = admin_tls.is_some(), "admin listener bound");

    let result = match open_store(&config, &shutdown).await {
        Ok(Some(store)) => {
            if let Some(generated) = generated {
                admin::share_generated_login(
                    &auth,
                    generated,
                    store.as_ref(),
                    &node_id,
                    &config,
                    admin_addr,
                )
                .await;
            }
            status.set_store(store.clone());
            let every = Duration::from_millis(config.election.renew_ms);
            let registry = tokio::spawn(register(
                store.clone(),
                status.clone(),
                every,
                shutdown.clone(),
            ));
            let served = lead_or_follow(&config, &store, &status, &messaging, &shutdown).await;
            shutdown.cancel();
            let _ = registry.await;
            store.close().await;
            served
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    shutdown.cancel();
    let admin_result = admin_task.await;
    tracing::info!("stopped");
    result?;
    match admin_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(NodeError::Admin(e)),
        Err(e) => Err(NodeError::Admin(std::io::Error::other(e))),
    }
}

/// Opens the store, waiting for an unreachable database (but not for a
/// SQLite file that cannot be opened). `None` on shutdown.
async fn open_store(
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<dyn Store>>, NodeError> {
    let mut delay = Duration::from_millis(100);
    loop {
        match store::open(&config.database).await {
            Ok(store) => {
                tracing::info!(url = %crate::config::redact_url(&config.database.url), "store open");
                return Ok(Some(store));
            }
            Err(e @ StoreError::SchemaTooNew { .. }) => return Err(e.into()),
            Err(e) if Backend::of(&config.database.url) == Some(Backend::Sqlite) => {
                return Err(e.into())
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unreachable; retrying");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Slave until elected, master until the term ends, and again.
async fn lead_or_follow(
    config: &Config,
    store: &Arc<dyn Store>,
    status: &Arc<NodeStatus>,
    messaging: &Messaging,
    shutdown: &CancellationToken,
) -> Result<(), NodeError> {
    let claim = Claim {
        node_id: status.node_id.clone(),
        stomp_addr: status.stomp_addr.clone(),
        admin_addr: status.admin_addr.clone(),
    };
    let mut election = Election::new(store.clone(), claim, &config.election, &config.database.url);
    loop {
        tracing::info!(mode = ?election.mode(), "slave: waiting for the master lock");
        let Some(won) = election.acquire(shutdown).await else {
            return Ok(());
        };
        let epoch = won.0;
        let end = serve_term(
            config,
            store,
            status,
            messaging,
            &mut election,
            won,
            shutdown,
        )
        .await?;
        if end == TermEnd::Shutdown {
            election.release(epoch).await;
            return Ok(());
        }
        election.step_down().await;
    }
}

/// One term as master: recover, bind, serve, and on the way out close the
/// port and every connection and drop all in-memory state.
async fn serve_term(
    config: &Config,
    store: &Arc<dyn Store>,
    status: &Arc<NodeStatus>,
    messaging: &Messaging,
    election: &mut Election,
    (epoch, claimed_at): (i64, tokio::time::Instant),
    shutdown: &CancellationToken,
) -> Result<TermEnd, NodeError> {
    let term = Term {
        epoch,
        fenced: CancellationToken::new(),
        over: CancellationToken::new(),
        commit_timeout: Duration::from_millis(
            config.database.statement_timeout_ms + config.database.connect_timeout_ms,
        ),
    };
    let fenced = term.fenced.clone();
    let pipeline = match Backend::of(&config.database.url) {
        // One writer at a time: a second transaction would only wait.
        Some(Backend::Sqlite) | None => 1,
        Some(_) => config.database.pipeline,
    };
    let (writer, writer_task) = GroupCommit::start(
        store.clone(),
        term.clone(),
        WriterConfig {
            capacity: config.database.write_queue,
            max_batch_ops: config.database.max_batch,
            commit_wait: std::time::Duration::from_micros(config.database.commit_wait_us),
            pipeline,
            track_inserts: config.broker.dispatch_before_commit,
        },
    );
    let core = CoreConfig {
        policies: crate::broker::Policies::new(
            config.broker.max_redeliveries,
            &config.broker.dlq_prefix,
            &config.broker.policy,
        ),
        ids: Default::default(),
        topic_pending_limit: config.broker.topic_pending_limit,
        queue_window: config.broker.queue_window,
        queue_window_bytes: config.broker.queue_window_bytes,
        max_subscriptions_per_connection: config.limits.max_subscriptions_per_connection,
        max_transactions_per_connection: config.limits.max_transactions_per_connection,
        max_temp_destinations_per_connection: config.limits.max_temp_destinations_per_connection,
        max_unacked_per_consumer: config.limits.max_unacked_per_consumer,
        max_non_persistent_bytes: config.limits.max_non_persistent_bytes,
        producer_retention_ms: config
            .broker
            .producer_retention_hours
            .saturating_mul(3_600_000)
            .min(i64::MAX as u64) as i64,
    };
    let recovered = tokio::select! {
        r = Broker::recover(store.as_ref(), writer, core) => r,
        end = election.hold(epoch, claimed_at, shutdown, &fenced) => {
            term.over.cancel();
            return Ok(end);
        }
    };
    let broker = match recovered {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not load the persistent state; stepping down");
            let _ = writer_task.await;
            return Ok(TermEnd::LeaseDeadline);
        }
    };
    let (listener, openwire, websocket) = match bind_messaging(config).await {
        Ok(l) => l,
        Err(e) => {
            drop(broker);
            let _ = writer_task.await;
            election.release(epoch).await;
            return Err(e);
        }
    };
    let stomp_addr = listener.local_addr().map_err(NodeError::Admin)?;
    status.begin_term(epoch, broker.clone());
    crate::metrics::get().elections_won.inc();
    tracing::info!(addr = %stomp_addr, tls = messaging.tls.is_some(), "stomp listener bound");
    if let Some(l) = &openwire {
        let addr = l.local_addr().map_err(NodeError::Admin)?;
        tracing::info!(addr = %addr, tls = messaging.tls.is_some(), "openwire listener bound");
    }
    if let Some(l) = &websocket {
        let addr = l.local_addr().map_err(NodeError::Admin)?;
        tracing::info!(addr = %addr, tls = messaging.tls.is_some(), "websocket listener bound");
    }
    tracing::info!(epoch, "became master (epoch {epoch})");

    let signals = Stop {
        stop: shutdown.child_token(),
        abort: term.over.clone(),
    };
    let stomp_config = Arc::new(session_config(
        config,
        &status.node_id,
        messaging.auth.clone(),
    ));
    let openwire_server = openwire.map(|listener| {
        let sessions = crate::openwire::session::Sessions {
            broker: broker.clone(),
            config: Arc::new(ConnectionSettings {
                max_frame_bytes: config.openwire.max_frame_bytes,
                max_pending_commits: config.stomp.max_pending_commits,
                admission: stomp_config.admission.clone(),
                node_id: status.node_id.clone(),
                logins: stomp_config.auth.clone(),
                max_prefetch: config.limits.max_unacked_per_consumer,
                max_producers: config.limits.max_producers_per_connection,
            }),
            signals: signals.clone(),
        };
        tokio::spawn(crate::listener::run(
            listener,
            messaging.tls.clone(),
            stomp_config.admission.clone(),
            sessions,
            signals.clone(),
        ))
    });
    let websocket_server = websocket.map(|listener| {
        let upgrade = stomp::websocket::Upgrade {
            broker: broker.clone(),
            session: stomp_config.clone(),
            allowed_origins: Arc::new(config.websocket.allowed_origins.clone()),
            signals: signals.clone(),
        };
        tokio::spawn(crate::listener::run(
            listener,
            messaging.tls.clone(),
            stomp_config.admission.clone(),
            upgrade,
            signals.clone(),
        ))
    });
    let server = tokio::spawn(stomp::server::run(
        listener,
        messaging.tls.clone(),
        broker.clone(),
        stomp_config,
        signals.clone(),
    ));
    let sweeper = tokio::spawn(sweep_expired(
        broker.clone(),
        Duration::from_millis(config.broker.expiry_check_ms),
        signals.clone(),
    ));
    let scheduler = tokio::spawn(deliver_scheduled(broker.clone(), signals.clone()));
    let pager = tokio::spawn(page_queues(broker.clone(), store.clone(), signals.clone()));
    let vacuum = tokio::spawn(vacuum_messages(
        store.clone(),
        config.database.vacuum_interval_ms,
        signals.clone(),
    ));
    drop(broker);

    let end = election.hold(epoch, claimed_at, shutdown, &fenced).await;
    // Load balancers see `slave` as soon as the port stops accepting.
    status.end_term();
    if end != TermEnd::Shutdown {
        crate::metrics::get().elections_lost.inc();
        signals.abort.cancel();
        tracing::warn!(
            epoch,
            reason = end.describe(),
            "demoted: closing the messaging port and every connection"
        );
    } else {
        tracing::info!("messaging stopping; finishing in-flight writes");
    }
    let _ = server.await;
    if let Some(s) = openwire_server {
        let _ = s.await;
    }
    if let Some(s) = websocket_server {
        let _ = s.await;
    }
    let _ = sweeper.await;
    let _ = scheduler.await;
    let _ = pager.await;
    let _ = vacuum.await;
    if let Err(e) = writer_task.await {
        tracing::error!(error = %e, "group-commit writer ended abnormally");
    }
    status.end_term();
    Ok(end)
}

fn session_config(config: &Config, node_id: &str, auth: Arc<Auth>) -> SessionConfig {
    let anonymous = match config.auth.anonymous {
        Anonymous::Allow => true,
        Anonymous::Deny => false,
        Anonymous::Auto => {
            config.stomp.listen.ip().is_loopback()
                && config
                    .openwire_listen()
                    .ok()
                    .flatten()
                    .is_none_or(|a| a.ip().is_loopback())
                && config.websocket.listen.is_none_or(|a| a.ip().is_loopback())
        }
    };
    SessionConfig {
        limits: Limits {
            max_body_bytes: config.stomp.max_body_bytes,
            max_headers: config.stomp.max_headers,
            max_header_bytes: config.stomp.max_header_bytes,
        },
        heartbeat_send_ms: config.stomp.heartbeat_send_ms,
        heartbeat_receive_ms: config.stomp.heartbeat_receive_ms,
        default_prefetch: config.stomp.default_prefetch,
        max_pending_commits: config.stomp.max_pending_commits,
        admission: crate::admission::Admission::new(
            config.limits.max_connections,
            config.limits.max_connections_per_address,
        ),
        session_prefix: node_id.to_string(),
        auth: Arc::new(crate::auth::Logins::new(
            auth,
            anonymous,
            !config.auth.users.is_empty(),
        )),
    }
}

/// Keeps this node's row in the registry fresh.
async fn register(
    store: Arc<dyn Registry>,
    status: Arc<NodeStatus>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let started_at = crate::message::now_ms();
    loop {
        let record = NodeRecord {
            node_id: status.node_id.clone(),
            stomp_addr: status.stomp_addr.clone(),
            admin_addr: status.admin_addr.clone(),
            role: status.role().to_string(),
            started_at,
            last_seen: 0,
        };
        match tokio::time::timeout(every, store.heartbeat(&record)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "node heartbeat failed"),
            Err(_) => tracing::debug!("node heartbeat timed out"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn sweep_expired(broker: Broker, every: Duration, signals: Stop) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = signals.abort.cancelled() => return,
            _ = tick.tick() => broker.expire(),
        }
    }
}

/// Vacuums the message table every `every_ms` (0 = never) while master.
async fn vacuum_messages(store: Arc<dyn MessageStore>, every_ms: u64, signals: Stop) {
    if every_ms == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = signals.abort.cancelled() => return,
            _ = tick.tick() => match store.vacuum().await {
                Ok(true) => tracing::debug!("message table vacuumed"),
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "VACUUM of the message table failed; retrying at the next interval"),
            },
        }
    }
}

/// Pages stored messages of deep queues into memory as they drain.
async fn page_queues(broker: Broker, store: Arc<dyn MessageStore>, signals: Stop) {
    loop {
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = signals.abort.cancelled() => return,
            _ = broker.page_in(store.as_ref()) => {}
        }
    }
}

/// Delivers scheduled messages when they are due.
async fn deliver_scheduled(broker: Broker, signals: Stop) {
    loop {
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = signals.abort.cancelled() => return,
            _ = broker.wait_for_due(Duration::from_secs(1)) => broker.fire_due().await,
        }
    }
}
