//! Multi-node harness for the master/slave tests (tests/ha/): `baton`
//! processes with pre-assigned STOMP ports (a slave binds none, so it never
//! logs the address), their roles over HTTP, and client helpers. Databases
//! are in `testdb`, the shared scenarios in `scenarios`; both are re-exported
//! here.

use baton::client::{Client, ClientError};
use baton::stomp::frame::{Command as StompCommand, Frame};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::BIN;

#[allow(unused_imports)]
pub use super::scenarios::*;
#[allow(unused_imports)]
pub use super::testdb::*;

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
    /// More `serve` flags for every node (e.g. TLS files); one of the
    /// defaults given here replaces it.
    pub extra: Vec<String>,
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
            extra: Vec::new(),
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
            extra: Vec::new(),
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
            if !self.extra.iter().any(|e| e == flag) {
                f.extend([flag.to_string(), v.to_string()]);
            }
        }
        f.extend(self.extra.iter().cloned());
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
    /// Pre-assigned OpenWire address (bound only while master).
    pub openwire: String,
    /// Pre-assigned STOMP over WebSocket address (likewise).
    pub websocket: String,
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
            openwire: format!("127.0.0.1:{}", free_port()),
            websocket: format!("127.0.0.1:{}", free_port()),
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
            "--websocket-listen".into(),
            self.websocket.clone(),
            "--openwire-listen".into(),
            self.openwire.clone(),
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
        refused(&self.stomp)
    }

    /// True when a TCP connect to the OpenWire address is refused.
    pub fn openwire_refused(&self) -> bool {
        refused(&self.openwire)
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
    http_get_accept(addr, path, "*/*")
}

/// [`http_get`] with an `Accept` header.
pub fn http_get_accept(addr: &str, path: &str, accept: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
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
            n.openwire_refused(),
            "slave {} accepts connections on its OpenWire port",
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
    // The log is read by another thread: the promotion line may trail the
    // port being served by a moment.
    let deadline = Instant::now() + GUARD;
    while nodes[m].master_epochs().last() != Some(&row.epoch) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        nodes[m].master_epochs().last(),
        Some(&row.epoch),
        "the lock row's epoch vs the last promotion {} logged",
        nodes[m].name
    );
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

/// True when a TCP connect to `addr` is refused.
fn refused(addr: &str) -> bool {
    match TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5)) {
        Ok(_) => false,
        Err(e) => e.kind() == ErrorKind::ConnectionRefused,
    }
}
