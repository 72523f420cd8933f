//! The admin REST API against the real binary: credentials, publish and
//! browse across HTTP and STOMP, management operations, and bad input.
//! (Management and bad input: admin_manage.rs; slave behaviour:
//! admin_cluster.rs; metrics: admin_metrics.rs.)

use crate::common;
use crate::common::users as setup;

use baton::client::Client;
use common::cluster::guard;
use common::http::Http;
use common::Baton;
use serde_json::json;
use setup::{start, OPS_LOGIN};

#[test]
fn health_and_metrics_are_open_everything_else_needs_credentials() {
    let s = start(&[]);
    assert_eq!(s.anon.get("/role").status, 200);
    assert_eq!(s.anon.get("/healthz").status, 200);
    assert_eq!(s.anon.get("/metrics").status, 200);
    for path in ["/api/v1/status", "/api/v1/queues", "/api/openapi.json"] {
        let r = s.anon.get(path);
        r.expect_error(401);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic")),
            "{:?}",
            r.headers
        );
    }
    let r = s.anon.post(
        "/api/message/orders.x?type=queue",
        "application/x-www-form-urlencoded",
        b"body=x",
    );
    r.expect_error(401);
    Http::basic(&s.b.admin, "ops", "wrong")
        .get("/api/v1/status")
        .expect_error(401);
    Http::basic(&s.b.admin, "nobody", "ops-secret")
        .get("/api/v1/status")
        .expect_error(401);
    Http::bearer(&s.b.admin, "not-a-token")
        .get("/api/v1/status")
        .expect_error(401);
    let digest = Http {
        addr: s.b.admin.clone(),
        authorization: Some("Digest abc".into()),
    };
    digest.get("/api/v1/status").expect_error(401);
    let garbage = Http {
        addr: s.b.admin.clone(),
        authorization: Some("Basic !!!".into()),
    };
    garbage.get("/api/v1/status").expect_error(401);

    for client in [&s.ops, &s.app, &s.token] {
        let r = client.get("/api/v1/status");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["role"], "master");
        assert!(v["epoch"].as_i64().unwrap() >= 1);
        assert_eq!(v["master"]["admin_addr"], s.b.admin.as_str());
    }
    let doc = s.ops.get("/api/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/status",
        "/api/v1/nodes",
        "/api/v1/queues",
        "/api/v1/queues/{name}",
        "/api/v1/queues/{name}/messages",
        "/api/v1/queues/{name}/messages/{id}",
        "/api/v1/queues/{name}/messages/{id}/move",
        "/api/v1/queues/{name}/messages/{id}/copy",
        "/api/v1/queues/{name}/purge",
        "/api/v1/topics",
        "/api/v1/topics/{name}",
        "/api/v1/topics/{name}/messages",
        "/api/v1/connections",
        "/api/v1/connections/{id}",
        "/api/v1/subscriptions",
        "/api/v1/subscriptions/{client_id}/{subscription}",
        "/api/message/{name}",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    let nodes = s.ops.get("/api/v1/nodes").json();
    assert_eq!(nodes.as_array().unwrap().len(), 1, "{nodes}");
    assert_eq!(nodes[0]["is_master"], true);
}

#[test]
fn without_users_a_generated_admin_password_is_logged_once() {
    let b = Baton::start();
    let lines: Vec<String> = b.logs.lock().unwrap().clone();
    let password = setup::generated_password(&lines).expect("password in the log");
    let with_password: Vec<&String> = lines.iter().filter(|l| l.contains(&password)).collect();
    assert_eq!(with_password.len(), 1, "{with_password:?}");
    let line: serde_json::Value = serde_json::from_str(with_password[0]).unwrap();
    assert_eq!(
        line["fields"]["url"],
        format!("http://{}/dashboard", b.admin)
    );
    assert_eq!(line["fields"]["user"], "admin");
    assert!(password.len() >= 16);
    let admin = Http::basic(&b.admin, "admin", &password);
    assert_eq!(
        admin.get("/dashboard").status,
        200,
        "the logged dashboard URL works"
    );
    assert_eq!(admin.get("/api/v1/queues").status, 200);
    for guess in ["admin", "password", ""] {
        Http::basic(&b.admin, "admin", guess)
            .get("/api/v1/queues")
            .expect_error(401);
    }
    // A restart generates a different password.
    let other = Baton::start();
    let lines: Vec<String> = other.logs.lock().unwrap().clone();
    assert_ne!(setup::generated_password(&lines).unwrap(), password);
}

#[tokio::test]
async fn rest_publish_is_received_over_stomp() {
    let s = start(&[]);
    let before = baton::message::now_ms();
    let r = s.app.post(
        "/api/v1/queues/orders.eu/messages?priority=7&x-trace=abc",
        "text/plain",
        b"first order",
    );
    let answered = baton::message::now_ms();
    assert_eq!(r.status, 201, "{}", r.text());
    let first = r.json();
    assert_eq!(first["persistent"], true);
    let first_id = first["id"].as_i64().unwrap();
    let r = s.app.post_json(
        "/api/v1/queues/orders.eu/messages",
        &json!({"body_base64": "AAEC/w==", "headers": {"kind": "binary"}, "persistent": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["persistent"], false);
    // ActiveMQ's form post, and curl's default form type with a plain body.
    let r = s.app.post(
        "/api/message/orders.eu?type=queue",
        "application/x-www-form-urlencoded",
        b"body=hello+from+activemq&JMSPriority=1",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.app.post(
        "/api/v1/queues/orders.eu/messages?priority=0",
        "application/x-www-form-urlencoded",
        b"plain",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The persistent ones are in the database before the 201.
    let stored = s.ops.get("/api/v1/queues/orders.eu").json();
    assert_eq!(stored["stored"], 3, "{stored}");
    assert_eq!(stored["depth"], 4, "{stored}");

    let mut c = guard("connect", Client::connect_with(&s.b.stomp, OPS_LOGIN))
        .await
        .unwrap();
    guard(
        "subscribe",
        c.subscribe("/queue/orders.eu", "1", "auto", &[]),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(guard("message", c.next_message()).await.unwrap());
    }
    // Priority 7 first, then 4, 1, 0.
    assert_eq!(&got[0].body[..], b"first order");
    assert_eq!(got[0].header("x-trace"), Some("abc"));
    assert_eq!(
        got[0].header("message-id"),
        Some(first_id.to_string().as_str())
    );
    assert_eq!(got[0].header("content-type"), Some("text/plain"));
    let stamped: i64 = got[0]
        .header("timestamp")
        .and_then(|t| t.parse().ok())
        .expect("a timestamp, the time the broker got the publish");
    assert!(
        (before..=answered).contains(&stamped),
        "timestamp {stamped} between the request ({before}) and its answer ({answered})"
    );
    assert_eq!(&got[1].body[..], &[0u8, 1, 2, 255]);
    assert_eq!(got[1].header("kind"), Some("binary"));
    assert_eq!(&got[2].body[..], b"hello from activemq");
    assert_eq!(&got[3].body[..], b"plain");

    // Topics: delivered to the subscribers present.
    guard("subscribe", c.subscribe("/topic/prices", "2", "auto", &[]))
        .await
        .unwrap();
    let r = s
        .ops
        .post("/api/v1/topics/prices/messages", "text/plain", b"1.08");
    assert_eq!(r.status, 201, "{}", r.text());
    let m = guard("topic message", c.next_message()).await.unwrap();
    assert_eq!(&m.body[..], b"1.08");
    let r = s.ops.post(
        "/api/message/prices?type=topic",
        "application/x-www-form-urlencoded",
        b"body=1.09",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let m = guard("topic message", c.next_message()).await.unwrap();
    assert_eq!(&m.body[..], b"1.09");
    assert_eq!(m.header("destination"), Some("/topic/prices"));
}

#[tokio::test]
async fn stomp_sends_are_browsable_page_by_page() {
    let s = start(&[]);
    let mut c = guard("connect", Client::connect_with(&s.b.stomp, OPS_LOGIN))
        .await
        .unwrap();
    for i in 0..5 {
        guard(
            "send",
            c.send(
                "/queue/orders.browse",
                format!("p{i}"),
                &[("persistent", "true"), ("n", &i.to_string())],
            ),
        )
        .await
        .unwrap();
    }
    guard("send", c.send("/queue/orders.browse", "transient", &[]))
        .await
        .unwrap();
    guard(
        "send",
        c.send(
            "/queue/orders.browse",
            vec![0xffu8, 0xfe],
            &[("persistent", "true")],
        ),
    )
    .await
    .unwrap();

    let mut bodies = Vec::new();
    let mut after = 0i64;
    let mut pages = 0;
    loop {
        let r = s.app.get(&format!(
            "/api/v1/queues/orders.browse/messages?limit=3&after={after}"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        pages += 1;
        for m in page["messages"].as_array().unwrap() {
            bodies.push(match m["body"].as_str() {
                Some(t) => t.to_string(),
                None => format!("b64:{}", m["body_base64"].as_str().unwrap()),
            });
        }
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(
        bodies,
        ["p0", "p1", "p2", "p3", "p4", "transient", "b64://4="],
        "pages: {pages}"
    );
    let page = s
        .app
        .get("/api/v1/queues/orders.browse/messages?limit=1")
        .json();
    let m = &page["messages"][0];
    assert_eq!(m["persistent"], true);
    assert_eq!(m["headers"]["n"], "0");
    let id = m["id"].as_i64().unwrap();
    let one = s
        .app
        .get(&format!("/api/v1/queues/orders.browse/messages/{id}"));
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["body"], "p0");
    assert_eq!(one["body_size"], 2);
    assert_eq!(one["destination"], "/queue/orders.browse");
    // Bodies can be left out of pages.
    let page = s
        .app
        .get("/api/v1/queues/orders.browse/messages?bodies=false")
        .json();
    assert!(page["messages"][0]["body"].is_null());
    assert_eq!(page["messages"][0]["body_size"], 2);
    // The same id under another queue is not found.
    s.ops
        .get(&format!("/api/v1/queues/other/messages/{id}"))
        .expect_error(404);
    // Browsing does not consume.
    let q = s.ops.get("/api/v1/queues/orders.browse").json();
    assert_eq!(q["depth"], 7, "{q}");
    assert_eq!(q["stored"], 6, "{q}");
    let list = s.ops.get("/api/v1/queues").json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "orders.browse"),
        "{list}"
    );
}

#[test]
fn permissions_follow_the_auth_map() {
    let s = start(&[]);
    let r = s
        .app
        .post("/api/v1/queues/billing/messages", "text/plain", b"x");
    let e = r.expect_error(403);
    assert!(e.contains("write") && e.contains("/queue/billing"), "{e}");
    s.app
        .post(
            "/api/message/billing?type=queue",
            "application/x-www-form-urlencoded",
            b"body=x",
        )
        .expect_error(403);
    s.app
        .post("/api/v1/topics/orders.x/messages", "text/plain", b"x")
        .expect_error(403);
    assert_eq!(
        s.app
            .post("/api/v1/queues/orders.a/messages", "text/plain", b"x")
            .status,
        201
    );
    s.app
        .get("/api/v1/queues/billing/messages")
        .expect_error(403);
    s.app
        .post("/api/v1/queues/orders.a/purge", "text/plain", b"")
        .expect_error(403);
    s.app.delete("/api/v1/queues/orders.a").expect_error(403);
    s.app.get("/api/v1/connections").expect_error(403);
    s.app.get("/api/v1/subscriptions").expect_error(403);
    // The token acts as ops.
    assert_eq!(
        s.token
            .post("/api/v1/queues/orders.a/purge", "text/plain", b"")
            .status,
        200
    );
    assert_eq!(s.token.get("/api/v1/connections").status, 200);
}

/// A SEND frame without `content-length` (a text message, unless
/// `amq-msg-type` says otherwise).
fn plain_send(dest: &str, body: &str, headers: &[(&str, &str)]) -> baton::stomp::frame::Frame {
    use baton::stomp::frame::{Command, Frame};
    let mut f = Frame::new(Command::Send).with_header("destination", dest);
    for (k, v) in headers {
        f.push_header(*k, *v);
    }
    f.with_body(body.to_string())
}

#[tokio::test]
async fn body_kinds_typed_properties_and_connection_protocols() {
    let s = start(&[]);
    let mut login = OPS_LOGIN.to_vec();
    login.push(("client-id", "views-client"));
    let mut c = guard("connect", Client::connect_with(&s.b.stomp, &login))
        .await
        .unwrap();
    let other = guard("connect", Client::connect_with(&s.b.stomp, OPS_LOGIN))
        .await
        .unwrap();
    let q = "/queue/kinds";
    let persistent = ("persistent", "true");
    // No content-length: text. With it: bytes (ActiveMQ's rule).
    // `amq-msg-type` wins either way.
    guard(
        "send",
        c.request(plain_send(q, "t1", &[persistent, ("count", "7")])),
    )
    .await
    .unwrap();
    guard("send", c.send(q, "b1", &[persistent])).await.unwrap();
    guard(
        "send",
        c.send(q, "t2", &[persistent, ("amq-msg-type", "text")]),
    )
    .await
    .unwrap();
    guard(
        "send",
        c.request(plain_send(q, "b2", &[("amq-msg-type", "bytes")])),
    )
    .await
    .unwrap();

    let page = s.ops.get("/api/v1/queues/kinds/messages").json();
    let got: Vec<(String, String)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["body"].as_str().unwrap_or("?").to_string(),
                m["body_kind"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let want = [
        ("t1", "text"),
        ("b1", "bytes"),
        ("t2", "text"),
        ("b2", "bytes"),
    ];
    assert_eq!(
        got,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{page}"
    );
    let first = &page["messages"][0];
    // The headers map stays strings; properties add the type (every
    // STOMP header is a string).
    assert_eq!(first["headers"]["count"], "7", "{first}");
    let props = first["properties"].as_array().unwrap();
    assert!(
        props.contains(&json!({"name": "count", "type": "string", "value": "7"})),
        "{first}"
    );
    assert!(first["client_message_id"].is_null(), "{first}");
    assert!(first["body_map"].is_null() && first["body_note"].is_null());
    let id = first["id"].as_i64().unwrap();
    let one = s
        .ops
        .get(&format!("/api/v1/queues/kinds/messages/{id}?raw=true"))
        .json();
    assert_eq!(one["body_kind"], "text");
    assert_eq!(one["body"], "t1");
    let html = s
        .ops
        .get(&format!("/dashboard/queues/kinds/messages/{id}"))
        .text();
    assert!(html.contains("<td id=\"body-kind\">text</td>"), "{html}");
    assert!(html.contains("id=\"properties\""), "{html}");

    // Connections: the protocol, its version and the client id.
    let conns = s.ops.get("/api/v1/connections").json();
    let conns = conns.as_array().unwrap();
    assert_eq!(conns.len(), 2, "{conns:?}");
    let named: Vec<_> = conns
        .iter()
        .filter(|c| c["client_id"] == "views-client")
        .collect();
    assert_eq!(named.len(), 1, "{conns:?}");
    for c in conns {
        assert_eq!(c["protocol"], "stomp", "{c}");
        assert_eq!(c["protocol_version"], "1.2", "{c}");
    }
    assert_eq!(
        conns.iter().filter(|c| c["client_id"].is_null()).count(),
        1,
        "{conns:?}"
    );
    let html = s.ops.get("/dashboard/connections").text();
    assert!(html.contains("<td>stomp 1.2</td>"), "{html}");
    assert!(
        html.contains("<td class=\"mono\">views-client</td>"),
        "{html}"
    );
    drop(other);
}
