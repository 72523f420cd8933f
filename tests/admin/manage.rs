//! Management operations of the admin REST API (delete, purge, move, copy,
//! destinations, connections, subscriptions) and bad input, against the
//! real binary.

use crate::common;
use crate::common::users as setup;

use baton::client::Client;
use baton::stomp::frame::Command;
use common::cluster::guard;
use serde_json::json;
use setup::{start, OPS_LOGIN};

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
    let mut client = guard("connect", Client::connect_with(&s.b.stomp, OPS_LOGIN))
        .await
        .unwrap();
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
    assert_eq!(conns[0]["protocol"], "stomp");
    assert!(conns[0]["protocol_version"]
        .as_str()
        .unwrap()
        .starts_with("1."));
    assert!(conns[0]["client_id"].is_null());
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
        (400, ops.post_json(q, &json!({"body": "x", "delay": -5}))),
        (
            400,
            ops.post(&format!("{q}?AMQ_SCHEDULED_REPEAT=x"), "text/plain", b"x"),
        ),
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

/// A durable subscription made over STOMP shows in the API; deleting it
/// while a client is attached is a conflict, afterwards it goes for good.
#[test]
fn durable_subscriptions_are_listed_and_deleted_through_the_broker() {
    let s = start(&[]);
    let mut c = common::Raw::connect(&s.b.stomp);
    c.write(b"CONNECT\naccept-version:1.2\nclient-id:app-9\nlogin:ops\npasscode:ops-secret\n\n\0");
    assert_eq!(
        c.read_frame().expect("CONNECTED").command.as_str(),
        "CONNECTED"
    );
    c.write(
        b"SUBSCRIBE\ndestination:/topic/audit\nid:1\nactivemq.subscriptionName:trail\nreceipt:r1\n\n\0",
    );
    assert_eq!(c.read_frame().expect("RECEIPT").command.as_str(), "RECEIPT");
    // The RECEIPT of a new durable subscription comes after its row is
    // committed, so the API lists it at once.
    let subs = s.ops.get("/api/v1/subscriptions").json();
    assert_eq!(subs[0]["client_id"], "app-9", "{subs}");
    assert_eq!(subs[0]["subscription"], "trail");
    assert_eq!(subs[0]["destination"], "/topic/audit");
    s.ops
        .delete("/api/v1/subscriptions/app-9/trail")
        .expect_error(409);
    c.write(b"DISCONNECT\nreceipt:bye\n\n\0");
    assert_eq!(c.read_frame().expect("RECEIPT").command.as_str(), "RECEIPT");
    drop(c);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = s.ops.delete("/api/v1/subscriptions/app-9/trail");
        if r.status == 204 {
            break;
        }
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(std::time::Instant::now() < deadline, "still attached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.ops.get("/api/v1/subscriptions").json(), json!([]));
}
