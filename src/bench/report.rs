//! What a run measured, printed as a table or as JSON.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn from_micros(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        })
    }
}

/// The settings a run used, echoed in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub protocol: &'static str,
    pub addr: String,
    pub destination: String,
    pub kind: &'static str,
    pub producers: usize,
    pub consumers: usize,
    pub size: usize,
    pub persistent: bool,
    pub receipts: bool,
    pub ack: &'static str,
    /// Target rate over all producers in msg/s (`None`: as fast as possible).
    pub rate: Option<f64>,
    pub messages: Option<u64>,
    pub duration_s: Option<f64>,
}

/// One run's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub sent: u64,
    pub received: u64,
    /// Different messages received (by their run-wide number; on a topic
    /// counted per consumer). Messages without a number, sent by something
    /// else than `baton bench`, are not counted.
    pub distinct: u64,
    /// Messages received again (the same number at the same consumer, or on
    /// a queue at two consumers): at-least-once redeliveries.
    pub duplicates: u64,
    /// Messages the consumers should have got (sent, or sent × consumers
    /// on a topic).
    pub expected: u64,
    /// Whether every expected message arrived before the drain timeout.
    pub complete: bool,
    /// Start → the end of the run, in seconds.
    pub elapsed_s: f64,
    /// Start → the last producer's final receipt.
    pub send_elapsed_s: f64,
    /// Start → the last message received.
    pub receive_elapsed_s: f64,
    pub sent_per_s: f64,
    pub received_per_s: f64,
    /// Send → RECEIPT (only with receipts).
    pub send_latency_ms: Option<Percentiles>,
    /// Send → MESSAGE at a consumer.
    pub receive_latency_ms: Option<Percentiles>,
}

fn row(name: &str, count: u64, rate: f64, p: &Option<Percentiles>, what: &str) -> String {
    let lat = match p {
        Some(p) => format!(
            "{:>9.2} {:>9.2} {:>9.2} {:>9.2}  {what}",
            p.p50, p.p99, p.p999, p.max
        ),
        None => format!("{:>9} {:>9} {:>9} {:>9}", "-", "-", "-", "-"),
    };
    format!("{name:<10} {count:>10} {rate:>10.0} {lat}")
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "{} {} {} ({}) at {}: {} producers, {} consumers (ack {}), {} B bodies, {}, {}{}\n",
            if s.persistent {
                "persistent"
            } else {
                "non-persistent"
            },
            s.protocol,
            s.destination,
            s.kind,
            s.addr,
            s.producers,
            s.consumers,
            s.ack,
            s.size,
            match (s.receipts, s.protocol) {
                (true, "openwire") => "Response per message",
                (true, _) => "receipt per message",
                (false, _) => "no receipts",
            },
            match s.rate {
                Some(r) => format!("target {r:.0} msg/s"),
                None => "as fast as possible".into(),
            },
            if self.complete {
                ""
            } else {
                " — INCOMPLETE: not every message arrived"
            },
        );
        out.push_str(&format!(
            "elapsed {:.3} s (sending {:.3} s, receiving {:.3} s)\n",
            self.elapsed_s, self.send_elapsed_s, self.receive_elapsed_s
        ));
        out.push_str(&format!(
            "{:<10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}\n",
            "", "messages", "msg/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
        ));
        out.push_str(&row(
            "sent",
            self.sent,
            self.sent_per_s,
            &self.send_latency_ms,
            if s.protocol == "openwire" {
                "send → Response"
            } else {
                "send → RECEIPT"
            },
        ));
        out.push('\n');
        out.push_str(&row(
            "received",
            self.received,
            self.received_per_s,
            &self.receive_latency_ms,
            "send → MESSAGE",
        ));
        out.push('\n');
        if self.duplicates > 0 {
            out.push_str(&format!(
                "{} different messages received, {} received again\n",
                self.distinct, self.duplicates
            ));
        }
        out
    }

    /// One line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
