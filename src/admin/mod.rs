//! The admin HTTP server (axum), on every node. For now: `/role` for load
//! balancers (plain text, or JSON when asked) and `/healthz`.

use crate::node::NodeStatus;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
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

/// `master` with 200 or `slave` with 503, for load balancers; as JSON
/// (role, node id, epoch, and the master's node id and addresses from the
/// lock row) when the client accepts `application/json`.
async fn role(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let status = &state.status;
    let code = if status.is_master() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !wants_json {
        return (code, format!("{}\n", status.role())).into_response();
    }
    let lock = match status.store() {
        Some(store) => tokio::time::timeout(Duration::from_secs(2), store.lock_state())
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    let master = lock
        .filter(|l| l.holder.is_some() && l.lease_remaining_ms >= 0)
        .map(|l| {
            serde_json::json!({
                "node_id": l.holder,
                "epoch": l.epoch,
                "stomp_addr": l.stomp_addr,
                "admin_addr": l.admin_addr,
            })
        });
    let body = serde_json::json!({
        "role": status.role(),
        "node_id": status.node_id,
        "epoch": status.is_master().then(|| status.epoch()),
        "master": master,
    });
    (code, Json(body)).into_response()
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
