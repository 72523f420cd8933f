//! What the admin server shows, as plain functions over [`NodeStatus`]
//! returning serialisable views: node and cluster, destinations, browsing.
//! The REST handlers and the dashboard both use these. Persistent messages
//! are read straight from the database (so a slave can browse them);
//! non-persistent ones come from the master's memory.

use crate::broker::DestInfo;
use crate::message::{Destination, Message};
use crate::status::NodeStatus;
use crate::store::inspect::Inspect;
use crate::store::DurableSub;
use crate::store::{Store, StoreError};
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long an admin view waits for the database.
const DB_WAIT: Duration = Duration::from_secs(5);

/// Why a view could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for DataError {
    fn from(e: StoreError) -> DataError {
        DataError::Unavailable(e.to_string())
    }
}

/// The master as recorded in the lock row.
#[derive(Debug, Clone, Serialize)]
pub struct MasterView {
    pub node_id: Option<String>,
    pub epoch: i64,
    pub stomp_addr: Option<String>,
    pub admin_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub node_id: String,
    pub role: &'static str,
    pub epoch: Option<i64>,
    pub version: &'static str,
    pub started_at: i64,
    pub uptime_ms: i64,
    pub stomp_addr: String,
    pub admin_addr: String,
    pub master: Option<MasterView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterNodeView {
    pub node_id: String,
    pub role: String,
    pub is_master: bool,
    pub stomp_addr: String,
    pub admin_addr: String,
    pub started_at: i64,
    pub last_seen: i64,
}

/// One queue or topic. Counters are the master's (since it became master);
/// `stored` is the number of persistent messages in the database.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DestView {
    pub name: String,
    pub destination: String,
    pub kind: &'static str,
    pub stored: Option<i64>,
    pub depth: Option<usize>,
    pub inflight: Option<usize>,
    pub consumers: Option<usize>,
    pub producers: Option<usize>,
    pub enqueued: Option<u64>,
    pub dequeued: Option<u64>,
    pub expired: Option<u64>,
    pub dead_lettered: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub destination: String,
    pub persistent: bool,
    pub priority: u8,
    /// Unix ms, 0 = never.
    pub expires: i64,
    pub redelivered: bool,
    pub redelivery_count: u32,
    pub headers: BTreeMap<String, String>,
    pub body_size: usize,
    /// The body as text when it is UTF-8 (and this view carries bodies).
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub destination: String,
    pub messages: Vec<MessageView>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<i64>,
}

fn store(status: &NodeStatus) -> Result<&Arc<dyn Store>, DataError> {
    status
        .store()
        .ok_or_else(|| DataError::Unavailable("not connected yet".into()))
}

fn inspect(status: &NodeStatus) -> Result<&dyn Inspect, DataError> {
    Ok(store(status)?.as_ref())
}

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, DataError> {
    tokio::time::timeout(DB_WAIT, f)
        .await
        .map_err(|_| DataError::Unavailable(format!("no answer within {DB_WAIT:?}")))?
        .map_err(DataError::from)
}

/// The master from the lock row (`None` when no lease is valid or the
/// database does not answer).
pub async fn master(status: &NodeStatus) -> Option<MasterView> {
    let store = status.store()?;
    let lock = timed(store.lock_state()).await.ok()?;
    (lock.holder.is_some() && lock.lease_remaining_ms >= 0).then_some(MasterView {
        node_id: lock.holder,
        epoch: lock.epoch,
        stomp_addr: lock.stomp_addr,
        admin_addr: lock.admin_addr,
    })
}

pub async fn node(status: &NodeStatus) -> NodeView {
    let now = crate::message::now_ms();
    NodeView {
        node_id: status.node_id.clone(),
        role: status.role(),
        epoch: status.is_master().then(|| status.epoch()),
        version: env!("CARGO_PKG_VERSION"),
        started_at: status.started_at,
        uptime_ms: now - status.started_at,
        stomp_addr: status.stomp_addr.clone(),
        admin_addr: status.admin_addr.clone(),
        master: master(status).await,
    }
}

pub async fn cluster(status: &NodeStatus) -> Result<Vec<ClusterNodeView>, DataError> {
    let nodes = timed(store(status)?.nodes()).await?;
    let master = master(status).await.and_then(|m| m.node_id);
    Ok(nodes
        .into_iter()
        .map(|n| ClusterNodeView {
            is_master: master.as_deref() == Some(n.node_id.as_str()),
            node_id: n.node_id,
            role: n.role,
            stomp_addr: n.stomp_addr,
            admin_addr: n.admin_addr,
            started_at: n.started_at,
            last_seen: n.last_seen,
        })
        .collect())
}

fn view(d: &DestInfo) -> DestView {
    DestView {
        name: d.destination.name().to_string(),
        destination: d.destination.to_string(),
        kind: kind_name(&d.destination),
        stored: None,
        depth: Some(d.depth),
        inflight: Some(d.inflight),
        consumers: Some(d.consumers),
        producers: Some(d.producers),
        enqueued: Some(d.stats.enqueued),
        dequeued: Some(d.stats.dequeued),
        expired: Some(d.stats.expired),
        dead_lettered: Some(d.stats.dead_lettered),
    }
}

fn kind_name(d: &Destination) -> &'static str {
    if d.is_queue() {
        "queue"
    } else {
        "topic"
    }
}

/// Every queue (`queues`) or topic, by name: the master's live counters,
/// and the stored count from the database (master and slave).
pub async fn destinations(status: &NodeStatus, queues: bool) -> Result<Vec<DestView>, DataError> {
    let mut out: BTreeMap<String, DestView> = BTreeMap::new();
    if let Some(broker) = status.broker() {
        for d in broker.destinations() {
            if d.destination.is_queue() == queues {
                out.insert(d.destination.name().to_string(), view(&d));
            }
        }
    }
    if queues {
        let depths = timed(inspect(status)?.depths()).await?;
        for (dest, n) in depths {
            let Ok(d) = Destination::parse(&dest) else {
                continue;
            };
            let entry = out.entry(d.name().to_string()).or_insert_with(|| DestView {
                name: d.name().to_string(),
                destination: d.to_string(),
                kind: kind_name(&d),
                ..DestView::default()
            });
            entry.stored = Some(n);
            if !status.is_master() {
                entry.depth = Some(n as usize);
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Parses a destination name from a URL path segment.
pub fn parse_name(name: &str, queue: bool) -> Result<Destination, DataError> {
    let kind = if queue { "queue" } else { "topic" };
    Destination::parse(&format!("/{kind}/{name}")).map_err(|e| DataError::BadRequest(e.to_string()))
}

/// One destination; `NotFound` when neither the broker nor the database
/// knows it.
pub async fn destination(status: &NodeStatus, dest: &Destination) -> Result<DestView, DataError> {
    destinations(status, dest.is_queue())
        .await?
        .into_iter()
        .find(|d| d.name == dest.name())
        .ok_or_else(|| DataError::NotFound(format!("{dest} does not exist")))
}

fn message_view(m: &Message, with_body: bool) -> MessageView {
    let text = std::str::from_utf8(&m.body).ok();
    MessageView {
        id: m.id,
        destination: m.destination.to_string(),
        persistent: m.persistent,
        priority: m.priority,
        expires: m.expires,
        redelivered: m.redelivered,
        redelivery_count: m.redelivery_count,
        headers: m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.to_text().into_owned()))
            .collect(),
        body_size: m.body.len(),
        body: text.filter(|_| with_body).map(str::to_string),
        body_base64: (with_body && text.is_none())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&m.body)),
    }
}

/// Most messages per page.
pub const MAX_PAGE: u32 = 500;

/// Queue `dest`'s messages with id > `after`, in id order.
pub async fn browse(
    status: &NodeStatus,
    dest: &Destination,
    after: i64,
    limit: u32,
    with_bodies: bool,
) -> Result<Page, DataError> {
    if !dest.is_queue() {
        return Err(DataError::BadRequest(
            "only queues can be browsed (topics keep no messages)".into(),
        ));
    }
    if limit == 0 || limit > MAX_PAGE {
        return Err(DataError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let stored = timed(inspect(status)?.browse(&dest.to_string(), after, limit)).await?;
    let mut all = stored;
    if let Some(broker) = status.broker() {
        let memory = broker.memory_messages(dest.name(), after, limit as usize, true);
        all.extend(memory);
        all.sort_by_key(|m| m.id);
        all.truncate(limit as usize);
    }
    if all.is_empty() && after == 0 {
        destination(status, dest).await?;
    }
    let next_after = (all.len() == limit as usize)
        .then(|| all.last().map(|m| m.id))
        .flatten();
    Ok(Page {
        destination: dest.to_string(),
        messages: all.iter().map(|m| message_view(m, with_bodies)).collect(),
        next_after,
    })
}

/// One message of queue `dest`, with its body.
pub async fn message(
    status: &NodeStatus,
    dest: &Destination,
    id: i64,
) -> Result<MessageView, DataError> {
    let missing = || DataError::NotFound(format!("message {id} is not in {dest}"));
    if let Some(m) = status
        .broker()
        .and_then(|b| b.find_message(dest.name(), id))
    {
        return Ok(message_view(&m, true));
    }
    let m = timed(inspect(status)?.message(id))
        .await?
        .filter(|m| &m.destination == dest)
        .ok_or_else(missing)?;
    Ok(message_view(&m, true))
}

pub async fn subscriptions(status: &NodeStatus) -> Result<Vec<DurableSub>, DataError> {
    timed(store(status)?.load_durables()).await
}
