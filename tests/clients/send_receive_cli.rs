//! `baton send` and `baton receive` as processes: bodies from arguments,
//! files and stdin, headers, raw and JSON output, exit codes, and a send
//! through a failover URL while the master is killed.

use crate::common;
use crate::common::users as setup;

use common::cluster::{self, Db, Role, Settings};
use common::{Baton, BIN};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Failure guard for a CLI run (never a performance threshold).
const GUARD: Duration = Duration::from_secs(120);

/// Runs `baton args...` with `stdin` as its input and waits (guarded).
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("BATON_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    wait_guarded(child)
}

/// Waits for the process while draining its output (a full pipe would
/// block it); kills it and fails after the guard.
fn wait_guarded(child: std::process::Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(GUARD) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            let out = rx.recv().expect("killed").expect("output");
            panic!(
                "baton did not exit; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn send_then_receive_raw_bodies() {
    let b = Baton::start();
    let url = format!("tcp://{}", b.stomp);
    let out = run(
        &[
            "send",
            "--url",
            &url,
            "-d",
            "/queue/cli",
            "--count",
            "50",
            "--persistent",
            "--numbered",
            "m-{n}",
        ],
        b"",
    );
    assert_exit(&out, 0);
    assert!(
        text(&out.stderr).contains("sent 50 messages"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "receive",
            "--url",
            &url,
            "-d",
            "/queue/cli",
            "--count",
            "50",
        ],
        b"",
    );
    assert_exit(&out, 0);
    let want: Vec<String> = (1..=50).map(|i| format!("m-{i}")).collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), want);
    assert!(text(&out.stderr).contains("received 50 messages"));
}

#[test]
fn body_from_stdin_and_file_with_headers_as_json_lines() {
    let b = Baton::start();
    let url = format!("tcp://{}", b.stomp);
    let out = run(
        &[
            "send",
            "--url",
            &url,
            "-d",
            "/queue/j",
            "-H",
            "color=blue",
            "-H",
            "n=1=2",
        ],
        b"line one\nline two",
    );
    assert_exit(&out, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("body.bin");
    std::fs::write(&file, [0xff, 0x00, 0xfe]).expect("write body");
    let path = file.to_string_lossy().into_owned();
    let out = run(
        &["send", "--url", &url, "-d", "/queue/j", "--file", &path],
        b"",
    );
    assert_exit(&out, 0);

    let out = run(
        &[
            "receive", "--url", &url, "-d", "/queue/j", "--count", "2", "--output", "json",
        ],
        b"",
    );
    assert_exit(&out, 0);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["body"], "line one\nline two");
    assert_eq!(lines[0]["headers"]["color"], "blue");
    assert_eq!(lines[0]["headers"]["n"], "1=2");
    assert_eq!(lines[0]["destination"], "/queue/j");
    assert_eq!(lines[0]["redelivered"], false);
    assert_eq!(lines[1]["body_base64"], "/wD+");
    assert!(lines[1].get("body").is_none());
}

#[test]
fn exit_codes_tell_usage_from_runtime_errors() {
    let b = Baton::start();
    let url = format!("tcp://{}", b.stomp);
    // Usage errors: 2, with the offending part named.
    let out = run(&["send", "--url", &url, "x"], b"");
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("--destination"));
    let out = run(
        &[
            "send",
            "--url",
            "failover:(tcp://h:1)?nope=1",
            "-d",
            "/queue/a",
            "x",
        ],
        b"",
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("unknown option 'nope'"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "send", "--url", &url, "-d", "/queue/a", "-H", "novalue", "x",
        ],
        b"",
    );
    assert_exit(&out, 2);
    let out = run(
        &[
            "send",
            "--url",
            &url,
            "-d",
            "/queue/a",
            "--file",
            "/nonexistent/b",
        ],
        b"",
    );
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("/nonexistent/b"));
    // Runtime failures: 1.
    let dead = format!("tcp://127.0.0.1:{}", cluster::free_port());
    let out = run(&["send", "--url", &dead, "-d", "/queue/a", "x"], b"");
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("cannot connect"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &["send", "--url", &url, "-d", "not-a-destination", "x"],
        b"",
    );
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "receive",
            "--url",
            &url,
            "-d",
            "/queue/empty",
            "--count",
            "1",
            "--idle-timeout",
            "0.3",
        ],
        b"",
    );
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("expected 1"),
        "{}",
        text(&out.stderr)
    );
}

/// What a new user does: `baton send` through a failover URL, the master
/// is killed mid-stream, the run still finishes and `baton receive` gets
/// every message exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_through_failover_while_the_master_is_killed() {
    let db = Db::postgres();
    let mut nodes = cluster::start_cluster(&db, &Settings::fast(None), &["a", "b"]).await;
    let url = format!(
        "failover:(tcp://{},tcp://{})?initialReconnectDelay=10&maxReconnectDelay=200",
        nodes[0].stomp, nodes[1].stomp
    );
    let count = 3000;
    let sender = Command::new(BIN)
        .args([
            "send",
            "--url",
            &url,
            "-d",
            "/queue/f",
            "--persistent",
            "--numbered",
            "m-{n}",
            "--count",
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton send");
    // Kill the master once part of the run is stored.
    cluster::guard("first thousand stored", async {
        while db.stored_bodies().await.len() < 1000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    nodes[0].kill9();
    assert_eq!(cluster::wait_master(&nodes).await, 1);
    let out = tokio::task::spawn_blocking(move || wait_guarded(sender))
        .await
        .expect("join");
    assert_exit(&out, 0);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("sent {count} messages")),
        "{stderr}"
    );
    assert!(stderr.contains("1 failover(s)"), "{stderr}");
    nodes[0].restart();
    nodes[0].wait_role(Role::Slave).await;

    let receive_url = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &[
                "receive",
                "--url",
                &receive_url,
                "-d",
                "/queue/f",
                "--count",
                &count.to_string(),
                "--output",
                "json",
            ],
            b"",
        )
    })
    .await
    .expect("join");
    assert_exit(&out, 0);
    let mut bodies = BTreeSet::new();
    for line in text(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let body = v["body"].as_str().expect("text body").to_string();
        assert!(bodies.insert(body.clone()), "{body} received twice");
    }
    let want: BTreeSet<String> = (1..=count).map(|i| format!("m-{i}")).collect();
    assert_eq!(bodies, want);
    assert!(
        db.stored_bodies().await.is_empty(),
        "every message was consumed"
    );
}

#[test]
fn receive_with_a_selector() {
    let b = Baton::start();
    let url = format!("tcp://{}", b.stomp);
    for (body, region) in [
        ("eu-1", "region=eu"),
        ("us-1", "region=us"),
        ("eu-2", "region=eu"),
    ] {
        let out = run(
            &[
                "send",
                "--url",
                &url,
                "-d",
                "/queue/sel",
                "-H",
                region,
                body,
            ],
            b"",
        );
        assert_exit(&out, 0);
    }
    let out = run(
        &[
            "receive",
            "--url",
            &url,
            "-d",
            "/queue/sel",
            "--count",
            "2",
            "--selector",
            "region = 'eu'",
        ],
        b"",
    );
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "eu-1\neu-2\n");
}

#[test]
fn browse_lists_a_queue_through_the_admin_api_without_consuming() {
    let s = setup::start(&[]);
    let url = format!("tcp://{}", s.b.stomp);
    let out = run(
        &[
            "send",
            "--url",
            &url,
            "-d",
            "/queue/br",
            "--persistent",
            "--count",
            "3",
            "--numbered",
            "b-{n}",
            "--login",
            "ops",
            "--passcode",
            "ops-secret",
        ],
        b"",
    );
    assert_exit(&out, 0);
    let admin = format!("http://{}", s.b.admin);
    let browse = |extra: &[&str]| {
        let mut args = vec!["browse", "br", "--admin-url", &admin];
        args.extend_from_slice(extra);
        run(&args, b"")
    };
    let out = browse(&[
        "--user",
        "ops",
        "--password",
        "ops-secret",
        "--output",
        "raw",
    ]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "b-1\nb-2\nb-3\n");
    let out = browse(&["--token", setup::TOKEN, "--count", "2"]);
    assert_exit(&out, 0);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["body"], "b-1");
    assert_eq!(lines[0]["persistent"], true);
    let out = browse(&["--user", "ops", "--password", "wrong"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    // Still all there.
    let out = run(
        &[
            "receive",
            "--url",
            &url,
            "-d",
            "/queue/br",
            "--count",
            "3",
            "--login",
            "ops",
            "--passcode",
            "ops-secret",
        ],
        b"",
    );
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "b-1\nb-2\nb-3\n");
}
