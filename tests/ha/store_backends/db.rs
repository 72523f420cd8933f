//! Test databases for tests/ha/store_backends.rs: one per test, created on
//! the real server and dropped by a guard, also when the test fails.

use baton::config::DatabaseConfig;
use baton::store::{self, Store};
use sqlx::{Connection, Executor};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failure guard for anything that polls.
pub const GUARD: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pg,
    My,
}

pub fn server(kind: Kind) -> String {
    let (var, default) = match kind {
        Kind::Pg => ("BATON_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        Kind::My => ("BATON_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
    };
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Runs one admin statement (CREATE/DROP DATABASE) on the server.
async fn admin(kind: Kind, sql: &str) -> Result<(), sqlx::Error> {
    match kind {
        Kind::Pg => {
            let mut conn =
                sqlx::PgConnection::connect(&format!("{}/postgres", server(kind))).await?;
            conn.execute(sql).await?;
            conn.close().await
        }
        Kind::My => {
            let mut conn = sqlx::MySqlConnection::connect(&server(kind)).await?;
            conn.execute(sql).await?;
            conn.close().await
        }
    }
}

/// A database of its own for one test, dropped with the guard.
pub struct TestDb {
    pub kind: Kind,
    name: String,
}

impl TestDb {
    pub async fn create(kind: Kind) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "baton_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        if let Err(e) = admin(kind, &format!("CREATE DATABASE {name}")).await {
            panic!(
                "cannot create a test database on {} ({e}).\nStart the server (PostgreSQL: user postgres, trust \
                 auth; MariaDB/MySQL: root, empty password) or point BATON_TEST_POSTGRES / BATON_TEST_MYSQL at one.",
                server(kind)
            );
        }
        TestDb { kind, name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", server(self.kind), self.name)
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> String {
        let server = server(self.kind);
        let rest = server.split_once("://").map_or(server.as_str(), |(_, r)| r);
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        host.trim_end_matches('/').to_string()
    }

    /// This database's URL through `addr` (a proxy) instead of the server.
    pub fn url_via(&self, addr: &str) -> String {
        self.url().replacen(&self.addr(), addr, 1)
    }

    pub fn config(&self, prefix: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: self.url(),
            table_prefix: prefix.to_string(),
            pool_size: 4,
            connect_timeout_ms: 5000,
            statement_timeout_ms: 5000,
            ..DatabaseConfig::default()
        }
    }

    pub async fn open(&self, prefix: &str) -> Arc<dyn Store> {
        match store::open(&self.config(prefix)).await {
            Ok(s) => s,
            Err(e) => panic!("opening {} failed: {e}", self.url()),
        }
    }

    /// One integer from a query of our own.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Pg => {
                let mut c = sqlx::PgConnection::connect(&self.url())
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect(sql)
            }
            Kind::My => {
                let mut c = sqlx::MySqlConnection::connect(&self.url())
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect(sql)
            }
        }
    }
}

impl TestDb {
    /// Kills, from the server side, the connection holding the session lock
    /// of prefix `baton_` (as a DBA or a proxy might).
    pub async fn kill_session_lock_holder(&self) {
        match self.kind {
            Kind::Pg => {
                let mut c = sqlx::PgConnection::connect(&self.url())
                    .await
                    .expect("connect");
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
                     AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .fetch_all(&mut c)
                .await
                .expect("terminate");
                assert_eq!(killed, vec![true]);
            }
            Kind::My => {
                let mut c = sqlx::MySqlConnection::connect(&self.url())
                    .await
                    .expect("connect");
                let holder: Option<i64> = sqlx::query_scalar(
                    "SELECT CAST(IS_USED_LOCK(CONCAT('baton_baton_master@', DATABASE())) AS SIGNED)",
                )
                .fetch_one(&mut c)
                .await
                .expect("holder");
                let holder = holder.expect("someone holds the session lock");
                c.execute(format!("KILL {holder}").as_str())
                    .await
                    .expect("kill");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (kind, name) = (self.kind, self.name.clone());
        let sql = match kind {
            Kind::Pg => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Kind::My => format!("DROP DATABASE IF EXISTS {name}"),
        };
        // Own thread and runtime: Drop may run inside (or outside) a runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                if let Err(e) = rt.block_on(admin(kind, &sql)) {
                    eprintln!("could not drop test database {name}: {e}");
                }
            }
        });
        let _ = cleanup.join();
    }
}

/// Polls `f` until it yields `Some`, failing after [`GUARD`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < GUARD, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
