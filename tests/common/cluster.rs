//! Multi-node harness for the master/slave tests (tests/ha_*.rs): a fresh
//! database per test (SQLite file, or a uniquely named PostgreSQL / MariaDB
//! database, or a private database server the test may restart), `baton`
//! processes with pre-assigned STOMP ports (a slave binds none, so it never
//! logs the address), their roles over HTTP, and direct SQL checks of what
//! the nodes committed.
//!
//! The scenarios shared by the three backends live at the end of this file.

use baton::client::{Client, ClientError};
use baton::stomp::frame::{Command as StompCommand, Frame};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::proxy::Proxy;
use super::BIN;

/// Failure guard for anything that must happen. Generous: it only bounds
/// how long a broken build takes to fail.
pub const GUARD: Duration = Duration::from_secs(30);

/// Table prefix the nodes use (the default).
pub const PREFIX: &str = "baton_";

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

fn unique_name(what: &str) -> String {
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

    /// `(node_id, role)` of every row of the node registry, by id.
    pub async fn registry(&self) -> Vec<(String, String)> {
        let sql = format!("SELECT node_id, role FROM {PREFIX}nodes ORDER BY node_id");
        let rows: Vec<(Vec<u8>, Vec<u8>)> = match self.kind {
            Kind::Sqlite => {
                let mut c = self.sqlite_conn().await;
                sqlx::query_as::<_, (String, String)>(&sql)
                    .fetch_all(&mut c)
                    .await
                    .map(|r| {
                        r.into_iter()
                            .map(|(a, b)| (a.into_bytes(), b.into_bytes()))
                            .collect()
                    })
            }
            Kind::Postgres => {
                let mut c = self.pg_conn().await;
                sqlx::query_as::<_, (String, String)>(&sql)
                    .fetch_all(&mut c)
                    .await
                    .map(|r| {
                        r.into_iter()
                            .map(|(a, b)| (a.into_bytes(), b.into_bytes()))
                            .collect()
                    })
            }
            Kind::Mariadb => {
                // utf8mb4_bin columns come back as binary strings.
                let mut c = self.my_conn().await;
                sqlx::query_as(&sql).fetch_all(&mut c).await
            }
        }
        .expect("read the node registry");
        rows.into_iter()
            .map(|(a, b)| {
                (
                    String::from_utf8_lossy(&a).into_owned(),
                    String::from_utf8_lossy(&b).into_owned(),
                )
            })
            .collect()
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

// ------------------------------------------------------------ nodes

/// Election (and related) flags for every node of a test's cluster.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--election-mode`; `None` = the default (auto).
    pub mode: Option<&'static str>,
    pub lease_ms: u64,
    pub renew_ms: u64,
    pub retry_ms: u64,
    pub margin_ms: u64,
}

impl Settings {
    /// Short lease so failovers in lease mode stay quick.
    pub fn fast(mode: Option<&'static str>) -> Settings {
        Settings {
            mode,
            lease_ms: 1500,
            renew_ms: 300,
            retry_ms: 50,
            margin_ms: 300,
        }
    }

    /// A lease far longer than [`GUARD`]: a takeover seen within the guard
    /// cannot have come from the lease expiring.
    pub fn long_lease(mode: Option<&'static str>) -> Settings {
        Settings {
            mode,
            lease_ms: 120_000,
            renew_ms: 300,
            retry_ms: 50,
            margin_ms: 1000,
        }
    }

    pub fn flags(&self) -> Vec<String> {
        let mut f: Vec<String> = Vec::new();
        if let Some(m) = self.mode {
            f.extend(["--election-mode".into(), m.into()]);
        }
        for (flag, v) in [
            ("--election-lease-ms", self.lease_ms),
            ("--election-renew-ms", self.renew_ms),
            ("--election-retry-ms", self.retry_ms),
            ("--election-margin-ms", self.margin_ms),
            ("--database-pool-size", 4),
            ("--database-connect-timeout-ms", 2000),
            ("--database-statement-timeout-ms", 2000),
        ] {
            f.extend([flag.to_string(), v.to_string()]);
        }
        f
    }
}

/// What `/role` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 200 `master`.
    Master,
    /// 503 `slave`.
    Slave,
    /// Not running, or an answer that is neither.
    Down,
}

/// One `baton serve` process of a cluster (restartable).
pub struct Node {
    pub name: String,
    pub url: String,
    /// Pre-assigned STOMP address (bound only while master).
    pub stomp: String,
    /// Admin address of the current process.
    pub admin: String,
    flags: Vec<String>,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    /// Log lines of earlier processes of this node.
    earlier: Vec<String>,
}

impl Node {
    /// Starts `baton serve` as node `name` on `url` and waits for its admin
    /// server only (a slave never binds STOMP).
    pub fn start(name: &str, url: &str, settings: &Settings) -> Node {
        let mut node = Node {
            name: name.to_string(),
            url: url.to_string(),
            stomp: format!("127.0.0.1:{}", free_port()),
            admin: String::new(),
            flags: settings.flags(),
            child: None,
            logs: Arc::new(Mutex::new(Vec::new())),
            earlier: Vec::new(),
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--node-id".into(),
            self.name.clone(),
            "--database-url".into(),
            self.url.clone(),
            "--stomp-listen".into(),
            self.stomp.clone(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "baton=debug,info".into(),
        ];
        args.extend(self.flags.iter().cloned());
        let mut child = Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        if v["fields"]["message"].as_str() == Some("admin listener bound") {
                            let addr = v["fields"]["addr"].as_str().unwrap_or("").to_string();
                            let _ = tx.send(addr);
                        }
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    logs.lock().unwrap().push(format!("stderr: {line}"));
                }
            });
        }
        let earlier = std::mem::replace(&mut self.logs, logs);
        self.earlier.extend(earlier.lock().unwrap().drain(..));
        match rx.recv_timeout(GUARD) {
            Ok(addr) => self.admin = addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "node {} did not start; log:\n{}",
                    self.name,
                    self.logs.lock().unwrap().join("\n")
                );
            }
        }
        self.child = Some(child);
    }

    /// Starts a new process for this node (same id, URL, STOMP port, flags).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "node {} is still running", self.name);
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit (guarded).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + GUARD;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "node {} ignored SIGTERM; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `/role` of the current process.
    pub fn role(&self) -> Role {
        if self.child.is_none() {
            return Role::Down;
        }
        match http_get(&self.admin, "/role") {
            Some((200, body)) if body.trim() == "master" => Role::Master,
            Some((503, body)) if body.trim() == "slave" => Role::Slave,
            _ => Role::Down,
        }
    }

    /// True when a TCP connect to the STOMP address is refused.
    pub fn stomp_refused(&self) -> bool {
        match TcpStream::connect_timeout(&self.stomp.parse().unwrap(), Duration::from_secs(5)) {
            Ok(_) => false,
            Err(e) => e.kind() == ErrorKind::ConnectionRefused,
        }
    }

    /// Log lines of the current process.
    pub fn lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// How many log lines of the current process contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Every log line of every process of this node.
    pub fn log_text(&self) -> String {
        let mut all = self.earlier.clone();
        all.extend(self.lines());
        all.join("\n")
    }

    /// Epochs this process became master with, from "became master" lines.
    pub fn master_epochs(&self) -> Vec<i64> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("became master"))
            })
            .filter_map(|v| v["fields"]["epoch"].as_i64())
            .collect()
    }

    /// Waits (guarded) until the current process logged `needle` at least
    /// `count` times.
    pub async fn wait_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + GUARD;
        while self.log_count(needle) < count {
            if Instant::now() > deadline {
                panic!(
                    "node {} did not log {needle:?} {count} time(s); log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (guarded) until `/role` says `role`.
    pub async fn wait_role(&self, role: Role) {
        let deadline = Instant::now() + GUARD;
        loop {
            let now = self.role();
            if now == role {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "node {} is still {now:?}, expected {role:?}; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- log of node {} ----\n{}", self.name, self.log_text());
        }
    }
}

/// Raw blocking HTTP GET: (status, body), or `None` if unreachable.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Starts node "a", waits until it is master, then starts the other
/// `names` as slaves (each waiting for the lock): a cluster whose master is
/// known, without depending on who wins a simultaneous start.
pub async fn start_cluster(db: &Db, settings: &Settings, names: &[&str]) -> Vec<Node> {
    let first = Node::start(names[0], &db.url(), settings);
    first.wait_role(Role::Master).await;
    let mut nodes = vec![first];
    for name in &names[1..] {
        let n = Node::start(name, &db.url(), settings);
        n.wait_log("slave: waiting for the master lock", 1).await;
        nodes.push(n);
    }
    assert_single_master(db, &nodes, 0).await;
    nodes
}

/// Waits (guarded) until one of the running `nodes` says master; its index.
pub async fn wait_master(nodes: &[Node]) -> usize {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(i) = nodes.iter().position(|n| n.role() == Role::Master) {
            return i;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("---- {} ----\n{}", n.name, n.log_text()))
                .collect();
            panic!("no node became master; logs:\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Node `m` is the one master: it says so, serves STOMP and logged its
/// promotion; every other running node says slave, refuses STOMP
/// connections and logged that it waits for the lock. The lock row names
/// `m` with the epoch it logged.
pub async fn assert_single_master(db: &Db, nodes: &[Node], m: usize) {
    assert_eq!(nodes[m].role(), Role::Master, "node {}", nodes[m].name);
    let c = connect(&nodes[m]).await;
    drop(c);
    let epoch = *nodes[m]
        .master_epochs()
        .last()
        .unwrap_or_else(|| panic!("{} did not log its promotion", nodes[m].name));
    for (i, n) in nodes.iter().enumerate() {
        if i == m || n.child.is_none() {
            continue;
        }
        assert_eq!(
            n.role(),
            Role::Slave,
            "node {} (master is {})",
            n.name,
            nodes[m].name
        );
        assert!(
            n.stomp_refused(),
            "slave {} accepts connections on its STOMP port",
            n.name
        );
        assert!(
            n.log_count("slave: waiting for the master lock") > 0,
            "slave {} never said it waits for the lock",
            n.name
        );
    }
    let row = db.lock_row().await;
    assert_eq!(row.holder.as_deref(), Some(nodes[m].name.as_str()));
    assert_eq!(row.epoch, epoch, "lock row epoch vs the master's log");
}

// ------------------------------------------------------------ clients

pub async fn guard<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub async fn connect(n: &Node) -> Client {
    guard("connect", Client::connect(&n.stomp))
        .await
        .unwrap_or_else(|e| panic!("connect to {} at {}: {e}", n.name, n.stomp))
}

/// A persistent SEND, confirmed (RECEIPT after the commit).
pub async fn send_persistent(c: &mut Client, dest: &str, body: &str) {
    guard(
        "send",
        c.send(dest, body.to_string(), &[("persistent", "true")]),
    )
    .await
    .unwrap_or_else(|e| panic!("persistent send {body}: {e}"));
}

/// A non-persistent SEND, confirmed (accepted into memory).
pub async fn send_transient(c: &mut Client, dest: &str, body: &str) {
    guard("send", c.send(dest, body.to_string(), &[]))
        .await
        .unwrap_or_else(|e| panic!("send {body}: {e}"));
}

const MARKER: &str = "end-marker";

/// Subscribes to `dest` on `n` and checks that exactly `expected` (in this
/// order) is waiting there: after them comes a freshly sent priority-0
/// marker, which sorts behind anything else queued. Acknowledges them all
/// with receipts (so their rows are deleted before this returns).
pub async fn expect_exactly(n: &Node, dest: &str, expected: &[String]) {
    let mut c = connect(n).await;
    guard(
        "subscribe",
        c.subscribe(dest, "drain", "client-individual", &[]),
    )
    .await
    .expect("subscribe");
    let mut got = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..expected.len() {
        let f = guard("MESSAGE", c.next_message())
            .await
            .unwrap_or_else(|e| panic!("waiting for {expected:?}, got {got:?}, then {e}"));
        got.push(String::from_utf8_lossy(&f.body).into_owned());
        frames.push(f);
    }
    assert_eq!(got, expected, "messages delivered by {}", n.name);
    guard(
        "marker",
        c.send(dest, MARKER.to_string(), &[("priority", "0")]),
    )
    .await
    .expect("send marker");
    let f = guard("marker", c.next_message()).await.expect("marker");
    assert_eq!(
        String::from_utf8_lossy(&f.body),
        MARKER,
        "{} delivered more than {expected:?}",
        n.name
    );
    for f in frames.iter().chain([&f]) {
        let id = f.header("ack").expect("ack header").to_string();
        guard(
            "ack",
            c.request(Frame::new(StompCommand::Ack).with_header("id", id)),
        )
        .await
        .expect("ack");
    }
    let _ = guard("disconnect", c.disconnect()).await;
}

/// What a client connection got after its node was deposed: an ERROR
/// frame or a closed connection are fine; a RECEIPT for a write that was
/// never committed is a violation.
pub async fn expect_error_or_close(c: &mut Client, what: &str) {
    loop {
        match guard(what, c.recv()).await {
            Ok(f) if f.command == StompCommand::Error => return,
            Ok(f) if f.command == StompCommand::Receipt => panic!(
                "{what}: got RECEIPT {:?} from a deposed master",
                f.header("receipt-id")
            ),
            Ok(f) if f.command == StompCommand::Message => continue,
            Ok(f) => panic!("{what}: unexpected {:?}", f.command),
            Err(ClientError::Closed) | Err(ClientError::Codec(_)) => return,
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

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
