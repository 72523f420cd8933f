//! The accept loop every messaging listener shares: admission against the
//! connection limits, an optional TLS handshake (bounded in time), one task
//! per connection, and on stop a bounded wait for the connections to drain.

use crate::admission::{Admission, Permit, Refusal};
use crate::stop::Stop;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

/// How long connections get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's byte stream, plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs one connection: its stream, the peer's address, and its admission
/// (a permit to hold while it lasts, or the refusal to tell the client).
pub trait Serve: Clone + Send + 'static {
    fn serve(
        self,
        stream: Box<dyn Io>,
        peer: String,
        admitted: Result<Permit, Refusal>,
    ) -> impl Future<Output = ()> + Send;
}

/// Accepts clients until told to stop, then waits for every connection.
/// With `tls`, every connection must complete a TLS handshake first.
pub async fn run<S: Serve>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    admission: Admission,
    serve: S,
    signals: Stop,
) {
    let connections = TaskTracker::new();
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
                    let serve = serve.clone();
                    match &tls {
                        None => {
                            connections.spawn(serve.serve(Box::new(socket), peer, admitted));
                        }
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let signals = signals.clone();
                            connections.spawn(async move {
                                let handshake = tokio::select! {
                                    _ = signals.stop.cancelled() => return,
                                    _ = signals.abort.cancelled() => return,
                                    r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)) => r,
                                };
                                match handshake {
                                    Ok(Ok(stream)) => serve.serve(Box::new(stream), peer, admitted).await,
                                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                                }
                            });
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
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            "connections did not finish in time"
        );
    }
}
