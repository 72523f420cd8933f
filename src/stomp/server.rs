//! The STOMP listener: accepts connections and runs one session task each;
//! on shutdown stops accepting and waits for the sessions to drain.

use super::codec::StompCodec;
use super::handler::SessionConfig;
use super::limits::{self, Permit, Refusal};
use super::session;
use super::transport::Transport;
use crate::broker::Broker;
use crate::stop::Stop;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

/// How long sessions get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts clients until told to stop, then waits for every session.
/// With `tls`, every connection must complete a TLS handshake first.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    let sessions = TaskTracker::new();
    let admission = config.admission.clone();
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
                    let admitted = admission.admit(peer.ip().to_canonical());
                    let peer = peer.to_string();
                    match &tls {
                        None => {
                            sessions.spawn(serve(
                                socket,
                                peer,
                                admitted,
                                broker.clone(),
                                config.clone(),
                                signals.clone(),
                            ));
                        }
                        Some(acceptor) => {
                            sessions.spawn(tls_session(
                                acceptor.clone(),
                                socket,
                                peer,
                                admitted,
                                broker.clone(),
                                config.clone(),
                                signals.clone(),
                            ));
                        }
                    }
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

/// Runs the session of an admitted connection (which frees its place when
/// it ends), or refuses it with an ERROR: STOMP frames right on the stream.
async fn serve<S>(
    stream: S,
    peer: String,
    admitted: Result<Permit, Refusal>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let framed = tokio_util::codec::Framed::new(stream, StompCodec::default());
    serve_transport(framed, peer, admitted, broker, config, signals).await
}

/// [`serve`] over any transport (also the WebSocket port's).
pub(super) async fn serve_transport<T: Transport>(
    transport: T,
    peer: String,
    admitted: Result<Permit, Refusal>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    match admitted {
        Ok(_permit) => session::run(transport, peer, broker, config, signals).await,
        Err(refusal) => limits::refuse(transport, &peer, refusal).await,
    }
}

/// Completes the TLS handshake (bounded in time), then serves.
async fn tls_session(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    peer: String,
    admitted: Result<Permit, Refusal>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    let handshake = tokio::select! {
        _ = signals.stop.cancelled() => return,
        _ = signals.abort.cancelled() => return,
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)) => r,
    };
    match handshake {
        Ok(Ok(stream)) => serve(stream, peer, admitted, broker, config, signals).await,
        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}
