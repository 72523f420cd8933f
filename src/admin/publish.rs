//! Publishing over HTTP: `POST /api/v1/queues/{name}/messages` (and
//! topics), and ActiveMQ's `POST /api/message/{name}?type=queue` with a form
//! field `body`. The request body is the message, or a JSON envelope with
//! `Content-Type: application/json`; options and headers come from the
//! query, form fields or envelope. Persistent by default; answered only
//! after the commit.

use super::api::{master_broker, need, parse_json, ApiResult};
use super::data;
use super::error::ApiError;
use super::AdminState;
use crate::auth::{Access, Principal};
use crate::broker::first_due;
use crate::message::{now_ms, stamp_arrival, Destination, Message, Value, DEFAULT_PRIORITY};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Header names the protocol sets itself.
const RESERVED: &[&str] = &[
    "destination",
    "message-id",
    "subscription",
    "ack",
    "content-length",
    "redelivered",
    "receipt",
    "transaction",
];

struct Options {
    persistent: bool,
    priority: u8,
    expires: i64,
    headers: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            persistent: true,
            priority: DEFAULT_PRIORITY,
            expires: 0,
            headers: Vec::new(),
        }
    }
}

fn bad(key: &str, what: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!("parameter '{key}' must be {what}, got '{value}'"))
}

fn parse_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(key, "true or false", v)),
    }
}

fn parse_priority(key: &str, v: &str) -> ApiResult<u8> {
    v.parse::<u8>()
        .ok()
        .filter(|p| *p <= 9)
        .ok_or_else(|| bad(key, "0 to 9", v))
}

fn parse_ms(key: &str, v: &str) -> ApiResult<i64> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| bad(key, "a whole number of milliseconds >= 0", v))
}

impl Options {
    /// One query parameter or form field.
    fn apply(&mut self, key: &str, v: &str) -> ApiResult<()> {
        match key {
            "persistent" => self.persistent = parse_bool(key, v)?,
            "priority" | "JMSPriority" => self.priority = parse_priority(key, v)?,
            "expires" => self.expires = parse_ms(key, v)?,
            "ttl" | "JMSTimeToLive" => {
                let ttl = parse_ms(key, v)?;
                self.expires = if ttl == 0 {
                    0
                } else {
                    now_ms().saturating_add(ttl)
                };
            }
            "delay" => self.delay(parse_ms(key, v)?)?,
            "JMSDeliveryMode" => {
                self.persistent = match v.to_ascii_lowercase().as_str() {
                    "persistent" | "2" | "true" => true,
                    "non_persistent" | "non-persistent" | "1" | "false" => false,
                    _ => return Err(bad(key, "persistent or non_persistent", v)),
                }
            }
            // ActiveMQ's servlet parameters that mean nothing here.
            "type" | "body" | "readTimeout" | "clientId" | "destination" => {}
            _ => self.header(key, v)?,
        }
        Ok(())
    }

    /// Scheduled delivery in `ms` (0 = now), as `AMQ_SCHEDULED_DELAY`.
    fn delay(&mut self, ms: i64) -> ApiResult<()> {
        if ms == 0 {
            return Ok(());
        }
        self.header(crate::broker::schedule::DELAY, &ms.to_string())
    }

    fn header(&mut self, key: &str, v: &str) -> ApiResult<()> {
        if key.is_empty() {
            return Err(ApiError::bad_request("a header name is empty"));
        }
        if RESERVED.contains(&key) {
            return Err(ApiError::bad_request(format!(
                "header '{key}' is set by the broker and cannot be given"
            )));
        }
        self.headers.push((key.to_string(), v.to_string()));
        Ok(())
    }
}

/// The JSON envelope.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    body: Option<String>,
    body_base64: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    persistent: Option<bool>,
    priority: Option<u8>,
    expires: Option<i64>,
    ttl: Option<i64>,
    delay: Option<i64>,
}

fn pairs(text: &str) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("cannot parse the form or query: {e}")))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Builds options and body from the request.
fn read_request(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
    envelope_allowed: bool,
) -> ApiResult<(Options, Bytes)> {
    let mut opts = Options::default();
    for (k, v) in pairs(query.unwrap_or(""))? {
        opts.apply(&k, &v)?;
    }
    let ctype = content_type(headers);
    if ctype.starts_with("application/x-www-form-urlencoded") {
        // A form with a `body` field (ActiveMQ's style); anything else sent
        // with curl's default form type is the message itself.
        let fields = std::str::from_utf8(&body)
            .ok()
            .and_then(|t| serde_urlencoded::from_str::<Vec<(String, String)>>(t).ok())
            .filter(|f| f.iter().any(|(k, _)| k == "body"));
        if let Some(fields) = fields {
            let mut message = String::new();
            for (k, v) in fields {
                if k == "body" {
                    message = v;
                } else {
                    opts.apply(&k, &v)?;
                }
            }
            return Ok((opts, Bytes::from(message)));
        }
        return Ok((opts, body));
    }
    if envelope_allowed && ctype.starts_with("application/json") {
        let env: Envelope = parse_json(&body)?;
        if let Some(p) = env.persistent {
            opts.persistent = p;
        }
        if let Some(p) = env.priority {
            opts.priority = parse_priority("priority", &p.to_string())?;
        }
        if let Some(e) = env.expires {
            opts.expires = parse_ms("expires", &e.to_string())?;
        }
        if let Some(t) = env.ttl {
            opts.apply("ttl", &t.to_string())?;
        }
        opts.delay(env.delay.unwrap_or(0))?;
        for (k, v) in &env.headers {
            opts.header(k, v)?;
        }
        let body = match (env.body, env.body_base64) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "give either body or body_base64, not both",
                ))
            }
            (Some(t), None) => Bytes::from(t),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(Bytes::from)
                .map_err(|e| ApiError::bad_request(format!("body_base64 is not base64: {e}")))?,
            (None, None) => Bytes::new(),
        };
        return Ok((opts, body));
    }
    if !ctype.is_empty() && !opts.headers.iter().any(|(k, _)| k == "content-type") {
        opts.headers.push(("content-type".into(), ctype));
    }
    Ok((opts, body))
}

/// How long a non-persistent publish waits for memory before a 503.
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn publish(
    s: &AdminState,
    p: &Principal,
    dest: Destination,
    opts: Options,
    body: Bytes,
) -> ApiResult<Message> {
    need(p, Access::Write, &dest)?;
    let broker = master_broker(s).await?;
    // A temporary destination takes messages only while its connection
    // holds it, and never stores them.
    broker.check_temp(&dest)?;
    let temporary = dest.name().starts_with(crate::broker::TEMP_PREFIX);
    let now = now_ms();
    let mut headers: Vec<(String, Value)> = opts
        .headers
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    stamp_arrival(&mut headers, now);
    let mut m = Message {
        id: broker.next_id(),
        destination: dest,
        priority: opts.priority,
        expires: opts.expires,
        persistent: opts.persistent && !temporary,
        headers: headers.into(),
        body,
        redelivery_count: 0,
        redelivered: false,
        producer: None,
        scheduled: 0,
        body_kind: Default::default(),
        client_id: None,
        origin: 0,
    };
    m.scheduled = first_due(&m, now).map_err(ApiError::bad_request)?;
    let sent = m.clone();
    let memory = broker.memory();
    if !m.persistent && memory.exhausted() {
        // Flow control as for a STOMP producer: the answer waits for room.
        crate::metrics::limit_hit("limits.max_non_persistent_bytes");
        if tokio::time::timeout(ROOM_WAIT, memory.room())
            .await
            .is_err()
        {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the memory for non-persistent messages is used up (limits.max_non_persistent_bytes) until consumers catch up; retry later or send persistent messages",
            ));
        }
    }
    if let Some(confirm) = broker.publish(vec![m], false).await? {
        confirm.await?;
    }
    Ok(sent)
}

/// Publishes from form fields (the dashboard's send form): `body` is the
/// message, the other non-empty fields are options or headers as in the
/// REST API.
pub async fn publish_fields(
    s: &AdminState,
    p: &Principal,
    dest: Destination,
    fields: Vec<(String, String)>,
) -> ApiResult<Message> {
    let mut opts = Options::default();
    let mut body = String::new();
    for (k, v) in fields {
        match k.as_str() {
            "body" => body = v,
            _ if v.is_empty() => {}
            _ => opts.apply(&k, &v)?,
        }
    }
    publish(s, p, dest, opts, Bytes::from(body)).await
}

fn created(m: &Message) -> serde_json::Value {
    json!({ "id": m.id, "destination": m.destination.to_string(), "persistent": m.persistent })
}

async fn publish_to(
    s: AdminState,
    p: Principal,
    name: String,
    queue: bool,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let dest = data::parse_name(&name, queue)?;
    let (opts, body) = read_request(&headers, query.as_deref(), body, true)?;
    let m = publish(&s, &p, dest, opts, body).await?;
    Ok((StatusCode::CREATED, Json(created(&m))))
}

pub async fn to_queue(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    publish_to(s, p, name, true, headers, query, body).await
}

pub async fn to_topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    publish_to(s, p, name, false, headers, query, body).await
}

/// ActiveMQ's `POST /api/message/NAME?type=queue|topic` (queue when
/// `type` is missing), form field `body` or the raw body; 200 as ActiveMQ.
pub async fn activemq(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let kind = pairs(query.as_deref().unwrap_or(""))?
        .into_iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v);
    let queue = match kind.as_deref() {
        None | Some("queue") => true,
        Some("topic") => false,
        Some(other) => return Err(bad("type", "queue or topic", other)),
    };
    let name = name
        .strip_prefix("queue://")
        .or_else(|| name.strip_prefix("topic://"))
        .unwrap_or(&name)
        .to_string();
    let dest = data::parse_name(&name, queue)?;
    let (opts, body) = read_request(&headers, query.as_deref(), body, false)?;
    let m = publish(&s, &p, dest, opts, body).await?;
    Ok((StatusCode::OK, Json(created(&m))))
}
