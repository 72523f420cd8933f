//! Master/slave on one shared SQLite file (lease election): several real
//! `baton` processes, one master, failover on kill -9 and on SIGTERM, and
//! the persistence promises across every failover.

use crate::common;

use common::cluster::{self, Db, Node, Role, Settings};

fn lease() -> Settings {
    // SQLite has only lease mode; the default mode (auto) picks it.
    Settings::fast(None)
}

#[tokio::test]
async fn two_nodes_one_master_the_slave_refuses_stomp() {
    cluster::one_master_among(Db::sqlite(), lease(), 2).await;
}

#[tokio::test]
async fn three_nodes_started_at_once_on_an_empty_file_elect_one_master() {
    cluster::one_master_among(Db::sqlite(), lease(), 3).await;
}

#[tokio::test]
async fn kill9_of_the_master_fails_over_repeatedly_without_losing_confirmed_messages() {
    cluster::kill9_failover(Db::sqlite(), lease(), 3).await;
}

#[tokio::test]
async fn sigterm_hands_over_at_once_and_loses_nothing() {
    cluster::graceful_handover(Db::sqlite(), None).await;
}

#[tokio::test]
async fn session_mode_is_refused_on_sqlite() {
    // A configuration error, before anything binds: exit code 2.
    let db = Db::sqlite();
    let out = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--database-url",
            &db.url(),
            "--election-mode",
            "session",
        ])
        .args([
            "--stomp-listen",
            "127.0.0.1:0",
            "--openwire-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .output()
        .expect("run baton");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("election.mode"), "{text}");
}

#[tokio::test]
async fn a_slave_takes_over_only_after_the_lease_of_a_dead_master_expired() {
    // With a lease far longer than the test's guard, a kill -9 of the master
    // must NOT let the slave in: the dead master's lease is still running.
    let db = Db::sqlite();
    let settings = Settings::long_lease(None);
    let mut nodes = vec![
        Node::start("a", &db.url(), &settings),
        Node::start("b", &db.url(), &settings),
    ];
    let m = cluster::wait_master(&nodes).await;
    let s = 1 - m;
    nodes[s]
        .wait_log("slave: waiting for the master lock", 1)
        .await;
    nodes[m].kill9();
    let before = db.lock_row().await;
    // Many retries later (retry is 50 ms), the slave is still a slave.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(nodes[s].role(), Role::Slave);
    assert!(nodes[s].stomp_refused());
    assert_eq!(
        db.lock_row().await,
        before,
        "the slave took an unexpired lease"
    );
}
