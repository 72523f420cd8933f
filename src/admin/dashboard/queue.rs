//! One queue: its counters, browsing page by page, one message, the send
//! form, and purge / delete / move, each behind a confirmation page. The
//! actions call the same functions as the REST API.

use super::{framed, render, seg, time_text, Layout, PageResult};
use crate::admin::api::{delete_one, purge_queue, relocate_message};
use crate::admin::data::{self, DestView, MessageView};
use crate::admin::publish::publish_fields;
use crate::admin::AdminState;
use crate::auth::{Access, Principal};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

/// Messages per browse page.
const PAGE: u32 = 25;

#[derive(Deserialize)]
pub struct PageQuery {
    after: Option<i64>,
    notice: Option<String>,
}

/// One browsed message.
pub struct Row {
    pub m: MessageView,
    pub link: String,
    pub preview: String,
    pub expires: String,
}

fn preview(m: &MessageView) -> String {
    if let Some(b) = &m.body {
        let mut p: String = b.chars().take(80).collect();
        if b.chars().count() > 80 {
            p.push('…');
        }
        return p;
    }
    match (&m.body_map, m.body_kind) {
        (Some(map), _) => format!("(map, {} entries)", map.len()),
        (None, "empty") => "(no body)".to_string(),
        (None, "bytes" | "text") => format!("({} bytes, binary)", m.body_size),
        (None, kind) => format!("({kind}, {} bytes)", m.body_size),
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    l: Layout,
    q: DestView,
    base: String,
    rows: Vec<Row>,
    after: i64,
    next: Option<String>,
    can_write: bool,
    can_admin: bool,
}

fn redirect_notice(base: &str, notice: &str) -> Response {
    let q = serde_urlencoded::to_string([("notice", notice)]).unwrap_or_default();
    Redirect::to(&format!("{base}?{q}")).into_response()
}

fn queue_base(dest_name: &str) -> String {
    format!("/dashboard/queues/{}", seg(dest_name))
}

pub async fn page(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    Query(q): Query<PageQuery>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        crate::admin::api::need(&p, Access::Read, &dest)?;
        let info = data::destination(&s.status, &dest).await?;
        let after = q.after.unwrap_or(0).max(0);
        let browsed = data::browse(&s.status, &dest, after, PAGE, data::Bodies::Readable).await?;
        let base = queue_base(dest.name());
        let rows = browsed
            .messages
            .into_iter()
            .map(|m| Row {
                link: format!("{base}/messages/{}", m.id),
                preview: preview(&m),
                expires: time_text(m.expires),
                m,
            })
            .collect();
        let l = Layout::new(&s, format!("Queue {}", dest.name()), "queues")
            .await
            .with_notice(q.notice);
        let page = QueuePage {
            can_write: !l.read_only && p.allows(Access::Write, &dest),
            can_admin: !l.read_only && p.allows(Access::Admin, &dest),
            l,
            q: info,
            next: browsed.next_after.map(|n| format!("{base}?after={n}")),
            base,
            rows,
            after,
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    l: Layout,
    m: MessageView,
    queue: String,
    base: String,
    expires: String,
    can_admin: bool,
}

#[derive(Deserialize)]
pub struct MessageQuery {
    /// Show an object or stream body in base64.
    raw: Option<String>,
}

pub async fn message(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
    Query(q): Query<MessageQuery>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        crate::admin::api::need(&p, Access::Read, &dest)?;
        let bodies = if q.raw.is_some() {
            data::Bodies::Raw
        } else {
            data::Bodies::Readable
        };
        let m = data::message(&s.status, &dest, id, bodies).await?;
        let l = Layout::new(&s, format!("Message {id}"), "queues").await;
        let page = MessagePage {
            can_admin: !l.read_only && p.allows(Access::Admin, &dest),
            l,
            expires: time_text(m.expires),
            m,
            queue: dest.name().to_string(),
            base: queue_base(dest.name()),
        };
        Ok(render(&page))
    }
    .await;
    framed(&s, r).await
}

pub async fn send(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let base = queue_base(dest.name());
        let m = publish_fields(&s, &p, dest, fields).await?;
        Ok(redirect_notice(&base, &format!("Sent message {}", m.id)))
    }
    .await;
    framed(&s, r).await
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct Confirm {
    l: Layout,
    question: String,
    action: String,
    button: String,
    cancel: String,
    /// Hidden fields carried to the POST.
    fields: Vec<(String, String)>,
}

async fn confirm(
    s: &AdminState,
    question: String,
    action: String,
    button: &str,
    cancel: String,
    fields: Vec<(String, String)>,
) -> PageResult {
    let page = Confirm {
        l: Layout::new(s, "Confirm", "queues").await,
        question,
        action,
        button: button.to_string(),
        cancel,
        fields,
    };
    Ok(render(&page))
}

pub async fn confirm_purge(State(s): State<AdminState>, Path(name): Path<String>) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let info = data::destination(&s.status, &dest).await?;
        let base = queue_base(dest.name());
        let n = info.depth.or(info.stored.map(|n| n as usize)).unwrap_or(0);
        let q = format!(
            "Purge queue {}? Its {n} waiting message(s) will be deleted.",
            dest.name()
        );
        confirm(&s, q, format!("{base}/purge"), "Purge", base, Vec::new()).await
    }
    .await;
    framed(&s, r).await
}

pub async fn purge(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let n = purge_queue(&s, &p, &dest).await?;
        let base = queue_base(dest.name());
        Ok(redirect_notice(&base, &format!("Purged {n} message(s)")))
    }
    .await;
    framed(&s, r).await
}

pub async fn confirm_delete(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let base = queue_base(dest.name());
        let q = format!("Delete message {id} from queue {}?", dest.name());
        let action = format!("{base}/messages/{id}/delete");
        let cancel = format!("{base}/messages/{id}");
        confirm(&s, q, action, "Delete", cancel, Vec::new()).await
    }
    .await;
    framed(&s, r).await
}

pub async fn delete(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        delete_one(&s, &p, &dest, id).await?;
        let base = queue_base(dest.name());
        Ok(redirect_notice(&base, &format!("Deleted message {id}")))
    }
    .await;
    framed(&s, r).await
}

#[derive(Deserialize)]
pub struct MoveForm {
    to: String,
    #[serde(default)]
    copy: Option<String>,
}

pub async fn confirm_move(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Query(f): Query<MoveForm>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let to = data::parse_name(f.to.trim().trim_start_matches("/queue/"), true)?;
        let base = queue_base(dest.name());
        let copy = f.copy.is_some_and(|c| !c.is_empty());
        let verb = if copy { "Copy" } else { "Move" };
        let q = format!(
            "{verb} message {id} from queue {} to queue {}?",
            dest.name(),
            to.name()
        );
        let mut fields = vec![("to".to_string(), to.name().to_string())];
        if copy {
            fields.push(("copy".into(), "1".into()));
        }
        let action = format!("{base}/messages/{id}/move");
        let cancel = format!("{base}/messages/{id}");
        confirm(&s, q, action, verb, cancel, fields).await
    }
    .await;
    framed(&s, r).await
}

pub async fn relocate(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, i64)>,
    Extension(p): Extension<Principal>,
    Form(f): Form<MoveForm>,
) -> Response {
    let r: PageResult = async {
        let dest = data::parse_name(&name, true)?;
        let copy = f.copy.is_some_and(|c| !c.is_empty());
        let (to, new_id) = relocate_message(&s, &p, &dest, id, &f.to, copy).await?;
        let verb = if copy { "Copied" } else { "Moved" };
        let base = queue_base(dest.name());
        let notice = format!(
            "{verb} message {id} to {} (now message {new_id})",
            to.name()
        );
        Ok(redirect_notice(&base, &notice))
    }
    .await;
    framed(&s, r).await
}
