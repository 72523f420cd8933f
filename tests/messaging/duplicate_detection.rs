//! Duplicate detection of producer resends (`baton-producer-id` /
//! `baton-producer-seq`), in one connection, across connections and across
//! a kill -9 restart, against the real binary.

use crate::common;

use baton::stomp::frame::Command;
use common::stomp::*;
use common::Baton;

fn tagged<'a>(producer: &'a str, seq: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("persistent", "true"),
        ("baton-producer-id", producer),
        ("baton-producer-seq", seq),
    ]
}

#[tokio::test]
async fn a_resent_sequence_is_confirmed_but_stored_once() {
    let b = Baton::start();
    let mut p = connect(&b).await;
    send(&mut p, "/queue/d", "one", &tagged("p-1", "1")).await;
    send(&mut p, "/queue/d", "one again", &tagged("p-1", "1")).await;
    // Another connection resending for the same producer, as a client does
    // after reconnecting.
    let mut p2 = connect(&b).await;
    send(&mut p2, "/queue/d", "one a third time", &tagged("p-1", "1")).await;
    send(&mut p2, "/queue/d", "two", &tagged("p-1", "2")).await;
    // Sequences are per producer; untagged and non-persistent sends are
    // never dropped.
    send(&mut p2, "/queue/d", "other", &tagged("p-2", "1")).await;
    send(&mut p2, "/queue/d", "plain", &[("persistent", "true")]).await;
    send(&mut p2, "/queue/d", "plain", &[("persistent", "true")]).await;
    let np = [("baton-producer-id", "p-1"), ("baton-producer-seq", "1")];
    send(&mut p2, "/queue/d", "non-persistent", &np).await;

    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/d", "s", "auto", &[]).await;
    assert_eq!(
        bodies(&mut c, 6).await,
        ["one", "two", "other", "plain", "plain", "non-persistent"]
    );
    send_marker(&mut p, "/queue/d").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn the_last_sequence_survives_a_kill_9() {
    let mut b = Baton::start();
    let mut p = connect(&b).await;
    for (seq, body) in [("1", "m1"), ("2", "m2"), ("3", "m3")] {
        send(&mut p, "/queue/k", body, &tagged("p-k", seq)).await;
    }
    b.kill9();
    drop(p);
    b.restart(&[]);
    let mut p = connect(&b).await;
    // The client did not see the receipts and resends everything.
    for (seq, body) in [("1", "m1"), ("2", "m2"), ("3", "m3"), ("4", "m4")] {
        send(&mut p, "/queue/k", body, &tagged("p-k", seq)).await;
    }
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/k", "s", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 4).await, ["m1", "m2", "m3", "m4"]);
    send_marker(&mut p, "/queue/k").await;
    expect_marker(&mut c).await;
}

#[tokio::test]
async fn malformed_producer_headers_are_refused() {
    let b = Baton::start();
    for headers in [
        vec![("baton-producer-id", "p")],
        vec![("baton-producer-seq", "1")],
        vec![("baton-producer-id", "p"), ("baton-producer-seq", "0")],
        vec![("baton-producer-id", "p"), ("baton-producer-seq", "x")],
        vec![("baton-producer-id", ""), ("baton-producer-seq", "1")],
    ] {
        let mut p = connect(&b).await;
        let err = guard("send", p.send("/queue/bad", "x", &headers))
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains("baton-producer"),
            "{headers:?}: {err}"
        );
    }
    let long = "p".repeat(256);
    let mut p = connect(&b).await;
    let err = guard(
        "send",
        p.send(
            "/queue/bad",
            "x",
            &[("baton-producer-id", &long), ("baton-producer-seq", "1")],
        ),
    )
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("255"), "{err}");
    // The broker still serves others.
    let mut ok = connect(&b).await;
    let r = request(
        &mut ok,
        baton::stomp::frame::Frame::new(Command::Send).with_header("destination", "/queue/fine"),
    )
    .await;
    assert_eq!(r.command, Command::Receipt);
}

/// A persistent send of producer `p-r` with sequence `seq`, confirmed or
/// refused.
async fn send_r(
    c: &mut baton::client::Client,
    body: String,
    seq: &str,
) -> Result<(), baton::client::ClientError> {
    guard("send", c.send("/queue/r", body, &tagged("p-r", seq))).await
}

/// Producer `p`'s committed sequence in MariaDB's `producers` table.
async fn committed_seq(db: &common::cluster::Db, producer: &str) -> Option<i64> {
    use sqlx::Connection;
    let mut c = sqlx::MySqlConnection::connect(&db.url())
        .await
        .expect("connect");
    sqlx::query_scalar("SELECT last_seq FROM baton_producers WHERE producer_id = ?")
        .bind(producer)
        .fetch_optional(&mut c)
        .await
        .expect("producers")
}

/// A send MariaDB rejects (a body over its `max_allowed_packet`) keeps the
/// producer's mark below it, though a later send of the same producer
/// commits: the failed send's resend is not confirmed as a duplicate
/// without being stored (it fails again), neither on this master nor,
/// from the marks in the database, on the next one.
#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_send_is_never_confirmed_as_a_duplicate() {
    use common::cluster::{self, Db, Role, Settings};
    let db = Db::mariadb();
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a"]).await;
    let packet: i64 = {
        use sqlx::Connection;
        let mut c = sqlx::MySqlConnection::connect(&db.url())
            .await
            .expect("connect");
        sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
            .fetch_one(&mut c)
            .await
            .expect("max_allowed_packet")
    };
    let huge = "h".repeat(usize::try_from(packet).expect("packet size") + 1024);
    let n = &mut nodes[0];

    let mut p = cluster::connect(n).await;
    send_r(&mut p, "one".into(), "1").await.expect("one stored");
    send_r(&mut p, huge.clone(), "2")
        .await
        .expect_err("the database rejects the body");
    // The client goes on (on a new connection: the ERROR closed this one).
    let mut p = cluster::connect(n).await;
    send_r(&mut p, "three".into(), "3")
        .await
        .expect("three stored");
    send_r(&mut p, huge.clone(), "2")
        .await
        .expect_err("the resend is stored (and rejected) again, not dropped");
    assert_eq!(
        committed_seq(&db, "p-r").await,
        Some(1),
        "no mark over the rejected send"
    );

    // The next master starts from the marks in the database.
    n.kill9();
    n.restart();
    n.wait_role(Role::Master).await;
    let mut p = cluster::connect(n).await;
    send_r(&mut p, huge, "2")
        .await
        .expect_err("after a restart too, the resend is stored (and rejected)");
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, "/queue/r", "s", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["one", "three"]);
    // The ERROR closed the producer's connection.
    let mut p = cluster::connect(n).await;
    send_marker(&mut p, "/queue/r").await;
    expect_marker(&mut c).await;
}
