//! The admin HTTP server (axum), on every node. For now: `/role` for load
//! balancers and `/healthz`.

use crate::node::NodeStatus;
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
    pub status: Arc<NodeStatus>,
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

/// `master` with 200 or `slave` with 503, for load balancers.
async fn role(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.status.is_master() {
        (StatusCode::OK, "master\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "slave\n")
    }
}

async fn healthz(State(state): State<AdminState>) -> (StatusCode, String) {
    let Some(store) = state.status.store() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable: not connected yet\n".into(),
        );
    };
    match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
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
