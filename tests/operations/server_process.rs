//! The `baton` process: graceful shutdown, configuration errors and
//! precedence, zero-config start, admin endpoints and log formats.

use crate::common;

use baton::client::Client;
use baton::stomp::frame::{Command, Frame};
use common::{Baton, BIN};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Failure guard for anything that should happen.
const GUARD: Duration = Duration::from_secs(20);

async fn guard<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn connect(b: &Baton) -> Client {
    guard("connect", Client::connect(&b.stomp))
        .await
        .expect("connect")
}

/// `baton` with a cleared environment (only `PATH` plus `env`), run in `cwd`.
fn baton(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Process {
    let mut cmd = Process::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn sigterm(child: &Child) {
    let status = Process::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Runs a command that is expected to exit by itself; kills it (and fails)
/// if it is still running after the guard.
fn run_to_exit(mut cmd: Process) -> Output {
    let child = cmd.spawn().expect("spawn baton");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(GUARD) {
        Ok(out) => out.expect("wait for baton"),
        Err(_) => {
            let _ = Process::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("baton did not exit by itself");
        }
    }
}

/// Flags that keep a (wrongly) starting broker off fixed ports and the
/// working directory.
fn safe_flags(dir: &Path) -> Vec<String> {
    vec![
        "--stomp-listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "127.0.0.1:0".into(),
        "--websocket-listen".into(),
        "127.0.0.1:0".into(),
        "--database-url".into(),
        format!("sqlite:{}/db/baton.db", dir.display()),
    ]
}

/// Runs `serve` with `args` (plus the safe flags `args` does not set) and
/// `env`; asserts exit code 2 and that no store was created; returns stderr.
fn rejected(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all: Vec<String> = vec!["serve".into()];
    for pair in safe_flags(dir.path()).chunks(2) {
        if !args.contains(&pair[0].as_str()) {
            all.extend_from_slice(pair);
        }
    }
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = run_to_exit(baton(&all, env, dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        !dir.path().join("db").exists(),
        "the store was opened despite a bad configuration"
    );
    stderr
}

// ----------------------------------------------------- graceful shutdown

#[tokio::test]
async fn sigterm_sends_connected_clients_an_error_and_exits_0() {
    let mut b = Baton::start();
    let mut c = connect(&b).await;
    guard("subscribe", c.subscribe("/queue/q", "s", "auto", &[]))
        .await
        .expect("subscribe");
    let status = b.terminate();
    assert_eq!(status.code(), Some(0), "exit status {status}");
    let f = guard("ERROR frame", c.recv()).await.expect("a frame");
    assert_eq!(f.command, Command::Error);
    let message = f.header("message").unwrap_or_default();
    assert!(message.contains("shutting down"), "message: {message}");
    assert!(
        guard("close", c.recv()).await.is_err(),
        "connection stays open"
    );
}

#[tokio::test]
async fn persistent_send_confirmed_before_shutdown_survives() {
    let mut b = Baton::start();
    let mut c = connect(&b).await;
    let h = [("persistent", "true")];
    guard("send", c.send("/queue/last", "last-words", &h[..]))
        .await
        .expect("send");
    assert_eq!(b.terminate().code(), Some(0));
    drop(c);
    b.restart(&[]);
    let mut c = connect(&b).await;
    guard("subscribe", c.subscribe("/queue/last", "s", "auto", &[]))
        .await
        .expect("subscribe");
    let m = guard("message", c.next_message()).await.expect("message");
    assert_eq!(&m.body[..], b"last-words");
    assert_eq!(m.header("redelivered"), Some("true"));
}

// ------------------------------------------------- configuration errors

#[test]
fn unknown_key_in_config_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("baton.toml");
    std::fs::write(&file, "[stomp]\nmax_headers = 10\nlistn = 3\n").unwrap();
    let stderr = rejected(&["--config", file.to_str().unwrap()], &[]);
    assert!(stderr.contains("listn"), "stderr: {stderr}");
}

#[test]
fn bad_env_value_exits_2_naming_the_key() {
    let stderr = rejected(&[], &[("BATON_STOMP_MAX_HEADERS", "abc")]);
    assert!(
        stderr.contains("stomp.max_headers") || stderr.contains("BATON_STOMP_MAX_HEADERS"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("abc"), "stderr: {stderr}");
}

#[test]
fn bad_flag_value_exits_2_naming_the_key() {
    let stderr = rejected(&["--stomp-listen", "nowhere"], &[]);
    assert!(stderr.contains("stomp.listen"), "stderr: {stderr}");
}

#[test]
fn unknown_baton_env_var_exits_2_naming_it() {
    let stderr = rejected(&[], &[("BATON_STOMP_LISTN", "127.0.0.1:0")]);
    assert!(stderr.contains("BATON_STOMP_LISTN"), "stderr: {stderr}");
}

// ------------------------------------------------------------ precedence

/// Dead-letters one message (max redeliveries 0 comes from the file) and
/// returns the DLQ it landed in.
async fn dlq_of(b: &Baton) -> String {
    let mut c = connect(b).await;
    for (i, prefix) in ["DLQ.", "FILE.", "ENV.", "FLAG."].iter().enumerate() {
        let dest = format!("/queue/{prefix}q");
        guard(
            "subscribe",
            c.subscribe(&dest, &format!("d{i}"), "auto", &[]),
        )
        .await
        .expect("subscribe");
    }
    guard(
        "subscribe",
        c.subscribe("/queue/q", "q", "client-individual", &[]),
    )
    .await
    .expect("subscribe");
    guard("send", c.send("/queue/q", "doomed", &[]))
        .await
        .expect("send");
    let m = guard("message", c.next_message()).await.expect("message");
    assert_eq!(m.header("subscription"), Some("q"));
    let nack = Frame::new(Command::Nack).with_header("id", m.header("ack").expect("ack"));
    guard("nack", c.request(nack)).await.expect("nack");
    let d = guard("dead letter", c.next_message())
        .await
        .expect("message");
    assert_eq!(&d.body[..], b"doomed");
    d.header("destination").unwrap_or_default().to_string()
}

#[tokio::test]
async fn config_file_then_env_then_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("baton.toml");
    std::fs::write(
        &file,
        "[broker]\ndlq_prefix = \"FILE.\"\nmax_redeliveries = 0\n",
    )
    .unwrap();
    let config = ["--config", file.to_str().unwrap()];
    let env = [("BATON_BROKER_DLQ_PREFIX", "ENV.")];

    let b = Baton::start_with(&config);
    assert_eq!(dlq_of(&b).await, "/queue/FILE.q", "file over defaults");
    drop(b);

    let b = Baton::start_env(&config, &env);
    assert_eq!(dlq_of(&b).await, "/queue/ENV.q", "env over file");
    drop(b);

    let flags = [&config[..], &["--broker-dlq-prefix", "FLAG."]].concat();
    let b = Baton::start_env(&flags, &env);
    assert_eq!(dlq_of(&b).await, "/queue/FLAG.q", "flag over env");
}

// ----------------------------------------------------- start and observe

/// Spawns `cmd` and collects its stdout lines until one contains `needle`.
fn start_until(mut cmd: Process, needle: &str) -> (Child, Vec<String>) {
    let mut child = cmd.spawn().expect("spawn baton");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    // Keep draining both pipes for the process's whole life.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink()));
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(GUARD) {
            Ok(line) => {
                let done = line.contains(needle);
                lines.push(line);
                if done {
                    return (child, lines);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no '{needle}' on stdout; got:\n{}", lines.join("\n"));
            }
        }
    }
}

#[test]
fn zero_config_serve_creates_data_baton_db_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmd = baton(
        &[
            "serve",
            "--stomp-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--websocket-listen",
            "127.0.0.1:0",
        ],
        &[],
        dir.path(),
    );
    let (mut child, lines) = start_until(cmd, "stomp listener bound");
    assert!(
        dir.path().join("data").join("baton.db").is_file(),
        "no ./data/baton.db"
    );
    let last = lines.last().expect("a line");
    assert!(
        serde_json::from_str::<serde_json::Value>(last).is_err(),
        "the default log format is text, got {last}"
    );
    sigterm(&child);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn log_format_json_gives_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = vec!["serve".into(), "--log-format".into(), "json".into()];
    args.extend(safe_flags(dir.path()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, lines) = start_until(baton(&args, &[], dir.path()), "stomp listener bound");
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "no level: {line}");
        assert!(v["fields"]["message"].is_string(), "no message: {line}");
    }
    let bound: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(bound["fields"]["message"], "stomp listener bound");
    assert!(bound["fields"]["addr"].is_string());
    sigterm(&child);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn admin_role_and_healthz() {
    let b = Baton::start();
    let (status, body) = b.http_get("/role");
    assert_eq!((status, body.trim()), (200, "master"));
    let (status, _) = b.http_get("/healthz");
    assert_eq!(status, 200);
    let (status, _) = b.http_get("/no-such-page");
    assert_eq!(status, 404);
}
