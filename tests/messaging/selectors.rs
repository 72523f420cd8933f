//! JMS selectors on SUBSCRIBE against the real binary: queues, topics,
//! durable subscriptions, browsing, and the ERROR for a bad selector.

use crate::common;

use baton::client::Client;
use common::stomp::*;
use common::Baton;

#[tokio::test]
async fn queue_consumers_get_only_what_their_selector_selects() {
    let b = Baton::start();
    let mut eu = connect(&b).await;
    subscribe(
        &mut eu,
        "/queue/orders",
        "s",
        "auto",
        &[("selector", "region = 'eu' AND amount > 100")],
    )
    .await;
    let mut rest = connect(&b).await;
    subscribe(
        &mut rest,
        "/queue/orders",
        "s",
        "auto",
        &[("selector", "region <> 'eu' OR region IS NULL")],
    )
    .await;
    let mut p = connect(&b).await;
    for (body, region, amount) in [
        ("eu-big", Some("eu"), "500"),
        ("eu-small", Some("eu"), "50"),
        ("us", Some("us"), "500"),
        ("none", None, "1"),
        ("eu-big-2", Some("eu"), "101"),
    ] {
        let mut headers = vec![("amount", amount), ("persistent", "true")];
        if let Some(r) = region {
            headers.push(("region", r));
        }
        send(&mut p, "/queue/orders", body, &headers).await;
    }
    assert_eq!(bodies(&mut eu, 2).await, ["eu-big", "eu-big-2"]);
    assert_eq!(bodies(&mut rest, 2).await, ["us", "none"]);
    nothing_arrives(&mut eu).await;
    nothing_arrives(&mut rest).await;
    // eu-small matched nobody: it waits in the queue for a consumer that wants it.
    let mut any = connect(&b).await;
    subscribe(&mut any, "/queue/orders", "s", "auto", &[]).await;
    assert_eq!(next_body(&mut any).await, "eu-small");
}

#[tokio::test]
async fn topic_selectors_use_jms_header_names() {
    let b = Baton::start();
    let mut urgent = connect(&b).await;
    subscribe(
        &mut urgent,
        "/topic/alerts",
        "s",
        "auto",
        &[("selector", "JMSPriority >= 7 OR JMSType = 'page'")],
    )
    .await;
    let mut like = connect(&b).await;
    subscribe(
        &mut like,
        "/topic/alerts",
        "s",
        "auto",
        &[("selector", "host LIKE 'db\\_%' ESCAPE '\\'")],
    )
    .await;
    let mut p = connect(&b).await;
    send(
        &mut p,
        "/topic/alerts",
        "high",
        &[("priority", "9"), ("host", "web1")],
    )
    .await;
    send(
        &mut p,
        "/topic/alerts",
        "typed",
        &[("type", "page"), ("host", "db_1")],
    )
    .await;
    send(
        &mut p,
        "/topic/alerts",
        "low",
        &[("priority", "1"), ("host", "dbx")],
    )
    .await;
    assert_eq!(bodies(&mut urgent, 2).await, ["high", "typed"]);
    assert_eq!(next_body(&mut like).await, "typed");
    nothing_arrives(&mut urgent).await;
    nothing_arrives(&mut like).await;
}

#[tokio::test]
async fn a_bad_selector_gets_an_error_that_shows_where() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    let err = guard(
        "subscribe",
        c.subscribe("/queue/x", "s", "auto", &[("selector", "price > AND x")]),
    )
    .await
    .expect_err("bad selector");
    let text = err.to_string();
    assert!(text.contains("column 9"), "{text}");
    assert!(text.contains("price > AND x"), "{text}");
    // Others are not affected.
    let mut ok = connect(&b).await;
    send(&mut ok, "/queue/x", "fine", &[]).await;
}

#[tokio::test]
async fn durable_selector_survives_a_restart_and_browsing_filters() {
    let mut b = Baton::start();
    let mut c = guard(
        "connect",
        Client::connect_with(&b.stomp, &[("client-id", "sel")]),
    )
    .await
    .expect("connect");
    subscribe_picky(&mut c).await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");
    b.terminate();
    b.restart(&[]);
    let mut p = connect(&b).await;
    persist_with(&mut p, "/topic/t", "drop-me", "other").await;
    persist_with(&mut p, "/topic/t", "keep-me", "keep").await;
    let mut c = guard(
        "connect",
        Client::connect_with(&b.stomp, &[("client-id", "sel")]),
    )
    .await
    .expect("connect");
    subscribe_picky(&mut c).await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), "keep-me");
    ack_confirmed(&mut c, &m, false).await;
    nothing_arrives(&mut c).await;

    for (body, kind) in [("a", "x"), ("b", "y"), ("c", "x")] {
        persist_with(&mut p, "/queue/browse", body, kind).await;
    }
    let mut br = connect(&b).await;
    subscribe(
        &mut br,
        "/queue/browse",
        "b",
        "auto",
        &[("browser", "true"), ("selector", "kind = 'x'")],
    )
    .await;
    assert_eq!(bodies(&mut br, 2).await, ["a", "c"]);
    assert_eq!(next(&mut br).await.header("browser"), Some("end"));
}

async fn subscribe_picky(c: &mut Client) {
    let headers = [
        ("activemq.subscriptionName", "picky"),
        ("selector", "kind = 'keep'"),
    ];
    subscribe(c, "/topic/t", "d", "client-individual", &headers).await;
}

async fn persist_with(c: &mut Client, dest: &str, body: &str, kind: &str) {
    send(c, dest, body, &[("persistent", "true"), ("kind", kind)]).await;
}
