//! Durable topic subscriptions (`client-id` + `activemq.subscriptionName`)
//! against the real binary: messages published while the subscriber is
//! away wait for it, across a kill -9 restart (SQLite) and a failover
//! (PostgreSQL); UNSUBSCRIBE with the name removes it; stored topic
//! messages are deleted once every durable subscription passed them.

use crate::common;

use baton::client::Client;
use baton::stomp::frame::{Command, Frame};
use common::cluster::{self, Db, Settings};
use common::stomp::*;
use common::Baton;

const TOPIC: &str = "/topic/news";

async fn connect_as(stomp: &str, client_id: &str) -> Client {
    guard(
        "connect",
        Client::connect_with(stomp, &[("client-id", client_id)]),
    )
    .await
    .expect("connect with client-id")
}

async fn subscribe_durable(c: &mut Client, name: &str) {
    subscribe(
        c,
        TOPIC,
        "d",
        "client-individual",
        &[("activemq.subscriptionName", name)],
    )
    .await;
}

/// Rows of `msgs` in the broker's SQLite file (broker stopped).
async fn stored_rows(b: &Baton) -> usize {
    use sqlx::Connection;
    let url = format!("sqlite:{}/baton.db", b.data.display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the file");
    let prefix = baton::config::DatabaseConfig::default().table_prefix;
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {prefix}msgs"))
        .fetch_one(&mut db)
        .await
        .expect("count msgs");
    n as usize
}

#[tokio::test]
async fn durable_subscription_keeps_messages_while_away_and_across_kill_9() {
    let mut b = Baton::start();
    let mut c = connect_as(&b.stomp, "app-1").await;
    subscribe_durable(&mut c, "news-sub").await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");

    let mut p = connect(&b).await;
    persist(&mut p, TOPIC, "p1").await;
    send(&mut p, TOPIC, "n1", &[]).await;
    persist(&mut p, TOPIC, "p2").await;

    // Back: everything published while away, in order.
    let mut c = connect_as(&b.stomp, "app-1").await;
    subscribe_durable(&mut c, "news-sub").await;
    let got = [next(&mut c).await, next(&mut c).await, next(&mut c).await];
    let bodies: Vec<String> = got.iter().map(body).collect();
    assert_eq!(bodies, ["p1", "n1", "p2"]);
    ack_confirmed(&mut c, &got[0], false).await;
    ack_confirmed(&mut c, &got[1], false).await;

    // p2 is not acknowledged: it survives a crash, p1 does not come back.
    b.kill9();
    drop(c);
    assert_eq!(stored_rows(&b).await, 1, "only p2 is still stored");
    b.restart(&[]);
    let mut c = connect_as(&b.stomp, "app-1").await;
    subscribe_durable(&mut c, "news-sub").await;
    let m = next(&mut c).await;
    assert_eq!(body(&m), "p2");
    assert_eq!(m.header("redelivered"), Some("true"));
    ack_confirmed(&mut c, &m, false).await;
    nothing_arrives(&mut c).await;

    // UNSUBSCRIBE with the name ends it: later messages are not kept.
    request(
        &mut c,
        Frame::new(Command::Unsubscribe)
            .with_header("id", "d")
            .with_header("activemq.subscriptionName", "news-sub"),
    )
    .await;
    persist(&mut p_again(&b).await, TOPIC, "p3").await;
    subscribe_durable(&mut c, "news-sub").await;
    nothing_arrives(&mut c).await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");
    b.terminate();
    assert_eq!(stored_rows(&b).await, 0, "nothing left stored");
}

async fn p_again(b: &Baton) -> Client {
    connect(b).await
}

#[tokio::test]
async fn every_durable_subscription_gets_its_own_copy() {
    let b = Baton::start();
    for client in ["a", "b"] {
        let mut c = connect_as(&b.stomp, client).await;
        subscribe_durable(&mut c, "s").await;
        guard("disconnect", c.disconnect())
            .await
            .expect("disconnect");
    }
    let mut p = connect(&b).await;
    persist(&mut p, TOPIC, "shared").await;
    for client in ["a", "b"] {
        let mut c = connect_as(&b.stomp, client).await;
        subscribe_durable(&mut c, "s").await;
        let m = next(&mut c).await;
        assert_eq!(body(&m), "shared");
        ack_confirmed(&mut c, &m, false).await;
    }
}

#[tokio::test]
async fn client_ids_are_exclusive_and_required_for_durable_subscriptions() {
    let b = Baton::start();
    let _first = connect_as(&b.stomp, "only-one").await;
    let err = guard(
        "connect",
        Client::connect_with(&b.stomp, &[("client-id", "only-one")]),
    )
    .await
    .err()
    .expect("second connection with the same client-id is refused");
    assert!(err.to_string().contains("only-one"), "{err}");

    let mut anonymous = connect(&b).await;
    let err = guard(
        "subscribe",
        anonymous.subscribe(TOPIC, "d", "auto", &[("activemq.subscriptionName", "x")]),
    )
    .await
    .expect_err("needs client-id");
    assert!(err.to_string().contains("client-id"), "{err}");

    let mut c = connect_as(&b.stomp, "q").await;
    let err = guard(
        "subscribe",
        c.subscribe(
            "/queue/x",
            "d",
            "auto",
            &[("activemq.subscriptionName", "x")],
        ),
    )
    .await
    .expect_err("queues cannot be durable");
    assert!(err.to_string().contains("topic"), "{err}");
}

/// Created on one node, fed while away, read on the other after the first
/// one was killed.
#[tokio::test]
async fn durable_subscription_survives_failover_on_postgres() {
    let db = Db::postgres();
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a", "b"]).await;
    let mut c = connect_as(&nodes[0].stomp, "app").await;
    subscribe_durable(&mut c, "fo").await;
    guard("disconnect", c.disconnect())
        .await
        .expect("disconnect");
    let mut p = cluster::connect(&nodes[0]).await;
    for body in ["f1", "f2"] {
        cluster::send_persistent(&mut p, TOPIC, body).await;
    }
    nodes[0].kill9();
    assert_eq!(cluster::wait_master(&nodes).await, 1);
    let mut c = connect_as(&nodes[1].stomp, "app").await;
    subscribe_durable(&mut c, "fo").await;
    for want in ["f1", "f2"] {
        let m = next(&mut c).await;
        assert_eq!(body(&m), want);
        ack_confirmed(&mut c, &m, false).await;
    }
    nothing_arrives(&mut c).await;
    assert!(
        db.stored_bodies().await.is_empty(),
        "acknowledged by the only subscriber"
    );
}
