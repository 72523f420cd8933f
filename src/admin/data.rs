//! What the admin server shows, as plain functions over [`NodeStatus`]
//! returning serialisable views: node and cluster, destinations, browsing.
//! The REST handlers and the dashboard both use these. Persistent messages
//! are read straight from the database (so a slave can browse them);
//! non-persistent ones come from the master's memory.

use crate::broker::DestInfo;
use crate::message::{BodyKind, Destination, Message, Value};
use crate::openwire::map::{self, PrimitiveMap};
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
    /// Every header and property as text (a JMS property by Java's
    /// `toString`); `properties` has their types.
    pub headers: BTreeMap<String, String>,
    /// Every header and property with its type, in the order sent.
    pub properties: Vec<PropertyView>,
    /// The message id the sending client gave it (a JMS `JMSMessageID`),
    /// if any.
    pub client_message_id: Option<String>,
    /// What the body is: `text`, `bytes`, `map`, `object`, `stream`, `empty`.
    pub body_kind: &'static str,
    pub body_size: usize,
    /// The body as text when it is UTF-8 text or bytes (and this view
    /// carries bodies).
    pub body: Option<String>,
    /// The body in base64: bytes that are not UTF-8, a map that does not
    /// decode, and object and stream bodies when asked for.
    pub body_base64: Option<String>,
    /// A map body decoded: name → typed value.
    pub body_map: Option<BTreeMap<String, TypedValue>>,
    /// Why the body is not shown as text or a map (object and stream
    /// bodies are never deserialized).
    pub body_note: Option<String>,
}

/// A value with its type: `boolean`, `byte`, `short`, `int`, `long`,
/// `float`, `double`, `string`; in a map body also `char`, `bytes`
/// (base64), `map`, `list` and `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypedValue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: serde_json::Value,
}

impl TypedValue {
    /// The value as a page shows it: a string as it is, anything else as
    /// JSON.
    pub fn display(&self) -> String {
        match &self.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl From<TypedValue> for serde_json::Value {
    fn from(t: TypedValue) -> serde_json::Value {
        serde_json::json!({"type": t.kind, "value": t.value})
    }
}

/// One header or property of a message with its type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyView {
    pub name: String,
    #[serde(flatten)]
    pub value: TypedValue,
}

/// How much of the bodies a message view carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// Sizes and kinds only.
    None,
    /// Text, bytes and map bodies; object and stream bodies only as a note.
    Readable,
    /// As `Readable`, plus object and stream bodies in base64.
    Raw,
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

fn message_view(m: &Message, bodies: Bodies) -> MessageView {
    let mut v = MessageView {
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
        properties: m
            .headers
            .iter()
            .map(|(k, v)| PropertyView {
                name: k.clone(),
                value: property_value(v),
            })
            .collect(),
        client_message_id: m.client_id.as_deref().map(str::to_string),
        body_kind: m.body_kind.as_str(),
        body_size: m.body.len(),
        body: None,
        body_base64: None,
        body_map: None,
        body_note: None,
    };
    if bodies != Bodies::None {
        show_body(&mut v, m, bodies);
    }
    v
}

fn base64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Fills in the body of `v` by its kind.
fn show_body(v: &mut MessageView, m: &Message, bodies: Bodies) {
    match m.body_kind {
        BodyKind::Text | BodyKind::Bytes => match std::str::from_utf8(&m.body) {
            Ok(text) => v.body = Some(text.to_string()),
            Err(_) => v.body_base64 = Some(base64(&m.body)),
        },
        BodyKind::Map => match PrimitiveMap::decode(&m.body) {
            Ok(map) => v.body_map = Some(map_json(&map)),
            Err(e) => {
                v.body_note = Some(format!("the map body does not decode: {e}"));
                v.body_base64 = Some(base64(&m.body));
            }
        },
        BodyKind::Object | BodyKind::Stream => {
            v.body_note = Some(format!("{} bytes, not shown", m.body.len()));
            if bodies == Bodies::Raw {
                v.body_base64 = Some(base64(&m.body));
            }
        }
        BodyKind::Empty => {}
    }
}

/// A float as JSON: a number, or Java's name for it when it is not
/// finite (`NaN`, `Infinity`, `-Infinity`; JSON has no such numbers).
fn float_json(f: f64) -> serde_json::Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => n.into(),
        None if f.is_nan() => "NaN".into(),
        None if f > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

fn typed(kind: &'static str, value: impl Into<serde_json::Value>) -> TypedValue {
    TypedValue {
        kind,
        value: value.into(),
    }
}

/// A header or property with its type.
fn property_value(v: &Value) -> TypedValue {
    match v {
        Value::Bool(b) => typed("boolean", *b),
        Value::Byte(n) => typed("byte", *n),
        Value::Short(n) => typed("short", *n),
        Value::Int(n) => typed("int", *n),
        Value::Long(n) => typed("long", *n),
        Value::Float(n) => typed("float", float_json(f64::from(*n))),
        Value::Double(n) => typed("double", float_json(*n)),
        Value::String(s) => typed("string", s.as_str()),
    }
}

/// A map body as JSON, name → typed value (the last of a repeated name,
/// as Java's map keeps it).
fn map_json(map: &PrimitiveMap) -> BTreeMap<String, TypedValue> {
    map.0
        .iter()
        .map(|(k, v)| (k.clone(), map_value(v)))
        .collect()
}

/// One value of a map body (or of a list in it) with its type.
fn map_value(v: &map::Value) -> TypedValue {
    use map::Value as M;
    match v {
        M::Null => typed("null", serde_json::Value::Null),
        M::Boolean(b) => typed("boolean", *b),
        M::Byte(n) => typed("byte", *n),
        M::Char(c) => typed("char", String::from_utf16_lossy(std::slice::from_ref(c))),
        M::Short(n) => typed("short", *n),
        M::Int(n) => typed("int", *n),
        M::Long(n) => typed("long", *n),
        M::Float(n) => typed("float", float_json(f64::from(*n))),
        M::Double(n) => typed("double", float_json(*n)),
        M::String(s) => typed("string", s.as_str()),
        M::Bytes(b) => typed("bytes", base64(b)),
        M::Map(m) => typed(
            "map",
            m.0.iter()
                .map(|(k, v)| (k.clone(), map_value(v).into()))
                .collect::<serde_json::Map<_, _>>(),
        ),
        M::List(items) => typed(
            "list",
            items
                .iter()
                .map(|v| map_value(v).into())
                .collect::<Vec<serde_json::Value>>(),
        ),
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
    bodies: Bodies,
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
        messages: all.iter().map(|m| message_view(m, bodies)).collect(),
        next_after,
    })
}

/// One message of queue `dest`, with its body (`Readable` or `Raw`).
pub async fn message(
    status: &NodeStatus,
    dest: &Destination,
    id: i64,
    bodies: Bodies,
) -> Result<MessageView, DataError> {
    let missing = || DataError::NotFound(format!("message {id} is not in {dest}"));
    if let Some(m) = status
        .broker()
        .and_then(|b| b.find_message(dest.name(), id))
    {
        return Ok(message_view(&m, bodies));
    }
    let m = timed(inspect(status)?.message(id))
        .await?
        .filter(|m| &m.destination == dest)
        .ok_or_else(missing)?;
    Ok(message_view(&m, bodies))
}

pub async fn subscriptions(status: &NodeStatus) -> Result<Vec<DurableSub>, DataError> {
    timed(store(status)?.load_durables()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use map::Value as M;
    use serde_json::json;

    fn message(kind: BodyKind, body: bytes::Bytes, headers: Vec<(String, Value)>) -> Message {
        Message {
            id: 7,
            destination: Destination::Queue("q".into()),
            priority: 4,
            expires: 0,
            persistent: true,
            headers: headers.into(),
            body,
            body_kind: kind,
            client_id: None,
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
            origin: 0,
        }
    }

    fn json_of(v: &MessageView) -> serde_json::Value {
        serde_json::to_value(v).expect("a view serializes")
    }

    #[test]
    fn a_map_body_is_decoded_with_types() {
        let mut inner = PrimitiveMap::new();
        inner.insert("deep", M::Short(3));
        let mut map = PrimitiveMap::new();
        map.insert("b", M::Boolean(true));
        map.insert("color", M::String("red".into()));
        map.insert("d", M::Double(1.5));
        map.insert("l", M::Long(1 << 40));
        map.insert("n", M::Int(7));
        map.insert("c", M::Char(u16::from(b'x')));
        map.insert("raw", M::Bytes(bytes::Bytes::from_static(b"\x00\x01")));
        map.insert("nothing", M::Null);
        map.insert("nan", M::Float(f32::NAN));
        map.insert("inner", M::Map(inner));
        map.insert("list", M::List(vec![M::Byte(-1), M::String("s".into())]));
        let body = map.to_bytes().expect("encodes");
        let m = message(BodyKind::Map, body.clone(), vec![]);
        let v = json_of(&message_view(&m, Bodies::Readable));
        assert_eq!(v["body_kind"], "map");
        assert_eq!(v["body_size"], body.len());
        assert_eq!(v["body"], serde_json::Value::Null);
        assert_eq!(v["body_base64"], serde_json::Value::Null);
        assert_eq!(
            v["body_map"],
            json!({
                "b": {"type": "boolean", "value": true},
                "color": {"type": "string", "value": "red"},
                "d": {"type": "double", "value": 1.5},
                "l": {"type": "long", "value": 1_i64 << 40},
                "n": {"type": "int", "value": 7},
                "c": {"type": "char", "value": "x"},
                "raw": {"type": "bytes", "value": "AAE="},
                "nothing": {"type": "null", "value": null},
                "nan": {"type": "float", "value": "NaN"},
                "inner": {"type": "map", "value": {"deep": {"type": "short", "value": 3}}},
                "list": {"type": "list", "value": [
                    {"type": "byte", "value": -1},
                    {"type": "string", "value": "s"},
                ]},
            })
        );
        // Without bodies, only the kind and the size.
        let v = json_of(&message_view(&m, Bodies::None));
        assert_eq!(v["body_kind"], "map");
        assert_eq!(v["body_map"], serde_json::Value::Null);
    }

    #[test]
    fn a_map_body_that_does_not_decode_is_shown_in_base64() {
        let body = bytes::Bytes::from_static(b"\x00\x00\x00\x05\x00");
        let m = message(BodyKind::Map, body, vec![]);
        let v = message_view(&m, Bodies::Readable);
        assert_eq!(v.body_map, None);
        assert_eq!(v.body_base64.as_deref(), Some("AAAABQA="));
        let note = v.body_note.expect("a note says why");
        assert!(note.contains("does not decode"), "{note}");
    }

    #[test]
    fn object_and_stream_bodies_only_in_base64_on_request() {
        for kind in [BodyKind::Object, BodyKind::Stream] {
            let body = bytes::Bytes::from_static(b"\xac\xed\x00\x05t\x00\x01x");
            let m = message(kind, body, vec![]);
            let v = message_view(&m, Bodies::Readable);
            assert_eq!(v.body_kind, kind.as_str());
            assert_eq!(v.body, None);
            assert_eq!(v.body_base64, None);
            assert_eq!(v.body_note.as_deref(), Some("8 bytes, not shown"));
            let v = message_view(&m, Bodies::Raw);
            assert_eq!(v.body_base64.as_deref(), Some("rO0ABXQAAXg="));
            assert_eq!(v.body, None);
        }
    }

    #[test]
    fn text_bytes_and_empty_bodies() {
        let m = message(BodyKind::Text, "héllo".into(), vec![]);
        let v = message_view(&m, Bodies::Readable);
        assert_eq!((v.body_kind, v.body.as_deref()), ("text", Some("héllo")));
        let m = message(BodyKind::Bytes, "abc".into(), vec![]);
        let v = message_view(&m, Bodies::Readable);
        assert_eq!((v.body_kind, v.body.as_deref()), ("bytes", Some("abc")));
        assert_eq!(v.body_base64, None);
        let m = message(
            BodyKind::Bytes,
            bytes::Bytes::from_static(b"\xff\x00"),
            vec![],
        );
        let v = message_view(&m, Bodies::Readable);
        assert_eq!(v.body, None);
        assert_eq!(v.body_base64.as_deref(), Some("/wA="));
        let m = message(BodyKind::Empty, bytes::Bytes::new(), vec![]);
        let v = message_view(&m, Bodies::Raw);
        assert_eq!(v.body_kind, "empty");
        assert_eq!((v.body, v.body_base64, v.body_note), (None, None, None));
    }

    #[test]
    fn properties_keep_their_type_and_headers_their_text() {
        let m = message(
            BodyKind::Text,
            bytes::Bytes::new(),
            vec![
                ("count".into(), Value::Int(5)),
                ("flag".into(), Value::Bool(true)),
                ("ratio".into(), Value::Double(2.0)),
                ("big".into(), Value::Long(-9)),
                ("tiny".into(), Value::Byte(1)),
                ("s".into(), Value::Short(2)),
                ("f".into(), Value::Float(f32::INFINITY)),
                ("color".into(), "red".into()),
            ],
        );
        let mut m = m;
        m.client_id = Some("ID:c-1:1:1:1:1".into());
        let v = json_of(&message_view(&m, Bodies::None));
        assert_eq!(
            v["properties"],
            json!([
                {"name": "count", "type": "int", "value": 5},
                {"name": "flag", "type": "boolean", "value": true},
                {"name": "ratio", "type": "double", "value": 2.0},
                {"name": "big", "type": "long", "value": -9},
                {"name": "tiny", "type": "byte", "value": 1},
                {"name": "s", "type": "short", "value": 2},
                {"name": "f", "type": "float", "value": "Infinity"},
                {"name": "color", "type": "string", "value": "red"},
            ])
        );
        assert_eq!(v["headers"]["count"], "5");
        assert_eq!(v["headers"]["flag"], "true");
        assert_eq!(v["headers"]["ratio"], "2.0");
        assert_eq!(v["headers"]["color"], "red");
        assert_eq!(v["client_message_id"], "ID:c-1:1:1:1:1");
    }
}
