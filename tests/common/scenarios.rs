//! The master/slave scenarios shared by the three backends (tests/ha/).

use baton::client::{Client, ClientError};
use baton::stomp::frame::{Command as StompCommand, Frame};
use std::time::{Duration, Instant};

use super::proxy::Proxy;

use super::cluster::*;

// ------------------------------------------------------------ scenarios

/// `n` nodes started at once on an empty database: exactly one becomes
/// master, the others stay slaves (checked again after several lease
/// renewals).
pub async fn one_master_among(db: Db, settings: Settings, n: usize) {
    let names = ["a", "b", "c", "d"];
    let nodes: Vec<Node> = names[..n]
        .iter()
        .map(|name| Node::start(name, &db.url(), &settings))
        .collect();
    let m = wait_master(&nodes).await;
    // Let every slave have tried (and failed) at least once.
    for node in &nodes {
        node.wait_log("slave: waiting for the master lock", 1).await;
    }
    assert_single_master(&db, &nodes, m).await;
    // Several renewals later nothing changed.
    tokio::time::sleep(Duration::from_millis(settings.lease_ms * 2)).await;
    assert_single_master(&db, &nodes, m).await;
    // The registry shows the whole cluster with each node's role.
    let expected: Vec<(String, String)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.name.clone(),
                if i == m { "master" } else { "slave" }.to_string(),
            )
        })
        .collect();
    assert_eq!(db.registry().await, expected, "node registry");
    // `/role` as JSON names this node and the master, on every node.
    for (i, node) in nodes.iter().enumerate() {
        let (code, body) =
            http_get_accept(&node.admin, "/role", "application/json").expect("GET /role");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON /role");
        assert_eq!(code, if i == m { 200 } else { 503 }, "{body}");
        assert_eq!(v["role"], if i == m { "master" } else { "slave" }, "{body}");
        assert_eq!(v["node_id"], node.name.as_str(), "{body}");
        assert_eq!(v["master"]["node_id"], nodes[m].name.as_str(), "{body}");
        assert_eq!(v["master"]["stomp_addr"], nodes[m].stomp.as_str(), "{body}");
    }
    for (i, node) in nodes.iter().enumerate() {
        let terms = usize::from(i == m);
        assert_eq!(
            node.log_count("became master"),
            terms,
            "{} changed role",
            node.name
        );
        assert_eq!(node.log_count("demoted"), 0, "{} was demoted", node.name);
    }
}

/// kill -9 of the master, `rounds` times, alternating between two nodes
/// (the killed one restarts as the new slave): every confirmed persistent
/// message is delivered by the new master, non-persistent ones are gone,
/// epochs grow.
pub async fn kill9_failover(db: Db, settings: Settings, rounds: usize) {
    let mut nodes = start_cluster(&db, &settings, &["a", "b"]).await;
    let mut m = 0;
    let mut last_epoch = db.lock_row().await.epoch;
    for round in 0..rounds {
        let dest = "/queue/ha";
        let persistent = bodies(&format!("r{round}-persistent"), 5);
        let transient = bodies(&format!("r{round}-transient"), 5);
        let mut c = connect(&nodes[m]).await;
        for (p, t) in persistent.iter().zip(&transient) {
            send_persistent(&mut c, dest, p).await;
            send_transient(&mut c, dest, t).await;
        }
        let stored = db.stored_bodies().await;
        assert_eq!(stored, persistent, "rows committed before the kill");
        nodes[m].kill9();
        drop(c);
        let s = 1 - m;
        nodes[s].wait_role(Role::Master).await;
        assert!(nodes[m].stomp_refused());
        expect_exactly(&nodes[s], dest, &persistent).await;
        assert!(
            db.stored_bodies().await.is_empty(),
            "acknowledged messages left rows behind"
        );
        nodes[m].restart();
        nodes[m]
            .wait_log("slave: waiting for the master lock", 1)
            .await;
        assert_single_master(&db, &nodes, s).await;
        let epoch = db.lock_row().await.epoch;
        assert!(epoch > last_epoch, "epoch {epoch} after {last_epoch}");
        last_epoch = epoch;
        m = s;
    }
}

/// SIGTERM of the master: it exits 0 after releasing the lock, and the
/// slave takes over although the lease is far longer than the guard (so the
/// takeover came from the release, not from the lease expiring). Nothing
/// confirmed is lost.
pub async fn graceful_handover(db: Db, mode: Option<&'static str>) {
    let settings = Settings::long_lease(mode);
    let mut nodes = start_cluster(&db, &settings, &["a", "b"]).await;
    let (m, s) = (0, 1);
    let persistent = bodies("graceful", 5);
    let mut c = connect(&nodes[m]).await;
    for (i, p) in persistent.iter().enumerate() {
        send_persistent(&mut c, "/queue/graceful", p).await;
        send_transient(&mut c, "/queue/graceful", &format!("transient-{i}")).await;
    }
    let status = nodes[m].terminate();
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        nodes[m].log_text().contains("released the master lock"),
        "{}",
        nodes[m].log_text()
    );
    expect_error_or_close(&mut c, "client of the stopped master").await;
    nodes[s].wait_role(Role::Master).await;
    assert_single_master(&db, &nodes, s).await;
    expect_exactly(&nodes[s], "/queue/graceful", &persistent).await;
}

/// Partition between master A and the database (A reaches it through a
/// proxy, B directly). A must stop serving by itself, B must take over, a
/// commit A sent into the partition must never land nor be confirmed, and
/// A must not come back as master after the partition heals.
pub async fn partition(db: Db, mode: &'static str) {
    let settings = Settings::fast(Some(mode));
    let proxy = Proxy::start(&db.addr());
    let a = Node::start("a", &db.url_via(&proxy.addr()), &settings);
    a.wait_role(Role::Master).await;
    let b = Node::start("b", &db.url(), &settings);
    b.wait_log("slave: waiting for the master lock", 1).await;
    let nodes = [a, b];
    assert_single_master(&db, &nodes, 0).await;
    let [a, b] = nodes;
    let epoch_a = db.lock_row().await.epoch;
    if mode == "session" {
        let port = db.session_lock_port().await;
        assert!(
            port.is_some_and(|p| proxy.upstream_ports().contains(&p)),
            "A should hold the session lock through the proxy (holder port {port:?}, proxy ports {:?})",
            proxy.upstream_ports()
        );
    }

    let mut producer = connect(&a).await;
    send_persistent(&mut producer, "/queue/part", "before").await;
    let mut idle = connect(&a).await;

    proxy.pause();
    // A persistent send whose commit can only go into the partition.
    guard(
        "send stuck",
        producer.send_frame(
            Frame::new(StompCommand::Send)
                .with_header("destination", "/queue/part")
                .with_header("persistent", "true")
                .with_header("receipt", "stuck")
                .with_body("stuck"),
        ),
    )
    .await
    .expect("send into the partition");

    // A notices by itself that it can no longer renew, and steps down.
    a.wait_log("demoted", 1).await;
    assert_eq!(a.role(), Role::Slave);
    assert!(a.stomp_refused(), "a demoted master still accepts STOMP");
    assert!(
        a.openwire_refused(),
        "a demoted master still accepts OpenWire"
    );
    expect_error_or_close(&mut producer, "producer on the partitioned master").await;
    expect_error_or_close(&mut idle, "idle client on the partitioned master").await;

    // B takes over (in session mode: although A's session and its lock
    // still live on the database side).
    b.wait_role(Role::Master).await;
    let row = db.lock_row().await;
    assert_eq!(row.holder.as_deref(), Some("b"));
    assert!(row.epoch > epoch_a, "epoch {} after {epoch_a}", row.epoch);
    if mode == "session" {
        let port = db.session_lock_port().await;
        assert!(
            port.is_some_and(|p| proxy.upstream_ports().contains(&p)),
            "A's session (through the paused proxy) should still hold the session lock \
             on the database side while B is master; holder port {port:?}"
        );
    }
    assert_eq!(a.role(), Role::Slave);
    let mut c = connect(&b).await;
    send_persistent(&mut c, "/queue/part", "on-b").await;

    // Heal the partition: whatever A had sent flows to the database now.
    proxy.resume();
    let deadline = Instant::now() + GUARD;
    while proxy.held() > 0 {
        assert!(Instant::now() < deadline, "proxy never drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A finished its term (writer included) and is a slave again.
    a.wait_log("slave: waiting for the master lock", 2).await;
    // Watch a few leases: B stays the one master, A never comes back.
    let watch_until = Instant::now() + Duration::from_millis(settings.lease_ms * 3);
    while Instant::now() < watch_until {
        assert_eq!(a.role(), Role::Slave, "A came back as master");
        assert_eq!(b.role(), Role::Master, "B lost mastership");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.master_epochs(), vec![epoch_a], "A's terms");
    assert_eq!(b.log_count("demoted"), 0, "B was demoted");
    assert_eq!(db.lock_row().await, row, "the lock row moved");
    assert!(a.stomp_refused());
    let stored = db.stored_bodies().await;
    assert_eq!(stored, vec!["before".to_string(), "on-b".to_string()]);
    drop(c);
    expect_exactly(&b, "/queue/part", &["before".into(), "on-b".into()]).await;
}

/// The partition falls in the middle of A's commit: the transaction has
/// read the lock row with its shared row lock, the INSERT is held in the
/// proxy. A must still step down and B must still take over; the half
/// transaction must never commit.
pub async fn partition_mid_commit(db: Db, mode: &'static str) {
    let settings = Settings::fast(Some(mode));
    let proxy = Proxy::start(&db.addr());
    let a = Node::start("a", &db.url_via(&proxy.addr()), &settings);
    a.wait_role(Role::Master).await;
    let b = Node::start("b", &db.url(), &settings);
    b.wait_log("slave: waiting for the master lock", 1).await;
    let epoch_a = db.lock_row().await.epoch;

    let insert = match db.kind {
        Kind::Mariadb => format!("INSERT INTO `{PREFIX}msgs`"),
        _ => format!("INSERT INTO {PREFIX}msgs"),
    };
    proxy.pause_when_sent(insert.as_bytes());
    let mut producer = connect(&a).await;
    guard(
        "send stuck",
        producer.send_frame(
            Frame::new(StompCommand::Send)
                .with_header("destination", "/queue/mid")
                .with_header("persistent", "true")
                .with_header("receipt", "stuck")
                .with_body("stuck"),
        ),
    )
    .await
    .expect("send");
    let deadline = Instant::now() + GUARD;
    while !proxy.triggered() {
        assert!(
            Instant::now() < deadline,
            "A's INSERT never went through the proxy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    a.wait_log("demoted", 1).await;
    expect_error_or_close(&mut producer, "producer on the partitioned master").await;
    b.wait_role(Role::Master).await;
    let row = db.lock_row().await;
    assert_eq!(row.holder.as_deref(), Some("b"));
    assert!(row.epoch > epoch_a);
    let mut c = connect(&b).await;
    send_persistent(&mut c, "/queue/mid", "on-b").await;

    proxy.resume();
    a.wait_log("slave: waiting for the master lock", 2).await;
    tokio::time::sleep(Duration::from_millis(settings.lease_ms)).await;
    assert_eq!(a.role(), Role::Slave);
    assert_eq!(b.role(), Role::Master);
    assert_eq!(db.stored_bodies().await, vec!["on-b".to_string()]);
    drop(c);
    expect_exactly(&b, "/queue/mid", &["on-b".into()]).await;
}

/// A commit whose answer is lost: the master's commit waits in its fencing
/// read (the test holds the election row), its database connections are
/// cut meanwhile, then the row is released. PostgreSQL's single-statement
/// commit goes on and commits (it was sent whole); MariaDB's rolls back
/// (its COMMIT was never sent). The master reads the outcome back before it
/// answers: a RECEIPT on PostgreSQL, with the message stored once; an ERROR
/// on MariaDB, with nothing stored, and the client's resend stored once.
/// Lease mode: a session lock would go with the cut connections.
pub async fn commit_answer_lost(db: Db) {
    let settings = Settings::fast(Some("lease"));
    let proxy = Proxy::start(&db.addr());
    let a = Node::start("a", &db.url_via(&proxy.addr()), &settings);
    a.wait_role(Role::Master).await;
    let mut c = connect(&a).await;
    send_persistent(&mut c, "/queue/doubt", "before").await;

    let release = db.hold_lock_row().await;
    guard(
        "send",
        c.send_frame(
            Frame::new(StompCommand::Send)
                .with_header("destination", "/queue/doubt")
                .with_header("persistent", "true")
                .with_header("receipt", "doubt")
                .with_body("doubt"),
        ),
    )
    .await
    .expect("send");
    let deadline = Instant::now() + GUARD;
    while db.commits_waiting_on_lock_row().await == 0 {
        assert!(
            Instant::now() < deadline,
            "the commit never waited on the election row"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.reset();
    release.send(()).expect("release the election row");

    let answer = guard("the answer to the send", c.recv()).await;
    let copies = |bodies: Vec<String>| bodies.iter().filter(|b| *b == "doubt").count();
    match db.kind {
        Kind::Postgres => {
            let frame = answer.expect("an answer");
            assert_eq!(
                frame.command,
                StompCommand::Receipt,
                "committed after its connection was cut: confirmed ({:?})",
                frame.header("message")
            );
            assert_eq!(copies(db.stored_bodies().await), 1);
            assert_eq!(
                a.log_count("group commit in doubt: read back, it was committed"),
                1
            );
            assert_eq!(commits_in_doubt(&a, "stored"), 1.0);
        }
        _ => {
            match answer {
                Ok(f) => assert_eq!(f.command, StompCommand::Error, "not committed: an ERROR"),
                Err(e) => assert!(matches!(e, ClientError::Closed), "{e}"),
            }
            assert_eq!(copies(db.stored_bodies().await), 0);
            assert!(commits_in_doubt(&a, "not_stored") >= 1.0);
            assert_eq!(commits_in_doubt(&a, "stored"), 0.0);
            // The client resends until confirmed: a commit may still meet
            // one of the pool's connections the cut closed, and fail.
            let mut tries = 0;
            loop {
                tries += 1;
                let mut again = connect(&a).await;
                let sent = guard(
                    "resend",
                    again.send("/queue/doubt", "doubt", &[("persistent", "true")]),
                )
                .await;
                match sent {
                    Ok(()) => break,
                    Err(e) => assert!(tries < 10, "the resend keeps failing: {e}"),
                }
            }
            assert_eq!(copies(db.stored_bodies().await), 1, "the resend, once");
        }
    }
    assert_eq!(a.role(), Role::Master, "the master stayed master");
}

/// `baton_store_commits_in_doubt_total{outcome}` of node `n`.
fn commits_in_doubt(n: &Node, outcome: &str) -> f64 {
    let prefix = format!("baton_store_commits_in_doubt_total{{outcome=\"{outcome}\"}} ");
    let text = super::http::Http::anonymous(&n.admin)
        .get("/metrics")
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}in:\n{text}"))
}

/// Session mode, two claims racing: A holds the session lock but its claim
/// of the (free) lock row is held back in a partition; B, who cannot get
/// the session lock, claims the free row and serves. When the partition
/// heals, A's claim reaches the database. B is a live, renewing master
/// throughout: it must stay the only master (A must never serve while B
/// does, B must not be deposed by a claim sent before B's term began).
pub async fn session_claim_race(db: Db) {
    let settings = Settings::fast(Some("session"));
    let proxy = Proxy::start(&db.addr());
    // A's first claim (`... epoch = epoch + 1 ...`) is held back.
    proxy.pause_when_sent(b"epoch = epoch + 1");
    let a = Node::start("a", &db.url_via(&proxy.addr()), &settings);
    let deadline = Instant::now() + GUARD;
    while !proxy.triggered() {
        assert!(
            Instant::now() < deadline,
            "A's claim of the lock row never went through the proxy; log:\n{}",
            a.log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let port = db.session_lock_port().await;
    assert!(
        port.is_some_and(|p| proxy.upstream_ports().contains(&p)),
        "A should hold the session lock (holder port {port:?})"
    );
    let b = Node::start("b", &db.url(), &settings);
    b.wait_role(Role::Master).await;
    let row = db.lock_row().await;
    assert_eq!(row.holder.as_deref(), Some("b"));
    let mut c = connect(&b).await;
    send_persistent(&mut c, "/queue/race", "on-b").await;

    proxy.resume();
    // Watch several leases: never two masters, B keeps its term.
    let watch_until = Instant::now() + Duration::from_millis(settings.lease_ms * 3);
    while Instant::now() < watch_until {
        let (ra, rb) = (a.role(), b.role());
        assert!(
            !(ra == Role::Master && rb == Role::Master),
            "A and B are both master"
        );
        assert_eq!(ra, Role::Slave, "A became master while B was serving");
        assert_eq!(rb, Role::Master, "B lost its term to A's stale claim");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        a.master_epochs().is_empty(),
        "A served: {:?}",
        a.master_epochs()
    );
    assert_eq!(b.log_count("demoted"), 0, "B was deposed");
    assert_eq!(db.lock_row().await, row, "the lock row moved");
    drop(c);
    expect_exactly(&b, "/queue/race", &["on-b".into()]).await;
}

/// The database server crashes and restarts under a serving master:
/// confirmed messages survive and a master serves again. With
/// `outage_past_lease`, the server stays down until the master has stepped
/// down (its lease deadline passed), so the next term recovers everything
/// from the database; otherwise it comes back at once.
pub async fn database_restart(
    server: &mut PrivateServer,
    mode: &'static str,
    outage_past_lease: bool,
) {
    let db = server.db();
    let settings = Settings::fast(Some(mode));
    let nodes = start_cluster(&db, &settings, &["a", "b"]).await;
    let epoch_before = db.lock_row().await.epoch;
    let persistent = bodies("pre-crash", 5);
    let transient = bodies("transient", 5);
    let mut c = connect(&nodes[0]).await;
    for (p, t) in persistent.iter().zip(&transient) {
        send_persistent(&mut c, "/queue/dbr", p).await;
        send_transient(&mut c, "/queue/dbr", t).await;
    }

    server.crash();
    if outage_past_lease {
        nodes[0].wait_log("demoted", 1).await;
        assert_eq!(nodes[0].role(), Role::Slave);
        assert!(
            nodes[0].stomp_refused(),
            "a demoted master still accepts STOMP"
        );
        expect_error_or_close(&mut c, "client of the demoted master").await;
        assert_eq!(
            nodes[1].role(),
            Role::Slave,
            "b became master without a database"
        );
    }
    drop(c);
    server.start().expect("restart the database server");

    // Some node serves again: a persistent send is confirmed.
    let deadline = Instant::now() + GUARD;
    loop {
        assert!(
            Instant::now() < deadline,
            "no master served after the restart; logs:\n{}\n{}",
            nodes[0].log_text(),
            nodes[1].log_text()
        );
        if let Some(i) = nodes.iter().position(|n| n.role() == Role::Master) {
            let attempt = tokio::time::timeout(Duration::from_secs(5), async {
                let mut c = Client::connect(&nodes[i].stomp).await?;
                c.send(
                    "/queue/dbr",
                    "post-restart".to_string(),
                    &[("persistent", "true")],
                )
                .await?;
                c.disconnect().await
            })
            .await;
            if let Ok(Ok(())) = attempt {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stored = persistent.clone();
    stored.push("post-restart".into());
    assert_eq!(db.stored_bodies().await, stored);
    // Settle: one lease later exactly one node is master.
    tokio::time::sleep(Duration::from_millis(settings.lease_ms)).await;
    let m = wait_master(&nodes).await;
    assert_single_master(&db, &nodes, m).await;
    let row = db.lock_row().await;
    let expected = if row.epoch == epoch_before {
        // The master kept its term through the outage: its memory (the
        // non-persistent messages too) is intact.
        assert!(
            !outage_past_lease,
            "the term survived an outage past its lease"
        );
        let mut all: Vec<String> = persistent
            .iter()
            .zip(&transient)
            .flat_map(|(p, t)| [p.clone(), t.clone()])
            .collect();
        all.push("post-restart".into());
        all
    } else {
        // A new term: everything it has came from the database.
        assert!(
            nodes[0].log_count("demoted") > 0,
            "the epoch moved on but the old master never stepped down"
        );
        stored
    };
    expect_exactly(&nodes[m], "/queue/dbr", &expected).await;
}

fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}
