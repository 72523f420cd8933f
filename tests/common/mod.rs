//! Test harness: starts the real `baton` binary on ephemeral ports with its
//! own SQLite file, learns the bound addresses from its JSON log, and talks
//! to it over real sockets.
#![allow(dead_code)]

pub mod activemq;
pub mod browser;
pub mod certs;
pub mod cluster;
pub mod deliveries;
pub mod haproxy;
pub mod http;
pub mod java;
pub mod jms_scenarios;
pub mod proc;
pub mod proxy;
pub mod scenarios;
pub mod stomp;
pub mod testdb;
pub mod users;
pub mod websocket;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_baton");

/// A running broker process.
pub struct Baton {
    child: Option<Child>,
    pub stomp: String,
    pub admin: String,
    pub data: PathBuf,
    pub logs: Arc<Mutex<Vec<String>>>,
    args: Vec<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Baton {
    /// A fresh broker with its own database.
    pub fn start() -> Baton {
        Baton::start_with(&[])
    }

    /// A fresh broker with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> Baton {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let mut b = Baton::spawn(&data, extra);
        b._dir = Some(dir);
        b
    }

    /// A fresh broker with extra `serve` flags and extra environment
    /// variables (on top of the cleared environment with only `PATH`).
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Baton {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let mut b = Baton::spawn_env(&data, extra, env);
        b._dir = Some(dir);
        b
    }

    /// Starts a broker on the database in `data` (reused across restarts).
    pub fn spawn(data: &Path, extra: &[&str]) -> Baton {
        Baton::spawn_env(data, extra, &[])
    }

    /// Like [`Baton::spawn`], with extra environment variables.
    pub fn spawn_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Baton {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--database-url".into(),
            format!("sqlite:{}/baton.db", data.display()),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "baton=debug,info".into(),
        ];
        // Ephemeral loopback ports unless `extra` chooses the address.
        for flag in [
            "--stomp-listen",
            "--admin-listen",
            "--openwire-listen",
            "--websocket-listen",
        ] {
            if !extra.contains(&flag) {
                args.extend([flag.into(), "127.0.0.1:0".into()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
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
                        let msg = v["fields"]["message"].as_str().unwrap_or("");
                        if msg == "stomp listener bound" || msg == "admin listener bound" {
                            let addr = v["fields"]["addr"].as_str().unwrap_or("").to_string();
                            let _ = tx.send((msg.to_string(), addr));
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
        let (mut stomp, mut admin) = (String::new(), String::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        while stomp.is_empty() || admin.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((m, a)) if m.starts_with("stomp") => stomp = a,
                Ok((_, a)) => admin = a,
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "baton did not start; log:\n{}",
                        logs.lock().unwrap().join("\n")
                    );
                }
            }
        }
        Baton {
            child: Some(child),
            stomp,
            admin,
            data: data.to_path_buf(),
            logs,
            args,
            _dir: None,
        }
    }

    /// Starts a new process on the same database.
    pub fn restart(&mut self, extra: &[&str]) {
        let mut fresh = Baton::spawn(&self.data.clone(), extra);
        fresh._dir = self._dir.take();
        *self = fresh;
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().expect("wait")
    }

    /// The address a listener bound, from its log line (`message`),
    /// logged right after STOMP's.
    fn bound(&self, message: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.logs.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["fields"]["message"] == message)
                    .then(|| v["fields"]["addr"].as_str().unwrap_or("").to_string())
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "no '{message}' in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The OpenWire address the broker bound.
    pub fn openwire(&self) -> String {
        self.bound("openwire listener bound")
    }

    /// The STOMP over WebSocket address the broker bound.
    pub fn websocket(&self) -> String {
        self.bound("websocket listener bound")
    }

    /// The `tcp://` URL of the OpenWire listener, for the Java client.
    pub fn openwire_url(&self) -> String {
        format!("tcp://{}", self.openwire())
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Raw blocking HTTP GET to the admin server: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.admin).expect("admin connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A raw TCP connection for byte-level protocol tests.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one whole frame (heart-beat EOLs skipped) using the broker's
    /// own parser on the client side.
    pub fn read_frame(&mut self) -> Option<baton::stomp::frame::Frame> {
        use baton::stomp::frame::{parse, Limits, Parsed, Version};
        loop {
            match parse(&self.buf, Version::V1_2, &Limits::default()) {
                Ok(Some(Parsed::Frame(f, n))) => {
                    self.buf.drain(..n);
                    return Some(f);
                }
                Ok(Some(Parsed::Heartbeat(n))) => {
                    self.buf.drain(..n);
                }
                Ok(None) => {}
                Err(e) => panic!("server sent a malformed frame: {e}"),
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True once the server closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// What [`Raw::next_incoming`] saw on the socket.
#[derive(Debug)]
pub enum Incoming {
    /// A whole frame and its exact bytes on the wire.
    Frame(baton::stomp::frame::Frame, Vec<u8>),
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived within the read timeout.
    TimedOut,
}

/// Byte-level helpers used by the protocol tests (tests/protocol/).
impl Raw {
    /// Writes and flushes; false (instead of a panic) if the server already
    /// closed the connection.
    pub fn try_write(&mut self, bytes: &[u8]) -> bool {
        self.stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush())
            .is_ok()
    }

    /// The next frame (heart-beat EOLs skipped), its header values decoded
    /// as `version` does (1.0: no unescaping), with its raw bytes; or why
    /// none came. Gives up after 10 s even if heart-beats keep arriving.
    /// Panics if the server sent a malformed frame.
    pub fn next_incoming(&mut self, version: baton::stomp::frame::Version) -> Incoming {
        use baton::stomp::frame::{parse, Limits, Parsed};
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if Instant::now() > deadline {
                return Incoming::TimedOut;
            }
            match parse(&self.buf, version, &Limits::default()) {
                Ok(Some(Parsed::Frame(f, n))) => {
                    let raw: Vec<u8> = self.buf.drain(..n).collect();
                    return Incoming::Frame(f, raw);
                }
                Ok(Some(Parsed::Heartbeat(n))) => {
                    self.buf.drain(..n);
                    continue;
                }
                Ok(None) => {}
                Err(e) => panic!(
                    "server sent a malformed frame: {e}; bytes: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Incoming::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Incoming::TimedOut
                }
                Err(_) => return Incoming::Closed,
            }
        }
    }

    /// Like [`Raw::read_frame`], decoding header values as `version` does.
    pub fn read_frame_as(
        &mut self,
        version: baton::stomp::frame::Version,
    ) -> Option<baton::stomp::frame::Frame> {
        match self.next_incoming(version) {
            Incoming::Frame(f, _) => Some(f),
            _ => None,
        }
    }

    /// The exact bytes of the next frame (heart-beat EOLs skipped).
    pub fn read_raw_frame(&mut self) -> Option<Vec<u8>> {
        match self.next_incoming(baton::stomp::frame::Version::V1_0) {
            Incoming::Frame(_, raw) => Some(raw),
            _ => None,
        }
    }

    /// The next byte from the server, heart-beat EOLs included (buffered
    /// bytes first); `None` on EOF, error or timeout.
    pub fn read_byte(&mut self) -> Option<u8> {
        if self.buf.is_empty() {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        Some(self.buf.remove(0))
    }
}
