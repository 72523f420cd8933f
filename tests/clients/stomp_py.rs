//! Interoperability with a real third-party client: stomp.py (pinned in
//! tests/interop/requirements.txt), driven by tests/interop/stomp_py_check.py
//! (the protocol) and tests/interop/stomp_py_features.py (the ActiveMQ
//! messaging features) against the real broker binary.
//!
//! The Python interpreter comes from `STOMP_PY_PYTHON` (scripts/test.sh sets
//! it), else `<repo>/.venv/bin/python`. Without a working one these tests
//! fail with set-up instructions; they never skip.

use crate::common;

use common::certs::{arg, Ca};
use common::Baton;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Failure guard for one script run (the scripts take seconds).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(240);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// True when `python` runs and imports stomp.
fn has_stomp(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import stomp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python with stomp.py, found once per test binary.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let mut tried = Vec::new();
        if let Some(p) = std::env::var_os("STOMP_PY_PYTHON").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if has_stomp(&p) {
                return Ok(p);
            }
            tried.push(format!("STOMP_PY_PYTHON={}", p.display()));
        } else {
            tried.push("STOMP_PY_PYTHON (not set)".to_string());
        }
        let venv = repo().join(".venv/bin/python");
        if has_stomp(&venv) {
            return Ok(venv);
        }
        tried.push(venv.display().to_string());
        Err(format!(
            "no Python with stomp.py found (tried: {}).\n\
             Set it up with:\n  \
             python3 -m venv {root}/.venv && {root}/.venv/bin/pip install -r {root}/tests/interop/requirements.txt\n\
             and/or export STOMP_PY_PYTHON=<that venv>/bin/python (scripts/test.sh does both).",
            tried.join(", "),
            root = repo().display()
        ))
    });
    match found {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Runs one scenario of stomp_py_check.py against `b`.
fn stomp_py(b: &Baton, scenario: &str) {
    run_script(b, "stomp_py_check.py", scenario);
}

/// Runs one scenario of stomp_py_features.py against a fresh broker.
fn stomp_py_feature(scenario: &str) {
    let b = Baton::start();
    run_script(&b, "stomp_py_features.py", scenario);
}

/// Runs one scenario of the stomp.py script `name` (in tests/interop)
/// against `b`; panics with the script's output and the broker's log
/// unless it passes.
fn run_script(b: &Baton, name: &str, scenario: &str) {
    run_script_with(b, name, scenario, &[]);
}

/// [`run_script`] with extra arguments after the scenario.
fn run_script_with(b: &Baton, name: &str, scenario: &str, extra: &[String]) {
    let script = repo().join("tests/interop").join(name);
    let (host, port) = b.stomp.rsplit_once(':').expect("host:port");
    let mut child = Command::new(python())
        .arg(&script)
        .args([host, port, scenario])
        .args(extra)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("STOMP_SKIP_HOSTNAME_SCAN", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the script") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let passed = status.is_some_and(|s| s.success());
    if !passed {
        let outcome = match status {
            Some(s) => format!("exited with {s}"),
            None => format!("was killed after {} s", SCRIPT_DEADLINE.as_secs()),
        };
        let log = b.log_text();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        panic!(
            "stomp.py {name} scenario '{scenario}' {outcome}\n\
             --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n\
             --- broker log (last {} lines) ---\n{}",
            tail.len(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    assert!(
        stdout.contains(&format!("PASS {scenario}")),
        "stomp.py {name} scenario '{scenario}' exited 0 without reporting PASS:\n{stdout}\n{stderr}"
    );
}

/// Every protocol version's everyday features through stomp.py.
#[test]
fn stomp_py_basic() {
    let b = Baton::start();
    stomp_py(&b, "basic");
}

/// Persistent messages acknowledged with receipts survive kill -9;
/// non-persistent and topic messages do not come back; the consumer's
/// acknowledgements survive the next kill -9 too.
#[test]
fn stomp_py_persistent_messages_survive_kill9() {
    let mut b = Baton::start();
    stomp_py(&b, "produce");
    b.kill9();
    b.restart(&[]);
    stomp_py(&b, "consume");
    b.kill9();
    b.restart(&[]);
    stomp_py(&b, "drained");
}

/// The same story across graceful restarts (SIGTERM).
#[test]
fn stomp_py_persistent_messages_survive_graceful_restart() {
    let mut b = Baton::start();
    stomp_py(&b, "produce");
    let status = b.terminate();
    assert!(status.success(), "SIGTERM exit: {status}\n{}", b.log_text());
    b.restart(&[]);
    stomp_py(&b, "consume");
    let status = b.terminate();
    assert!(status.success(), "SIGTERM exit: {status}\n{}", b.log_text());
    b.restart(&[]);
    stomp_py(&b, "drained");
}

/// `/topic/PRICE.>`, `/topic/PRICE.*.NYSE` and `/queue/orders.*` get
/// exactly the matching destinations.
#[test]
fn stomp_py_wildcards() {
    stomp_py_feature("wildcards");
}

/// A SEND to `/queue/a,/topic/b,c` reaches `/queue/a`, `/topic/b` and
/// `/queue/c`, nothing else.
#[test]
fn stomp_py_composite_destination() {
    stomp_py_feature("composite");
}

/// `browser:true` lists a queue, ends with `browser:end`, consumes nothing.
#[test]
fn stomp_py_queue_browser() {
    stomp_py_feature("browser");
}

/// `activemq.exclusive:true`: one consumer gets everything until it leaves.
#[test]
fn stomp_py_exclusive_consumer() {
    stomp_py_feature("exclusive");
}

/// `JMSXGroupID` pins a group to one consumer until it leaves.
#[test]
fn stomp_py_message_groups() {
    stomp_py_feature("groups");
}

/// Request/reply over `/temp-queue/`, owned by and deleted with its
/// connection.
#[test]
fn stomp_py_temporary_queue_request_reply() {
    stomp_py_feature("temp");
}

/// Consumer groups on `Consumer.<name>.VirtualTopic.Orders` queues.
#[test]
fn stomp_py_virtual_topic() {
    stomp_py_feature("virtual");
}

/// Runs one scenario of stomp_py_policies.py against a fresh broker
/// configured with tests/interop/policies.toml.
fn stomp_py_policy(scenario: &str) {
    let config = repo().join("tests/interop/policies.toml");
    let b = Baton::start_with(&["--config", config.to_str().expect("utf-8 path")]);
    run_script(&b, "stomp_py_policies.py", scenario);
}

/// Redelivery limits and dead-letter strategies per destination pattern:
/// a shared DLQ, an individual one with the policy's prefix, the global
/// default.
#[test]
fn stomp_py_dead_letter_policies() {
    stomp_py_policy("dlq");
}

/// A redelivery delay lets a later message pass the NACKed one.
#[test]
fn stomp_py_redelivery_delay() {
    stomp_py_policy("delay");
}

/// Expired messages to the DLQ (`process_expired`) and FIFO order
/// (`prioritized_messages = false`) per destination.
#[test]
fn stomp_py_expiry_and_priority_policies() {
    stomp_py_policy("expiry");
}

/// stomp.py's `set_ssl` against the `stomp+ssl` listener with a required
/// client certificate: a persistent message sent and received with
/// receipts; a connection trusting another CA fails.
#[test]
fn stomp_py_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "test");
    let server = ca.server(dir.path(), "server");
    let client = ca.client(dir.path(), "client");
    let other = Ca::new(dir.path(), "other");
    let flags = [
        "--stomp-tls-cert".to_string(),
        arg(&server.cert),
        "--stomp-tls-key".into(),
        arg(&server.key),
        "--stomp-tls-client-ca".into(),
        arg(&ca.pem),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let b = Baton::start_with(&flags);
    let extra = [
        arg(&ca.pem),
        arg(&client.cert),
        arg(&client.key),
        arg(&other.pem),
    ];
    run_script_with(&b, "stomp_py_tls.py", "tls", &extra);
}
