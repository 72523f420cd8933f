//! A web page with the real `@stomp/stompjs` (the npm package's UMD bundle,
//! vendored in tests/clients/stompjs/) in Debian's headless Chromium,
//! driven over WebDriver, against two nodes on PostgreSQL behind HAProxy
//! (one frontend for STOMP, one for WebSocket, as in
//! docs/web-applications.md). The test harness serves the page. What the
//! page receives is checked against messages sent over TCP STOMP and the
//! REST API, what it publishes against what a TCP consumer and the REST
//! API see; then the master is killed and the page's client reconnects
//! through HAProxy to the new master, where the persistent message it sent
//! before is still waiting and new messages flow both ways.

use crate::common;

use axum::http::header;
use axum::routing::get;
use baton::client::Client;
use common::browser::Driver;
use common::cluster::*;
use common::haproxy::{Frontend, Haproxy};
use common::http::Http;
use common::users as setup;
use serde_json::{json, Value};
use std::time::Duration;

const PAGE: &str = include_str!("stompjs/page.html");
const STOMPJS: &str = include_str!("stompjs/stomp.umd.min.js");

/// Serves the page and the bundle on an ephemeral port until dropped.
async fn serve_page() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new()
        .route(
            "/page.html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/stomp.umd.min.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], STOMPJS) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the page server");
    let addr = listener.local_addr().expect("page server address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr.to_string(), task)
}

/// Evaluates `script` (a function body) in the page.
async fn eval(c: &fantoccini::Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits (guarded) until `script` returns true in the page.
async fn until(c: &fantoccini::Client, script: &str) {
    guard(script, async {
        while eval(c, script).await != json!(true) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Waits until the page received `body` on `destination`.
async fn page_receives(c: &fantoccini::Client, destination: &str, body: &str) {
    let check = format!(
        "return window.received.some(m => m.destination === {} && m.body === {});",
        json!(destination),
        json!(body)
    );
    until(c, &check).await;
}

/// Publishes a persistent message from the page; returns once the broker's
/// RECEIPT reached the page.
async fn page_publishes(c: &fantoccini::Client, destination: &str, body: &str) {
    let script = "const done = arguments[arguments.length - 1];
                  window.publish(arguments[0], arguments[1]).then(done);";
    guard(
        "publish from the page",
        c.execute_async(script, vec![json!(destination), json!(body)]),
    )
    .await
    .expect("page publish confirmed");
}

async fn connect(proxy: &str) -> Client {
    guard("connect through haproxy", Client::connect(proxy))
        .await
        .expect("connect")
}

async fn next_body(c: &mut Client) -> String {
    let m = guard("MESSAGE", c.next_message()).await.expect("MESSAGE");
    String::from_utf8_lossy(&m.body).into_owned()
}

/// The cluster's admin (its generated password, logged by the first node).
fn admin(nodes: &[Node], i: usize) -> Http {
    let password = nodes
        .iter()
        .find_map(|n| setup::generated_password(&n.lines()))
        .expect("generated password in a log");
    Http::basic(&nodes[i].admin, "admin", &password)
}

#[tokio::test(flavor = "multi_thread")]
async fn stompjs_in_chromium_through_haproxy_across_a_failover() {
    let db = Db::postgres();
    let mut nodes = start_cluster(&db, &Settings::fast(None), &["web-a", "web-b"]).await;
    let stomp_proxy = format!("127.0.0.1:{}", free_port());
    let ws_proxy = format!("127.0.0.1:{}", free_port());
    let haproxy = Haproxy::start(
        &[
            Frontend {
                backend: "stomp",
                listen: &stomp_proxy,
                target: |n| &n.stomp,
            },
            Frontend {
                backend: "websocket",
                listen: &ws_proxy,
                target: |n| &n.websocket,
            },
        ],
        &[&nodes[0], &nodes[1]],
    );
    // Each frontend routes only once its own health check has seen the
    // master: wait for both backends.
    for backend in ["stomp", "websocket"] {
        haproxy.wait_status(backend, "web-a", "UP").await;
        haproxy.wait_status(backend, "web-b", "DOWN").await;
    }

    let (page_addr, _server) = serve_page().await;
    let driver = Driver::start().await;
    let c = driver.browser().await;
    c.goto(&format!(
        "http://{page_addr}/page.html?ws=ws://{ws_proxy}/stomp"
    ))
    .await
    .expect("open the page");
    until(&c, "return window.subscribed === 1;").await;
    let sessions = eval(&c, "return window.sessions;").await;
    assert!(
        sessions[0]
            .as_str()
            .is_some_and(|s| s.starts_with("web-a-")),
        "{sessions}"
    );

    // TCP STOMP and the REST API → the page.
    let mut tcp = connect(&stomp_proxy).await;
    for (dest, body) in [
        ("/topic/web.prices", "price over tcp"),
        ("/queue/web.orders", "order over tcp"),
    ] {
        guard("send", tcp.send(dest, body, &[("persistent", "true")]))
            .await
            .expect("send over tcp");
    }
    let rest = admin(&nodes, 0);
    for (path, body) in [
        ("/api/v1/topics/web.prices/messages", "price over rest"),
        ("/api/v1/queues/web.orders/messages", "order over rest"),
    ] {
        let r = rest.post(path, "text/plain", body.as_bytes());
        assert_eq!(r.status, 201, "{path}: {}", r.text());
    }
    page_receives(&c, "/topic/web.prices", "price over tcp").await;
    page_receives(&c, "/queue/web.orders", "order over tcp").await;
    page_receives(&c, "/topic/web.prices", "price over rest").await;
    page_receives(&c, "/queue/web.orders", "order over rest").await;

    // The page → a TCP consumer and the REST API.
    guard(
        "subscribe",
        tcp.subscribe("/queue/web.in", "in", "auto", &[]),
    )
    .await
    .expect("subscribe over tcp");
    page_publishes(&c, "/queue/web.in", "from the page").await;
    assert_eq!(next_body(&mut tcp).await, "from the page");
    page_publishes(&c, "/queue/web.rest", "for the api").await;
    let browsed = rest.get("/api/v1/queues/web.rest/messages").json();
    assert_eq!(browsed["messages"][0]["body"], "for the api", "{browsed}");
    // Stored, and left waiting for after the failover.
    page_publishes(&c, "/queue/web.kept", "sent before the failover").await;

    // Failover: the page's client reconnects through HAProxy to web-b.
    nodes[0].kill9();
    nodes[1].wait_role(Role::Master).await;
    haproxy.wait_status("websocket", "web-b", "UP").await;
    haproxy.wait_status("stomp", "web-b", "UP").await;
    until(&c, "return window.subscribed === 2;").await;
    let sessions = eval(&c, "return window.sessions;").await;
    assert!(
        sessions[1]
            .as_str()
            .is_some_and(|s| s.starts_with("web-b-")),
        "{sessions}"
    );
    let mut tcp = connect(&stomp_proxy).await;
    guard(
        "subscribe",
        tcp.subscribe("/queue/web.kept", "kept", "auto", &[]),
    )
    .await
    .expect("subscribe after the failover");
    assert_eq!(next_body(&mut tcp).await, "sent before the failover");
    guard(
        "send",
        tcp.send("/queue/web.orders", "order after the failover", &[]),
    )
    .await
    .expect("send after the failover");
    let r = admin(&nodes, 1).post(
        "/api/v1/topics/web.prices/messages",
        "text/plain",
        b"price after the failover",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    page_receives(&c, "/queue/web.orders", "order after the failover").await;
    page_receives(&c, "/topic/web.prices", "price after the failover").await;
    guard(
        "subscribe",
        tcp.subscribe("/queue/web.in", "in", "auto", &[]),
    )
    .await
    .expect("subscribe");
    page_publishes(&c, "/queue/web.in", "from the page, after").await;
    assert_eq!(next_body(&mut tcp).await, "from the page, after");
    assert_eq!(eval(&c, "return window.errors;").await, json!([]));
    let _ = c.close().await;
}
