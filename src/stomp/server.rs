//! The STOMP listener: accepts connections and runs one session task each;
//! on shutdown stops accepting and waits for the sessions to drain.

use super::handler::SessionConfig;
use super::session;
use crate::broker::Broker;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long sessions get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What ends the sessions: `stop` (graceful shutdown: sessions first send
/// the receipts of their pending commits) or `abort` (this node lost
/// mastership: sessions close at once).
#[derive(Clone, Default)]
pub struct Stop {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
}

/// Accepts clients until told to stop, then waits for every session.
pub async fn run(listener: TcpListener, broker: Broker, config: Arc<SessionConfig>, signals: Stop) {
    let sessions = TaskTracker::new();
    loop {
        tokio::select! {
            _ = signals.stop.cancelled() => break,
            _ = signals.abort.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    crate::metrics::get().connections_accepted.inc();
                    if let Err(e) = socket.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    tracing::debug!(%peer, "client connected");
                    sessions.spawn(session::run(
                        socket,
                        peer.to_string(),
                        broker.clone(),
                        config.clone(),
                        signals.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    sessions.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = sessions.len(),
            "sessions did not finish in time"
        );
    }
}
