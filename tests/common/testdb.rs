//! Databases for the master/slave tests: a fresh database per test (SQLite
//! file, or a uniquely named PostgreSQL / MariaDB database), private database
//! servers a test may crash and restart, and direct SQL checks of what the
//! nodes committed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Failure guard for anything that must happen. Generous: it only bounds
/// how long a broken build takes to fail.
pub const GUARD: Duration = Duration::from_secs(30);

/// Table prefix the nodes use (the default).
pub const PREFIX: &str = "baton_";

/// A port nobody listens on right now, never handed out before in this
/// test process (two clusters of one test binary given the same port would
/// talk to each other's brokers), for something that binds it later or
/// unbinds and rebinds it: a slave's pre-assigned STOMP port is unbound
/// until it is promoted, and a private database server is down between a
/// crash and its restart.
///
/// It comes from below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), where neither `bind` to port 0 nor an
/// outgoing connection ever lands: a port from inside that range, while
/// unbound, could be taken by any listener on port 0 of a test running in
/// parallel (a node's admin server, a proxy), and a test then checking that
/// a slave refuses connections would reach that listener instead. Each
/// process starts at its own offset so concurrent test processes rarely
/// probe the same ports; a port someone listens on is skipped.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 20_000;
    static NEXT: std::sync::Mutex<Option<u32>> = std::sync::Mutex::new(None);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOWEST);
    assert!(
        span >= 1_000,
        "the ephemeral port range starts at {ephemeral_low}: leave 20000-21000 below it for the tests"
    );
    let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
    let mut offset = next.unwrap_or_else(|| std::process::id().wrapping_mul(7_919) % span);
    for _ in 0..span {
        let port = (LOWEST + offset) as u16;
        offset = (offset + 1) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(offset);
            return port;
        }
    }
    panic!("no free port in {LOWEST}-{ephemeral_low}");
}

pub fn unique_name(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "baton_{what}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

// ------------------------------------------------------------ databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mariadb,
}

/// A database of its own for one test, dropped (or deleted) with it.
pub struct Db {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    /// Database name, or the file path for SQLite.
    pub name: String,
    _dir: Option<tempfile::TempDir>,
}

/// The election row as read with SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRow {
    pub holder: Option<String>,
    pub epoch: i64,
}

/// Runs one statement with the database's command-line client as its
/// superuser; stdout, or the error output.
fn admin_sql(kind: Kind, host: &str, port: u16, sql: &str) -> Result<String, String> {
    let mut cmd = match kind {
        Kind::Postgres => {
            let mut c = Command::new("psql");
            c.args(["-h", host, "-p", &port.to_string(), "-U", "postgres"])
                .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]);
            c
        }
        Kind::Mariadb => {
            let mut c = Command::new("mariadb");
            c.args(["-h", host, "-P", &port.to_string(), "-u", "root"])
                .args(["--protocol=tcp", "-N", "-B", "-e", sql]);
            c
        }
        Kind::Sqlite => return Err("no admin client for SQLite".into()),
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the {kind:?} client: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Db {
    /// A fresh SQLite file in a temporary folder.
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = dir.path().join("baton.db").display().to_string();
        Db {
            kind: Kind::Sqlite,
            host: String::new(),
            port: 0,
            name,
            _dir: Some(dir),
        }
    }

    /// A fresh database on the shared PostgreSQL (127.0.0.1:5432, user
    /// postgres, trust).
    pub fn postgres() -> Db {
        Db::create(Kind::Postgres, "127.0.0.1", 5432)
    }

    /// A fresh database on the shared MariaDB (127.0.0.1:3306, root, no
    /// password).
    pub fn mariadb() -> Db {
        Db::create(Kind::Mariadb, "127.0.0.1", 3306)
    }

    /// A fresh, uniquely named database on the server at `host:port`.
    pub fn create(kind: Kind, host: &str, port: u16) -> Db {
        let name = unique_name("ha");
        if let Err(e) = admin_sql(kind, host, port, &format!("CREATE DATABASE {name}")) {
            panic!("cannot create database {name} on {kind:?} at {host}:{port}: {e}");
        }
        Db {
            kind,
            host: host.to_string(),
            port,
            name,
            _dir: None,
        }
    }

    /// "host:port" of the server (what a proxy forwards to).
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `--database-url` for a node connecting directly.
    pub fn url(&self) -> String {
        self.url_via(&self.addr())
    }

    /// The `--database-url` for a node reaching the server at `addr` (a
    /// proxy).
    pub fn url_via(&self, addr: &str) -> String {
        match self.kind {
            Kind::Sqlite => format!("sqlite:{}", self.name),
            Kind::Postgres => format!("postgres://postgres@{addr}/{}", self.name),
            Kind::Mariadb => format!("mysql://root@{addr}/{}", self.name),
        }
    }

    /// Bodies of every row of `<prefix>msgs`, in id order.
    pub async fn stored_bodies(&self) -> Vec<String> {
        let sql = format!("SELECT body FROM {PREFIX}msgs ORDER BY id");
        let rows: Vec<Vec<u8>> = match self.kind {
            Kind::Sqlite => {
                let mut c = self.sqlite_conn().await;
                sqlx::query_scalar(&sql).fetch_all(&mut c).await
            }
            Kind::Postgres => {
                let mut c = self.pg_conn().await;
                sqlx::query_scalar(&sql).fetch_all(&mut c).await
            }
            Kind::Mariadb => {
                let mut c = self.my_conn().await;
                sqlx::query_scalar(&sql).fetch_all(&mut c).await
            }
        }
        .expect("read the message table");
        rows.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    /// The first (text) column of every row `sql` returns.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match self.kind {
            Kind::Sqlite => {
                sqlx::query_scalar(sql)
                    .fetch_all(&mut self.sqlite_conn().await)
                    .await
            }
            Kind::Postgres => {
                sqlx::query_scalar(sql)
                    .fetch_all(&mut self.pg_conn().await)
                    .await
            }
            // utf8mb4_bin columns come back as binary strings.
            Kind::Mariadb => sqlx::query_scalar::<_, Vec<u8>>(sql)
                .fetch_all(&mut self.my_conn().await)
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect()
                }),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs one statement on the test database.
    pub async fn execute(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let mut c = self.sqlite_conn().await;
                sqlx::query(sql).execute(&mut c).await.map(|_| ())
            }
            Kind::Postgres => {
                let mut c = self.pg_conn().await;
                sqlx::query(sql).execute(&mut c).await.map(|_| ())
            }
            Kind::Mariadb => {
                let mut c = self.my_conn().await;
                sqlx::query(sql).execute(&mut c).await.map(|_| ())
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `(node_id, role)` of every row of the node registry, by id.
    pub async fn registry(&self) -> Vec<(String, String)> {
        let sql = format!("SELECT node_id, role FROM {PREFIX}nodes ORDER BY node_id");
        let lossy = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        match self.kind {
            Kind::Sqlite => {
                sqlx::query_as(&sql)
                    .fetch_all(&mut self.sqlite_conn().await)
                    .await
            }
            Kind::Postgres => {
                sqlx::query_as(&sql)
                    .fetch_all(&mut self.pg_conn().await)
                    .await
            }
            // utf8mb4_bin columns come back as binary strings.
            Kind::Mariadb => sqlx::query_as::<_, (Vec<u8>, Vec<u8>)>(&sql)
                .fetch_all(&mut self.my_conn().await)
                .await
                .map(|rows| {
                    rows.into_iter()
                        .map(|(a, b)| (lossy(a), lossy(b)))
                        .collect()
                }),
        }
        .expect("read the node registry")
    }

    /// The election row (`<prefix>lock`, name 'baton').
    pub async fn lock_row(&self) -> LockRow {
        let sql = format!("SELECT holder, epoch FROM {PREFIX}lock WHERE name = 'baton'");
        let (holder, epoch): (Option<String>, i64) = match self.kind {
            Kind::Sqlite => {
                let mut c = self.sqlite_conn().await;
                sqlx::query_as(&sql).fetch_one(&mut c).await
            }
            Kind::Postgres => {
                let mut c = self.pg_conn().await;
                sqlx::query_as(&sql).fetch_one(&mut c).await
            }
            Kind::Mariadb => {
                // utf8mb4_bin columns come back as binary strings.
                let mut c = self.my_conn().await;
                sqlx::query_as::<_, (Option<Vec<u8>>, i64)>(&sql)
                    .fetch_one(&mut c)
                    .await
                    .map(|(h, e)| (h.map(|h| String::from_utf8_lossy(&h).into_owned()), e))
            }
        }
        .expect("read the lock row");
        LockRow { holder, epoch }
    }

    /// Client port (as the database sees it) of the session holding the
    /// master session lock (`pg_advisory_lock` / `GET_LOCK`), if any.
    pub async fn session_lock_port(&self) -> Option<u16> {
        match self.kind {
            Kind::Sqlite => None,
            Kind::Postgres => {
                let mut c = self.pg_conn().await;
                let port: Option<i32> = sqlx::query_scalar(
                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted \
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .fetch_optional(&mut c)
                .await
                .expect("read pg_locks")
                .flatten();
                port.map(|p| p as u16)
            }
            Kind::Mariadb => {
                // The name src/store/mysql.rs gives the lock.
                let lock = format!("{PREFIX}baton_master@{}", self.name);
                let mut c = self.my_conn().await;
                let host: Option<String> = sqlx::query_scalar(
                    "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(?)",
                )
                .bind(lock)
                .fetch_optional(&mut c)
                .await
                .expect("read IS_USED_LOCK");
                host.and_then(|h| h.rsplit(':').next().and_then(|p| p.parse().ok()))
            }
        }
    }

    /// Takes the election row with `FOR UPDATE` in a transaction of its
    /// own, so every commit's fencing read waits on it, until the returned
    /// sender is used or dropped. PostgreSQL and MariaDB.
    pub async fn hold_lock_row(&self) -> tokio::sync::oneshot::Sender<()> {
        use sqlx::Connection;
        let sql = format!("SELECT epoch FROM {PREFIX}lock WHERE name = 'baton' FOR UPDATE");
        let (held_tx, held) = tokio::sync::oneshot::channel();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        macro_rules! hold {
            ($conn:expr) => {{
                let mut c = $conn;
                tokio::spawn(async move {
                    let mut tx = c.begin().await.expect("begin");
                    sqlx::query(&sql)
                        .execute(&mut *tx)
                        .await
                        .expect("lock the election row");
                    let _ = held_tx.send(());
                    let _ = released.await;
                    tx.commit().await.expect("release the election row");
                })
            }};
        }
        match self.kind {
            Kind::Postgres => hold!(self.pg_conn().await),
            Kind::Mariadb => hold!(self.my_conn().await),
            Kind::Sqlite => panic!("SQLite has no row locks"),
        };
        held.await.expect("the election row is held");
        release
    }

    /// Transactions on this database that have sat idle for `secs` seconds
    /// or more (their last statement each): a connection left inside a
    /// transaction nobody will commit, whose writes are lost with it.
    /// SQLite: none looked for.
    pub async fn transactions_left_open(&self, secs: u32) -> Vec<String> {
        match self.kind {
            Kind::Sqlite => Vec::new(),
            Kind::Postgres => {
                self.texts(&format!(
                    "SELECT coalesce(query, '') FROM pg_stat_activity \
                     WHERE datname = current_database() AND state = 'idle in transaction' \
                     AND state_change < now() - interval '{secs} seconds'"
                ))
                .await
            }
            Kind::Mariadb => {
                self.texts(&format!(
                    "SELECT CAST(CONCAT(t.trx_id, ': ', COALESCE(t.trx_query, '')) AS BINARY) \
                     FROM information_schema.INNODB_TRX t \
                     JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                     WHERE p.DB = '{}' AND p.COMMAND = 'Sleep' AND p.TIME >= {secs}",
                    self.name
                ))
                .await
            }
        }
    }

    /// How many of this database's commits wait for the election row in
    /// their fencing read (held by [`Db::hold_lock_row`]).
    pub async fn commits_waiting_on_lock_row(&self) -> i64 {
        match self.kind {
            Kind::Postgres => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE 'WITH fence%'",
                )
                .fetch_one(&mut self.pg_conn().await)
                .await
            }
            Kind::Mariadb => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO LIKE '%LOCK IN SHARE MODE%'",
                )
                .bind(&self.name)
                .fetch_one(&mut self.my_conn().await)
                .await
            }
            Kind::Sqlite => panic!("SQLite has no row locks"),
        }
        .expect("read the waiting commits")
    }

    async fn sqlite_conn(&self) -> sqlx::SqliteConnection {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.name)
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("open the SQLite file")
    }

    async fn pg_conn(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.url())
            .await
            .expect("connect to PostgreSQL")
    }

    async fn my_conn(&self) -> sqlx::MySqlConnection {
        use sqlx::Connection;
        sqlx::MySqlConnection::connect(&self.url())
            .await
            .expect("connect to MariaDB")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let sql = match self.kind {
            Kind::Sqlite => return,
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Kind::Mariadb => {
                // Sessions left behind (a paused proxy, a killed node) could
                // hold locks DROP DATABASE waits for.
                let ids = admin_sql(
                    self.kind,
                    &self.host,
                    self.port,
                    &format!(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}'",
                        self.name
                    ),
                )
                .unwrap_or_default();
                for id in ids.split_whitespace() {
                    let _ = admin_sql(self.kind, &self.host, self.port, &format!("KILL {id}"));
                }
                format!("DROP DATABASE IF EXISTS {}", self.name)
            }
        };
        if let Err(e) = admin_sql(self.kind, &self.host, self.port, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A database server of the test's own, which it may crash and restart
/// without disturbing other tests.
pub struct PrivateServer {
    pub kind: Kind,
    pub port: u16,
    dir: tempfile::TempDir,
    /// mariadbd runs as our child; PostgreSQL is run by pg_ctl.
    child: Option<Child>,
    pg_bin: PathBuf,
}

impl PrivateServer {
    /// initdb + postgres as the `postgres` OS user (initdb refuses root).
    pub fn postgres() -> Result<PrivateServer, String> {
        let pg_bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max_by_key(|p| {
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .ok_or("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(dir.path(), Some(pg_uid()?), None)
            .map_err(|e| format!("chown to postgres: {e}"))?;
        let data = dir.path().join("data");
        run_checked(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        )?;
        let mut s = PrivateServer {
            kind: Kind::Postgres,
            port: free_port(),
            dir,
            child: None,
            pg_bin,
        };
        s.start()?;
        Ok(s)
    }

    /// mariadb-install-db + mariadbd on its own data folder, port and socket.
    pub fn mariadb() -> Result<PrivateServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run_checked(
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", dir.path().join("data").display()))
                .args([
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ]),
            "mariadb-install-db",
        )?;
        let mut s = PrivateServer {
            kind: Kind::Mariadb,
            port: free_port(),
            dir,
            child: None,
            pg_bin: PathBuf::new(),
        };
        s.start()?;
        Ok(s)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the server and waits until it answers.
    pub fn start(&mut self) -> Result<(), String> {
        match self.kind {
            Kind::Postgres => {
                let opts = format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    self.port,
                    self.dir.path().display()
                );
                run_checked(
                    Command::new("runuser")
                        .args(["-u", "postgres", "--"])
                        .arg(self.pg_bin.join("pg_ctl"))
                        .arg("-D")
                        .arg(self.path("data"))
                        .arg("-l")
                        .arg(self.path("server.log"))
                        .args(["-w", "-t", "30", "-o", &opts, "start"]),
                    "pg_ctl start",
                )?;
            }
            Kind::Mariadb => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path("server.log"))
                    .map_err(|e| e.to_string())?;
                let child = Command::new("mariadbd")
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", self.path("data").display()))
                    .arg(format!("--port={}", self.port))
                    .arg(format!("--socket={}", self.path("mysqld.sock").display()))
                    .arg(format!("--pid-file={}", self.path("mysqld.pid").display()))
                    .args([
                        "--bind-address=127.0.0.1",
                        "--user=root",
                        "--skip-log-bin",
                        "--innodb-buffer-pool-size=32M",
                    ])
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().map_err(|e| e.to_string())?)
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("cannot run mariadbd: {e}"))?;
                self.child = Some(child);
            }
            Kind::Sqlite => unreachable!(),
        }
        let deadline = Instant::now() + GUARD;
        loop {
            match admin_sql(self.kind, "127.0.0.1", self.port, "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "private {:?} server did not come up: {e}\n{}",
                        self.kind,
                        self.log()
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Crashes the server: no clean shutdown, every session dies.
    pub fn crash(&mut self) {
        match self.kind {
            Kind::Postgres => {
                let _ = run_checked(
                    Command::new("runuser")
                        .args(["-u", "postgres", "--"])
                        .arg(self.pg_bin.join("pg_ctl"))
                        .arg("-D")
                        .arg(self.path("data"))
                        .args(["-m", "immediate", "-w", "stop"]),
                    "pg_ctl stop",
                );
            }
            Kind::Mariadb => {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            Kind::Sqlite => {}
        }
    }

    /// A fresh database on this server.
    pub fn db(&self) -> Db {
        Db::create(self.kind, "127.0.0.1", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.crash();
    }
}

fn pg_uid() -> Result<u32, String> {
    let out = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "there is no postgres OS user".to_string())
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
