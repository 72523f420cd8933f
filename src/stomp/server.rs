//! The STOMP listener: accepts connections on the STOMP port and, when
//! configured, the WebSocket port, and runs one session task each; on
//! shutdown stops accepting and waits for the sessions to drain. Both ports
//! share one count of connections (`limits.max_connections`).

use super::codec::StompCodec;
use super::handler::SessionConfig;
use super::limits::{self, Admission, Permit, Refusal};
use super::transport::Transport;
use super::{session, websocket};
use crate::broker::Broker;
use crate::stop::Stop;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tokio_util::task::TaskTracker;

/// How long sessions get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client gets to finish the TLS handshake, and then the
/// WebSocket upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket port (`websocket.listen`) and its connections' settings.
pub struct WebSocketListener {
    pub listener: TcpListener,
    pub settings: Arc<websocket::Settings>,
}

/// Accepts clients until told to stop, then waits for every session.
/// With `tls`, every connection must complete a TLS handshake first (on
/// the WebSocket port too: `wss://`).
pub async fn run(
    listener: TcpListener,
    websocket: Option<WebSocketListener>,
    tls: Option<TlsAcceptor>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    let sessions = TaskTracker::new();
    let (max_total, max_per_address) = config.max_connections;
    let admission = Admission::new(max_total, max_per_address);
    let (ws_listener, ws_settings) = match websocket {
        Some(w) => (Some(w.listener), Some(w.settings)),
        None => (None, None),
    };
    loop {
        let (accepted, over_websocket) = tokio::select! {
            _ = signals.stop.cancelled() => break,
            _ = signals.abort.cancelled() => break,
            a = listener.accept() => (a, false),
            a = accept(ws_listener.as_ref()) => (a, true),
        };
        match accepted {
            Ok((socket, peer)) => {
                crate::metrics::get().connections_accepted.inc();
                if let Err(e) = socket.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                tracing::debug!(%peer, websocket = over_websocket, "client connected");
                let client = Client {
                    peer: peer.to_string(),
                    admitted: admission.admit(peer.ip().to_canonical()),
                    websocket: ws_settings.clone().filter(|_| over_websocket),
                    broker: broker.clone(),
                    config: config.clone(),
                    signals: signals.clone(),
                };
                sessions.spawn(connection(socket, tls.clone(), client));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    drop(ws_listener);
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

/// The next connection on `listener`; never, without one.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// An accepted connection and what its session needs.
struct Client {
    peer: String,
    admitted: Result<Permit, Refusal>,
    /// Set for a connection on the WebSocket port.
    websocket: Option<Arc<websocket::Settings>>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
}

impl Client {
    /// Waits for `handshake` (bounded in time, given up on shutdown).
    async fn handshake<T, E: std::fmt::Display>(
        &self,
        what: &str,
        handshake: impl std::future::Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let peer = &self.peer;
        let done = tokio::select! {
            _ = self.signals.stop.cancelled() => return None,
            _ = self.signals.abort.cancelled() => return None,
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => r,
        };
        match done {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::info!(%peer, error = %e, "{what} handshake failed");
                None
            }
            Err(_) => {
                tracing::info!(%peer, "{what} handshake timed out");
                None
            }
        }
    }
}

/// TLS first when configured, then the connection's protocol.
async fn connection(socket: TcpStream, tls: Option<TlsAcceptor>, client: Client) {
    match tls {
        None => upgrade(socket, client).await,
        Some(acceptor) => {
            if let Some(stream) = client.handshake("TLS", acceptor.accept(socket)).await {
                upgrade(stream, client).await
            }
        }
    }
}

/// STOMP frames right on the stream, or after the WebSocket upgrade.
async fn upgrade<S>(stream: S, mut client: Client)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match client.websocket.take() {
        None => serve(Framed::new(stream, StompCodec::default()), client).await,
        Some(ws) => {
            let accepted = websocket::accept(stream, &ws, &client.peer);
            if let Some(transport) = client.handshake("WebSocket", accepted).await {
                client.config = ws.session.clone();
                serve(transport, client).await
            }
        }
    }
}

/// Runs the session of an admitted connection (which frees its place when
/// it ends), or refuses it with an ERROR.
async fn serve<T: Transport>(transport: T, client: Client) {
    match client.admitted {
        Ok(_permit) => {
            session::run(
                transport,
                client.peer,
                client.broker,
                client.config,
                client.signals,
            )
            .await
        }
        Err(refusal) => limits::refuse(transport, &client.peer, refusal).await,
    }
}
