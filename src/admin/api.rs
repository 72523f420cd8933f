//! The REST API under `/api/v1` (JSON). Reads work on every node; writes
//! need the master's broker and answer 503 with the master's address on a
//! slave. Views come from `data`, so the dashboard shares them.

use super::data::{self, Bodies, ClusterNodeView, DestView, MessageView, NodeView, Page};
use super::error::ApiError;
use super::AdminState;
use crate::auth::{Access, Principal};
use crate::broker::JobView;
use crate::broker::{Broker, ConnView};
use crate::message::Destination;
use crate::store::DurableSub;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

pub type ApiResult<T> = Result<T, ApiError>;

/// The master's broker, or 503 naming the master.
pub async fn master_broker(state: &AdminState) -> ApiResult<Broker> {
    if let Some(b) = state.status.broker() {
        return Ok(b);
    }
    let master = data::master(&state.status).await;
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this node is a slave and cannot change anything; send writes to the master",
    );
    e.extra = Some(("master", json!(master)));
    Err(e)
}

/// 403 unless `p` has `access` on `dest`.
pub fn need(p: &Principal, access: Access, dest: &Destination) -> ApiResult<()> {
    if p.allows(access, dest) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "user '{}' lacks {} permission on {dest}",
        p.name,
        access_name(access)
    )))
}

pub fn need_admin(p: &Principal) -> ApiResult<()> {
    if p.is_admin() {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "user '{}' lacks admin permission on every destination ('>')",
        p.name
    )))
}

fn access_name(a: Access) -> &'static str {
    match a {
        Access::Read => "read",
        Access::Write => "write",
        Access::Admin => "admin",
    }
}

/// Parses a JSON body with a clear 400 on failure.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub async fn status(State(s): State<AdminState>) -> Json<NodeView> {
    Json(data::node(&s.status).await)
}

pub async fn nodes(State(s): State<AdminState>) -> ApiResult<Json<Vec<ClusterNodeView>>> {
    Ok(Json(data::cluster(&s.status).await?))
}

pub async fn queues(State(s): State<AdminState>) -> ApiResult<Json<Vec<DestView>>> {
    Ok(Json(data::destinations(&s.status, true).await?))
}

pub async fn topics(State(s): State<AdminState>) -> ApiResult<Json<Vec<DestView>>> {
    Ok(Json(data::destinations(&s.status, false).await?))
}

pub async fn queue(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DestView>> {
    let dest = data::parse_name(&name, true)?;
    Ok(Json(data::destination(&s.status, &dest).await?))
}

pub async fn topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DestView>> {
    let dest = data::parse_name(&name, false)?;
    Ok(Json(data::destination(&s.status, &dest).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowseParams {
    after: Option<i64>,
    limit: Option<u32>,
    bodies: Option<bool>,
}

pub async fn browse(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    Query(q): Query<BrowseParams>,
) -> ApiResult<Json<Page>> {
    let dest = data::parse_name(&name, true)?;
    need(&p, Access::Read, &dest)?;
    let page = data::browse(
        &s.status,
        &dest,
        q.after.unwrap_or(0),
        q.limit.unwrap_or(50),
        if q.bodies.unwrap_or(true) {
            Bodies::Readable
        } else {
            Bodies::None
        },
    )
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize)]
pub struct MessageParams {
    /// Object and stream bodies in base64 too.
    raw: Option<bool>,
}

pub async fn message(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
    Query(q): Query<MessageParams>,
) -> ApiResult<Json<MessageView>> {
    let dest = data::parse_name(&name, true)?;
    need(&p, Access::Read, &dest)?;
    let bodies = if q.raw.unwrap_or(false) {
        Bodies::Raw
    } else {
        Bodies::Readable
    };
    Ok(Json(data::message(&s.status, &dest, id, bodies).await?))
}

pub async fn delete_message(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
) -> ApiResult<StatusCode> {
    let dest = data::parse_name(&name, true)?;
    delete_one(&s, &p, &dest, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one waiting message of a queue (admin permission, master only).
pub async fn delete_one(
    s: &AdminState,
    p: &Principal,
    dest: &Destination,
    id: i64,
) -> ApiResult<()> {
    need(p, Access::Admin, dest)?;
    master_broker(s)
        .await?
        .delete_message(dest.name(), id)
        .await?;
    Ok(())
}

/// Purges a queue (admin permission, master only); the number removed.
pub async fn purge_queue(s: &AdminState, p: &Principal, dest: &Destination) -> ApiResult<usize> {
    need(p, Access::Admin, dest)?;
    Ok(master_broker(s).await?.purge(dest.name()).await?)
}

pub async fn purge(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let dest = data::parse_name(&name, true)?;
    let n = purge_queue(&s, &p, &dest).await?;
    Ok(Json(
        json!({ "destination": dest.to_string(), "purged": n }),
    ))
}

async fn delete_destination(
    s: AdminState,
    p: Principal,
    dest: Destination,
) -> ApiResult<Json<Value>> {
    need(&p, Access::Admin, &dest)?;
    let n = master_broker(&s).await?.delete_destination(&dest).await?;
    Ok(Json(json!({ "deleted": dest.to_string(), "messages": n })))
}

pub async fn delete_queue(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let dest = data::parse_name(&name, true)?;
    delete_destination(s, p, dest).await
}

pub async fn delete_topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let dest = data::parse_name(&name, false)?;
    delete_destination(s, p, dest).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    /// Target queue name.
    to: String,
}

async fn relocate(
    s: AdminState,
    p: Principal,
    name: String,
    id: i64,
    body: Bytes,
    copy: bool,
) -> ApiResult<impl IntoResponse> {
    let from = data::parse_name(&name, true)?;
    let req: MoveRequest = parse_json(&body)?;
    let (to, new_id) = relocate_message(&s, &p, &from, id, &req.to, copy).await?;
    Ok(Json(
        json!({ "id": new_id, "from": from.to_string(), "to": to.to_string() }),
    ))
}

/// Moves (or copies) message `id` of queue `from` to queue `to` (a name,
/// with or without `/queue/`): admin on the source, write on the target,
/// master only. The target and the new message id.
pub async fn relocate_message(
    s: &AdminState,
    p: &Principal,
    from: &Destination,
    id: i64,
    to: &str,
    copy: bool,
) -> ApiResult<(Destination, i64)> {
    let to = data::parse_name(to.trim().trim_start_matches("/queue/"), true)?;
    need(p, Access::Admin, from)?;
    need(p, Access::Write, &to)?;
    if &to == from {
        return Err(ApiError::bad_request(
            "source and target queue are the same",
        ));
    }
    let broker = master_broker(s).await?;
    let new_id = broker
        .move_message(from.name(), id, to.name(), copy)
        .await?;
    Ok((to, new_id))
}

pub async fn move_message(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    relocate(s, p, name, id, body, false).await
}

pub async fn copy_message(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    relocate(s, p, name, id, body, true).await
}

/// Client connections of the master (empty on a slave).
pub async fn connections(
    State(s): State<AdminState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<ConnView>>> {
    need_admin(&p)?;
    Ok(Json(
        s.status
            .broker()
            .map(|b| b.connections())
            .unwrap_or_default(),
    ))
}

pub async fn close_connection(
    State(s): State<AdminState>,
    Path(id): Path<u64>,
    Extension(p): Extension<Principal>,
) -> ApiResult<StatusCode> {
    need_admin(&p)?;
    master_broker(&s).await?.close_connection(id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn subscriptions(
    State(s): State<AdminState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<DurableSub>>> {
    need_admin(&p)?;
    Ok(Json(data::subscriptions(&s.status).await?))
}

/// Scheduled messages waiting on the master (`AMQ_SCHEDULED_*`).
pub async fn scheduled(
    State(s): State<AdminState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<JobView>>> {
    need_admin(&p)?;
    Ok(Json(master_broker(&s).await?.scheduled_jobs()))
}

/// Cancels one scheduled message.
pub async fn cancel_scheduled(
    State(s): State<AdminState>,
    Path(id): Path<i64>,
    Extension(p): Extension<Principal>,
) -> ApiResult<StatusCode> {
    need_admin(&p)?;
    if master_broker(&s).await?.cancel_scheduled(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no scheduled message {id}"),
        ))
    }
}

pub async fn delete_subscription(
    State(s): State<AdminState>,
    Path((client_id, subscription)): Path<(String, String)>,
    Extension(p): Extension<Principal>,
) -> ApiResult<StatusCode> {
    need_admin(&p)?;
    // Through the master's broker: it forgets the subscription, releases
    // the stored topic messages only it still needed, and deletes the row
    // in a fenced commit.
    let broker = master_broker(&s).await?;
    broker.remove_durable(&client_id, &subscription).await?;
    Ok(StatusCode::NO_CONTENT)
}
