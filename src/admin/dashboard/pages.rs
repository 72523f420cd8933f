//! Overview, queue and topic tables, connections, durable subscriptions,
//! and `live.json` for the live values.

use super::{duration_text, framed, render, seg, time_text, Layout, PageResult};
use crate::admin::api::need_admin;
use crate::admin::data::{self, ClusterNodeView, DestView, NodeView};
use crate::admin::AdminState;
use crate::auth::Principal;
use crate::broker::ConnView;
use crate::store::DurableSub;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

/// One cluster node as the overview shows it.
pub struct NodeRow {
    pub n: ClusterNodeView,
    pub started: String,
    pub seen_ago: String,
    pub link: String,
}

/// One queue or topic row, with links.
pub struct DestRow {
    pub d: DestView,
    pub link: String,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "—".into())
}

impl DestRow {
    fn new(d: DestView) -> DestRow {
        let link = if d.kind == "queue" {
            format!("/dashboard/queues/{}", seg(&d.name))
        } else {
            String::new()
        };
        DestRow { d, link }
    }
    pub fn depth(&self) -> String {
        opt(self.d.depth)
    }
    pub fn stored(&self) -> String {
        opt(self.d.stored)
    }
    pub fn consumers(&self) -> String {
        opt(self.d.consumers)
    }
    pub fn inflight(&self) -> String {
        opt(self.d.inflight)
    }
    pub fn enqueued(&self) -> String {
        opt(self.d.enqueued)
    }
    pub fn dequeued(&self) -> String {
        opt(self.d.dequeued)
    }
    pub fn expired(&self) -> String {
        opt(self.d.expired)
    }
    pub fn dead_lettered(&self) -> String {
        opt(self.d.dead_lettered)
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    l: Layout,
    node: NodeView,
    uptime: String,
    epoch: String,
    holder: String,
    nodes: Vec<NodeRow>,
    cluster_error: Option<String>,
    totals: Totals,
}

/// Sums over every destination.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub queues: usize,
    pub topics: usize,
    pub depth: usize,
    pub enqueued: u64,
    pub dequeued: u64,
    pub connections: usize,
}

fn totals(s: &AdminState, queues: &[DestView], topics: &[DestView]) -> Totals {
    let mut t = Totals {
        queues: queues.len(),
        topics: topics.len(),
        connections: s.status.broker().map(|b| b.connection_count()).unwrap_or(0),
        ..Totals::default()
    };
    for d in queues.iter().chain(topics) {
        t.depth += d.depth.unwrap_or(0);
        t.enqueued += d.enqueued.unwrap_or(0);
        t.dequeued += d.dequeued.unwrap_or(0);
    }
    t
}

fn node_rows(nodes: Vec<ClusterNodeView>, now: i64) -> Vec<NodeRow> {
    nodes
        .into_iter()
        .map(|n| NodeRow {
            started: time_text(n.started_at),
            seen_ago: format!("{} ago", duration_text(now - n.last_seen)),
            link: format!("http://{}/dashboard", n.admin_addr),
            n,
        })
        .collect()
}

pub async fn overview(State(s): State<AdminState>) -> Response {
    let r = async {
        let node = data::node(&s.status).await;
        let (nodes, cluster_error) = match data::cluster(&s.status).await {
            Ok(n) => (n, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let queues = data::destinations(&s.status, true)
            .await
            .unwrap_or_default();
        let topics = data::destinations(&s.status, false)
            .await
            .unwrap_or_default();
        let page = Overview {
            l: Layout::new(&s, "Overview", "overview").await,
            uptime: duration_text(node.uptime_ms),
            epoch: opt(node.epoch.or(node.master.as_ref().map(|m| m.epoch))),
            holder: node
                .master
                .as_ref()
                .and_then(|m| m.node_id.clone())
                .unwrap_or_else(|| "none (no valid lease)".into()),
            nodes: node_rows(nodes, crate::message::now_ms()),
            cluster_error,
            totals: totals(&s, &queues, &topics),
            node,
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}

/// What the dashboard's script polls.
#[derive(Serialize)]
pub struct Live {
    pub now: i64,
    pub node: NodeView,
    pub uptime: String,
    pub nodes: Vec<LiveNode>,
    pub totals: Totals,
    pub queues: Vec<DestView>,
    pub topics: Vec<DestView>,
}

#[derive(Serialize)]
pub struct LiveNode {
    pub node_id: String,
    pub role: String,
    pub is_master: bool,
    pub seen_ago: String,
}

pub async fn live(State(s): State<AdminState>) -> Response {
    let node = data::node(&s.status).await;
    let now = crate::message::now_ms();
    let nodes = data::cluster(&s.status)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|n| LiveNode {
            seen_ago: format!("{} ago", duration_text(now - n.last_seen)),
            node_id: n.node_id,
            role: n.role,
            is_master: n.is_master,
        })
        .collect();
    let queues = data::destinations(&s.status, true)
        .await
        .unwrap_or_default();
    let topics = data::destinations(&s.status, false)
        .await
        .unwrap_or_default();
    Json(Live {
        now,
        uptime: duration_text(node.uptime_ms),
        node,
        nodes,
        totals: totals(&s, &queues, &topics),
        queues,
        topics,
    })
    .into_response()
}

#[derive(Template)]
#[template(path = "destinations.html")]
struct Destinations {
    l: Layout,
    kind: &'static str,
    rows: Vec<DestRow>,
}

async fn destinations(s: AdminState, queues: bool) -> Response {
    let r = async {
        let rows = data::destinations(&s.status, queues)
            .await?
            .into_iter()
            .map(DestRow::new)
            .collect();
        let (title, section, kind) = if queues {
            ("Queues", "queues", "queue")
        } else {
            ("Topics", "topics", "topic")
        };
        let page = Destinations {
            l: Layout::new(&s, title, section).await,
            kind,
            rows,
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}

pub async fn queues(State(s): State<AdminState>) -> Response {
    destinations(s, true).await
}

pub async fn topics(State(s): State<AdminState>) -> Response {
    destinations(s, false).await
}

/// One client connection as the page shows it.
pub struct ConnRow {
    pub c: ConnView,
    pub peer: String,
    /// The protocol and its version, e.g. `stomp 1.2`.
    pub protocol: String,
    pub client_id: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct Connections {
    l: Layout,
    rows: Vec<ConnRow>,
}

pub async fn connections(
    State(s): State<AdminState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let r: PageResult = async {
        need_admin(&p)?;
        let rows = s
            .status
            .broker()
            .map(|b| b.connections())
            .unwrap_or_default()
            .into_iter()
            .map(|c| ConnRow {
                peer: opt(c.peer.clone()),
                protocol: match (c.protocol, &c.protocol_version) {
                    (Some(p), Some(v)) => format!("{p} {v}"),
                    (p, _) => opt(p),
                },
                client_id: opt(c.client_id.clone()),
                since: c.connected_at.map(time_text).unwrap_or_else(|| "—".into()),
                c,
            })
            .collect();
        let page = Connections {
            l: Layout::new(&s, "Connections", "connections").await,
            rows,
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}

#[derive(Template)]
#[template(path = "subscriptions.html")]
struct Subscriptions {
    l: Layout,
    rows: Vec<DurableSub>,
}

pub async fn subscriptions(
    State(s): State<AdminState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let r: PageResult = async {
        need_admin(&p)?;
        let page = Subscriptions {
            l: Layout::new(&s, "Durable subscriptions", "subscriptions").await,
            rows: data::subscriptions(&s.status).await?,
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}
