//! The PostgreSQL and MySQL/MariaDB stores against real servers.
//!
//! Servers: `BATON_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`)
//! and `BATON_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306`), URLs
//! without a database: each test creates its own database and a guard drops
//! it again, also when the test fails. Without a reachable server these
//! tests fail with set-up instructions; they never skip.

#[path = "store_backends/db.rs"]
mod db;

use crate::common::proxy::Proxy;
use baton::config::DatabaseConfig;
use baton::message::{BodyKind, Destination, Message, ProducerSeq, Value};
use baton::store::{self, Claim, NodeRecord, SessionLock, Store, StoreError, WriteOp};
use bytes::Bytes;
use db::{eventually, Kind, TestDb, GUARD};
use std::time::{Duration, Instant};

/// A commit with nothing before it in the pipeline, as the tests here
/// make them (the writer passes each batch its turn).
#[async_trait::async_trait]
trait CommitNow {
    async fn commit(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: store::MessageStore + ?Sized> CommitNow for T {
    async fn commit(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.commit_in_turn(epoch, ops, &store::CommitTurn::now())
            .await
    }
}

fn claim(node: &str) -> Claim {
    Claim {
        node_id: node.to_string(),
        stomp_addr: format!("{node}:61613"),
        admin_addr: format!("{node}:8161"),
    }
}

/// Every stored message in id order, read through the admin's `Inspect`
/// (the production interface has no "load everything").
async fn stored(store: &dyn Store) -> Vec<Message> {
    let mut all = Vec::new();
    for (destination, _) in store.depths().await.expect("depths") {
        let rows = store.browse(&destination, 0, u32::MAX).await;
        all.extend(rows.expect("browse"));
    }
    all.sort_by_key(|m| m.id);
    all
}

fn message(id: i64, queue: &str, body: &[u8]) -> Message {
    Message {
        id,
        destination: Destination::Queue(queue.to_string()),
        priority: (id % 10) as u8,
        expires: if id % 2 == 0 {
            1_900_000_000_000 + id
        } else {
            0
        },
        persistent: true,
        headers: vec![
            ("greeting".into(), "grüß dich, 世界 🚀".into()),
            ("quote\"d".into(), "line\nbreak\\".into()),
            ("count".into(), Value::Long(id)),
            ("ratio".into(), Value::Double(0.25)),
            ("flag".into(), Value::Bool(true)),
        ]
        .into(),
        body: Bytes::copy_from_slice(body),
        redelivery_count: 0,
        redelivered: false,
        producer: None,
        scheduled: 0,
        body_kind: BodyKind::Bytes,
        client_id: Some(format!("ID:test-1:1:1:{id}").into()),
        origin: 0,
    }
}

async fn migrations_are_idempotent_and_concurrent(kind: Kind) {
    let db = TestDb::create(kind).await;
    let config = db.config("baton_");
    // Three threads with a runtime each: nodes starting together.
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    let store = store::open(&config).await?;
                    store.close().await;
                    Ok::<(), StoreError>(())
                })
            })
        })
        .collect();
    for start in starts {
        let opened = start.join().expect("thread");
        opened.unwrap_or_else(|e| panic!("concurrent open: {e}"));
    }
    for _ in 0..2 {
        db.open("baton_").await.close().await;
    }
    // Every migration is recorded exactly once, however many nodes ran
    // them at the same time.
    let rows = db
        .scalar("SELECT COUNT(*) FROM baton_schema_migrations")
        .await;
    assert!(rows >= 1, "no migration recorded");
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT version) FROM baton_schema_migrations")
            .await,
        rows
    );

    assert_eq!(db.scalar("SELECT COUNT(*) FROM baton_lock").await, 1);
    let store = db.open("baton_").await;
    let state = store.lock_state().await.expect("lock_state");
    assert_eq!((state.holder, state.epoch), (None, 0));
    assert_eq!(store.max_message_id().await.expect("max"), 0);
    store.close().await;
}

async fn round_trip(kind: Kind) {
    let db = TestDb::create(kind).await;
    let store = db.open("baton_").await;
    let epoch = store
        .try_acquire(&claim("a"), 60_000, false)
        .await
        .expect("acquire");
    let epoch = epoch.expect("free lock");
    let originals = vec![
        message(1, "orders", b"\0nul\0in\0the\0middle\0"),
        message(2, "orders", &[0xff, 0x00, 0xfe, 0x7f]),
        message(3, "other", b""),
    ];
    let inserts: Vec<WriteOp> = originals.iter().cloned().map(WriteOp::Insert).collect();
    store.commit(epoch, &inserts).await.expect("insert");
    assert_eq!(stored(&*store).await, originals);
    assert_eq!(store.max_message_id().await.expect("max"), 3);

    let mut second_dlq = originals[1].clone();
    second_dlq.headers = vec![("dlq-reason".into(), "zu oft — ❌".into())].into();
    store
        .commit(
            epoch,
            &[
                WriteOp::SetRedeliveries {
                    id: 1,
                    count: 7,
                    at: 0,
                },
                WriteOp::SetRedeliveries {
                    id: 1,
                    count: 3,
                    at: 1_950_000_000_000,
                },
                WriteOp::SetRedeliveries {
                    id: 2,
                    count: 5,
                    at: 1_950_000_000_000,
                },
                // A dead letter: count, redelivery delay and expiry cleared.
                WriteOp::Move {
                    id: 2,
                    destination: "/queue/DLQ.orders".into(),
                    meta: second_dlq.meta(),
                    expires: 0,
                },
                WriteOp::Delete(3),
                WriteOp::Delete(999),
            ],
        )
        .await
        .expect("update");
    let loaded = stored(&*store).await;
    let mut first = originals[0].clone();
    first.redelivery_count = 3;
    first.scheduled = 1_950_000_000_000;
    let mut second = originals[1].clone();
    assert_ne!(second.expires, 0, "message 2 has an expiry to clear");
    second.destination = Destination::Queue("DLQ.orders".into());
    second.headers = second_dlq.headers;
    second.expires = 0;
    assert_eq!(loaded, vec![first, second]);

    // A batch bigger than one multi-row statement, in and out again.
    let many: Vec<WriteOp> = (100..2600)
        .map(|id| WriteOp::Insert(message(id, "bulk", &[id as u8; 100])))
        .collect();
    store.commit(epoch, &many).await.expect("bulk insert");
    assert_eq!(stored(&*store).await.len(), 2502);
    assert_eq!(store.max_message_id().await.expect("max"), 2599);
    let gone: Vec<WriteOp> = (100..2600).map(WriteOp::Delete).collect();
    store.commit(epoch, &gone).await.expect("bulk delete");
    assert_eq!(stored(&*store).await.len(), 2);
    store.close().await;
}

fn mark(id: &str, seq: i64) -> WriteOp {
    WriteOp::Producer(ProducerSeq { id: id.into(), seq })
}

async fn producer_sequences(kind: Kind) {
    let db = TestDb::create(kind).await;
    producer_sequences_on(db.open("baton_").await).await;
}

/// SQLite too: the writer sends these ops to every backend.
#[tokio::test]
async fn sqlite_producer_sequences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = baton::config::DatabaseConfig {
        url: format!("sqlite:{}/p.db", dir.path().display()),
        ..Default::default()
    };
    producer_sequences_on(store::open(&config).await.expect("open sqlite")).await;
}

async fn producer_sequences_on(store: std::sync::Arc<dyn Store>) {
    let epoch = store
        .try_acquire(&claim("a"), 60_000, false)
        .await
        .expect("acquire")
        .expect("free lock");
    assert!(store.load_producers().await.expect("load").is_empty());
    store
        .commit(
            epoch,
            &[
                WriteOp::Insert(message(1, "q", b"x")),
                mark("p1", 3),
                mark("p1", 1),
                mark("p2", 7),
            ],
        )
        .await
        .expect("commit");
    // A lower sequence committed later (out-of-order batches) never lowers it.
    store
        .commit(epoch, &[mark("p1", 2), mark("p2", 9)])
        .await
        .expect("commit");
    let mut loaded = store.load_producers().await.expect("load");
    loaded.sort();
    assert_eq!(loaded, vec![("p1".to_string(), 3), ("p2".to_string(), 9)]);
    // A commit in doubt is settled by reading its first message back.
    assert!(store
        .stored_after_commits(epoch, 1)
        .await
        .expect("read back"));
    assert!(!store
        .stored_after_commits(epoch, 2)
        .await
        .expect("read back"));
    let err = store.stored_after_commits(epoch + 1, 1).await;
    assert!(matches!(err, Err(StoreError::Fenced { .. })), "{err:?}");
    // A fenced batch records nothing.
    let err = store.commit(epoch + 1, &[mark("p3", 1)]).await;
    assert!(matches!(err, Err(StoreError::Fenced { .. })), "{err:?}");
    assert_eq!(store.load_producers().await.expect("load").len(), 2);
    // Forgetting idle producers: an hour keeps them, 10 ms (after a pause)
    // does not.
    let forget = |idle_ms| WriteOp::ForgetProducers { idle_ms };
    store
        .commit(epoch, &[forget(3_600_000)])
        .await
        .expect("keep");
    assert_eq!(store.load_producers().await.expect("load").len(), 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    store
        .commit(epoch, &[forget(10), mark("p4", 1)])
        .await
        .expect("forget");
    let loaded = store.load_producers().await.expect("load");
    assert_eq!(loaded, vec![("p4".to_string(), 1)]);

    // A pipelined batch commits in its turn: not at all (rolled back) when
    // the batch before it did not commit in full, ...
    let batch = [WriteOp::Insert(message(2, "q", b"y")), mark("p4", 2)];
    let (earlier, turn) = store::CommitTurn::next();
    let (result, ()) = tokio::join!(store.commit_in_turn(epoch, &batch, &turn), async {
        earlier.report(false)
    });
    assert!(
        matches!(result, Err(StoreError::EarlierFailed)),
        "{result:?}"
    );
    let ids: Vec<i64> = stored(&*store).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1], "nothing of the batch stored");
    let loaded = store.load_producers().await.expect("load");
    assert_eq!(loaded, vec![("p4".to_string(), 1)], "nor its mark");
    // ... and after it when it did.
    let (earlier, turn) = store::CommitTurn::next();
    let (result, ()) = tokio::join!(store.commit_in_turn(epoch, &batch, &turn), async {
        earlier.report(true)
    });
    result.expect("committed in its turn");
    let ids: Vec<i64> = stored(&*store).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1, 2]);
    let loaded = store.load_producers().await.expect("load");
    assert_eq!(loaded, vec![("p4".to_string(), 2)]);
    store.close().await;
}

/// A commit's deletes never wait for rows another transaction holds, as
/// the next pipelined batch does: it has inserted its messages and waits
/// for its turn, uncommitted, while this batch deletes every other
/// message (as when consumers keep up). MariaDB plans `DELETE ... WHERE
/// id IN (...)` over most of a table as a full scan, which waits for every
/// row another transaction holds, even in READ COMMITTED: the earlier
/// batch would wait for the later one, which waits for its turn, until
/// the statement timeout.
async fn deletes_do_not_wait_for_other_transactions_rows(kind: Kind) {
    use sqlx::Connection;
    let db = TestDb::create(kind).await;
    let store = db.open("baton_").await;
    let epoch = store
        .try_acquire(&claim("a"), 60_000, true)
        .await
        .expect("acquire")
        .expect("free");
    let first: Vec<WriteOp> = (1..=4)
        .map(|id| WriteOp::Insert(message(id, "q", b"a")))
        .collect();
    store.commit(epoch, &first).await.expect("commit");
    let insert = "INSERT INTO baton_msgs (id, destination, priority, expires, scheduled, redeliveries, headers, body) \
                  VALUES (10, '/queue/q', 4, 0, 0, 0, '', '')";
    let deletes: Vec<WriteOp> = (1..=4).map(WriteOp::Delete).collect();
    macro_rules! while_holding {
        ($conn:ty, $isolation:expr) => {{
            let mut other = <$conn>::connect(&db.url()).await.expect("connect");
            sqlx::query($isolation)
                .execute(&mut other)
                .await
                .expect("isolation");
            let mut tx = other.begin().await.expect("begin");
            sqlx::query(insert).execute(&mut *tx).await.expect("insert");
            store
                .commit(epoch, &deletes)
                .await
                .expect("the deletes do not wait for the other transaction's row");
            tx.commit().await.expect("commit");
        }};
    }
    match kind {
        Kind::Pg => while_holding!(
            sqlx::PgConnection,
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"
        ),
        Kind::My => while_holding!(
            sqlx::MySqlConnection,
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
        ),
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM baton_msgs").await, 1);
    assert_eq!(db.scalar("SELECT MAX(id) FROM baton_msgs").await, 10);
    store.close().await;
}

async fn fencing(kind: Kind) {
    let db = TestDb::create(kind).await;
    let (a, b) = (db.open("baton_").await, db.open("baton_").await);
    let old = a
        .try_acquire(&claim("a"), 60_000, true)
        .await
        .expect("a")
        .expect("free");
    a.commit(old, &[WriteOp::Insert(message(1, "q", b"kept"))])
        .await
        .expect("commit");
    read_back_waits_for_running_commits(&db, &a, old).await;
    let new = b
        .try_acquire(&claim("b"), 60_000, true)
        .await
        .expect("b")
        .expect("forced");
    assert_eq!(new, old + 1);
    let late = a
        .commit(
            old,
            &[
                WriteOp::Insert(message(2, "q", b"lost")),
                WriteOp::Delete(1),
            ],
        )
        .await;
    match late {
        Err(StoreError::Fenced { epoch, current }) => assert_eq!((epoch, current), (old, new)),
        other => panic!("expected Fenced, got {other:?}"),
    }
    // A batch with other kinds of ops takes PostgreSQL's multi-statement
    // path (the one above is a single statement there): fenced as well.
    let late = a
        .commit(
            old,
            &[
                WriteOp::Insert(message(3, "q", b"lost")),
                WriteOp::SetRedeliveries {
                    id: 1,
                    count: 5,
                    at: 0,
                },
            ],
        )
        .await;
    assert!(matches!(late, Err(StoreError::Fenced { .. })), "{late:?}");
    let kept = stored(&*b).await;
    assert_eq!(
        kept.iter()
            .map(|m| (m.id, m.redelivery_count))
            .collect::<Vec<_>>(),
        vec![(1, 0)]
    );
    let ids: Vec<i64> = stored(&*b).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![1]);
    assert!(!a.renew("a", old, 60_000, false).await.expect("renew"));
    b.commit(new, &[WriteOp::Delete(1)])
        .await
        .expect("new master commits");
    let state = a.lock_state().await.expect("state");
    assert_eq!((state.holder.as_deref(), state.epoch), (Some("b"), new));
    assert_eq!(state.stomp_addr.as_deref(), Some("b:61613"));
    assert!(state.lease_remaining_ms > 0);
    a.close().await;
    b.close().await;
}

/// A commit dropped while its BEGIN is on the wire (the writer's commit
/// timeout, the term ending) leaves no transaction open on a pooled
/// connection. sqlx counts a transaction only once the server answered its
/// BEGIN, so that connection went back to the pool inside a transaction
/// nobody knew of; PostgreSQL's single-statement commit then ran in it and
/// was never committed: a confirmed send lost (the pipelined chaos soak
/// found it). Checked from a connection of the test's own.
async fn a_commit_dropped_at_its_begin_leaves_no_transaction_open(kind: Kind) {
    let db = TestDb::create(kind).await;
    db.open("baton_").await.close().await;
    let proxy = Proxy::start(&db.addr());
    let config = DatabaseConfig {
        url: db.url_via(&proxy.addr()),
        pool_size: 1,
        ..db.config("baton_")
    };
    let store = store::open(&config)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", config.url));
    let epoch = store
        .try_acquire(&claim("a"), 60_000, true)
        .await
        .expect("a")
        .expect("free");
    // With the batch before it still running, the commit takes the
    // multi-statement path, which begins a transaction.
    let (_earlier, turn) = store::CommitTurn::next();
    proxy.pause_when_sent(b"BEGIN");
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        store.commit_in_turn(
            epoch,
            &[WriteOp::Insert(message(1, "q", b"dropped"))],
            &turn,
        ),
    )
    .await;
    assert!(proxy.triggered(), "the commit sent its BEGIN");
    assert!(dropped.is_err(), "the BEGIN was held, so was the commit");
    proxy.resume();
    store
        .commit(epoch, &[WriteOp::Insert(message(2, "q", b"confirmed"))])
        .await
        .expect("the next commit");
    if kind == Kind::Pg {
        assert_eq!(
            db.scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'idle in transaction'"
            )
            .await,
            0,
            "no connection is left inside a transaction"
        );
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM baton_msgs WHERE id = 2")
            .await,
        1,
        "a confirmed commit is visible to every other connection"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM baton_msgs WHERE id = 1")
            .await,
        0,
        "the dropped commit stored nothing"
    );
    store.close().await;
}

/// The read-back of a commit in doubt waits for a commit still running
/// (here a transaction holding the fence's shared lock that deletes message
/// 2) and sees what it did.
async fn read_back_waits_for_running_commits(
    db: &TestDb,
    store: &std::sync::Arc<dyn Store>,
    epoch: i64,
) {
    use sqlx::Connection;
    store
        .commit(epoch, &[WriteOp::Insert(message(2, "q", b"doubt"))])
        .await
        .expect("commit");
    assert!(store
        .stored_after_commits(epoch, 2)
        .await
        .expect("read back"));
    let (locked_tx, locked) = tokio::sync::oneshot::channel::<()>();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let url = db.url();
    let kind = db.kind;
    let running = tokio::spawn(async move {
        macro_rules! run {
            ($conn:ty, $delete:expr, $fence:expr) => {{
                let mut c = <$conn>::connect(&url).await.expect("connect");
                let mut tx = c.begin().await.expect("begin");
                sqlx::query($delete)
                    .execute(&mut *tx)
                    .await
                    .expect("delete");
                sqlx::query($fence).execute(&mut *tx).await.expect("fence");
                locked_tx.send(()).expect("locked");
                finished.await.expect("finish");
                tx.commit().await.expect("commit");
            }};
        }
        match kind {
            Kind::Pg => run!(
                sqlx::PgConnection,
                "DELETE FROM baton_msgs WHERE id = 2",
                "SELECT epoch FROM baton_lock WHERE name = 'baton' FOR SHARE"
            ),
            Kind::My => run!(
                sqlx::MySqlConnection,
                "DELETE FROM baton_msgs WHERE id = 2",
                "SELECT epoch FROM baton_lock WHERE name = 'baton' LOCK IN SHARE MODE"
            ),
        }
    });
    locked.await.expect("the running commit holds the fence");
    let probe = tokio::spawn({
        let store = store.clone();
        async move { store.stored_after_commits(epoch, 2).await }
    });
    // The read-back is seen waiting on the lock row in the database; one
    // that did not wait would finish first.
    let waiting = match kind {
        Kind::Pg => {
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
        }
        Kind::My => {
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE '%FOR UPDATE%'"
        }
    };
    let probing = &probe;
    eventually(
        "the read-back waiting on the lock row",
        move || async move {
            assert!(
                !probing.is_finished(),
                "the read-back did not wait for the commit holding the fence"
            );
            (db.scalar(waiting).await > 0).then_some(())
        },
    )
    .await;
    finish.send(()).expect("finish");
    running.await.expect("running commit");
    let stored = probe.await.expect("probe").expect("read back");
    assert!(
        !stored,
        "read after the running commit ended: its delete seen"
    );
}

async fn lease(kind: Kind) {
    let db = TestDb::create(kind).await;
    let (a, b) = (db.open("baton_").await, db.open("baton_").await);
    let first = a
        .try_acquire(&claim("a"), 60_000, false)
        .await
        .expect("a")
        .expect("free");
    assert_eq!(
        b.try_acquire(&claim("b"), 60_000, false).await.expect("b"),
        None
    );
    assert_eq!(
        b.try_acquire(&claim("b"), 60_000, true).await.expect("b"),
        None,
        "holding the session lock does not override a holder that claimed without it"
    );
    assert!(
        a.renew("a", first, 300, false).await.expect("renew"),
        "the holder renews"
    );
    let second = eventually("the short lease to expire", || async {
        b.try_acquire(&claim("b"), 60_000, false).await.expect("b")
    })
    .await;
    assert_eq!(second, first + 1);
    assert!(
        !a.renew("a", first, 60_000, false).await.expect("renew"),
        "renewal after losing"
    );
    assert_eq!(
        a.lock_state().await.expect("state").holder.as_deref(),
        Some("b")
    );
    a.close().await;
    b.close().await;
}

async fn release(kind: Kind) {
    let db = TestDb::create(kind).await;
    let (a, b) = (db.open("baton_").await, db.open("baton_").await);
    let first = a
        .try_acquire(&claim("a"), 60_000, false)
        .await
        .expect("a")
        .expect("free");
    assert_eq!(
        b.try_acquire(&claim("b"), 60_000, false).await.expect("b"),
        None
    );
    a.release("a", first - 1)
        .await
        .expect("release, wrong epoch");
    assert_eq!(
        b.try_acquire(&claim("b"), 60_000, false).await.expect("b"),
        None
    );
    a.release("a", first).await.expect("release");
    let state = b.lock_state().await.expect("state");
    assert_eq!(state.holder, None);
    assert!(state.lease_remaining_ms < 0);
    let second = b.try_acquire(&claim("b"), 60_000, false).await.expect("b");
    assert_eq!(second, Some(first + 1));
    a.close().await;
    b.close().await;
}

async fn try_lock(lock: &mut Box<dyn SessionLock>) -> bool {
    lock.try_lock()
        .await
        .unwrap_or_else(|e| panic!("try_lock: {e}"))
}

async fn session_lock(kind: Kind) {
    let db = TestDb::create(kind).await;
    let (a, b) = (db.open("baton_").await, db.open("baton_").await);
    let mut one = a.session_lock().expect("session lock");
    let mut two = b.session_lock().expect("session lock");
    assert!(try_lock(&mut one).await);
    assert!(!try_lock(&mut two).await);
    assert!(try_lock(&mut one).await, "still held on a live connection");
    assert!(!try_lock(&mut two).await);
    one.unlock().await;
    assert!(try_lock(&mut two).await, "free at once after unlock");
    assert!(!try_lock(&mut one).await);
    drop(two); // closes its connection without unlocking
    let start = Instant::now();
    while !try_lock(&mut one).await {
        assert!(
            start.elapsed() < GUARD,
            "the lock of a closed connection was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut three = a.session_lock().expect("session lock");
    assert!(!try_lock(&mut three).await);
    one.unlock().await;
    one.unlock().await; // twice is harmless
    assert!(try_lock(&mut three).await);
    three.unlock().await;
    a.close().await;
    b.close().await;
}

async fn session_lock_connection_killed(kind: Kind) {
    let db = TestDb::create(kind).await;
    let (a, b) = (db.open("baton_").await, db.open("baton_").await);
    let mut one = a.session_lock().expect("session lock");
    let mut two = b.session_lock().expect("session lock");
    assert!(try_lock(&mut one).await);
    assert!(!try_lock(&mut two).await);
    db.kill_session_lock_holder().await;
    let check = one.try_lock().await;
    assert!(
        check.is_err(),
        "a dead lock connection must not read as held: {check:?}"
    );
    let start = Instant::now();
    while !try_lock(&mut two).await {
        assert!(
            start.elapsed() < GUARD,
            "the killed session's lock was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !try_lock(&mut one).await,
        "reconnects, finds the lock taken"
    );
    two.unlock().await;
    assert!(try_lock(&mut one).await);
    one.unlock().await;
    a.close().await;
    b.close().await;
}

fn node(id: &str, role: &str, started_at: i64) -> NodeRecord {
    NodeRecord {
        node_id: id.to_string(),
        stomp_addr: format!("{id}:61613"),
        admin_addr: format!("{id}:8161"),
        role: role.to_string(),
        started_at,
        last_seen: 0,
    }
}

async fn heartbeat(kind: Kind) {
    let db = TestDb::create(kind).await;
    let store = db.open("baton_").await;
    store
        .heartbeat(&node("b", "slave", 20))
        .await
        .expect("heartbeat");
    store
        .heartbeat(&node("a", "master", 10))
        .await
        .expect("heartbeat");
    let nodes = store.nodes().await.expect("nodes");
    assert_eq!(
        nodes.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(nodes.iter().all(|n| n.last_seen > 1_600_000_000_000));
    let mut moved = node("a", "slave", 30);
    moved.stomp_addr = "elsewhere:1".into();
    store.heartbeat(&moved).await.expect("heartbeat");
    let nodes = store.nodes().await.expect("nodes");
    assert_eq!(nodes.len(), 2);
    let a = &nodes[0];
    assert_eq!(
        (a.role.as_str(), a.stomp_addr.as_str(), a.started_at),
        ("slave", "elsewhere:1", 30)
    );
    assert_eq!(a.admin_addr, "a:8161");
    store.close().await;
}

async fn prefixes_are_independent(kind: Kind) {
    let db = TestDb::create(kind).await;
    // The second has no prefix at all: `lock` is a reserved word in MySQL.
    let (one, two) = (db.open("one_").await, db.open("").await);
    let e1 = one
        .try_acquire(&claim("a"), 60_000, false)
        .await
        .expect("one")
        .expect("free");
    let e2 = two
        .try_acquire(&claim("b"), 60_000, false)
        .await
        .expect("two")
        .expect("free");
    assert_eq!((e1, e2), (1, 1));
    one.commit(e1, &[WriteOp::Insert(message(7, "q", b"one"))])
        .await
        .expect("commit");
    assert!(stored(&*two).await.is_empty());
    assert_eq!(stored(&*one).await.len(), 1);
    two.commit(e2, &[WriteOp::Insert(message(8, "q", b"two"))])
        .await
        .expect("commit without a prefix");
    assert!(two.stored_after_commits(e2, 8).await.expect("read back"));
    assert!(!two.stored_after_commits(e2, 7).await.expect("read back"));
    let (mut l1, mut l2) = (
        one.session_lock().expect("lock"),
        two.session_lock().expect("lock"),
    );
    assert!(try_lock(&mut l1).await);
    assert!(
        try_lock(&mut l2).await,
        "another prefix has its own session lock"
    );
    l1.unlock().await;
    l2.unlock().await;
    one.close().await;
    two.close().await;
}

async fn bad_server_is_a_clear_error(kind: Kind) {
    let url = match kind {
        Kind::Pg => "postgresql://baton:s3cret@127.0.0.1:1/baton",
        Kind::My => "mariadb://baton:s3cret@127.0.0.1:1/baton",
    };
    let config = DatabaseConfig {
        url: url.to_string(),
        connect_timeout_ms: 2000,
        ..DatabaseConfig::default()
    };
    match store::open(&config).await {
        Err(e @ StoreError::Open { .. }) => {
            let text = e.to_string();
            assert!(
                !text.contains("s3cret") && text.contains("baton:***@127.0.0.1:1"),
                "{text}"
            );
        }
        Err(e) => panic!("expected an Open error, got {e}"),
        Ok(_) => panic!("opened a store on a closed port"),
    }
}

async fn mariadb_scheme_and_pg_alias(kind: Kind) {
    let db = TestDb::create(kind).await;
    let scheme = match kind {
        Kind::Pg => "postgresql",
        Kind::My => "mariadb",
    };
    let mut config = db.config("baton_");
    config.url = format!(
        "{scheme}{}",
        &config.url[config.url.find(':').unwrap_or(0)..]
    );
    let store = store::open(&config)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", config.url));
    store.ping().await.expect("ping");
    store.close().await;
}

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Pg).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::My).await
                }
            )*
        }
    };
}

backend_tests!(
    migrations_are_idempotent_and_concurrent,
    round_trip,
    producer_sequences,
    fencing,
    a_commit_dropped_at_its_begin_leaves_no_transaction_open,
    deletes_do_not_wait_for_other_transactions_rows,
    lease,
    release,
    session_lock,
    session_lock_connection_killed,
    heartbeat,
    prefixes_are_independent,
    bad_server_is_a_clear_error,
    mariadb_scheme_and_pg_alias,
);
