//! A producer: sends `--size`-byte bodies, each stamped with its send time
//! and its run-wide number, optionally waiting for the broker's
//! confirmation per message (send → confirmation latency), optionally paced
//! to a fixed rate.

use super::link::Link;
use super::{new_histogram, BenchError, Shared};
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
    /// Wait for a RECEIPT (STOMP) or Response (OpenWire) per message.
    pub receipts: bool,
    /// Stop after this many messages (`None`: only the deadline stops it).
    pub count: Option<u64>,
    /// Stop sending at this instant.
    pub deadline: Option<Instant>,
    /// Pace: one message per interval, the first at `start`.
    pub interval: Option<Duration>,
    pub start: Instant,
    /// The first message's run-wide number; the others follow it.
    pub first_id: u64,
}

/// What one producer measured.
pub struct ProducerResult {
    pub sent: u64,
    /// Send → confirmation in µs; empty without receipts.
    pub latency: Histogram<u64>,
    /// When the last message was confirmed (the final disconnect's answer).
    pub finished: Instant,
}

/// Runs one producer to the end of its plan, then disconnects waiting for
/// the broker's answer, so that without per-message confirmations the
/// finish time still means "the broker has handled every send".
pub async fn run(
    mut conn: Link,
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
        conn.send(
            &plan.destination,
            &plan.body,
            plan.persistent,
            plan.receipts,
            shared.micros_since_epoch(Instant::now()),
            plan.first_id + sent,
        )
        .await?;
        if plan.receipts {
            latency.saturating_record(t0.elapsed().as_micros() as u64);
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
