//! Scheduled delivery (`AMQ_SCHEDULED_DELAY` / `PERIOD` / `REPEAT`)
//! against the real binary: order against immediate messages, repeats,
//! survival across kill -9 and failover, the admin API's list and cancel.
//! No wall-clock assertion: "later" is shown by arrival order.

use crate::common;
use crate::common::users as setup;

use common::cluster::{self, Db, Settings};
use common::stomp::*;
use common::Baton;

#[tokio::test]
async fn a_delayed_message_arrives_after_later_immediate_ones() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/later", "s", "auto", &[]).await;
    let mut p = connect(&b).await;
    send(
        &mut p,
        "/queue/later",
        "delayed",
        &[("AMQ_SCHEDULED_DELAY", "400"), ("persistent", "true")],
    )
    .await;
    send(&mut p, "/queue/later", "now", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["now", "delayed"]);
}

#[tokio::test]
async fn repeats_deliver_copies_with_the_job_id() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/topic/tick", "s", "auto", &[]).await;
    let mut p = connect(&b).await;
    let headers = [
        ("AMQ_SCHEDULED_DELAY", "50"),
        ("AMQ_SCHEDULED_PERIOD", "50"),
        ("AMQ_SCHEDULED_REPEAT", "2"),
    ];
    send(&mut p, "/topic/tick", "tick", &headers).await;
    let mut ids = Vec::new();
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let m = next(&mut c).await;
        assert_eq!(body(&m), "tick");
        ids.push(m.header("message-id").unwrap().to_string());
        jobs.push(m.header("scheduledJobId").unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "every delivery is a new message");
    jobs.dedup();
    assert_eq!(jobs.len(), 1, "all from one job");
    nothing_arrives(&mut c).await;
}

#[tokio::test]
async fn bad_schedule_headers_are_refused() {
    let b = Baton::start();
    let mut p = connect(&b).await;
    let err = guard(
        "send",
        p.send("/queue/x", "x", &[("AMQ_SCHEDULED_DELAY", "soon")]),
    )
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("AMQ_SCHEDULED_DELAY"), "{err}");
}

#[tokio::test]
async fn a_persistent_schedule_survives_kill_9() {
    let mut b = Baton::start();
    let mut p = connect(&b).await;
    send(
        &mut p,
        "/queue/s",
        "survivor",
        &[("AMQ_SCHEDULED_DELAY", "800"), ("persistent", "true")],
    )
    .await;
    b.kill9();
    drop(p);
    b.restart(&[]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/s", "s", "auto", &[]).await;
    assert_eq!(next_body(&mut c).await, "survivor");
    nothing_arrives(&mut c).await;
}

#[test]
fn the_admin_api_lists_and_cancels_scheduled_messages() {
    let s = setup::start(&[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let login = baton::client::Client::connect_with(&s.b.stomp, setup::OPS_LOGIN);
        let mut p = guard("connect", login).await.expect("login as ops");
        for (body, delay) in [("first", "600000"), ("second", "700000")] {
            let headers = [("AMQ_SCHEDULED_DELAY", delay), ("persistent", "true")];
            send(&mut p, "/queue/cancel", body, &headers).await;
        }
    });
    // REST publish with `delay` schedules too.
    let r = s.ops.post_json(
        "/api/v1/queues/cancel/messages",
        &serde_json::json!({"body": "rest", "delay": 800000}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let jobs = s.ops.get("/api/v1/scheduled").json();
    let jobs = jobs.as_array().expect("list").clone();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert!(jobs.iter().all(|j| j["destination"] == "/queue/cancel"));
    assert!(
        jobs[0]["next"].as_i64() < jobs[1]["next"].as_i64(),
        "soonest first"
    );
    let (first, second) = (
        jobs[0]["id"].as_i64().unwrap(),
        jobs[1]["id"].as_i64().unwrap(),
    );
    let r = s.ops.delete(&format!("/api/v1/scheduled/{first}"));
    assert_eq!(r.status, 204, "{}", r.text());
    s.ops
        .delete(&format!("/api/v1/scheduled/{first}"))
        .expect_error(404);
    s.app.get("/api/v1/scheduled").expect_error(403);
    let left = s.ops.get("/api/v1/scheduled").json();
    assert_eq!(left.as_array().map(Vec::len), Some(2), "{left}");
    assert_eq!(left[0]["id"].as_i64(), Some(second));
}

/// Scheduled on one node, delivered by the other after the first was killed.
#[tokio::test]
async fn a_persistent_schedule_survives_failover_on_postgres() {
    let db = Db::postgres();
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a", "b"]).await;
    let mut p = cluster::connect(&nodes[0]).await;
    let headers = [("AMQ_SCHEDULED_DELAY", "500"), ("persistent", "true")];
    guard("send", p.send("/queue/fo", "after failover", &headers))
        .await
        .expect("send");
    nodes[0].kill9();
    assert_eq!(cluster::wait_master(&nodes).await, 1);
    cluster::expect_exactly(&nodes[1], "/queue/fo", &["after failover".to_string()]).await;
}
