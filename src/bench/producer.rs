//! A producer: SENDs `--size`-byte bodies, each stamped with its send time,
//! optionally waiting for a RECEIPT per message (send → receipt latency),
//! optionally paced to a fixed rate.

use super::conn::Conn;
use super::{new_histogram, BenchError, Shared, SENT_AT_HEADER};
use crate::stomp::frame::{Command, Frame};
use bytes::Bytes;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one producer does.
#[derive(Debug, Clone)]
pub struct ProducerPlan {
    pub destination: String,
    pub body: Bytes,
    pub persistent: bool,
    pub receipts: bool,
    /// Stop after this many messages (`None`: only the deadline stops it).
    pub count: Option<u64>,
    /// Stop sending at this instant.
    pub deadline: Option<Instant>,
    /// Pace: one message per interval, the first at `start`.
    pub interval: Option<Duration>,
    pub start: Instant,
}

/// What one producer measured.
pub struct ProducerResult {
    pub sent: u64,
    /// Send → RECEIPT in µs; empty without receipts.
    pub latency: Histogram<u64>,
    /// When the last message was confirmed (the final DISCONNECT receipt).
    pub finished: Instant,
}

fn send_frame(plan: &ProducerPlan, sent_at_us: u64) -> Frame {
    let mut f = Frame::new(Command::Send)
        .with_header("destination", plan.destination.as_str())
        .with_header("content-length", plan.body.len().to_string())
        .with_header(SENT_AT_HEADER, sent_at_us.to_string());
    if plan.persistent {
        f.push_header("persistent", "true");
    }
    f.with_body(plan.body.clone())
}

/// Runs one producer to the end of its plan, then DISCONNECTs with a
/// receipt, so that without per-message receipts the finish time still
/// means "the broker has handled every SEND".
pub async fn run(
    mut conn: Conn,
    plan: ProducerPlan,
    shared: Arc<Shared>,
) -> Result<ProducerResult, BenchError> {
    let mut latency = new_histogram()?;
    let mut sent = 0u64;
    loop {
        if plan.count.is_some_and(|n| sent >= n) {
            break;
        }
        // With pacing, latency counts from the intended send time, so that
        // a slow receipt that delays later sends is not hidden (no
        // coordinated omission).
        let t0 = match plan.interval {
            Some(every) => {
                let intended = plan.start + every.saturating_mul(sent.min(u32::MAX as u64) as u32);
                tokio::time::sleep_until(intended.into()).await;
                intended
            }
            None => Instant::now(),
        };
        if plan.deadline.is_some_and(|d| t0 >= d) {
            break;
        }
        let frame = send_frame(&plan, shared.micros_since_epoch(Instant::now()));
        if plan.receipts {
            conn.request(frame).await?;
            latency.saturating_record(t0.elapsed().as_micros() as u64);
        } else {
            conn.send(frame).await?;
        }
        sent += 1;
    }
    conn.disconnect().await?;
    Ok(ProducerResult {
        sent,
        latency,
        finished: Instant::now(),
    })
}
