//! `broker.dispatch_before_commit` on PostgreSQL: a persistent queue
//! message reaches its consumer while its insert waits for the group
//! commit, and an ACK that comes before the insert is written cancels both.
//!
//! To hold the writer at a known point without timing, the test locks the
//! message table from its own session (`LOCK TABLE ... EXCLUSIVE MODE`):
//! the batches in flight block on it (as many as `database.pipeline`
//! allows, which also shows they run at once), later inserts queue behind
//! them, and the test sees the writer's sessions waiting in
//! `pg_stat_activity`.

use crate::common;

use baton::client::Client;
use common::cluster::{self, Db, Node, Settings};
use common::http::Http;
use common::stomp::*;
use sqlx::{Connection, PgConnection};

const QUEUE: &str = "/queue/early";

fn node(early: bool, pipeline: usize) -> Settings {
    let mut s = Settings::fast(None);
    s.extra = vec![
        "--broker-dispatch-before-commit".into(),
        early.to_string(),
        "--database-pipeline".into(),
        pipeline.to_string(),
        // The locked table holds a commit for as long as the test needs.
        "--database-statement-timeout-ms".into(),
        "60000".into(),
        // No VACUUM queueing for the lock beside the writer.
        "--database-vacuum-interval-ms".into(),
        "0".into(),
    ];
    s
}

async fn lock_messages(db: &Db) -> PgConnection {
    let mut c = PgConnection::connect(&db.url()).await.expect("connect");
    sqlx::query("BEGIN").execute(&mut c).await.expect("begin");
    sqlx::query("LOCK TABLE baton_msgs IN EXCLUSIVE MODE")
        .execute(&mut c)
        .await
        .expect("lock the message table");
    c
}

/// Waits until `batches` of the node's sessions wait for the table lock:
/// that many batches are in flight and blocked.
async fn writer_blocked(db: &Db, batches: i64) {
    let mut c = PgConnection::connect(&db.url()).await.expect("connect");
    guard("the writer waits for the table lock", async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut c)
            .await
            .expect("pg_stat_activity");
            if waiting >= batches {
                assert_eq!(
                    waiting, batches,
                    "more batches in flight than the pipeline allows"
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Sends a persistent message on its own connection; the task ends with
/// the RECEIPT (or the ERROR).
fn send_in_background(n: &Node, body: &'static str) -> tokio::task::JoinHandle<Result<(), String>> {
    let addr = n.stomp.clone();
    tokio::spawn(async move {
        let mut p = Client::connect(&addr).await.map_err(|e| e.to_string())?;
        p.send(QUEUE, body, &[("persistent", "true")])
            .await
            .map_err(|e| e.to_string())
    })
}

/// ACKs `m` and then makes a round trip on the same connection, so the
/// broker has applied the ACK when this returns.
async fn ack_applied(c: &mut Client, m: &baton::stomp::frame::Frame) {
    guard("ack", c.ack(m, false)).await.expect("ack");
    let id = format!("rt-{}", body(m));
    subscribe(c, "/queue/round-trip", &id, "auto", &[]).await;
}

fn cancelled(n: &Node) -> f64 {
    let text = Http::anonymous(&n.admin).get("/metrics").text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("baton_store_cancelled_messages_total ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no baton_store_cancelled_messages_total in:\n{text}"))
}

/// With `pipeline` batches blocked in flight, one more message is
/// delivered, acknowledged, and cancelled out with its insert.
async fn ack_before_insert_cancels_both(pipeline: usize) {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &node(true, pipeline), &["a"]).await;
    let n = &nodes[0];
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, QUEUE, "s", "client-individual", &[]).await;

    let mut locker = lock_messages(&db).await;
    let mut senders = Vec::new();
    for (i, body_text) in ["first", "second", "third"]
        .into_iter()
        .enumerate()
        .take(pipeline + 1)
    {
        senders.push((body_text, send_in_background(n, body_text)));
        // Delivered although its insert cannot commit yet.
        let m = next(&mut c).await;
        assert_eq!(body(&m), body_text);
        if i < pipeline {
            // Its batch is in flight and blocked.
            writer_blocked(&db, i as i64 + 1).await;
        }
        ack_applied(&mut c, &m).await;
    }
    // The last one queued behind the blocked batches, was delivered and
    // acknowledged: its insert and delete now wait together.
    assert!(
        senders.iter().all(|(_, t)| !t.is_finished()),
        "no RECEIPT before the commit"
    );
    writer_blocked(&db, pipeline as i64).await;

    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("unlock");
    for (name, task) in senders {
        guard("RECEIPT", task)
            .await
            .expect("sender task")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        cancelled(n),
        1.0,
        "the last message never reached the table"
    );
    nothing_arrives(&mut c).await;
    assert!(db.stored_bodies().await.is_empty(), "all acknowledged");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ack_before_the_insert_is_written_cancels_both() {
    ack_before_insert_cancels_both(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_two_batches_in_flight_the_third_cancels() {
    ack_before_insert_cancels_both(2).await;
}

/// The default: nothing is routed before its commit, so nothing cancels.
#[tokio::test(flavor = "multi_thread")]
async fn by_default_a_message_waits_for_its_commit() {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &node(false, 2), &["a"]).await;
    let n = &nodes[0];
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, QUEUE, "s", "client-individual", &[]).await;

    let mut locker = lock_messages(&db).await;
    let first = send_in_background(n, "first");
    writer_blocked(&db, 1).await;
    nothing_arrives(&mut c).await;
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("unlock");
    let m = next(&mut c).await;
    assert_eq!(body(&m), "first");
    ack_confirmed(&mut c, &m, false).await;
    guard("RECEIPT", first)
        .await
        .expect("sender task")
        .expect("first");
    assert_eq!(cancelled(n), 0.0);
}

/// A commit that fails after the message was routed takes it back while
/// it still waits: the producer is told, and no consumer gets it later.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_commit_takes_back_a_waiting_message() {
    let db = Db::postgres();
    let mut settings = node(true, 2);
    settings.extra[5] = "1000".into();
    let nodes = cluster::start_cluster(&db, &settings, &["a"]).await;
    let n = &nodes[0];

    let mut locker = lock_messages(&db).await;
    let lost = send_in_background(n, "refused");
    writer_blocked(&db, 1).await;
    let err = guard("ERROR after the statement timeout", lost)
        .await
        .expect("sender task")
        .expect_err("the commit timed out");
    assert!(!err.is_empty());
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("unlock");

    let mut p = cluster::connect(n).await;
    send_marker(&mut p, QUEUE).await;
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, QUEUE, "s", "auto", &[]).await;
    expect_marker(&mut c).await;
    nothing_arrives(&mut c).await;
}

/// Sends a persistent message of producer `p` with sequence `seq` on its
/// own connection; the task ends with the RECEIPT (or the ERROR).
fn send_tagged_in_background(
    n: &Node,
    body: &'static str,
    seq: &'static str,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let addr = n.stomp.clone();
    tokio::spawn(async move {
        let mut p = Client::connect(&addr).await.map_err(|e| e.to_string())?;
        let headers = [
            ("persistent", "true"),
            ("baton-producer-id", "p"),
            ("baton-producer-seq", seq),
        ];
        p.send(QUEUE, body, &headers)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Producer `p`'s committed sequence in the `producers` table.
async fn committed_seq(db: &Db) -> Option<i64> {
    let mut c = PgConnection::connect(&db.url()).await.expect("connect");
    sqlx::query_scalar("SELECT last_seq FROM baton_producers WHERE producer_id = 'p'")
        .fetch_optional(&mut c)
        .await
        .expect("producers")
}

/// Two sends of one producer, each in its own batch, both in flight at
/// once (blocked on the locked table): producer marks no longer make a
/// batch wait for the ones before it.
async fn two_marked_batches_in_flight(db: &Db, n: &Node) -> (PgConnection, Vec<Sender>) {
    let locker = lock_messages(db).await;
    let first = send_tagged_in_background(n, "first", "1");
    writer_blocked(db, 1).await;
    let second = send_tagged_in_background(n, "second", "2");
    writer_blocked(db, 2).await;
    (locker, vec![("first", first), ("second", second)])
}

type Sender = (&'static str, tokio::task::JoinHandle<Result<(), String>>);

#[tokio::test(flavor = "multi_thread")]
async fn batches_with_producer_marks_are_in_flight_at_once() {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &node(false, 2), &["a"]).await;
    let n = &nodes[0];
    let (mut locker, senders) = two_marked_batches_in_flight(&db, n).await;
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("unlock");
    for (name, task) in senders {
        guard("RECEIPT", task)
            .await
            .expect("sender task")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(committed_seq(&db).await, Some(2));
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, QUEUE, "s", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["first", "second"]);
}

/// The first of two batches in flight fails (its session is terminated):
/// the second, which holds a later send of the same producer, does not
/// commit before it, and when it commits after it, it leaves out that
/// producer's mark. So the resend of the failed message is stored, not
/// taken for a duplicate and confirmed without being stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_batch_never_commits_a_mark_over_a_failed_one() {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &node(false, 2), &["a"]).await;
    let n = &nodes[0];
    let (mut locker, mut senders) = two_marked_batches_in_flight(&db, n).await;
    // The first batch had its turn at once: one statement (`WITH fence`);
    // the second runs step by step, to wait for the first before COMMIT.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
         AND query LIKE 'WITH fence%'",
    )
    .fetch_all(&mut locker)
    .await
    .expect("terminate the first batch's session");
    assert_eq!(terminated, [true], "one first batch, in one statement");
    let (_, second) = senders.pop().expect("second");
    let (_, first) = senders.pop().expect("first");
    guard("ERROR of the first send", first)
        .await
        .expect("sender task")
        .expect_err("its commit failed");
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("unlock");
    guard("RECEIPT of the second send", second)
        .await
        .expect("sender task")
        .expect("stored after the failed batch");
    assert_eq!(
        committed_seq(&db).await,
        None,
        "no mark over the failed send"
    );

    // The client resends the failed message: stored and delivered.
    let mut p = cluster::connect(n).await;
    let resend = [
        ("persistent", "true"),
        ("baton-producer-id", "p"),
        ("baton-producer-seq", "1"),
    ];
    guard("resend", p.send(QUEUE, "first", &resend))
        .await
        .expect("resend stored");
    let mut c = cluster::connect(n).await;
    subscribe(&mut c, QUEUE, "s", "auto", &[]).await;
    assert_eq!(bodies(&mut c, 2).await, ["second", "first"]);
    assert_eq!(committed_seq(&db).await, Some(1));
}
