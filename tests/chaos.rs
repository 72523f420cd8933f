//! Chaos soak: three nodes on PostgreSQL (and on MariaDB), each reaching the
//! database through its own proxy; three producers of persistent messages,
//! one producer of non-persistent messages and two consumers, all through
//! the failover client, while a driver cycles through faults on the master:
//! kill -9, SIGTERM, cutting its database connection; every fault's victim
//! comes back as a slave.
//!
//! At the end it prints the counts and asserts: every confirmed persistent
//! message was received (lost = 0), no transaction was left open on a
//! node's connection, none was stored twice (one message-id
//! per body), none was delivered twice without `redelivered:true`, no send
//! failed, and every fault was survived (another node took over and
//! confirmations resumed). Non-persistent messages are counted separately:
//! they may be lost across a failover.
//!
//! Bounded in count and time: `BATON_SOAK_FAULTS` faults (default 6, two of
//! each) within `BATON_SOAK_SECONDS` (default 60) per backend;
//! `BATON_SOAK_MODE` picks the election mode (session, lease; default auto);
//! `BATON_SOAK_PIPELINE` the nodes' `database.pipeline` (default: theirs;
//! the `*_with_pipelined_commits` soaks always run 2);
//! `BATON_SOAK_LOG_DIR` keeps every node's log there;
//! `scripts/soak.sh` runs the long form. Timeouts are guards against hangs,
//! never performance thresholds.

mod common;

#[path = "chaos/faults.rs"]
mod faults;
#[path = "chaos/traffic.rs"]
mod traffic;

use common::cluster::{Db, Settings};
use faults::{Cluster, CYCLE};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::sleep;
use traffic::{Books, Summary};

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;
/// Persistent confirmations that must follow each fault before the next
/// one: proof that service resumed.
const PROGRESS: u64 = 200;
/// Guard for one step (traffic resuming, the drain): a stuck cluster fails
/// the test instead of hanging it.
const STEP_GUARD: Duration = Duration::from_secs(90);

/// `BATON_SOAK_MODE`: the election mode (default: auto, i.e. session on
/// both backends).
fn mode() -> Option<&'static str> {
    match std::env::var("BATON_SOAK_MODE").as_deref() {
        Err(_) | Ok("auto") => None,
        Ok("session") => Some("session"),
        Ok("lease") => Some("lease"),
        Ok(other) => panic!("BATON_SOAK_MODE={other:?}: use session, lease or auto"),
    }
}

/// The nodes' settings: `pipeline` (the pipelined soaks), else
/// `BATON_SOAK_PIPELINE`, sets `--database-pipeline`.
fn settings(pipeline: Option<usize>) -> Settings {
    let mut settings = Settings::fast(mode());
    let pipeline = pipeline.map(|p| p.to_string()).or_else(|| {
        let env = std::env::var("BATON_SOAK_PIPELINE").ok()?;
        assert!(
            env.parse::<usize>().is_ok_and(|p| p > 0),
            "BATON_SOAK_PIPELINE={env:?}: use a count of 1 or more"
        );
        Some(env)
    });
    if let Some(pipeline) = pipeline {
        settings.extra = vec!["--database-pipeline".into(), pipeline];
    }
    settings
}

/// How many faults within how many seconds, from the environment.
fn bounds() -> (usize, Duration) {
    let read = |name: &str, default: u64| -> u64 {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
            Err(_) => default,
        }
    };
    (
        read("BATON_SOAK_FAULTS", 6) as usize,
        Duration::from_secs(read("BATON_SOAK_SECONDS", 60)),
    )
}

/// The client names: producers p0.., the non-persistent producer np,
/// consumers c0...
fn clients() -> impl Iterator<Item = String> {
    (0..PRODUCERS)
        .map(|i| format!("p{i}"))
        .chain(["np".to_string()])
        .chain((0..CONSUMERS).map(|i| format!("c{i}")))
}

/// Waits until `count` more persistent sends were confirmed and every
/// client (each producer, each consumer) made progress: all of them are
/// back in service.
async fn wait_progress(books: &Books, count: u64, after: &str) {
    let target = books.confirmed_count() + count;
    let before = books.ticks();
    let deadline = Instant::now() + STEP_GUARD;
    loop {
        let now = books.ticks();
        let idle: Vec<String> = clients()
            .filter(|c| now.get(c).unwrap_or(&0) <= before.get(c).unwrap_or(&0))
            .collect();
        if books.confirmed_count() >= target && idle.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stuck: {} of {target} persistent sends confirmed {STEP_GUARD:?} after {after}; \
             clients without progress: {idle:?}; errors: {:?}",
            books.confirmed_count(),
            books.errors.lock().unwrap()
        );
        sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every confirmed persistent message was delivered and the
/// message table is empty (everything acknowledged).
async fn drain(books: &Books, db: &Db) {
    let deadline = Instant::now() + STEP_GUARD;
    loop {
        let missing = books.missing();
        if missing.is_empty() && db.stored_bodies().await.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let stored = db.stored_bodies().await;
            panic!(
                "drain: {} confirmed message(s) never delivered (first: {:?}), {} still \
                 stored (first: {:?}), {} delivered without a receipt",
                missing.len(),
                missing.iter().take(20).collect::<Vec<_>>(),
                stored.len(),
                stored.iter().take(5).collect::<Vec<_>>(),
                books.summary().unconfirmed_received
            );
        }
        sleep(Duration::from_millis(100)).await;
    }
}

async fn soak(backend: &'static str, db: Db, pipeline: Option<usize>) {
    let (max_faults, seconds) = bounds();
    let db = Arc::new(db);
    let mut cluster = Cluster::start(&db, &settings(pipeline)).await;
    let url = cluster.failover_url();
    let books = Arc::new(Books::default());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let (url, books, done) = (url.clone(), books.clone(), done.clone());
            tokio::spawn(traffic::consume(url, backend, format!("c{i}"), books, done))
        })
        .collect();
    let mut producers = Vec::new();
    for i in 0..=PRODUCERS {
        let persistent = i < PRODUCERS;
        let name = if persistent {
            format!("p{i}")
        } else {
            "np".into()
        };
        let (url, books, stop) = (url.clone(), books.clone(), stop.clone());
        producers.push(tokio::spawn(traffic::produce(
            url, backend, name, persistent, books, stop,
        )));
    }

    let started = Instant::now();
    wait_progress(&books, PROGRESS, "the start").await;
    let mut injected = 0;
    let mut survived = 0;
    while injected < max_faults && started.elapsed() < seconds {
        let fault = CYCLE[injected % CYCLE.len()];
        let (old, new) = cluster.inject(fault).await;
        injected += 1;
        let what = format!("fault {injected} ({fault:?} on {old}, {new} took over)");
        // Survived = every client is back in service; otherwise this fails
        // the test as stuck.
        wait_progress(&books, PROGRESS, &what).await;
        survived += 1;
        eprintln!("[{backend}] {what}: survived");
    }

    stop.store(true, Ordering::SeqCst);
    let mut producer_failovers = Vec::new();
    for p in producers {
        let f = tokio::time::timeout(STEP_GUARD, p)
            .await
            .expect("producer finishes")
            .expect("producer task");
        producer_failovers.push(f);
    }
    drain(&books, &db).await;
    // Traffic is over: a transaction still open is one nobody will
    // commit (a pooled connection left inside it), and confirmed writes
    // made in it are lost when its connection goes.
    let open = db.transactions_left_open(2).await;
    assert!(
        open.is_empty(),
        "transactions left open on the nodes' connections: {open:?}"
    );
    done.store(true, Ordering::SeqCst);
    let mut consumer_failovers = Vec::new();
    for c in consumers {
        consumer_failovers.push(c.await.expect("consumer task"));
    }
    let s = books.summary();
    report(backend, &s, injected, survived, started.elapsed());
    keep_logs(backend, &cluster);
    eprintln!("[{backend}] client failovers: producers {producer_failovers:?}, consumers {consumer_failovers:?}");

    assert!(injected > 0, "no fault was injected");
    assert!(s.errors.is_empty(), "sends failed: {:?}", s.errors);
    assert!(
        s.lost.is_empty(),
        "confirmed but never received: {:?}",
        s.lost
    );
    assert!(
        s.stored_twice.is_empty(),
        "stored twice: {:?}",
        s.stored_twice
    );
    assert!(
        s.unflagged_twice.is_empty(),
        "delivered twice without redelivered:true: {:?}",
        s.unflagged_twice
    );
    for f in producer_failovers.iter().chain(&consumer_failovers) {
        assert!(
            *f >= injected as u64,
            "a client failed over {f} times through {injected} faults on its master"
        );
    }
}

/// `BATON_SOAK_LOG_DIR`: every node's log lines (all its processes) are
/// written there as `<backend>-<node>.log`, for reading a failure.
fn keep_logs(backend: &str, cluster: &faults::Cluster) {
    let Ok(dir) = std::env::var("BATON_SOAK_LOG_DIR") else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("BATON_SOAK_LOG_DIR can be created");
    for node in &cluster.nodes {
        let path = std::path::Path::new(&dir).join(format!("{backend}-{}.log", node.name));
        std::fs::write(&path, node.log_text()).expect("node log written");
        eprintln!("[{backend}] node {} log: {}", node.name, path.display());
    }
}

fn report(backend: &str, s: &Summary, injected: usize, survived: usize, took: Duration) {
    eprintln!(
        "SOAK {backend}: faults injected {injected}, failovers survived {survived}, \
         run {:.0} s; persistent: confirmed {}, received {}, lost {}, stored twice {}, \
         delivered twice without redelivered {}, redelivered (flagged) {}, received \
         without receipt {}; longest gap between confirmations {} ms; non-persistent: \
         confirmed {}, received {}, lost {} (allowed across a failover), delivered twice {}; \
         send errors {}",
        took.as_secs_f64(),
        s.confirmed,
        s.received,
        s.lost.len(),
        s.stored_twice.len(),
        s.unflagged_twice.len(),
        s.redelivered,
        s.unconfirmed_received,
        s.longest_gap.as_millis(),
        s.transient_confirmed,
        s.transient_received,
        s.transient_lost,
        s.transient_twice,
        s.errors.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_soak_survives_kills_stops_and_database_cuts_of_the_master() {
    soak("postgres", Db::postgres(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_soak_survives_kills_stops_and_database_cuts_of_the_master() {
    soak("mariadb", Db::mariadb(), None).await;
}

/// The same with two group commits in flight (`database.pipeline` 2):
/// batches that commit in order, a producer's mark never over its failed
/// send, and (MariaDB) deletes that never wait on the other batch's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_soak_with_pipelined_commits() {
    soak("postgres-pipelined", Db::postgres(), Some(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_soak_with_pipelined_commits() {
    soak("mariadb-pipelined", Db::mariadb(), Some(2)).await;
}
