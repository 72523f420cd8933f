//! The failover client (`baton::client::FailoverClient`) against a real
//! two-node cluster on PostgreSQL: a producer and a consumer keep working
//! through `failover:(...)` while the master is killed with -9, twice.
//! Nothing confirmed is lost, stored twice, or delivered twice unless the
//! delivery says `redelivered:true`; the producer never sees an error.

use crate::common;

use baton::client::{ClientOptions, FailoverClient};
use common::cluster::{self, Db, Node, Role, Settings};
use common::deliveries::{self, Deliveries};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, timeout};

const MESSAGES: u64 = 10_000;
const QUEUE: &str = "/queue/failover";
/// Failure guard for the whole run (never a performance threshold).
const RUN_GUARD: Duration = Duration::from_secs(240);

fn failover_url(nodes: &[Node]) -> String {
    let list: Vec<String> = nodes.iter().map(|n| format!("tcp://{}", n.stomp)).collect();
    format!(
        "failover:({})?initialReconnectDelay=10&maxReconnectDelay=200&randomize=false",
        list.join(",")
    )
}

/// Sends `MESSAGES` persistent messages, pipelined; every confirmation must
/// succeed. Returns the client's failover count.
async fn produce(url: String, confirmed: Arc<AtomicU64>) -> u64 {
    let options = ClientOptions {
        max_in_flight: 50,
        ..ClientOptions::default()
    };
    let client = FailoverClient::connect(&url, options)
        .await
        .expect("producer connects");
    let mut pending = std::collections::VecDeque::new();
    for i in 1..=MESSAGES {
        let confirm = client
            .send_async(QUEUE, format!("m-{i}"), &[("persistent", "true")])
            .await
            .unwrap_or_else(|e| panic!("queue send {i}: {e}"));
        pending.push_back((i, confirm));
        while pending.len() >= 50 {
            let (n, c) = pending.pop_front().expect("non-empty");
            c.wait()
                .await
                .unwrap_or_else(|e| panic!("send {n} failed: {e}"));
            confirmed.fetch_add(1, Ordering::Relaxed);
        }
    }
    for (n, c) in pending {
        c.wait()
            .await
            .unwrap_or_else(|e| panic!("send {n} failed: {e}"));
        confirmed.fetch_add(1, Ordering::Relaxed);
    }
    let failovers = client.failovers();
    client.close().await.expect("producer closes");
    failovers
}

/// Receives with client-individual acks until every body arrived and the
/// database holds no message any more.
async fn consume(url: String, db: Arc<Db>) -> (Deliveries, u64) {
    let mut client = FailoverClient::connect(&url, ClientOptions::default())
        .await
        .expect("consumer connects");
    client
        .subscribe(QUEUE, "s", "client-individual", &[])
        .await
        .expect("subscribe");
    let mut seen: Deliveries = BTreeMap::new();
    loop {
        let all = seen.len() as u64 == MESSAGES;
        let wait = if all {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(60)
        };
        match timeout(wait, client.next_message()).await {
            Ok(Some(m)) => {
                let body = String::from_utf8_lossy(m.body()).into_owned();
                let id = m.header("message-id").unwrap_or_default().to_string();
                seen.entry(body).or_default().push((id, m.redelivered()));
                client.ack(&m, false).await.expect("ack");
            }
            Ok(None) => panic!("consumer client stopped"),
            Err(_) if all => {
                if db.stored_bodies().await.is_empty() {
                    break;
                }
            }
            Err(_) => panic!(
                "no message for 60 s with {} of {MESSAGES} received",
                seen.len()
            ),
        }
    }
    let failovers = client.failovers();
    client.close().await.expect("consumer closes");
    (seen, failovers)
}

/// Kills the master with -9 once `confirmed` reaches each threshold, and
/// restarts it as a slave.
async fn kill_masters(nodes: &mut [Node], confirmed: Arc<AtomicU64>, thresholds: &[u64]) {
    for &t in thresholds {
        while confirmed.load(Ordering::Relaxed) < t {
            sleep(Duration::from_millis(5)).await;
        }
        let m = cluster::wait_master(nodes).await;
        nodes[m].kill9();
        let next = cluster::wait_master(nodes).await;
        assert_ne!(next, m, "the killed node cannot be master");
        nodes[m].restart();
        nodes[m].wait_role(Role::Slave).await;
    }
}

async fn survive_two_kills(db: Db) {
    let db = Arc::new(db);
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a", "b"]).await;
    let url = failover_url(&nodes);
    let confirmed = Arc::new(AtomicU64::new(0));
    let producer = tokio::spawn(produce(url.clone(), confirmed.clone()));
    let consumer = tokio::spawn(consume(url, db.clone()));
    let run = async {
        kill_masters(
            &mut nodes,
            confirmed.clone(),
            &[MESSAGES / 3, MESSAGES * 2 / 3],
        )
        .await;
        let producer_failovers = producer.await.expect("producer task");
        let (seen, consumer_failovers) = consumer.await.expect("consumer task");
        (producer_failovers, seen, consumer_failovers)
    };
    let (producer_failovers, seen, consumer_failovers) = timeout(RUN_GUARD, run)
        .await
        .unwrap_or_else(|_| panic!("run timed out at {confirmed:?} confirmed"));

    assert_eq!(confirmed.load(Ordering::Relaxed), MESSAGES);
    assert_eq!(producer_failovers, 2, "the producer failed over twice");
    assert_eq!(consumer_failovers, 2, "the consumer failed over twice");
    let expected: BTreeSet<String> = (1..=MESSAGES).map(|i| format!("m-{i}")).collect();
    let received: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(received, expected, "every confirmed message was received");
    let twice = deliveries::stored_twice(&seen);
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    let unflagged = deliveries::unflagged_twice(&seen);
    assert!(
        unflagged.is_empty(),
        "delivered twice without redelivered:true: {unflagged:?}"
    );
    let redelivered = deliveries::repeated(&seen);
    eprintln!(
        "{MESSAGES} confirmed and received; {redelivered} delivered more than once (flagged)"
    );
}

/// The window the end-to-end run can only hit by chance, made certain: a
/// send committed on the old master whose RECEIPT the client never acted
/// on is resent to the new master, which must recognise it from the
/// `producers` table.
async fn resend_to_new_master_is_not_stored_twice(db: Db) {
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a", "b"]).await;
    let tagged = |seq: &'static str| {
        [
            ("persistent", "true"),
            ("baton-producer-id", "the-producer"),
            ("baton-producer-seq", seq),
        ]
    };
    let mut c = cluster::connect(&nodes[0]).await;
    for (seq, body) in [("1", "first"), ("2", "second")] {
        cluster::guard("send", c.send(QUEUE, body.to_string(), &tagged(seq)))
            .await
            .expect("send");
    }
    nodes[0].kill9();
    assert_eq!(cluster::wait_master(&nodes).await, 1);
    let mut c = cluster::connect(&nodes[1]).await;
    for (seq, body) in [("1", "first"), ("2", "second"), ("3", "third")] {
        cluster::guard("resend", c.send(QUEUE, body.to_string(), &tagged(seq)))
            .await
            .expect("resend confirmed");
    }
    let want: Vec<String> = ["first", "second", "third"].map(String::from).to_vec();
    cluster::expect_exactly(&nodes[1], QUEUE, &want).await;
}

#[tokio::test]
async fn postgres_resend_to_the_new_master_is_not_stored_twice() {
    resend_to_new_master_is_not_stored_twice(Db::postgres()).await;
}

#[tokio::test]
async fn mariadb_resend_to_the_new_master_is_not_stored_twice() {
    resend_to_new_master_is_not_stored_twice(Db::mariadb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_producer_and_consumer_survive_two_master_kills() {
    survive_two_kills(Db::postgres()).await;
}
