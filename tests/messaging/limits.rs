//! The limits that protect the broker, against the real binary over TCP:
//! connections in total and per address, subscriptions per connection,
//! unacknowledged messages per consumer, frame limits, memory for
//! non-persistent messages (flow control, nothing dropped) and slow topic
//! subscribers. Each hit is checked on `/metrics` too.

use crate::common;
use crate::common::users as setup;

use baton::client::{Client, ClientError};
use baton::stomp::frame::{Command, Frame};
use common::http::Http;
use common::stomp::*;
use common::Baton;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The value of one series on `/metrics` (`name` or `name{labels}`).
fn metric(b: &Baton, series: &str) -> f64 {
    let text = Http::anonymous(&b.admin).get("/metrics").text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

fn hits(b: &Baton, key: &str) -> f64 {
    metric(b, &format!("baton_limit_hits_total{{limit=\"{key}\"}}"))
}

/// Polls `/metrics` until `series` satisfies `ok` (guarded against hangs).
async fn metric_until(b: &Baton, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + GUARD;
    loop {
        let v = metric(b, series);
        if ok(v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{series} stayed at {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ERROR text of a refused operation.
fn refusal<T>(r: Result<T, ClientError>) -> String {
    match r {
        Ok(_) => panic!("expected an ERROR, got success"),
        Err(ClientError::Refused(text)) => text,
        Err(e) => panic!("expected an ERROR frame, got {e}"),
    }
}

/// A SEND/RECEIPT round trip and a MESSAGE on the same connection: it works.
async fn still_works(c: &mut Client, name: &str) {
    let dest = format!("/queue/alive.{name}");
    subscribe(c, &dest, name, "auto", &[]).await;
    send(c, &dest, name, &[]).await;
    assert_eq!(next_body(c).await, name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_limited_and_freed_on_close() {
    let b = Baton::start_with(&["--limits-max-connections-per-address", "2"]);
    let mut first = connect(&b).await;
    let mut second = connect(&b).await;
    let text = refusal(guard("third", Client::connect(&b.stomp)).await);
    assert!(
        text.contains("limits.max_connections_per_address"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1"), "{text}");
    assert_eq!(hits(&b, "limits.max_connections_per_address"), 1.0);
    assert_eq!(hits(&b, "limits.max_connections"), 0.0);
    // The admitted ones are not harmed.
    still_works(&mut first, "first").await;
    still_works(&mut second, "second").await;

    guard("disconnect", first.disconnect()).await.unwrap();
    // Its place is freed when its session ends, just after the RECEIPT:
    // every refusal until then is counted, then a new client gets in.
    let mut refused = 1.0;
    let mut third = loop {
        match guard("reconnect", Client::connect(&b.stomp)).await {
            Ok(c) => break c,
            Err(e) => {
                let text = refusal::<()>(Err(e));
                assert!(text.contains("limits.max_connections_per_address"));
                refused += 1.0;
            }
        }
    };
    still_works(&mut third, "third").await;
    still_works(&mut second, "second.again").await;
    assert_eq!(hits(&b, "limits.max_connections_per_address"), refused);
    assert_eq!(metric(&b, "baton_connections"), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_connections_are_limited() {
    let b = Baton::start_with(&[
        "--limits-max-connections",
        "1",
        "--limits-max-connections-per-address",
        "1",
    ]);
    let mut only = connect(&b).await;
    let text = refusal(guard("second", Client::connect(&b.stomp)).await);
    assert!(text.contains("limits.max_connections)"), "{text}");
    assert_eq!(hits(&b, "limits.max_connections"), 1.0);
    still_works(&mut only, "only").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_per_connection_are_limited() {
    let b = Baton::start_with(&["--limits-max-subscriptions-per-connection", "2"]);
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/s1", "1", "auto", &[]).await;
    subscribe(&mut c, "/topic/s2", "2", "auto", &[]).await;
    let text = refusal(guard("third", c.subscribe("/queue/s3", "3", "auto", &[])).await);
    assert!(
        text.contains("limits.max_subscriptions_per_connection"),
        "{text}"
    );
    assert_eq!(hits(&b, "limits.max_subscriptions_per_connection"), 1.0);

    // Another connection has its own allowance; an UNSUBSCRIBE frees a place.
    let mut other = connect(&b).await;
    subscribe(&mut other, "/queue/s1", "a", "auto", &[]).await;
    subscribe(&mut other, "/queue/s2", "b", "auto", &[]).await;
    request(
        &mut other,
        Frame::new(Command::Unsubscribe).with_header("id", "a"),
    )
    .await;
    subscribe(&mut other, "/queue/s3", "c", "auto", &[]).await;
    send(&mut other, "/queue/s3", "delivered", &[]).await;
    assert_eq!(next_body(&mut other).await, "delivered");
    assert_eq!(hits(&b, "limits.max_subscriptions_per_connection"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_transactions_per_connection_are_limited() {
    let b = Baton::start_with(&["--limits-max-transactions-per-connection", "2"]);
    let mut c = connect(&b).await;
    tx_frame(&mut c, Command::Begin, "t1").await;
    tx_frame(&mut c, Command::Begin, "t2").await;
    let text = refusal(
        guard(
            "third BEGIN",
            c.request(Frame::new(Command::Begin).with_header("transaction", "t3")),
        )
        .await,
    );
    assert!(
        text.contains("limits.max_transactions_per_connection"),
        "{text}"
    );
    assert_eq!(hits(&b, "limits.max_transactions_per_connection"), 1.0);
    // Another connection has its own allowance, and a COMMIT frees a place.
    let mut other = connect(&b).await;
    tx_frame(&mut other, Command::Begin, "a").await;
    tx_frame(&mut other, Command::Begin, "b").await;
    tx_frame(&mut other, Command::Commit, "a").await;
    tx_frame(&mut other, Command::Begin, "c").await;
    assert_eq!(hits(&b, "limits.max_transactions_per_connection"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_per_consumer_are_capped_whatever_the_prefetch() {
    const CAP: usize = 3;
    const TOTAL: usize = 10;
    // stomp.default_prefetch may not exceed the cap (checked at start-up).
    let b = Baton::start_with(&[
        "--limits-max-unacked-per-consumer",
        &CAP.to_string(),
        "--stomp-default-prefetch",
        "2",
    ]);
    let mut p = connect(&b).await;
    for i in 0..TOTAL {
        send(&mut p, "/queue/capped", &format!("m{i}"), &[]).await;
    }
    let mut c = connect(&b).await;
    subscribe(
        &mut c,
        "/queue/capped",
        "s",
        "client-individual",
        &[("activemq.prefetchSize", "100")],
    )
    .await;
    assert_eq!(hits(&b, "limits.max_unacked_per_consumer"), 1.0);
    let q = "{destination=\"/queue/capped\"}";
    let mut held: Vec<Frame> = Vec::new();
    let mut received = Vec::new();
    while received.len() < TOTAL {
        // Take everything the broker hands out: never more than CAP at once.
        while held.len() < CAP && received.len() < TOTAL {
            let m = next(&mut c).await;
            received.push(body(&m));
            held.push(m);
        }
        nothing_arrives(&mut c).await;
        assert!(held.len() <= CAP);
        assert_eq!(
            metric(&b, &format!("baton_destination_inflight{q}")),
            held.len() as f64
        );
        // One ACK makes room for exactly one more.
        let m = held.remove(0);
        ack_confirmed(&mut c, &m, false).await;
    }
    let expected: Vec<String> = (0..TOTAL).map(|i| format!("m{i}")).collect();
    assert_eq!(received, expected);
    for m in held.drain(..) {
        ack_confirmed(&mut c, &m, false).await;
    }
    send_marker(&mut p, "/queue/capped").await;
    let marker = next(&mut c).await;
    assert_eq!(body(&marker), MARKER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_limits_answer_with_an_error_and_are_counted() {
    let b = Baton::start_with(&["--stomp-max-body-bytes", "100", "--stomp-max-headers", "5"]);
    let mut big = connect(&b).await;
    let text = refusal(guard("big send", big.send("/queue/f", "x".repeat(101), &[])).await);
    assert!(text.contains("stomp.max_body_bytes"), "{text}");

    let mut many = connect(&b).await;
    let headers: Vec<(String, String)> = (0..6).map(|i| (format!("h{i}"), "v".into())).collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let text = refusal(guard("many headers", many.send("/queue/f", "x", &headers)).await);
    assert!(text.contains("stomp.max_headers"), "{text}");

    assert_eq!(hits(&b, "stomp.max_body_bytes"), 1.0);
    assert_eq!(hits(&b, "stomp.max_headers"), 1.0);
    assert_eq!(hits(&b, "stomp.max_header_bytes"), 0.0);
    // Others are not affected; a body at the limit passes.
    let mut ok = connect(&b).await;
    still_works(&mut ok, "ok").await;
    send(&mut ok, "/queue/f", &"x".repeat(100), &[]).await;
}

/// What a message's `timestamp` header, the broker's stamp of its arrival,
/// adds to its size in the memory budget: the name and 13 digits.
fn stamp_bytes() -> usize {
    "timestamp".len() + baton::message::now_ms().to_string().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_budget_slows_producers_and_loses_nothing() {
    const BUDGET: usize = 64 * 1024;
    const BODY: usize = 1024;
    const TOTAL: usize = 200;
    let b = Baton::start_with(&["--limits-max-non-persistent-bytes", &BUDGET.to_string()]);
    let mut p = connect(&b).await;
    let confirmed = Arc::new(AtomicUsize::new(0));
    let producer = tokio::spawn({
        let confirmed = confirmed.clone();
        async move {
            for i in 0..TOTAL {
                let body = format!("{i:0width$}", width = BODY);
                p.send("/queue/mem", body, &[]).await?;
                confirmed.fetch_add(1, Ordering::SeqCst);
            }
            p.disconnect().await
        }
    });

    // The producer is paused once the budget is used up...
    metric_until(&b, "baton_flow_controlled_connections", |v| v == 1.0).await;
    assert!(hits(&b, "limits.max_non_persistent_bytes") >= 1.0);
    let held = metric(&b, "baton_non_persistent_bytes") as usize;
    assert!(held >= BUDGET, "paused below the budget: {held}");
    // ...having overshot it by at most the one message that filled it.
    assert!(held < BUDGET + BODY + 100, "held {held}");
    // ...and its next SEND is not read, so its RECEIPT does not come:
    // receipts for what is held (bodies and their arrival timestamps, no
    // user headers), no more.
    let held_messages = held / (BODY + stamp_bytes());
    let deadline = Instant::now() + GUARD;
    while confirmed.load(Ordering::SeqCst) != held_messages {
        assert!(
            Instant::now() < deadline,
            "{} receipts for {held_messages} messages held",
            confirmed.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(confirmed.load(Ordering::SeqCst), held_messages);
    assert!(held_messages < TOTAL);
    assert!(!producer.is_finished());

    // A consumer drains the queue: every message arrives, once, in order.
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/mem", "s", "auto", &[]).await;
    for i in 0..TOTAL {
        let m = next(&mut c).await;
        assert_eq!(body(&m), format!("{i:0width$}", width = BODY));
    }
    guard("producer", producer).await.unwrap().unwrap();
    assert_eq!(confirmed.load(Ordering::SeqCst), TOTAL);
    nothing_arrives(&mut c).await;
    metric_until(&b, "baton_non_persistent_bytes", |v| v == 0.0).await;
    assert_eq!(metric(&b, "baton_flow_controlled_connections"), 0.0);
    assert_eq!(
        metric(
            &b,
            "baton_destination_dequeued_total{destination=\"/queue/mem\"}"
        ),
        TOTAL as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_publish_of_non_persistent_messages_waits_for_memory_too() {
    let b = Baton::start_with(&["--limits-max-non-persistent-bytes", "1000"]);
    let password = setup::generated_password(&b.logs.lock().unwrap()).expect("admin password");
    let admin = Http::basic(&b.admin, "admin", &password);
    let post = move |body: String| {
        admin.post_json(
            "/api/v1/queues/rest/messages",
            &serde_json::json!({ "body": body, "persistent": false }),
        )
    };
    // Uses the budget up (with its arrival timestamp): accepted at once.
    let first = "x".repeat(1000 - stamp_bytes());
    let r = post(first.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(metric(&b, "baton_non_persistent_bytes"), 1000.0);
    // The next one waits for room...
    let waiting = tokio::task::spawn_blocking(move || post("after".into()));
    metric_until(
        &b,
        "baton_limit_hits_total{limit=\"limits.max_non_persistent_bytes\"}",
        |v| v == 1.0,
    )
    .await;
    assert!(!waiting.is_finished());
    // ...which a consumer makes: then it is accepted, and nothing is lost.
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/rest", "s", "auto", &[]).await;
    assert_eq!(next_body(&mut c).await, first);
    let r = guard("waiting publish", waiting).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(next_body(&mut c).await, "after");
    nothing_arrives(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_topic_subscriber_is_disconnected_and_others_are_not() {
    const LIMIT: usize = 5;
    let b = Baton::start_with(&["--broker-topic-pending-limit", &LIMIT.to_string()]);
    let mut slow = connect(&b).await;
    subscribe(
        &mut slow,
        "/topic/ticks",
        "slow",
        "client-individual",
        &[("activemq.prefetchSize", "1")],
    )
    .await;
    let mut fast = connect(&b).await;
    subscribe(&mut fast, "/topic/ticks", "fast", "auto", &[]).await;
    let mut p = connect(&b).await;
    // One in flight plus LIMIT waiting is allowed; one more is too many.
    let total = 1 + LIMIT + 1;
    send(&mut p, "/topic/ticks", "t0", &[]).await;
    assert_eq!(next_body(&mut slow).await, "t0");
    for i in 1..total {
        send(&mut p, "/topic/ticks", &format!("t{i}"), &[]).await;
    }
    let text = refusal(guard("slow ERROR", slow.next_message()).await);
    assert!(text.contains("slow consumer"), "{text}");
    assert!(text.contains("broker.topic_pending_limit"), "{text}");
    assert_eq!(hits(&b, "broker.topic_pending_limit"), 1.0);
    let expected: Vec<String> = (0..total).map(|i| format!("t{i}")).collect();
    assert_eq!(bodies(&mut fast, total).await, expected);
    still_works(&mut p, "producer").await;
}
