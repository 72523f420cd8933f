//! The admin REST API against the real binary: credentials, publish and
//! browse across HTTP and STOMP, management operations, and bad input.
//! (Slave behaviour: admin_cluster.rs; metrics: admin_metrics.rs.)

mod common;
#[path = "admin/setup.rs"]
mod setup;

use baton::client::Client;
use baton::stomp::frame::Command;
use common::cluster::guard;
use common::http::Http;
use common::Baton;
use serde_json::json;
use setup::start;

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
    assert_eq!(line["fields"]["url"], format!("http://{}/", b.admin));
    assert_eq!(line["fields"]["user"], "admin");
    assert!(password.len() >= 16);
    let admin = Http::basic(&b.admin, "admin", &password);
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
    let r = s.app.post(
        "/api/v1/queues/orders.eu/messages?priority=7&x-trace=abc",
        "text/plain",
        b"first order",
    );
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

    let mut c = guard("connect", Client::connect(&s.b.stomp)).await.unwrap();
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
    let mut c = guard("connect", Client::connect(&s.b.stomp)).await.unwrap();
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

#[tokio::test]
async fn management_operations() {
    let s = start(&[]);
    let publish = |q: &str, body: &str| -> i64 {
        let r = s.ops.post(
            &format!("/api/v1/queues/{q}/messages"),
            "text/plain",
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_i64().unwrap()
    };
    let bodies = |q: &str| -> Vec<String> {
        s.ops.get(&format!("/api/v1/queues/{q}/messages")).json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect()
    };
    let a = publish("DLQ.work", "a");
    let b = publish("DLQ.work", "b");
    let c = publish("DLQ.work", "c");
    // Delete one.
    assert_eq!(
        s.ops
            .delete(&format!("/api/v1/queues/DLQ.work/messages/{b}"))
            .status,
        204
    );
    s.ops
        .delete(&format!("/api/v1/queues/DLQ.work/messages/{b}"))
        .expect_error(404);
    assert_eq!(bodies("DLQ.work"), ["a", "c"]);
    // Move back for replay, and copy.
    let r = s.ops.post_json(
        &format!("/api/v1/queues/DLQ.work/messages/{a}/move"),
        &json!({"to": "work"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], a);
    let r = s.ops.post_json(
        &format!("/api/v1/queues/DLQ.work/messages/{c}/copy"),
        &json!({"to": "/queue/work"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(r.json()["id"], c);
    assert_eq!(bodies("DLQ.work"), ["c"]);
    assert_eq!(bodies("work"), ["a", "c"]);
    let work = s.ops.get("/api/v1/queues/work").json();
    assert_eq!(work["stored"], 2, "moves and copies are stored: {work}");
    s.ops
        .post_json(
            &format!("/api/v1/queues/DLQ.work/messages/{a}/move"),
            &json!({"to": "work"}),
        )
        .expect_error(404);
    // Purge.
    let r = s
        .ops
        .post("/api/v1/queues/DLQ.work/purge", "text/plain", b"");
    assert_eq!(r.json()["purged"], 1);
    assert!(bodies("DLQ.work").is_empty());
    assert_eq!(
        s.ops.get("/api/v1/queues/DLQ.work").json()["stored"],
        serde_json::Value::Null
    );

    // A consumer: in-flight messages cannot be deleted, the queue cannot
    // be removed, the connection is listed and can be closed.
    let mut client = guard("connect", Client::connect(&s.b.stomp)).await.unwrap();
    guard(
        "subscribe",
        client.subscribe("/queue/work", "s1", "client-individual", &[]),
    )
    .await
    .unwrap();
    let m = guard("message", client.next_message()).await.unwrap();
    assert_eq!(&m.body[..], b"a");
    s.ops
        .delete(&format!("/api/v1/queues/work/messages/{a}"))
        .expect_error(409);
    let e = s.ops.delete("/api/v1/queues/work").expect_error(409);
    assert!(e.contains("consumer"), "{e}");
    let conns = s.ops.get("/api/v1/connections").json();
    let conns = conns.as_array().unwrap();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["subscriptions"][0]["destination"], "/queue/work");
    assert_eq!(conns[0]["subscriptions"][0]["inflight"], 2);
    assert!(conns[0]["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(conns[0]["protocol"]
        .as_str()
        .unwrap()
        .starts_with("STOMP 1."));
    let id = conns[0]["id"].as_u64().unwrap();
    s.ops.delete("/api/v1/connections/999999").expect_error(404);
    assert_eq!(
        s.ops.delete(&format!("/api/v1/connections/{id}")).status,
        204
    );
    loop {
        let f = guard("ERROR after close", client.recv())
            .await
            .expect("ERROR frame");
        if f.command == Command::Error {
            assert!(
                String::from_utf8_lossy(&f.body).contains("administrator")
                    || f.header("message").unwrap_or("").contains("administrator"),
                "{f:?}"
            );
            break;
        }
    }
    guard("connection gone", async {
        while !s
            .ops
            .get("/api/v1/connections")
            .json()
            .as_array()
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    // Now the queue can go, with its messages.
    let r = s.ops.delete("/api/v1/queues/work");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["messages"], 2);
    s.ops.get("/api/v1/queues/work").expect_error(404);
    // Topics.
    assert_eq!(
        s.ops
            .post("/api/v1/topics/t1/messages", "text/plain", b"x")
            .status,
        201
    );
    assert_eq!(s.ops.get("/api/v1/topics/t1").status, 200);
    assert_eq!(s.ops.get("/api/v1/topics").json()[0]["name"], "t1");
    assert_eq!(s.ops.delete("/api/v1/topics/t1").status, 200);
    s.ops.get("/api/v1/topics/t1").expect_error(404);
    // Durable subscriptions (none exist yet).
    assert_eq!(s.ops.get("/api/v1/subscriptions").json(), json!([]));
    s.ops
        .delete("/api/v1/subscriptions/client/sub")
        .expect_error(404);
}

#[test]
fn bad_input_gets_a_json_4xx() {
    let s = start(&["--admin-max-body-bytes", "1024"]);
    let ops = &s.ops;
    let q = "/api/v1/queues/q/messages";
    let cases: Vec<(u16, common::http::Resp)> = vec![
        (400, ops.post(q, "application/json", b"{not json")),
        (
            400,
            ops.post_json(q, &json!({"body": "x", "colour": "red"})),
        ),
        (
            400,
            ops.post_json(q, &json!({"body": "x", "body_base64": "eA=="})),
        ),
        (400, ops.post_json(q, &json!({"body_base64": "%%%"}))),
        (400, ops.post_json(q, &json!({"body": "x", "priority": 12}))),
        (400, ops.post_json(q, &json!({"body": "x", "delay": 5000}))),
        (
            400,
            ops.post(&format!("{q}?priority=high"), "text/plain", b"x"),
        ),
        (
            400,
            ops.post(&format!("{q}?persistent=maybe"), "text/plain", b"x"),
        ),
        (
            400,
            ops.post(&format!("{q}?expires=-1"), "text/plain", b"x"),
        ),
        (
            400,
            ops.post(&format!("{q}?message-id=7"), "text/plain", b"x"),
        ),
        (
            400,
            ops.post(
                "/api/message/q?type=mailbox",
                "application/x-www-form-urlencoded",
                b"body=x",
            ),
        ),
        (400, ops.get(&format!("{q}?limit=0"))),
        (400, ops.get(&format!("{q}?limit=abc"))),
        (400, ops.get(&format!("{q}?colour=red"))),
        (400, ops.get("/api/v1/queues/q/messages/not-a-number")),
        (
            400,
            ops.post_json("/api/v1/queues/q/messages/1/move", &json!({"to": ""})),
        ),
        (
            400,
            ops.post_json("/api/v1/queues/q/messages/1/move", &json!({"where": "x"})),
        ),
        (
            400,
            ops.post(
                &format!("/api/v1/queues/{}/messages", "x".repeat(401)),
                "text/plain",
                b"x",
            ),
        ),
        (404, ops.get("/api/v1/queues/nope")),
        (404, ops.get("/api/v1/queues/nope/messages")),
        (404, ops.get("/api/v1/queues/nope/messages/1")),
        (404, ops.delete("/api/v1/queues/nope/messages/1")),
        (
            404,
            ops.post("/api/v1/queues/nope/purge", "text/plain", b""),
        ),
        (404, ops.delete("/api/v1/queues/nope")),
        (404, ops.get("/api/v1/nothing")),
        (404, ops.get("/nothing")),
        (405, ops.request("PUT", "/api/v1/queues/q", &[], b"")),
        (413, ops.post(q, "text/plain", &vec![b'x'; 4096])),
        (
            403,
            ops.request(
                "POST",
                q,
                &[
                    ("Origin", "http://evil.example"),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                b"body=x",
            ),
        ),
        (
            403,
            ops.request("POST", q, &[("Sec-Fetch-Site", "cross-site")], b"x"),
        ),
    ];
    for (i, (status, r)) in cases.iter().enumerate() {
        let msg = r.expect_error(*status);
        assert!(!msg.is_empty(), "case {i}");
    }
    // A same-origin browser post is fine.
    let origin = format!("http://{}", s.b.admin);
    let r = ops.request(
        "POST",
        q,
        &[("Origin", &origin), ("Content-Type", "text/plain")],
        b"ok",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // And the broker still serves.
    assert_eq!(ops.get("/api/v1/queues/q").json()["depth"], 1);
}
