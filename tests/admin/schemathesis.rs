//! Schemathesis (pinned in tests/interop/requirements.txt) generates
//! requests from the admin API's own OpenAPI document (`/api/openapi.json`)
//! and sends them, authenticated as an admin, to a real throwaway node:
//! no request may get a 5xx answer or kill the connection.
//!
//! Schemathesis is found next to the Python of `STOMP_PY_PYTHON`
//! (scripts/test.sh sets it), else in `<repo>/.venv`. Like the stomp.py
//! tests, this test never skips: without it, it fails with set-up
//! instructions.

use crate::common::users as setup;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Failure guard for the whole run (it takes about a minute).
const RUN_DEADLINE: Duration = Duration::from_secs(600);

fn schemathesis() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    if let Some(python) = std::env::var_os("STOMP_PY_PYTHON").filter(|p| !p.is_empty()) {
        if let Some(bin) = Path::new(&python).parent() {
            candidates.push(bin.join("schemathesis"));
        }
    }
    candidates.push(repo.join(".venv/bin/schemathesis"));
    for c in candidates {
        let works = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return c;
        }
        tried.push(c.display().to_string());
    }
    panic!(
        "no schemathesis found (tried: {}).\nSet it up with:\n  \
         python3 -m venv {root}/.venv && {root}/.venv/bin/pip install -r {root}/tests/interop/requirements.txt\n\
         and/or export STOMP_PY_PYTHON=<that venv>/bin/python (scripts/test.sh does both).",
        tried.join(", "),
        root = repo.display()
    );
}

#[test]
fn schemathesis_finds_no_server_errors_in_the_admin_api() {
    let bin = schemathesis();
    let s = setup::start(&[]);
    let work = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{}/api/openapi.json", s.b.admin);
    let child = Command::new(&bin)
        .args(["run", &url])
        .args(["--checks", "not_a_server_error"])
        .args(["--auth", "ops:ops-secret"])
        .args(["--max-examples", "60"])
        // One worker: Python 3.11's `ast` is not thread-safe and makes
        // hypothesis fail at random with several.
        .args(["--workers", "1"])
        .args(["--generation-database", "none", "--no-color"])
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run schemathesis");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(RUN_DEADLINE) {
        Ok(out) => out.expect("schemathesis output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("schemathesis did not finish");
        }
    };
    let status = out.status;
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        status.success(),
        "schemathesis found failures:\n{report}\n---- broker log ----\n{}",
        s.b.log_text()
    );
    assert!(
        report.contains(" generated, "),
        "no test cases ran:\n{report}"
    );
    assert!(
        !s.b.log_contains("panicked"),
        "the broker panicked:\n{}",
        s.b.log_text()
    );
}

/// What Schemathesis found, kept as plain regression tests: each used to
/// panic the request's task (an integer overflow) and drop the connection.
#[test]
fn the_requests_schemathesis_broke_are_answered() {
    let s = setup::start(&[]);
    let r = s.ops.post("/api/v1/queues/q/messages", "text/plain", b"x");
    assert_eq!(r.status, 201, "{}", r.text());
    // The smallest message id (find_in_queue computed id - 1).
    let min = i64::MIN;
    s.ops
        .get(&format!("/api/v1/queues/q/messages/{min}"))
        .expect_error(404);
    s.ops
        .delete(&format!("/api/v1/queues/q/messages/{min}"))
        .expect_error(404);
    // The longest time to live (now + ttl overflowed).
    let r = s.ops.post(
        &format!("/api/v1/queues/q/messages?ttl={}", i64::MAX),
        "text/plain",
        b"y",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.ops.post(
        &format!("/api/message/q?type=queue&JMSTimeToLive={}", i64::MAX),
        "text/plain",
        b"z",
    );
    assert!(r.status < 500, "{} {}", r.status, r.text());
    assert!(!s.b.log_contains("panicked"), "{}", s.b.log_text());
}
