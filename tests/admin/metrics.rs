//! `/metrics` after real traffic is valid under `promtool check metrics`
//! (Debian's prometheus package) and carries the documented series.

use crate::common;

use baton::client::Client;
use common::cluster::guard;
use common::http::Http;
use common::Baton;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`: (success, output).
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// The value of the sample line starting with `series ` (exact labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_traffic() {
    let b = Baton::start();
    let mut c = guard("connect", Client::connect(&b.stomp)).await.unwrap();
    for i in 0..5 {
        guard(
            "send",
            c.send("/queue/metered", format!("m{i}"), &[("persistent", "true")]),
        )
        .await
        .unwrap();
    }
    guard("send", c.send("/topic/ticks", "t", &[]))
        .await
        .unwrap();
    guard(
        "subscribe",
        c.subscribe("/queue/metered", "1", "client-individual", &[]),
    )
    .await
    .unwrap();
    let first = guard("message", c.next_message()).await.unwrap();
    guard(
        "ack",
        c.request(
            baton::stomp::frame::Frame::new(baton::stomp::frame::Command::Ack)
                .with_header("id", first.header("ack").unwrap()),
        ),
    )
    .await
    .unwrap();

    let r = Http::anonymous(&b.admin).get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    let (ok, report) = promtool(&text);
    assert!(ok, "promtool check metrics failed:\n{report}\n---\n{text}");

    let q = "{destination=\"/queue/metered\"}";
    assert_eq!(sample(&text, "baton_role_master"), Some(1.0));
    assert!(sample(&text, "baton_epoch").unwrap() >= 1.0);
    assert_eq!(sample(&text, "baton_elections_won_total"), Some(1.0));
    assert_eq!(sample(&text, "baton_elections_lost_total"), Some(0.0));
    assert_eq!(
        sample(&text, &format!("baton_destination_enqueued_total{q}")),
        Some(5.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_dequeued_total{q}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_consumers{q}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_producers{q}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_inflight{q}")),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_depth{q}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("baton_destination_stored{q}")),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            "baton_destination_enqueued_total{destination=\"/topic/ticks\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "baton_connections"), Some(1.0));
    assert_eq!(
        sample(&text, "baton_stomp_connections_accepted_total"),
        Some(1.0)
    );
    assert!(sample(&text, "baton_stomp_received_bytes_total").unwrap() > 100.0);
    assert!(sample(&text, "baton_stomp_sent_bytes_total").unwrap() > 50.0);
    // Five inserts and the acknowledgement's delete were committed.
    assert!(sample(&text, "baton_store_batch_operations_sum").unwrap() >= 6.0);
    assert!(sample(&text, "baton_store_commit_seconds_count").unwrap() >= 1.0);
    assert!(sample(&text, "baton_lease_renew_seconds_count").is_some());
    assert!(sample(&text, "baton_db_pool_max_connections").unwrap() >= 1.0);
    assert!(sample(&text, "baton_db_pool_connections{state=\"idle\"}").is_some());
    assert!(sample(&text, "baton_uptime_seconds").unwrap() > 0.0);

    // A producer that left is no longer counted.
    guard("disconnect", c.disconnect()).await.unwrap();
    let producers = format!("baton_destination_producers{q}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = Http::anonymous(&b.admin).get("/metrics").text();
        if sample(&text, &producers) == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still counted:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn promtool_rejects_broken_output() {
    // The check above can fail: promtool rejects a malformed exposition.
    let (ok, _) = promtool("# TYPE x counter\nx{a=\"1\" 1\n");
    assert!(!ok);
}
