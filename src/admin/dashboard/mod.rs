//! The browser dashboard under `/dashboard` (askama templates from
//! `templates/`, CSS and JS from `static/` compiled into the binary). It
//! shows what the REST API shows, through the same `data` views and the same
//! broker operations, behind the same credentials; its forms are plain
//! POSTs (cross-site ones are refused by `security::guard`), each preceded
//! by a confirmation page for destructive actions. A slave shows everything
//! read-only with a link to the master's dashboard. `live.json` feeds the
//! live values and the rate chart (polled by `static/dashboard.js`).

mod pages;
mod queue;

use super::data;
use super::error::ApiError;
use super::AdminState;
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const CSS: &str = include_str!("../../../static/dashboard.css");
const JS: &str = include_str!("../../../static/dashboard.js");

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `name` as one URL path segment.
pub(crate) fn seg(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// What every page shows around its content.
pub struct Layout {
    pub title: String,
    pub section: &'static str,
    pub node_id: String,
    pub role: &'static str,
    pub read_only: bool,
    /// The master's node id (or "none") when this node is a slave.
    pub master_id: String,
    /// The master's dashboard URL when known.
    pub master_link: Option<String>,
    pub notice: Option<String>,
}

impl Layout {
    pub async fn new(s: &AdminState, title: impl Into<String>, section: &'static str) -> Layout {
        let read_only = !s.status.is_master();
        let master = if read_only {
            data::master(&s.status).await
        } else {
            None
        };
        Layout {
            title: title.into(),
            section,
            node_id: s.status.node_id.clone(),
            role: s.status.role(),
            read_only,
            master_id: master
                .as_ref()
                .and_then(|m| m.node_id.clone())
                .unwrap_or_else(|| "none".into()),
            master_link: master
                .and_then(|m| m.admin_addr)
                .map(|a| format!("http://{a}/dashboard")),
            notice: None,
        }
    }

    pub fn with_notice(mut self, notice: Option<String>) -> Layout {
        self.notice = notice.filter(|n| !n.is_empty());
        self
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    message: String,
}

/// A failure shown as an HTML page with the API's status code.
pub struct PageError {
    error: ApiError,
    layout: Option<Layout>,
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError {
            error: e.into(),
            layout: None,
        }
    }
}

impl PageError {
    /// Adds the page frame (navigation, slave banner).
    pub async fn framed(mut self, s: &AdminState) -> PageError {
        self.layout = Some(Layout::new(s, "Error", "").await);
        self
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status;
        let Some(l) = self.layout else {
            return self.error.into_response();
        };
        let page = ErrorPage {
            l,
            status: status.as_u16(),
            message: self.error.message,
        };
        (status, render(&page)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// Most of an error answer's body read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Middleware around every dashboard route: an error answer that is not a
/// page (the credentials guard's JSON, a refused permission, a slave asked
/// for a write, axum's rejections, an unknown path) becomes the dashboard's
/// error page, with the same status and headers (`WWW-Authenticate`
/// still asks the browser for credentials). `live.json`, read by the
/// dashboard's script, keeps its JSON errors.
pub async fn html_errors(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let json_endpoint = req.uri().path().ends_with(".json");
    let resp = next.run(req).await;
    if json_endpoint {
        return resp;
    }
    let status = resp.status();
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
    let reason = status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        l: Layout::new(&s, reason, "").await,
        status: status.as_u16(),
        message: if message.is_empty() {
            reason.to_string()
        } else {
            message
        },
    };
    let (html, body) = render(&page).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(html.headers);
    Response::from_parts(parts, body)
}

/// Any other path under `/dashboard`.
async fn no_such_page() -> PageError {
    ApiError::not_found("there is no such dashboard page").into()
}

/// Renders a template (a template error is a 500 page, never a panic).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}"),
        )
            .into_response(),
    }
}

/// Runs a page handler and frames its error.
pub async fn framed(s: &AdminState, r: PageResult) -> Response {
    match r {
        Ok(resp) => resp,
        Err(e) => e.framed(s).await.into_response(),
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    let (ctype, text) = match file.as_str() {
        "dashboard.css" => ("text/css; charset=utf-8", CSS),
        "dashboard.js" => ("text/javascript; charset=utf-8", JS),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        text,
    )
        .into_response()
}

/// `/` sends browsers to the dashboard.
pub async fn root() -> Redirect {
    Redirect::to("/dashboard")
}

/// The pages that need credentials (the caller adds the guard).
pub fn router() -> Router<AdminState> {
    Router::new()
        .route("/dashboard", get(pages::overview))
        .route("/dashboard/live.json", get(pages::live))
        .route("/dashboard/queues", get(pages::queues))
        .route("/dashboard/topics", get(pages::topics))
        .route("/dashboard/connections", get(pages::connections))
        .route("/dashboard/subscriptions", get(pages::subscriptions))
        .route("/dashboard/queues/{name}", get(queue::page))
        .route(
            "/dashboard/queues/{name}/send",
            axum::routing::post(queue::send),
        )
        .route(
            "/dashboard/queues/{name}/purge",
            get(queue::confirm_purge).post(queue::purge),
        )
        .route(
            "/dashboard/queues/{name}/messages/{id}",
            get(queue::message),
        )
        .route(
            "/dashboard/queues/{name}/messages/{id}/delete",
            get(queue::confirm_delete).post(queue::delete),
        )
        .route(
            "/dashboard/queues/{name}/messages/{id}/move",
            get(queue::confirm_move).post(queue::relocate),
        )
        .route("/dashboard/{*rest}", axum::routing::any(no_such_page))
}

/// The static files, open like `/role` (they hold no data).
pub fn assets() -> Router<AdminState> {
    Router::new()
        .route("/", get(root))
        .route("/dashboard/static/{file}", get(asset))
}

/// "3 s", "5 min", "2 h 4 min", "3 d 1 h".
pub fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A Unix-ms timestamp as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn time_text(ms: i64) -> String {
    if ms <= 0 {
        return "—".into();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(duration_text(59_999), "59 s");
        assert_eq!(duration_text(3_723_000), "1 h 2 min");
        assert_eq!(time_text(0), "—");
        assert_eq!(time_text(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(seg("a b/c.d"), "a%20b%2Fc.d");
    }
}
