//! `baton bench`, the load generator, run as a process against a real
//! broker: counts, ack modes, topic fan-out, pacing, JSON report and its
//! argument errors, over STOMP and over OpenWire (`--protocol openwire`,
//! also checked against the real ActiveMQ Java client).

use crate::common;

use common::{Baton, BIN};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Failure guard: a bench run that hangs fails the test.
const GUARD: Duration = Duration::from_secs(60);

fn bench(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton bench");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(GUARD) {
        Ok(out) => out.expect("wait for baton bench"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("baton bench did not finish");
        }
    }
}

/// Runs with `--json` against `b`; the run must succeed.
fn bench_json(b: &Baton, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--addr", b.stomp.as_str()];
    all.extend_from_slice(args);
    run_json(&all)
}

/// Runs with `--protocol openwire --json` against `b`'s OpenWire listener;
/// the run must succeed.
fn openwire_json(b: &Baton, args: &[&str]) -> Value {
    let addr = b.openwire();
    let mut all = vec!["--protocol", "openwire", "--json", "--addr", addr.as_str()];
    all.extend_from_slice(args);
    run_json(&all)
}

fn run_json(args: &[&str]) -> Value {
    let out = bench(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn messages_sent_without_receipts_are_all_queued_and_drained_by_consumers_alone() {
    let b = Baton::start();
    let r = bench_json(
        &b,
        &[
            "--destination",
            "/queue/backlog",
            "--producers",
            "2",
            "--messages",
            "500",
            "--persistent",
            "--no-receipts",
        ],
    );
    assert_eq!(u(&r, "sent"), 500);
    assert_eq!(r["settings"]["receipts"], Value::Bool(false));
    assert!(r["send_latency_ms"].is_null(), "{r}");
    let r = bench_json(
        &b,
        &[
            "--destination",
            "/queue/backlog",
            "--producers",
            "0",
            "--consumers",
            "2",
            "--messages",
            "500",
            "--ack",
            "client-individual",
            "--prefetch",
            "10",
        ],
    );
    assert_eq!(u(&r, "received"), 500, "{r}");
    assert_eq!(r["complete"], Value::Bool(true));
    // Sent by another run: no send → receive latency from a foreign clock.
    assert!(r["receive_latency_ms"].is_null(), "{r}");
}

#[test]
fn a_paced_run_never_sends_faster_than_the_target_rate() {
    let b = Baton::start();
    let r = bench_json(
        &b,
        &[
            "--producers",
            "2",
            "--duration",
            "1",
            "--rate",
            "200",
            "--persistent",
        ],
    );
    let sent = u(&r, "sent");
    // 200 msg/s for 1 s, the first message of each producer at t = 0.
    assert!(sent > 0 && sent <= 202, "{r}");
    assert_eq!(u(&r["send_latency_ms"], "count"), sent);
    assert!(r["settings"]["messages"].is_null());
}

#[test]
fn the_table_names_the_rates_and_percentiles() {
    let b = Baton::start();
    let out = bench(&["--addr", &b.stomp, "--producers", "1", "--messages", "10"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "msg/s",
        "p50 ms",
        "p99.9 ms",
        "send → RECEIPT",
        "sent",
        "10",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
}

#[test]
fn bad_arguments_and_unreachable_brokers_get_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ack", "sometimes"], "invalid value 'sometimes'"),
        (&["--producers", "0", "--consumers", "0"], "nothing to do"),
        (&["--rate=0"], "--rate must be a positive number"),
        (
            &["--duration", "2", "--messages", "5"],
            "cannot be used with",
        ),
        (&["--prefetch", "0"], "--prefetch must be at least 1"),
    ];
    for (args, needle) in cases {
        let out = bench(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    // A port nobody listens on.
    let addr = format!("127.0.0.1:{}", common::testdb::free_port());
    let out = bench(&["--addr", &addr, "--messages", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot connect to {addr}")), "{err}");
}

/// Every message of the run arrived exactly once: as many received as
/// sent (times `fan_out` consumers on a topic), each a different one.
fn assert_exactly_once(r: &Value, sent: u64, fan_out: u64) {
    assert_eq!(u(r, "sent"), sent, "{r}");
    assert_eq!(u(r, "expected"), sent * fan_out, "{r}");
    assert_eq!(u(r, "received"), sent * fan_out, "{r}");
    assert_eq!(u(r, "distinct"), sent * fan_out, "{r}");
    assert_eq!(u(r, "duplicates"), 0, "{r}");
    assert_eq!(r["complete"], Value::Bool(true), "{r}");
}

/// Nothing is left in `dest`: a consumer waiting for one message gets
/// none (exit code 3, incomplete).
fn assert_queue_empty(b: &Baton, dest: &str) {
    let addr = b.openwire();
    let out = bench(&[
        "--protocol",
        "openwire",
        "--json",
        "--addr",
        &addr,
        "--destination",
        dest,
        "--producers",
        "0",
        "--consumers",
        "1",
        "--messages",
        "1",
        "--drain-timeout",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{dest}: {stdout}");
    let r: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(u(&r, "received"), 0, "{dest}: {r}");
}

#[test]
fn queue_every_message_produced_is_consumed_exactly_once_in_every_ack_mode_and_protocol() {
    let b = Baton::start();
    for protocol in ["stomp", "openwire"] {
        for ack in ["client-individual", "client", "auto"] {
            let dest = format!("/queue/bench-{protocol}-{ack}");
            let args = [
                "--destination",
                &dest,
                "--producers",
                "3",
                "--consumers",
                "2",
                "--messages",
                "301",
                "--size",
                "100",
                "--persistent",
                "--ack",
                ack,
                "--prefetch",
                "20",
            ];
            let r = match protocol {
                "stomp" => bench_json(&b, &args),
                _ => openwire_json(&b, &args),
            };
            assert_exactly_once(&r, 301, 1);
            assert_eq!(r["settings"]["protocol"], protocol, "{r}");
            assert_eq!(r["settings"]["kind"], "queue", "{r}");
            assert_eq!(r["settings"]["ack"], ack, "{r}");
            assert_eq!(u(&r["send_latency_ms"], "count"), 301, "{r}");
            assert_eq!(u(&r["receive_latency_ms"], "count"), 301, "{r}");
            let p = &r["send_latency_ms"];
            let percentile = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k}: {p}"));
            assert!(
                percentile("p50") <= percentile("p99") && percentile("p99") <= percentile("max"),
                "{p}"
            );
            // Every message was acknowledged: none comes back.
            assert_queue_empty(&b, &dest);
        }
    }
}

#[test]
fn topic_delivers_every_message_to_every_consumer_once_in_every_protocol() {
    let b = Baton::start();
    for protocol in ["stomp", "openwire"] {
        let dest = format!("/topic/bench-{protocol}");
        let args = [
            "--destination",
            &dest,
            "--producers",
            "2",
            "--consumers",
            "3",
            "--messages",
            "200",
            "--no-receipts",
        ];
        let r = match protocol {
            "stomp" => bench_json(&b, &args),
            _ => openwire_json(&b, &args),
        };
        assert_eq!(r["settings"]["kind"], "topic", "{r}");
        assert_exactly_once(&r, 200, 3);
        assert!(r["send_latency_ms"].is_null(), "{r}");
    }
}

#[test]
fn openwire_persistent_backlog_is_drained_exactly_once_by_consumers_alone() {
    let b = Baton::start();
    let r = openwire_json(
        &b,
        &[
            "--destination",
            "/queue/ow-backlog",
            "--producers",
            "4",
            "--messages",
            "500",
            "--persistent",
        ],
    );
    assert_eq!(u(&r, "sent"), 500, "{r}");
    assert_eq!(u(&r["send_latency_ms"], "count"), 500, "{r}");
    let r = openwire_json(
        &b,
        &[
            "--destination",
            "/queue/ow-backlog",
            "--producers",
            "0",
            "--consumers",
            "3",
            "--messages",
            "500",
            "--prefetch",
            "10",
        ],
    );
    assert_eq!(u(&r, "received"), 500, "{r}");
    assert_eq!(u(&r, "distinct"), 500, "{r}");
    assert_eq!(u(&r, "duplicates"), 0, "{r}");
    assert_eq!(r["complete"], Value::Bool(true));
    assert!(r["receive_latency_ms"].is_null(), "{r}");
    assert_queue_empty(&b, "/queue/ow-backlog");
}

/// The load generator and the real ActiveMQ Java client understand each
/// other's messages: what JmsTool sends, `baton bench` drains, and what
/// `baton bench` sends, JmsTool receives as BytesMessages with the bench's
/// properties.
#[test]
fn openwire_bench_and_the_java_client_exchange_messages() {
    use common::java::{run_tool, JAVA_GUARD};
    let b = Baton::start();
    let url = b.openwire_url();
    run_tool(
        &[
            "produce",
            "--url",
            &url,
            "--dest",
            "queue://ow.java",
            "--count",
            "30",
        ],
        JAVA_GUARD,
    )
    .assert_ok();
    let r = openwire_json(
        &b,
        &[
            "--destination",
            "/queue/ow.java",
            "--producers",
            "0",
            "--consumers",
            "2",
            "--messages",
            "30",
        ],
    );
    assert_eq!(u(&r, "received"), 30, "{r}");
    // Not sent by `baton bench`: no run-wide numbers.
    assert_eq!(u(&r, "distinct"), 0, "{r}");
    assert_queue_empty(&b, "/queue/ow.java");

    let r = openwire_json(
        &b,
        &[
            "--destination",
            "ow.fromBench",
            "--producers",
            "2",
            "--messages",
            "40",
            "--size",
            "64",
            "--persistent",
        ],
    );
    assert_eq!(u(&r, "sent"), 40, "{r}");
    let out = run_tool(
        &[
            "consume",
            "--url",
            &url,
            "--dest",
            "queue://ow.fromBench",
            "--count",
            "40",
            "--ack",
            "individual",
        ],
        JAVA_GUARD,
    );
    out.assert_ok();
    let messages = out.messages();
    assert_eq!(messages.len(), 40, "{}", out.dump());
    let mut ids = std::collections::BTreeSet::new();
    for m in &messages {
        assert_eq!(m.body_type, "bytes", "{m:?}");
        assert_eq!(m.bytes(), vec![b'x'; 64]);
        assert_eq!(m.delivery_mode, "persistent");
        let id = m
            .prop("BenchId")
            .unwrap_or_else(|| panic!("no BenchId: {m:?}"));
        assert_eq!(id.kind, "long", "{m:?}");
        ids.insert(id.value.to_string());
        assert!(m.prop("BenchSentUs").is_some(), "{m:?}");
    }
    assert_eq!(ids.len(), 40, "every message a different one");
    assert_queue_empty(&b, "ow.fromBench");
}
