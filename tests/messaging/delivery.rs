//! Messaging semantics of the real `baton` binary, spoken to over STOMP:
//! queues, topics, persistence across restarts, redelivery and
//! dead-lettering, expiry and transactions.
//!
//! To show that nothing else is waiting for a consumer without sleeping, a
//! test sends a priority-0 marker: anything still queued for the consumer
//! sorts before it, so the marker must be the next message.

use crate::common;

use baton::client::Client;
use baton::stomp::frame::{Command, Frame};
use common::stomp::*;
use common::Baton;
use std::time::Duration;

fn now_ms() -> i64 {
    baton::message::now_ms()
}

/// (destination, body) of every message in the broker's SQLite file.
/// Call while the broker is stopped.
async fn stored(b: &Baton) -> Vec<(String, String)> {
    use sqlx::Connection;
    let url = format!("sqlite:{}/baton.db", b.data.display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the file");
    let prefix = baton::config::DatabaseConfig::default().table_prefix;
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(&format!(
        "SELECT destination, body FROM {prefix}msgs ORDER BY id"
    ))
    .fetch_all(&mut db)
    .await
    .expect("read msgs");
    rows.into_iter()
        .map(|(destination, body)| (destination, String::from_utf8_lossy(&body).into_owned()))
        .collect()
}

fn terminate_ok(b: &mut Baton) {
    let status = b.terminate();
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

// ---------------------------------------------------------------- queues

#[tokio::test]
async fn message_frames_carry_protocol_and_user_headers() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/h", "sub-1", "client-individual", &[]).await;
    subscribe(&mut c, "/queue/auto", "sub-2", "auto", &[]).await;
    let before = now_ms();
    send(
        &mut c,
        "/queue/h",
        "hello",
        &[("x-color", "blue"), ("content-type", "text/plain")],
    )
    .await;
    let confirmed = now_ms();
    let m = next(&mut c).await;
    let stamped: i64 = m
        .header("timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a timestamp, the time the broker got the SEND: {m:?}"));
    assert!(
        (before..=confirmed).contains(&stamped),
        "timestamp {stamped} between the SEND ({before}) and its RECEIPT ({confirmed})"
    );
    assert_eq!(body(&m), "hello");
    assert_eq!(m.header("destination"), Some("/queue/h"));
    assert_eq!(m.header("subscription"), Some("sub-1"));
    let id = m.header("message-id").expect("message-id");
    assert!(!id.is_empty());
    assert_eq!(m.header("ack"), Some(format!("{id}:sub-1").as_str()));
    assert_eq!(m.header("x-color"), Some("blue"));
    assert_eq!(m.header("content-type"), Some("text/plain"));
    assert_eq!(m.header("redelivered"), None);
    assert_eq!(m.header("redelivery-count"), None);

    send(&mut c, "/queue/auto", "auto", &[("timestamp", "1234")]).await;
    let a = next(&mut c).await;
    assert_eq!(a.header("timestamp"), Some("1234"), "a sender's own kept");
    assert_eq!(a.header("subscription"), Some("sub-2"));
    assert_eq!(a.header("ack"), None, "auto subscriptions carry no ack id");
    assert_ne!(a.header("message-id"), Some(id), "message ids are unique");
}

#[tokio::test]
async fn competing_consumers_share_a_queue_round_robin() {
    let b = Baton::start();
    let mut c1 = connect(&b).await;
    let mut c2 = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c1, "/queue/work", "s", "auto", &[]).await;
    subscribe(&mut c2, "/queue/work", "s", "auto", &[]).await;
    for i in 0..6 {
        send(&mut p, "/queue/work", &format!("m{i}"), &[]).await;
    }
    let got1 = bodies(&mut c1, 3).await;
    let got2 = bodies(&mut c2, 3).await;
    let evens = ["m0", "m2", "m4"];
    let odds = ["m1", "m3", "m5"];
    assert!(
        (got1 == evens && got2 == odds) || (got1 == odds && got2 == evens),
        "not round robin: {got1:?} / {got2:?}"
    );
}

#[tokio::test]
async fn prefetch_limits_unacked_messages_per_subscription() {
    let b = Baton::start();
    let mut slow = connect(&b).await;
    let mut fast = connect(&b).await;
    let mut p = connect(&b).await;
    let prefetch = [("activemq.prefetchSize", "1")];
    subscribe(&mut slow, "/queue/pf", "s", "client-individual", &prefetch).await;
    subscribe(&mut fast, "/queue/pf", "f", "client-individual", &[]).await;
    for i in 0..5 {
        send(&mut p, "/queue/pf", &format!("m{i}"), &[]).await;
    }
    // The slow consumer holds one unacked message; the rest go to the
    // other consumer.
    assert_eq!(
        bodies(&mut fast, 4).await,
        ["m1", "m2", "m3", "m4"],
        "the consumer with free prefetch gets the rest, in order"
    );
    let held = next(&mut slow).await;
    assert_eq!(body(&held), "m0");
    nothing_arrives(&mut slow).await;

    // Once it acknowledges, it has room again.
    ack_confirmed(&mut slow, &held, false).await;
    send(&mut p, "/queue/pf", "m5", &[]).await;
    assert_eq!(next_body(&mut slow).await, "m5");
}

#[tokio::test]
async fn queue_is_fifo_within_a_priority_also_for_pipelined_mixed_sends() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c, "/queue/fifo", "s", "auto", &[]).await;
    // Pipelined (no receipts), alternating persistent and non-persistent:
    // the non-persistent ones must not overtake the persistent ones that
    // wait for their commit.
    for i in 0..20 {
        let mut f = Frame::new(Command::Send)
            .with_header("destination", "/queue/fifo")
            .with_header("content-length", format!("m{i}").len().to_string());
        if i % 2 == 0 {
            f.push_header("persistent", "true");
        }
        guard("send", p.send_frame(f.with_body(format!("m{i}"))))
            .await
            .expect("send");
    }
    send(&mut p, "/queue/fifo", "m20", &[]).await;
    let want: Vec<String> = (0..=20).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies(&mut c, 21).await, want);
}

#[tokio::test]
async fn higher_priority_is_delivered_first() {
    let b = Baton::start();
    let mut p = connect(&b).await;
    let sends: [(&str, Option<&str>, bool); 8] = [
        ("a1", Some("4"), false),
        ("b1", Some("9"), true),
        ("c1", Some("0"), false),
        ("a2", None, true),
        ("b2", Some("9"), false),
        ("c2", Some("0"), true),
        ("a3", Some("4"), false),
        ("d1", Some("5"), false),
    ];
    for (name, prio, persistent) in sends {
        let mut h = Vec::new();
        if let Some(prio) = prio {
            h.push(("priority", prio));
        }
        if persistent {
            h.push(("persistent", "true"));
        }
        send(&mut p, "/queue/prio", name, &h).await;
    }
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/prio", "s", "auto", &[]).await;
    assert_eq!(
        bodies(&mut c, 8).await,
        ["b1", "b2", "d1", "a1", "a2", "a3", "c1", "c2"],
        "priority 9, 5, 4 (default), 0; FIFO within each"
    );
}

// ---------------------------------------------------------------- topics

#[tokio::test]
async fn topic_fans_out_every_message_to_every_subscriber() {
    let b = Baton::start();
    let mut s1 = connect(&b).await;
    let mut s2 = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut s1, "/topic/news", "a", "auto", &[]).await;
    subscribe(&mut s2, "/topic/news", "b", "client-individual", &[]).await;
    for i in 0..5 {
        send(&mut p, "/topic/news", &format!("n{i}"), &[]).await;
    }
    let want: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
    let got1 = bodies(&mut s1, 5).await;
    assert_eq!(got1, want);
    let mut got2 = Vec::new();
    for _ in 0..5 {
        let m = next(&mut s2).await;
        assert_eq!(m.header("destination"), Some("/topic/news"));
        assert_eq!(m.header("subscription"), Some("b"));
        got2.push(body(&m));
        ack_confirmed(&mut s2, &m, false).await;
    }
    assert_eq!(got2, want);
}

#[tokio::test]
async fn late_topic_subscriber_misses_earlier_messages() {
    let b = Baton::start();
    let mut early = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut early, "/topic/t", "e", "auto", &[]).await;
    send(&mut p, "/topic/t", "before-1", &[]).await;
    send(&mut p, "/topic/t", "before-2", &[("persistent", "true")]).await;
    assert_eq!(bodies(&mut early, 2).await, ["before-1", "before-2"]);

    let mut late = connect(&b).await;
    subscribe(&mut late, "/topic/t", "l", "auto", &[]).await;
    send(&mut p, "/topic/t", "after", &[]).await;
    assert_eq!(next_body(&mut late).await, "after");
    assert_eq!(next_body(&mut early).await, "after");
}

// ----------------------------------------------------------- persistence

/// Sends persistent and non-persistent messages (all confirmed), stops the
/// broker with `stop`, restarts it and checks that exactly the persistent
/// ones come back.
async fn survivors_of(stop: impl FnOnce(&mut Baton)) {
    let mut b = Baton::start();
    let mut p = connect(&b).await;
    persist(&mut p, "/queue/p", "P1").await;
    send(&mut p, "/queue/p", "N1", &[]).await;
    persist(&mut p, "/queue/p", "P2").await;
    send(&mut p, "/queue/p", "N2", &[("persistent", "false")]).await;
    persist(&mut p, "/queue/p", "P3").await;
    stop(&mut b);
    drop(p);
    b.restart(&[]);

    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/p", "s", "client-individual", &[]).await;
    for want in ["P1", "P2", "P3"] {
        let m = next(&mut c).await;
        assert_eq!(body(&m), want);
        assert_eq!(
            m.header("redelivered"),
            Some("true"),
            "recovered messages are marked redelivered"
        );
        ack_confirmed(&mut c, &m, false).await;
    }
    send_marker(&mut c, "/queue/p").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn graceful_restart_keeps_confirmed_persistent_messages_only() {
    survivors_of(terminate_ok).await;
}

#[tokio::test]
async fn kill_9_keeps_confirmed_persistent_messages_only() {
    survivors_of(|b| b.kill9()).await;
}

#[tokio::test]
async fn unacked_persistent_messages_come_back_after_restart_acked_ones_do_not() {
    let mut b = Baton::start();
    let mut c = connect(&b).await;
    for i in 1..=4 {
        persist(&mut c, "/queue/u", &format!("P{i}")).await;
    }
    subscribe(&mut c, "/queue/u", "s", "client-individual", &[]).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = next(&mut c).await;
        assert_eq!(m.header("redelivered"), None, "first delivery");
        got.push(m);
    }
    let names: Vec<String> = got.iter().map(body).collect();
    assert_eq!(names, ["P1", "P2", "P3", "P4"]);
    ack_confirmed(&mut c, &got[0], false).await;
    ack_confirmed(&mut c, &got[2], false).await;
    terminate_ok(&mut b);
    drop(c);
    b.restart(&[]);

    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/u", "s", "client-individual", &[]).await;
    for want in ["P2", "P4"] {
        let m = next(&mut c).await;
        assert_eq!(body(&m), want);
        assert_eq!(m.header("redelivered"), Some("true"));
    }
    send_marker(&mut c, "/queue/u").await;
    expect_marker(&mut c).await;
}

// ------------------------------------------------------------ redelivery

#[tokio::test]
async fn nack_redelivers_with_increasing_redelivery_count() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/n", "s", "client-individual", &[]).await;
    send(&mut c, "/queue/n", "again", &[("x-k", "v")]).await;
    let first = next(&mut c).await;
    assert_eq!(first.header("redelivered"), None);
    assert_eq!(first.header("redelivery-count"), None);
    ack_confirmed(&mut c, &first, true).await;
    for n in 1..=3 {
        let m = next(&mut c).await;
        assert_eq!(body(&m), "again");
        assert_eq!(m.header("redelivered"), Some("true"));
        assert_eq!(m.header("redelivery-count"), Some(n.to_string().as_str()));
        assert_eq!(m.header("x-k"), Some("v"), "user headers survive");
        assert_eq!(m.header("message-id"), first.header("message-id"));
        // NACK again, except the last time.
        ack_confirmed(&mut c, &m, n < 3).await;
    }
    send_marker(&mut c, "/queue/n").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn lost_connection_redelivers_unacked_messages_to_another_consumer() {
    let b = Baton::start();
    let mut c1 = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c1, "/queue/d", "s1", "client", &[]).await;
    for i in 0..3 {
        send(&mut p, "/queue/d", &format!("m{i}"), &[]).await;
    }
    assert_eq!(bodies(&mut c1, 3).await, ["m0", "m1", "m2"]);
    let mut c2 = connect(&b).await;
    subscribe(&mut c2, "/queue/d", "s2", "client-individual", &[]).await;
    drop(c1); // connection lost, nothing acknowledged
    for i in 0..3 {
        let m = next(&mut c2).await;
        assert_eq!(body(&m), format!("m{i}"));
        assert_eq!(m.header("redelivered"), Some("true"));
        assert_eq!(m.header("redelivery-count"), Some("1"));
        assert_eq!(m.header("subscription"), Some("s2"));
        ack_confirmed(&mut c2, &m, false).await;
    }
    send_marker(&mut p, "/queue/d").await;
    expect_marker(&mut c2).await;
}

/// A consumer in `ack` mode gets m0, m1, m2, acknowledges m1 (if the mode
/// has acknowledgements) and loses its connection; returns what a second
/// consumer then gets.
async fn left_after_acking_the_second(ack: &str) -> Vec<String> {
    let b = Baton::start();
    let mut c1 = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c1, "/queue/a", "s1", ack, &[]).await;
    for i in 0..3 {
        persist(&mut p, "/queue/a", &format!("m{i}")).await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut c1).await);
    }
    if ack != "auto" {
        ack_confirmed(&mut c1, &got[1], false).await;
    }
    // c1 also holds an unacked message of /queue/sync: once c2 gets it,
    // the broker has processed c1's disconnect (all its subscriptions go
    // at once).
    subscribe(&mut c1, "/queue/sync", "sync", "client-individual", &[]).await;
    send(&mut p, "/queue/sync", "sync", &[]).await;
    assert_eq!(next_body(&mut c1).await, "sync");
    let mut c2 = connect(&b).await;
    subscribe(&mut c2, "/queue/a", "s2", "auto", &[]).await;
    subscribe(&mut c2, "/queue/sync", "sync", "auto", &[]).await;
    drop(c1);
    let mut left = Vec::new();
    let mut marker_sent = false;
    loop {
        let m = next(&mut c2).await;
        match (m.header("subscription"), body(&m).as_str()) {
            (Some("sync"), _) => {
                send_marker(&mut p, "/queue/a").await;
                marker_sent = true;
            }
            (_, MARKER) => {
                assert!(marker_sent);
                return left;
            }
            (_, other) => left.push(other.to_string()),
        }
    }
}

#[tokio::test]
async fn client_ack_is_cumulative() {
    assert_eq!(left_after_acking_the_second("client").await, ["m2"]);
}

#[tokio::test]
async fn client_individual_ack_covers_one_message() {
    assert_eq!(
        left_after_acking_the_second("client-individual").await,
        ["m0", "m2"]
    );
}

#[tokio::test]
async fn auto_ack_consumes_once_written() {
    assert!(left_after_acking_the_second("auto").await.is_empty());
}

/// Delivers one message on /queue/orders and NACKs it until it is
/// dead-lettered (max redeliveries 2: deliveries 0, 1, 2 fail).
async fn nack_until_dead(c: &mut Client, persistent: bool) -> String {
    nack_until_dead_max(c, persistent, 2).await
}

async fn nack_until_dead_max(c: &mut Client, persistent: bool, max: u32) -> String {
    subscribe(c, "/queue/orders", "o", "client-individual", &[]).await;
    let p = if persistent { "true" } else { "false" };
    send(
        c,
        "/queue/orders",
        "poison",
        &[("persistent", p), ("x-order", "7")],
    )
    .await;
    let mut id = String::new();
    for n in 0..=max {
        let m = next(c).await;
        assert_eq!(body(&m), "poison");
        let count = (n > 0).then(|| n.to_string());
        assert_eq!(m.header("redelivery-count"), count.as_deref());
        id = m.header("message-id").expect("message-id").to_string();
        ack_confirmed(c, &m, true).await;
    }
    id
}

fn assert_dead_lettered(m: &Frame) {
    assert_eq!(body(m), "poison");
    assert_eq!(m.header("destination"), Some("/queue/DLQ.orders"));
    assert_eq!(m.header("original-destination"), Some("/queue/orders"));
    let cause = m
        .header("dlqDeliveryFailureCause")
        .expect("dlqDeliveryFailureCause");
    assert!(!cause.is_empty());
    assert_eq!(m.header("x-order"), Some("7"), "user headers survive");
}

#[tokio::test]
async fn message_goes_to_dlq_after_max_redeliveries() {
    let b = Baton::start_with(&["--broker-max-redeliveries", "2"]);
    let mut c = connect(&b).await;
    let id = nack_until_dead(&mut c, false).await;
    // No fourth delivery on the original queue...
    send_marker(&mut c, "/queue/orders").await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), MARKER);
    assert_eq!(m.header("subscription"), Some("o"));
    // ...it waits in the dead-letter queue.
    subscribe(&mut c, "/queue/DLQ.orders", "dlq", "auto", &[]).await;
    let d = next(&mut c).await;
    assert_eq!(d.header("subscription"), Some("dlq"));
    assert_eq!(d.header("message-id"), Some(id.as_str()));
    assert_dead_lettered(&d);
}

#[tokio::test]
async fn default_max_redeliveries_is_6() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    nack_until_dead_max(&mut c, false, 6).await;
    subscribe(&mut c, "/queue/DLQ.orders", "dlq", "auto", &[]).await;
    let d = next(&mut c).await;
    assert_eq!(d.header("subscription"), Some("dlq"), "a 7th delivery");
    assert_dead_lettered(&d);
}

#[tokio::test]
async fn persistent_dead_lettered_message_survives_restart_in_the_dlq() {
    let mut b = Baton::start_with(&["--broker-max-redeliveries", "2"]);
    let mut c = connect(&b).await;
    nack_until_dead(&mut c, true).await;
    terminate_ok(&mut b);
    drop(c);
    assert_eq!(
        stored(&b).await,
        [("/queue/DLQ.orders".to_string(), "poison".to_string())],
        "the stored message was moved to the DLQ"
    );
    b.restart(&["--broker-max-redeliveries", "2"]);

    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/orders", "o", "client-individual", &[]).await;
    send_marker(&mut c, "/queue/orders").await;
    expect_marker(&mut c).await;
    subscribe(&mut c, "/queue/DLQ.orders", "dlq", "client-individual", &[]).await;
    let d = next(&mut c).await;
    assert_dead_lettered(&d);
    assert_eq!(d.header("redelivered"), Some("true"));
}

#[tokio::test]
async fn redelivery_count_of_a_persistent_message_survives_a_restart() {
    let mut b = Baton::start_with(&["--broker-max-redeliveries", "2"]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/r", "s", "client-individual", &[]).await;
    persist(&mut c, "/queue/r", "poison").await;
    let m = next(&mut c).await;
    ack_confirmed(&mut c, &m, true).await;
    let m = next(&mut c).await;
    assert_eq!(m.header("redelivery-count"), Some("1"));
    ack_confirmed(&mut c, &m, true).await;
    let m = next(&mut c).await;
    assert_eq!(m.header("redelivery-count"), Some("2"));
    b.kill9();
    drop(c);
    b.restart(&["--broker-max-redeliveries", "2"]);

    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/r", "s", "client-individual", &[]).await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), "poison");
    assert_eq!(m.header("redelivery-count"), Some("2"), "count kept");
    ack_confirmed(&mut c, &m, true).await;
    send_marker(&mut c, "/queue/r").await;
    expect_marker(&mut c).await;
    subscribe(&mut c, "/queue/DLQ.r", "dlq", "client-individual", &[]).await;
    assert_eq!(
        next_body(&mut c).await,
        "poison",
        "third failure across a restart dead-letters"
    );
}

// ---------------------------------------------------------------- expiry

#[tokio::test]
async fn already_expired_messages_are_never_delivered() {
    let mut b = Baton::start();
    let mut c = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c, "/queue/live", "q", "auto", &[]).await;
    subscribe(&mut c, "/topic/live", "t", "auto", &[]).await;
    let past = (now_ms() - 1_000).to_string();
    for dest in ["/queue/live", "/queue/idle", "/topic/live"] {
        for persistent in ["true", "false"] {
            let h = [("expires", past.as_str()), ("persistent", persistent)];
            send(&mut p, dest, "expired", &h).await;
        }
    }
    send_marker(&mut p, "/queue/live").await;
    expect_marker(&mut c).await;
    send_marker(&mut p, "/topic/live").await;
    expect_marker(&mut c).await;
    subscribe(&mut c, "/queue/idle", "i", "auto", &[]).await;
    send_marker(&mut p, "/queue/idle").await;
    expect_marker(&mut c).await;
    terminate_ok(&mut b);
    assert_eq!(stored(&b).await, [], "expired messages are not stored");
}

#[tokio::test]
async fn message_expiring_while_waiting_is_never_delivered_nor_kept() {
    let mut b = Baton::start();
    let mut p = connect(&b).await;
    let expires = now_ms() + 1_000;
    let exp = expires.to_string();
    send(
        &mut p,
        "/queue/e",
        "short-lived",
        &[("expires", exp.as_str()), ("persistent", "true")],
    )
    .await;
    persist(&mut p, "/queue/e", "keeper").await;
    send(&mut p, "/queue/e", "short-np", &[("expires", exp.as_str())]).await;
    // Wait until the broker's clock has passed the expiry.
    let left = expires + 50 - now_ms();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/e", "s", "client-individual", &[]).await;
    assert_eq!(next_body(&mut c).await, "keeper");
    send_marker(&mut p, "/queue/e").await;
    expect_marker(&mut c).await;
    b.kill9();
    drop((c, p));

    b.restart(&[]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/e", "s", "client-individual", &[]).await;
    assert_eq!(next_body(&mut c).await, "keeper");
    send_marker(&mut c, "/queue/e").await;
    expect_marker(&mut c).await;
    terminate_ok(&mut b);
    assert_eq!(
        stored(&b).await,
        [("/queue/e".to_string(), "keeper".to_string())],
        "the expired message was dropped from the store"
    );
}

// ---------------------------------------------------------- transactions

#[tokio::test]
async fn transacted_sends_are_invisible_until_commit() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c, "/queue/tx", "s", "auto", &[]).await;
    tx_frame(&mut p, Command::Begin, "t1").await;
    send(&mut p, "/queue/tx", "in-tx-1", &[("transaction", "t1")]).await;
    let tx = [("transaction", "t1"), ("persistent", "true")];
    send(&mut p, "/queue/tx", "in-tx-2", &tx).await;
    send(&mut p, "/queue/tx", "outside", &[]).await;
    assert_eq!(
        next_body(&mut c).await,
        "outside",
        "an uncommitted send was delivered"
    );
    tx_frame(&mut p, Command::Commit, "t1").await;
    assert_eq!(bodies(&mut c, 2).await, ["in-tx-1", "in-tx-2"]);
}

#[tokio::test]
async fn committed_persistent_sends_survive_kill_9() {
    let mut b = Baton::start();
    let mut p = connect(&b).await;
    tx_frame(&mut p, Command::Begin, "t1").await;
    for name in ["T1", "T2"] {
        let tx = [("transaction", "t1"), ("persistent", "true")];
        send(&mut p, "/queue/txp", name, &tx).await;
    }
    // The RECEIPT of COMMIT comes after the store commit.
    tx_frame(&mut p, Command::Commit, "t1").await;
    b.kill9();
    drop(p);
    b.restart(&[]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/txp", "s", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["T1", "T2"]);
    send_marker(&mut c, "/queue/txp").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn aborted_sends_are_dropped() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    let mut p = connect(&b).await;
    subscribe(&mut c, "/queue/tx", "s", "auto", &[]).await;
    tx_frame(&mut p, Command::Begin, "t1").await;
    send(&mut p, "/queue/tx", "dropped", &[("transaction", "t1")]).await;
    let tx = [("transaction", "t1"), ("persistent", "true")];
    send(&mut p, "/queue/tx", "dropped-too", &tx).await;
    tx_frame(&mut p, Command::Abort, "t1").await;
    send_marker(&mut p, "/queue/tx").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn transacted_acks_take_effect_at_commit() {
    let mut b = Baton::start();
    let mut slow = connect(&b).await;
    let mut other = connect(&b).await;
    let mut p = connect(&b).await;
    let prefetch = [("activemq.prefetchSize", "1")];
    subscribe(&mut slow, "/queue/ta", "s", "client-individual", &prefetch).await;
    subscribe(&mut other, "/queue/ta", "o", "auto", &[]).await;
    persist(&mut p, "/queue/ta", "m1").await;
    let m1 = next(&mut slow).await;
    assert_eq!(body(&m1), "m1");

    let ack = m1.header("ack").expect("ack").to_string();
    tx_frame(&mut slow, Command::Begin, "t").await;
    let ack_frame = Frame::new(Command::Ack)
        .with_header("id", ack)
        .with_header("transaction", "t");
    request(&mut slow, ack_frame).await;
    // Not acknowledged yet: the slow consumer's single prefetch slot stays
    // taken, so both of these go to the other consumer.
    send(&mut p, "/queue/ta", "m2", &[]).await;
    send(&mut p, "/queue/ta", "m3", &[]).await;
    assert_eq!(bodies(&mut other, 2).await, ["m2", "m3"]);

    tx_frame(&mut slow, Command::Commit, "t").await;
    send(&mut p, "/queue/ta", "m4", &[]).await;
    assert_eq!(
        next_body(&mut slow).await,
        "m4",
        "the committed ACK freed the slot"
    );

    // The committed ACK removed m1 from the store.
    b.kill9();
    drop((slow, other, p));
    b.restart(&[]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/ta", "s", "auto", &[]).await;
    send_marker(&mut c, "/queue/ta").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn aborted_acks_are_rolled_back_and_redelivered() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/ab", "s", "client-individual", &[]).await;
    persist(&mut c, "/queue/ab", "m1").await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), "m1");
    let ack = m.header("ack").expect("ack").to_string();
    tx_frame(&mut c, Command::Begin, "t").await;
    let ack_frame = Frame::new(Command::Ack)
        .with_header("id", ack)
        .with_header("transaction", "t");
    request(&mut c, ack_frame).await;
    tx_frame(&mut c, Command::Abort, "t").await;
    let again = next(&mut c).await;
    assert_eq!(body(&again), "m1");
    assert_eq!(again.header("redelivered"), Some("true"));
    assert_eq!(again.header("redelivery-count"), Some("1"));
    ack_confirmed(&mut c, &again, false).await;
    send_marker(&mut c, "/queue/ab").await;
    expect_marker(&mut c).await;
}
