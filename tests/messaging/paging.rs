//! Paging of deep queues (docs/messaging.md, "Paging") on the real binary, on each
//! backend: with a 20-message window, 500 persistent messages are counted
//! in the depth while most of them stay in the database (a message beyond
//! the window cannot be managed one by one); a consumer gets the first 100
//! in order; after a kill -9 the restarted node pages in the other 400, in
//! order, exactly once each, and the table ends empty.

use crate::common;

use baton::stomp::frame::{Command, Frame};
use common::cluster::{
    connect, expect_exactly, guard, send_persistent, wait_master, Db, Node, Settings,
};
use common::http::Http;

const QUEUE: &str = "/queue/deep";
const SENT: usize = 500;
const CONSUMED_FIRST: usize = 100;

fn settings() -> Settings {
    let mut s = Settings::fast(None);
    s.extra = vec!["--broker-queue-window".into(), "20".into()];
    s
}

/// `baton_destination_depth` of the queue, from `/metrics`.
fn depth(n: &Node) -> u64 {
    let (status, text) = common::cluster::http_get(&n.admin, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.starts_with("baton_destination_depth{") && l.contains(QUEUE))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The admin client with the password the node generated and logged.
fn admin(n: &Node) -> Http {
    let password = n
        .lines()
        .iter()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["fields"]["password"].as_str().map(str::to_string)
        })
        .expect("the generated admin password in the log");
    Http::basic(&n.admin, "admin", &password)
}

async fn deep_queue_is_paged_in_order(db: Db) {
    let mut node = Node::start("a", &db.url(), &settings());
    wait_master(std::slice::from_ref(&node)).await;
    let bodies: Vec<String> = (0..SENT).map(|i| format!("m{i:04}")).collect();
    let mut p = connect(&node).await;
    for b in &bodies {
        send_persistent(&mut p, QUEUE, b).await;
    }
    assert_eq!(
        depth(&node),
        SENT as u64,
        "the depth counts stored messages"
    );

    // The newest message is beyond the window: in the database only.
    let listed = admin(&node)
        .get("/api/v1/queues/deep/messages?limit=500")
        .json();
    let listed = listed["messages"].as_array().expect("the stored messages");
    assert_eq!(listed.len(), SENT, "the admin API browses the database");
    let newest = listed[SENT - 1]["id"].as_i64().expect("an id");
    let r = admin(&node).delete(&format!("/api/v1/queues/deep/messages/{newest}"));
    let text = r.expect_error(409);
    assert!(text.contains("broker.queue_window"), "{text}");
    let r = admin(&node).post_json(
        &format!("/api/v1/queues/deep/messages/{newest}/copy"),
        &serde_json::json!({"to": "elsewhere"}),
    );
    r.expect_error(409);

    let mut c = connect(&node).await;
    guard(
        "subscribe",
        c.subscribe(QUEUE, "s", "client-individual", &[]),
    )
    .await
    .expect("subscribe");
    for expected in &bodies[..CONSUMED_FIRST] {
        let f = guard("MESSAGE", c.next_message()).await.expect("a message");
        assert_eq!(&String::from_utf8_lossy(&f.body), expected);
        let id = f.header("ack").expect("ack header").to_string();
        guard(
            "ack",
            c.request(Frame::new(Command::Ack).with_header("id", id)),
        )
        .await
        .expect("ack confirmed");
    }

    node.kill9();
    drop((p, c));
    node.restart();
    wait_master(std::slice::from_ref(&node)).await;
    assert_eq!(depth(&node), (SENT - CONSUMED_FIRST) as u64);
    expect_exactly(&node, QUEUE, &bodies[CONSUMED_FIRST..]).await;
    assert!(db.stored_bodies().await.is_empty(), "every row deleted");
}

#[tokio::test]
async fn sqlite_deep_queue_is_paged_in_order_across_kill9() {
    deep_queue_is_paged_in_order(Db::sqlite()).await;
}

#[tokio::test]
async fn postgres_deep_queue_is_paged_in_order_across_kill9() {
    deep_queue_is_paged_in_order(Db::postgres()).await;
}

#[tokio::test]
async fn mariadb_deep_queue_is_paged_in_order_across_kill9() {
    deep_queue_is_paged_in_order(Db::mariadb()).await;
}
