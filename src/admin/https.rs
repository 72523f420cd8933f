//! The admin server over TLS: an accept loop that completes each TLS
//! handshake (bounded in time) and serves the router with hyper; on
//! shutdown it stops accepting and lets open connections finish their
//! requests. ALPN offers only `http/1.1`: the cross-site check reads the
//! `Host` header, which HTTP/2 replaces by `:authority`.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` over TLS until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let handshake = tokio::select! {
                _ = stop.cancelled() => return,
                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)) => r,
            };
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "admin TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "admin TLS handshake timed out");
                    return;
                }
            };
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "admin connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("admin connections did not finish in time");
    }
    Ok(())
}
