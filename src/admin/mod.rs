//! The admin HTTP server (axum), on every node. For now: `/role` for load
//! balancers and `/healthz`.

use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the handlers need.
#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/role", get(role))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Serves until `shutdown` fires.
pub async fn run(
    listener: TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// A single node on the embedded store is always master.
async fn role() -> (StatusCode, &'static str) {
    (StatusCode::OK, "master\n")
}

async fn healthz(State(state): State<AdminState>) -> (StatusCode, String) {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".into()),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {e}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable: no answer within 2 s\n".into(),
        ),
    }
}
