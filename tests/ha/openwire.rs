//! The reference deployment of issue 15 with the real ActiveMQ Java client
//! (Debian's `libactivemq-java`): two Baton nodes on one database, a Java
//! producer and consumer on `failover:(tcp://a,tcp://b)`, the master taken
//! down in the middle of the persistent sends. Every message arrives
//! exactly once (a repeat only with JMSRedelivered), every `send()`
//! returns, and non-persistent messages sent before the failover are gone
//! (`jms_scenarios::failover_during_sends`, the same code that checks
//! ActiveMQ itself).

use crate::common::cluster::{wait_master, Db, Node, Settings};
use crate::common::jms_scenarios as sc;

/// Two nodes on `db`, the failover URL of the Java client, and which node
/// is master.
async fn pair(db: &Db) -> (Vec<Node>, String, usize) {
    let settings = Settings::fast(Some("session"));
    let nodes = vec![
        Node::start("a", &db.url(), &settings),
        Node::start("b", &db.url(), &settings),
    ];
    let master = wait_master(&nodes).await;
    let url = format!(
        "failover:(tcp://{},tcp://{})",
        nodes[0].openwire, nodes[1].openwire
    );
    (nodes, url, master)
}

/// The other node became master and took the clients.
async fn took_over(nodes: &mut [Node], old: usize) {
    let new = wait_master(nodes).await;
    assert_ne!(new, old, "the slave took over");
}

/// `producers` Java producers, `count` persistent sends each (in
/// transactions of `transacted_batch` if given), the master killed with -9
/// a third of the way through.
async fn kill9_during_sends(
    db: Db,
    producers: usize,
    count: usize,
    transacted_batch: Option<usize>,
) {
    let (mut nodes, url, master) = pair(&db).await;
    let mut victim = Some(&mut nodes[master]);
    tokio::task::block_in_place(|| {
        sc::failover_during_sends(&url, producers, count, transacted_batch, || {
            if let Some(n) = victim.take() {
                n.kill9();
            }
        })
    });
    took_over(&mut nodes, master).await;
}

async fn sigterm_during_sends(db: Db) {
    let (mut nodes, url, master) = pair(&db).await;
    let mut victim = Some(&mut nodes[master]);
    tokio::task::block_in_place(|| {
        sc::failover_during_sends(&url, 1, 2000, None, || {
            if let Some(n) = victim.take() {
                n.terminate();
            }
        })
    });
    took_over(&mut nodes, master).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_kill9_during_5000_persistent_sends_loses_and_doubles_nothing() {
    kill9_during_sends(Db::postgres(), 3, 5000 / 3, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kill9_during_5000_persistent_sends_loses_and_doubles_nothing() {
    kill9_during_sends(Db::mariadb(), 3, 5000 / 3, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sigterm_during_persistent_sends_loses_and_doubles_nothing() {
    sigterm_during_sends(Db::postgres()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_sigterm_during_persistent_sends_loses_and_doubles_nothing() {
    sigterm_during_sends(Db::mariadb()).await;
}

/// §5.3 item 31: the master killed while two producers send in
/// transactions of ten; a commit in flight is "in doubt" for the client,
/// which sends the batch again (see `failover_during_sends`).
#[tokio::test(flavor = "multi_thread")]
async fn postgres_kill9_during_transacted_sends_keeps_transactions_whole() {
    kill9_during_sends(Db::postgres(), 2, 300, Some(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kill9_during_transacted_sends_keeps_transactions_whole() {
    kill9_during_sends(Db::mariadb(), 2, 300, Some(10)).await;
}

/// §5.3 items 32–34 across one kill -9 of the master: unacknowledged
/// messages come back flagged redelivered, request/reply over a temporary
/// queue keeps working, a durable subscriber resumes where it was.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_kill9_keeps_consumers_temp_queues_and_durable_subscribers() {
    let db = Db::postgres();
    let (mut nodes, url, master) = pair(&db).await;
    let mut victim = Some(&mut nodes[master]);
    tokio::task::block_in_place(|| {
        sc::failover_keeps_state(&url, || {
            if let Some(n) = victim.take() {
                n.kill9();
            }
        })
    });
    took_over(&mut nodes, master).await;
}

/// A persistent send the database refuses (a body over MariaDB's
/// `max_allowed_packet`, 16 MiB here, well under the OpenWire frame
/// limit) fails with an exception, and the same producer's next sends
/// over the same connection are stored: the connection stays open, so
/// they are not failed in the expectation of a resend.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_send_the_database_refuses_leaves_the_producer_usable() {
    let db = Db::mariadb();
    let node = Node::start("a", &db.url(), &Settings::fast(Some("session")));
    node.wait_role(crate::common::cluster::Role::Master).await;
    let url = format!("tcp://{}", node.openwire);
    tokio::task::block_in_place(|| sc::refused_send_leaves_the_producer_usable(&url, 17 << 20));
}
