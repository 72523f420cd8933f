//! A `baton` process with any arguments and environment (the shared
//! harnesses fix the log level and the database URL): every line of its
//! stdout and stderr kept, its admin address learnt from the JSON log.

#![allow(dead_code)]
use crate::common::testdb::GUARD;
use crate::common::BIN;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Proc {
    child: Option<Child>,
    pub logs: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// Admin address, once the process logged it.
    pub admin: String,
}

/// `serve` flags for a node on `url` with ephemeral ports, JSON logs at
/// the most verbose level for baton and debug for everything else.
pub fn serve_args(url: &str) -> Vec<String> {
    [
        "serve",
        "--database-url",
        url,
        "--stomp-listen",
        "127.0.0.1:0",
        "--openwire-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--websocket-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log-level",
        "debug,baton=trace",
        "--database-connect-timeout-ms",
        "2000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn collect(
    reader: impl Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    tag: &'static str,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            logs.lock().unwrap().push(format!("{tag}{line}"));
        }
    })
}

impl Proc {
    /// Starts `baton ARGS` with only `PATH` and `env` in its environment.
    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), logs.clone(), ""),
            collect(
                child.stderr.take().expect("stderr"),
                logs.clone(),
                "stderr: ",
            ),
        ];
        Proc {
            child: Some(child),
            logs,
            readers,
            admin: String::new(),
        }
    }

    /// Starts a node and waits (guarded) for its admin listener.
    pub fn serve(args: &[String], env: &[(&str, &str)]) -> Proc {
        let mut p = Proc::spawn(args, env);
        let line = p.wait_log("admin listener bound");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        p.admin = v["fields"]["addr"].as_str().expect("addr").to_string();
        p
    }

    pub fn text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn count(&self, needle: &str) -> usize {
        let logs = self.logs.lock().unwrap();
        logs.iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits (guarded) for a log line containing `needle`; returns it.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}; log:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (guarded) until `needle` was logged `n` times.
    pub fn wait_count(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + GUARD;
        while self.count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged {n} times; log:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (guarded) for the process to exit by itself; its status and
    /// the whole output.
    pub fn wait_exit(&mut self) -> (ExitStatus, String) {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Ok(Some(s)) = c.try_wait() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("baton did not exit; log:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status, self.text())
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> (ExitStatus, String) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
        self.wait_exit()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `baton ARGS` to its end (guarded): exit code and all output.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (status, out) = Proc::spawn(&args, env).wait_exit();
    (status.code().unwrap_or(-1), out)
}
