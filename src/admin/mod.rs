//! The admin HTTP server (axum), on every node: `/role` for load
//! balancers, `/healthz`, `/metrics` (Prometheus), and behind credentials
//! the REST API under `/api/v1` with its OpenAPI document and ActiveMQ's
//! `POST /api/message/NAME`, and the browser dashboard at `/dashboard`
//! (`/` redirects there).

pub mod api;
pub mod dashboard;
pub mod data;
pub mod error;
mod https;
pub mod prom;
pub mod publish;
pub mod security;

use crate::auth::Auth;
use crate::config::Config;
use crate::status::NodeStatus;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the handlers need.
#[derive(Clone)]
pub struct AdminState {
    pub status: Arc<NodeStatus>,
    pub auth: Arc<Auth>,
    pub max_body_bytes: usize,
}

impl AdminState {
    pub fn new(status: Arc<NodeStatus>, auth: Arc<Auth>, config: &Config) -> AdminState {
        AdminState {
            status,
            auth,
            max_body_bytes: config.admin.max_body_bytes,
        }
    }
}

/// The users of `[auth]`, or, when there are none, user `admin` with a
/// random password that is logged once together with the dashboard URL.
pub fn auth_for(config: &Config, admin_addr: SocketAddr) -> Result<Arc<Auth>, String> {
    if !config.auth.users.is_empty() {
        return Ok(Arc::new(Auth::from_config(&config.auth)));
    }
    let (auth, password) = Auth::generated()?;
    let host = if admin_addr.ip().is_unspecified() {
        format!("localhost:{}", admin_addr.port())
    } else {
        admin_addr.to_string()
    };
    let scheme = match config.admin.tls_cert {
        Some(_) => "https",
        None => "http",
    };
    tracing::warn!(
        url = %format!("{scheme}://{host}/dashboard"),
        user = crate::auth::GENERATED_USER,
        password = %password,
        "no [auth] users configured: generated a password for this run (configure [[auth.users]] to choose your own)"
    );
    Ok(Arc::new(auth))
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn no_such_endpoint() -> error::ApiError {
    error::ApiError::not_found("no such endpoint (see /api/openapi.json)")
}

pub fn router(state: AdminState) -> Router {
    let v1 = "/api/v1";
    let api = Router::new()
        .route("/api/openapi.json", get(openapi))
        .route(&format!("{v1}/status"), get(api::status))
        .route(&format!("{v1}/nodes"), get(api::nodes))
        .route(&format!("{v1}/queues"), get(api::queues))
        .route(
            &format!("{v1}/queues/{{name}}"),
            get(api::queue).delete(api::delete_queue),
        )
        .route(
            &format!("{v1}/queues/{{name}}/messages"),
            get(api::browse).post(publish::to_queue),
        )
        .route(
            &format!("{v1}/queues/{{name}}/messages/{{id}}"),
            get(api::message).delete(api::delete_message),
        )
        .route(
            &format!("{v1}/queues/{{name}}/messages/{{id}}/move"),
            post(api::move_message),
        )
        .route(
            &format!("{v1}/queues/{{name}}/messages/{{id}}/copy"),
            post(api::copy_message),
        )
        .route(&format!("{v1}/queues/{{name}}/purge"), post(api::purge))
        .route(&format!("{v1}/topics"), get(api::topics))
        .route(
            &format!("{v1}/topics/{{name}}"),
            get(api::topic).delete(api::delete_topic),
        )
        .route(
            &format!("{v1}/topics/{{name}}/messages"),
            post(publish::to_topic),
        )
        .route(&format!("{v1}/connections"), get(api::connections))
        .route(
            &format!("{v1}/connections/{{id}}"),
            delete(api::close_connection),
        )
        .route(&format!("{v1}/subscriptions"), get(api::subscriptions))
        .route(&format!("{v1}/scheduled"), get(api::scheduled))
        .route(
            &format!("{v1}/scheduled/{{id}}"),
            delete(api::cancel_scheduled),
        )
        .route(
            &format!("{v1}/subscriptions/{{client_id}}/{{subscription}}"),
            delete(api::delete_subscription),
        )
        .route("/api/message/{name}", post(publish::activemq))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::map_response(error::json_errors));
    let pages = dashboard::router()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    Router::new()
        .route("/role", get(role))
        .route("/healthz", get(healthz))
        .route("/metrics", get(prom::metrics))
        .merge(api)
        .merge(pages)
        .merge(dashboard::assets())
        .fallback(no_such_endpoint)
        .with_state(state)
}

/// Serves until `shutdown` fires, over HTTPS when `tls` is given.
pub async fn run(
    listener: TcpListener,
    state: AdminState,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        Some(config) => https::serve(listener, router(state), config, shutdown).await,
        None => {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
    }
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
