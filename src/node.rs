//! One node's lifecycle: open the store, recover, bind the listeners, serve
//! until shutdown, then drain: sessions finish, in-flight writes commit,
//! connections close.

use crate::admin::{self, AdminState};
use crate::broker::{Broker, CoreConfig};
use crate::config::Config;
use crate::stomp::{self, frame::Limits, SessionConfig};
use crate::store::{self, GroupCommit, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
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
    let admin_listener = bind(config.admin.listen, "admin HTTP", "admin.listen").await?;
    let admin_addr = admin_listener.local_addr().map_err(NodeError::Admin)?;
    let node_id = config
        .node_id
        .clone()
        .unwrap_or_else(|| default_node_id(admin_addr.port()));
    tracing::info!(node_id = %node_id, "starting baton {}", env!("CARGO_PKG_VERSION"));

    let store = store::open(&config.database).await?;
    tracing::info!(url = %config.database.url, "store open");
    let admin_task = tokio::spawn(admin::run(
        admin_listener,
        AdminState {
            store: store.clone(),
        },
        shutdown.clone(),
    ));
    tracing::info!(addr = %admin_addr, "admin listener bound");

    let claim = crate::store::Claim {
        node_id: node_id.clone(),
        stomp_addr: config.stomp.listen.to_string(),
        admin_addr: admin_addr.to_string(),
    };
    let epoch = store.try_acquire(&claim, 3000, true).await?.unwrap_or(0);
    let (writer, writer_task) = GroupCommit::start(
        store.clone(),
        epoch,
        config.database.write_queue,
        config.database.max_batch,
        shutdown.clone(),
    );
    let core = CoreConfig {
        max_redeliveries: config.broker.max_redeliveries,
        dlq_prefix: config.broker.dlq_prefix.clone(),
        topic_pending_limit: config.broker.topic_pending_limit,
    };
    let broker = Broker::recover(&store, writer, core).await?;

    let stomp_listener = bind(config.stomp.listen, "STOMP", "stomp.listen").await?;
    let stomp_addr = stomp_listener
        .local_addr()
        .map_err(|source| NodeError::Bind {
            what: "STOMP",
            addr: config.stomp.listen,
            key: "stomp.listen",
            source,
        })?;
    tracing::info!(addr = %stomp_addr, "stomp listener bound");

    let sessions = Arc::new(SessionConfig {
        limits: Limits {
            max_body_bytes: config.stomp.max_body_bytes,
            max_headers: config.stomp.max_headers,
            max_header_bytes: config.stomp.max_header_bytes,
        },
        heartbeat_send_ms: config.stomp.heartbeat_send_ms,
        heartbeat_receive_ms: config.stomp.heartbeat_receive_ms,
        default_prefetch: config.stomp.default_prefetch,
        max_pending_commits: config.stomp.max_pending_commits,
        session_prefix: node_id.clone(),
    });
    let sweeper = tokio::spawn(sweep_expired(
        broker.clone(),
        Duration::from_millis(config.broker.expiry_check_ms),
        shutdown.clone(),
    ));
    stomp::server::run(stomp_listener, broker.clone(), sessions, shutdown.clone()).await;
    tracing::info!("messaging stopped; finishing in-flight writes");

    let _ = sweeper.await;
    drop(broker);
    if let Err(e) = writer_task.await {
        tracing::error!(error = %e, "group-commit writer ended abnormally");
    }
    let admin_result = admin_task.await;
    store.close().await;
    tracing::info!("stopped");
    match admin_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(NodeError::Admin(e)),
        Err(e) => Err(NodeError::Admin(std::io::Error::other(e))),
    }
}

async fn sweep_expired(broker: Broker, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => broker.expire(),
        }
    }
}
