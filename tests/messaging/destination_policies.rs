//! Per-destination policies (`[[broker.policy]]`) against the real binary:
//! redelivery limits and dead-letter strategies per pattern, redelivery
//! delays and exponential backoff, expired messages to the DLQ or dropped,
//! default TTL and TTL ceiling, FIFO without priorities, bad entries, and a
//! failover on PostgreSQL. "Later" is shown by arrival order, never by a
//! wall-clock threshold.

use crate::common;
use crate::common::users as setup;

use baton::client::Client;
use baton::stomp::frame::Frame;
use common::cluster::{self, Db, Settings};
use common::http::Http;
use common::stomp::*;
use common::Baton;
use std::path::PathBuf;

const POLICIES: &str = r#"
[broker]
max_redeliveries = 2

[[broker.policy]]
destination = "/queue/fast.>"
max_redeliveries = 1
dead_letter_strategy = "shared"

[[broker.policy]]
destination = "/queue/slow.>"
max_redeliveries = 3
dlq_prefix = "DEAD."

[[broker.policy]]
destination = "/queue/gone"
max_redeliveries = 0
dead_letter_strategy = "discard"

[[broker.policy]]
destination = "/queue/delayed"
initial_redelivery_delay_ms = 3000

[[broker.policy]]
destination = "/queue/delayed.long"
initial_redelivery_delay_ms = 8000

[[broker.policy]]
destination = "/queue/backoff"
initial_redelivery_delay_ms = 100
use_exponential_backoff = true
backoff_multiplier = 40.0
maximum_redelivery_delay_ms = 60000

[[broker.policy]]
destination = "/topic/news.>"
max_redeliveries = 1

[[broker.policy]]
destination = "/topic/delayed"
initial_redelivery_delay_ms = 3000

[[broker.policy]]
destination = "/queue/exp.dlq"
process_expired = true

[[broker.policy]]
destination = "/topic/exp.t"
process_expired = true

[[broker.policy]]
destination = "/queue/ttl"
default_ttl_ms = 600000
ttl_ceiling_ms = 900000

[[broker.policy]]
destination = "/queue/fifo"
prioritized_messages = false
"#;

/// Writes `text` as a configuration file; keep the directory alive.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baton.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

fn start(text: &str) -> (Baton, tempfile::TempDir) {
    let (dir, path) = config_file(text);
    let b = Baton::start_with(&["--config", path.to_str().expect("utf-8 path")]);
    (b, dir)
}

fn now_ms() -> i64 {
    baton::message::now_ms()
}

/// Sends a persistent `poison` to `dest`, NACKs it `deliveries` times
/// (checking `redelivery-count`), then shows with a marker that it does
/// not come back to `dest`.
async fn nack_until_gone(c: &mut Client, dest: &str, deliveries: u32) -> String {
    subscribe(c, dest, "n", "client-individual", &[]).await;
    persist(c, dest, "poison").await;
    let mut id = String::new();
    for n in 0..deliveries {
        let m = next(c).await;
        assert_eq!(body(&m), "poison", "delivery {n} on {dest}");
        let count = (n > 0).then(|| n.to_string());
        assert_eq!(m.header("redelivery-count"), count.as_deref(), "{dest}");
        id = m.header("message-id").expect("message-id").to_string();
        ack_confirmed(c, &m, true).await;
    }
    send_marker(c, dest).await;
    let m = next(c).await;
    assert_eq!(body(&m), MARKER, "{dest}: no delivery after {deliveries}");
    ack_confirmed(c, &m, false).await;
    request(
        c,
        Frame::new(baton::stomp::frame::Command::Unsubscribe).with_header("id", "n"),
    )
    .await;
    id
}

/// The messages waiting on `dest` (a marker ends them), acknowledged.
async fn drain(c: &mut Client, dest: &str) -> Vec<Frame> {
    subscribe(c, dest, "d", "client-individual", &[]).await;
    send_marker(c, dest).await;
    let mut out = Vec::new();
    loop {
        let m = next(c).await;
        ack_confirmed(c, &m, false).await;
        if body(&m) == MARKER {
            break;
        }
        out.push(m);
    }
    request(
        c,
        Frame::new(baton::stomp::frame::Command::Unsubscribe).with_header("id", "d"),
    )
    .await;
    out
}

fn from(m: &Frame) -> &str {
    m.header("original-destination").unwrap_or("")
}

#[tokio::test]
async fn redelivery_limits_and_dead_letter_strategies_per_pattern() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    let fast_a = nack_until_gone(&mut c, "/queue/fast.a", 2).await;
    let fast_b = nack_until_gone(&mut c, "/queue/fast.b", 2).await;
    let slow = nack_until_gone(&mut c, "/queue/slow.a", 4).await;
    let other = nack_until_gone(&mut c, "/queue/other", 3).await;
    nack_until_gone(&mut c, "/queue/gone", 1).await;

    let shared = drain(&mut c, "/queue/ActiveMQ.DLQ").await;
    let got: Vec<(&str, &str)> = shared
        .iter()
        .map(|m| (from(m), m.header("message-id").unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            ("/queue/fast.a", fast_a.as_str()),
            ("/queue/fast.b", fast_b.as_str())
        ],
        "one shared DLQ for /queue/fast.>"
    );
    assert!(shared[0]
        .header("dlqDeliveryFailureCause")
        .is_some_and(|c| c.contains("max_redeliveries = 1")));
    let dead = drain(&mut c, "/queue/DEAD.slow.a").await;
    assert_eq!(dead.len(), 1, "individual DLQ with the policy's prefix");
    assert_eq!(dead[0].header("message-id"), Some(slow.as_str()));
    assert_eq!(from(&dead[0]), "/queue/slow.a");
    let global = drain(&mut c, "/queue/DLQ.other").await;
    assert_eq!(global.len(), 1, "no policy: broker.max_redeliveries, DLQ.");
    assert_eq!(global[0].header("message-id"), Some(other.as_str()));
    assert!(
        drain(&mut c, "/queue/DLQ.gone").await.is_empty(),
        "discarded"
    );
    assert!(drain(&mut c, "/queue/DLQ.slow.a").await.is_empty());
}

#[tokio::test]
async fn each_durable_subscription_dead_letters_its_own_copy_of_a_topic_message() {
    let (b, _cfg) = start(POLICIES);
    let mut subs = Vec::new();
    for cid in ["c1", "c2"] {
        let id = [("client-id", cid)];
        let connect = Client::connect_with(&b.stomp, &id);
        let mut c = guard("connect", connect).await.expect("connect");
        let h = [("activemq.subscriptionName", "news")];
        subscribe(&mut c, "/topic/news.eu", "s", "client-individual", &h).await;
        subs.push(c);
    }
    let mut p = connect(&b).await;
    persist(&mut p, "/topic/news.eu", "poison").await;
    for c in &mut subs {
        for _ in 0..2 {
            let m = next(c).await;
            assert_eq!(body(&m), "poison");
            ack_confirmed(c, &m, true).await;
        }
    }
    let dead = drain(&mut p, "/queue/DLQ.news.eu").await;
    assert_eq!(dead.len(), 2, "one dead letter per durable subscription");
    assert!(dead.iter().all(|m| from(m) == "/topic/news.eu"));
    assert_ne!(dead[0].header("message-id"), dead[1].header("message-id"));
    // The store took both: a persistent send still commits.
    persist(&mut p, "/queue/after", "still storing").await;
}

#[tokio::test]
async fn a_redelivery_delay_lets_later_messages_pass() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    for dest in ["/queue/delayed", "/queue/other"] {
        subscribe(&mut c, dest, dest, "client-individual", &[]).await;
        persist(&mut c, dest, "first").await;
        let m = next(&mut c).await;
        ack_confirmed(&mut c, &m, true).await;
        persist(&mut c, dest, "second").await;
        let got = next(&mut c).await;
        let again = next(&mut c).await;
        let order = [body(&got), body(&again)];
        if dest == "/queue/delayed" {
            // Without the delay the NACKed message (older id, same
            // priority) would be the next one out.
            assert_eq!(order, ["second", "first"], "{dest}");
            assert_eq!(again.header("redelivery-count"), Some("1"));
        } else {
            assert_eq!(order, ["first", "second"], "{dest}: immediate redelivery");
        }
        ack_confirmed(&mut c, &got, false).await;
        ack_confirmed(&mut c, &again, false).await;
    }
}

/// Topic subscriptions too (the delay is held in memory there).
#[tokio::test]
async fn a_topic_subscriber_gets_its_failed_message_after_the_delay() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    let mut p = connect(&b).await;
    for dest in ["/topic/delayed", "/topic/plain"] {
        subscribe(&mut c, dest, dest, "client-individual", &[]).await;
        send(&mut p, dest, "first", &[]).await;
        let m = next(&mut c).await;
        ack_confirmed(&mut c, &m, true).await;
        send(&mut p, dest, "second", &[]).await;
        let got = next(&mut c).await;
        let again = next(&mut c).await;
        let order = [body(&got), body(&again)];
        if dest == "/topic/delayed" {
            assert_eq!(order, ["second", "first"], "{dest}");
            assert_eq!(again.header("redelivered"), Some("true"));
        } else {
            assert_eq!(order, ["first", "second"], "{dest}: immediate redelivery");
        }
        ack_confirmed(&mut c, &got, false).await;
        ack_confirmed(&mut c, &again, false).await;
    }
}

/// A durable subscriber that leaves while its failed message waits out the
/// delay gets that message first when it returns, stored row intact.
#[tokio::test]
async fn a_durable_subscriber_leaving_during_the_delay_gets_the_message_back() {
    let (b, _cfg) = start(POLICIES);
    let id = [("client-id", "late")];
    let h = [("activemq.subscriptionName", "d")];
    let mut c = guard("connect", Client::connect_with(&b.stomp, &id))
        .await
        .expect("connect");
    subscribe(&mut c, "/topic/delayed", "s", "client-individual", &h).await;
    let mut p = connect(&b).await;
    persist(&mut p, "/topic/delayed", "held").await;
    let m = next(&mut c).await;
    ack_confirmed(&mut c, &m, true).await;
    nothing_arrives(&mut c).await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");

    let mut c = guard("connect", Client::connect_with(&b.stomp, &id))
        .await
        .expect("connect");
    subscribe(&mut c, "/topic/delayed", "s", "client-individual", &h).await;
    let again = next(&mut c).await;
    assert_eq!(body(&again), "held");
    assert_eq!(again.header("redelivered"), Some("true"));
    ack_confirmed(&mut c, &again, false).await;
    nothing_arrives(&mut c).await;
}

#[tokio::test]
async fn a_purge_also_removes_messages_waiting_for_their_redelivery_delay() {
    let (b, _cfg) = start(POLICIES);
    let lines = b.logs.lock().unwrap().clone();
    let password = setup::generated_password(&lines).expect("generated password");
    let admin = Http::basic(&b.admin, "admin", &password);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/delayed", "s", "client-individual", &[]).await;
    persist(&mut c, "/queue/delayed", "held").await;
    let m = next(&mut c).await;
    ack_confirmed(&mut c, &m, true).await;
    assert_eq!(counter(&b, "destination_stored", "/queue/delayed"), 1);
    let r = admin.post("/api/v1/queues/delayed/purge", "text/plain", b"");
    assert_eq!(r.json()["purged"], 1, "{}", r.text());
    assert_eq!(counter(&b, "destination_stored", "/queue/delayed"), 0);
}

#[tokio::test]
async fn exponential_backoff_makes_later_redeliveries_wait_longer() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/backoff", "s", "client-individual", &[]).await;
    persist(&mut c, "/queue/backoff", "A").await;
    let a = next(&mut c).await;
    ack_confirmed(&mut c, &a, true).await;
    let a = next(&mut c).await;
    assert_eq!(
        (body(&a).as_str(), a.header("redelivery-count")),
        ("A", Some("1"))
    );
    // A's second redelivery waits 100 ms x 40; B's first only 100 ms.
    ack_confirmed(&mut c, &a, true).await;
    persist(&mut c, "/queue/backoff", "B").await;
    let bm = next(&mut c).await;
    assert_eq!(body(&bm), "B");
    ack_confirmed(&mut c, &bm, true).await;
    let first = next(&mut c).await;
    let second = next(&mut c).await;
    let got: Vec<(String, Option<&str>)> = [&first, &second]
        .iter()
        .map(|m| (body(m), m.header("redelivery-count")))
        .collect();
    assert_eq!(
        got,
        [("B".to_string(), Some("1")), ("A".to_string(), Some("2"))]
    );
}

/// The value of a per-destination counter on `/metrics`.
fn counter(b: &Baton, name: &str, dest: &str) -> u64 {
    let (_, text) = b.http_get("/metrics");
    let label = format!("destination=\"{dest}\"");
    text.lines()
        .find(|l| l.contains(name) && l.contains(&label) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A stored topic message that expires in a durable subscription's backlog
/// goes to the DLQ (process_expired) and releases its row; the subscription
/// moves on.
#[tokio::test]
async fn an_expired_message_of_a_durable_subscription_is_dead_lettered_and_released() {
    let (b, _cfg) = start(POLICIES);
    let id = [("client-id", "exp")];
    let h = [("activemq.subscriptionName", "d")];
    let mut c = guard("connect", Client::connect_with(&b.stomp, &id))
        .await
        .expect("connect");
    subscribe(&mut c, "/topic/exp.t", "s", "client-individual", &h).await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");

    let mut p = connect(&b).await;
    let soon = (now_ms() + 300).to_string();
    let short = [("persistent", "true"), ("expires", soon.as_str())];
    send(&mut p, "/topic/exp.t", "old", &short).await;
    persist(&mut p, "/topic/exp.t", "fresh").await;
    // Precondition, not a measurement: let "old" expire while away.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let mut c = guard("connect", Client::connect_with(&b.stomp, &id))
        .await
        .expect("connect");
    subscribe(&mut c, "/topic/exp.t", "s", "client-individual", &h).await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), "fresh");
    ack_confirmed(&mut c, &m, false).await;
    nothing_arrives(&mut c).await;

    let dead = drain(&mut p, "/queue/DLQ.exp.t").await;
    assert_eq!(dead.iter().map(body).collect::<Vec<_>>(), ["old"]);
    assert_eq!(
        dead[0].header("dlqDeliveryFailureCause"),
        Some("message expired")
    );
    assert_eq!(counter(&b, "destination_expired", "/topic/exp.t"), 1);
    guard("both topic rows released", async {
        while counter(&b, "destination_stored", "/topic/exp.t") != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn expired_messages_go_to_the_dlq_or_are_dropped_per_policy() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    let expires = (now_ms() + 300).to_string();
    for dest in ["/queue/exp.drop", "/queue/exp.dlq"] {
        let h = [("persistent", "true"), ("expires", expires.as_str())];
        send(&mut c, dest, "short-lived", &h).await;
    }
    // Both queues are swept together; the DLQ copy shows the sweep ran.
    subscribe(
        &mut c,
        "/queue/DLQ.exp.dlq",
        "dlq",
        "client-individual",
        &[],
    )
    .await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "short-lived");
    assert_eq!(from(&d), "/queue/exp.dlq");
    assert_eq!(d.header("dlqDeliveryFailureCause"), Some("message expired"));
    assert_eq!(d.header("originalExpiration"), Some(expires.as_str()));
    assert_eq!(d.header("expires"), None, "a dead letter does not expire");
    ack_confirmed(&mut c, &d, false).await;
    assert!(drain(&mut c, "/queue/exp.drop").await.is_empty());
    assert!(drain(&mut c, "/queue/DLQ.exp.drop").await.is_empty());
    assert!(drain(&mut c, "/queue/exp.dlq").await.is_empty());
    assert_eq!(counter(&b, "destination_expired", "/queue/exp.dlq"), 1);
    assert_eq!(
        counter(&b, "destination_dead_lettered", "/queue/exp.dlq"),
        1
    );
    assert_eq!(counter(&b, "destination_expired", "/queue/exp.drop"), 1);
    assert_eq!(
        counter(&b, "destination_dead_lettered", "/queue/exp.drop"),
        0
    );
}

#[tokio::test]
async fn default_ttl_and_ttl_ceiling_stamp_expires() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/ttl", "s", "auto", &[]).await;
    let far = (now_ms() + 10 * 86_400_000).to_string();
    let before = now_ms();
    send(&mut c, "/queue/ttl", "no expiry", &[]).await;
    send(&mut c, "/queue/ttl", "far", &[("expires", far.as_str())]).await;
    let after = now_ms();
    let stamped = |m: &Frame| -> i64 {
        m.header("expires")
            .and_then(|e| e.parse().ok())
            .unwrap_or_else(|| panic!("no expires header: {:?}", m.headers))
    };
    let m = next(&mut c).await;
    assert!((before + 600_000..=after + 600_000).contains(&stamped(&m)));
    let m = next(&mut c).await;
    assert!((before + 900_000..=after + 900_000).contains(&stamped(&m)));
    subscribe(&mut c, "/queue/other", "o", "auto", &[]).await;
    send(&mut c, "/queue/other", "untouched", &[]).await;
    assert_eq!(next(&mut c).await.header("expires"), None);
}

#[tokio::test]
async fn prioritized_messages_false_means_fifo() {
    let (b, _cfg) = start(POLICIES);
    let mut c = connect(&b).await;
    for dest in ["/queue/fifo", "/queue/other"] {
        send(&mut c, dest, "low", &[("priority", "1")]).await;
        send(&mut c, dest, "high", &[("priority", "9")]).await;
    }
    subscribe(&mut c, "/queue/fifo", "f", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["low", "high"]);
    subscribe(&mut c, "/queue/other", "o", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["high", "low"]);
}

/// `baton check-config` on a file: exit code 2 and stderr.
fn rejected(text: &str) -> String {
    let (_dir, path) = config_file(text);
    let out = std::process::Command::new(common::BIN)
        .args(["check-config", "--config", path.to_str().expect("path")])
        .env_clear()
        .output()
        .expect("run baton");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    stderr
}

#[test]
fn bad_policies_are_rejected_naming_the_entry_and_key() {
    let cases = [
        (
            "[[broker.policy]]\ndestination = \">\"\n[[broker.policy]]\ndestination = \"/queue/a\"\nbackoff_multiplier = 0.5",
            "broker.policy[1].backoff_multiplier",
        ),
        (
            "[[broker.policy]]\ndestination = \"/queue/a.>.b\"",
            "broker.policy[0].destination",
        ),
        (
            "[[broker.policy]]\ndestination = \">\"\ndead_letter_queue = \"X\"",
            "broker.policy[0].dead_letter_queue",
        ),
        (
            "[[broker.policy]]\ndestination = \">\"\ndead_letter_strategy = \"shared\"\ndead_letter_queue = \"a>\"",
            "broker.policy[0].dead_letter_queue",
        ),
        (
            "[[broker.policy]]\ndestination = \">\"\ndefault_ttl_ms = 5000\nttl_ceiling_ms = 1000",
            "broker.policy[0].default_ttl_ms",
        ),
        (
            "[[broker.policy]]\ndestination = \">\"\nmax_redelivery = 3",
            "max_redelivery",
        ),
        (
            "[[broker.policy]]\ndestination = \">\"\ndead_letter_strategy = \"bin\"",
            "broker.policy[0].dead_letter_strategy",
        ),
    ];
    for (text, key) in cases {
        let stderr = rejected(text);
        assert!(stderr.contains(key), "expected {key} in: {stderr}");
    }
}

#[tokio::test]
async fn dead_letters_and_delayed_redeliveries_survive_failover_on_postgres() {
    let (_dir, path) = config_file(POLICIES);
    let db = Db::postgres();
    let mut settings = Settings::fast(None);
    settings.extra = vec!["--config".into(), path.display().to_string()];
    let mut nodes = cluster::start_cluster(&db, &settings, &["a", "b"]).await;
    let mut c = cluster::connect(&nodes[0]).await;
    // Dead-lettered into the shared DLQ on the first master.
    nack_until_gone(&mut c, "/queue/fast.x", 2).await;
    // Expired into DLQ.exp.dlq: its expiry is cleared in the store too.
    let expires = (now_ms() + 200).to_string();
    let h = [("persistent", "true"), ("expires", expires.as_str())];
    send(&mut c, "/queue/exp.dlq", "expired", &h).await;
    subscribe(&mut c, "/queue/DLQ.exp.dlq", "e", "client-individual", &[]).await;
    assert_eq!(next_body(&mut c).await, "expired");
    // NACKed once: waiting 8 s for its redelivery when the master dies.
    subscribe(&mut c, "/queue/delayed.long", "w", "client-individual", &[]).await;
    persist(&mut c, "/queue/delayed.long", "waiting").await;
    let m = next(&mut c).await;
    ack_confirmed(&mut c, &m, true).await;
    nodes[0].kill9();
    drop(c);
    assert_eq!(cluster::wait_master(&nodes).await, 1);

    let mut c = cluster::connect(&nodes[1]).await;
    // The stored due time holds it back on the new master too: a message
    // sent now passes it.
    subscribe(&mut c, "/queue/delayed.long", "w", "client-individual", &[]).await;
    persist(&mut c, "/queue/delayed.long", "later").await;
    let later = next(&mut c).await;
    assert_eq!(body(&later), "later");
    let m = next(&mut c).await;
    assert_eq!(body(&m), "waiting");
    assert_eq!(m.header("redelivery-count"), Some("1"), "count survived");
    ack_confirmed(&mut c, &later, false).await;
    ack_confirmed(&mut c, &m, false).await;
    let shared = drain(&mut c, "/queue/ActiveMQ.DLQ").await;
    assert_eq!(shared.len(), 1, "the shared DLQ after failover");
    assert_eq!(body(&shared[0]), "poison");
    assert_eq!(from(&shared[0]), "/queue/fast.x");
    assert!(shared[0].header("dlqDeliveryFailureCause").is_some());
    let exp = drain(&mut c, "/queue/DLQ.exp.dlq").await;
    assert_eq!(exp.len(), 1, "the expired message is still a dead letter");
    assert_eq!(exp[0].header("originalExpiration"), Some(expires.as_str()));
    assert!(drain(&mut c, "/queue/fast.x").await.is_empty());
}
