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
