//! A consumer: receives on a subscribed [`Link`], acknowledges every
//! message as the ack mode requires, records send → receive latency from
//! the producer's timestamp and the run-wide numbers it saw.

use super::link::Link;
use super::{new_histogram, AckMode, BenchError, Shared};
use hdrhistogram::Histogram;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one consumer measured.
pub struct ConsumerResult {
    pub received: u64,
    /// Send → receive in µs, for messages carrying the timestamp.
    pub latency: Histogram<u64>,
    pub last: Option<Instant>,
    /// The run-wide numbers of the messages received (those carrying one).
    pub ids: HashSet<u64>,
    /// Messages whose number this consumer had already received.
    pub repeated: u64,
}

/// Receives until `stop` is cancelled. `record_latency` is false when the
/// messages were sent by another run (their timestamps use another epoch).
pub async fn run(
    mut conn: Link,
    ack: AckMode,
    shared: Arc<Shared>,
    stop: CancellationToken,
    record_latency: bool,
) -> Result<ConsumerResult, BenchError> {
    let mut latency = new_histogram()?;
    let mut received = 0u64;
    let mut last = None;
    let mut ids = HashSet::new();
    let mut repeated = 0u64;
    loop {
        let m = tokio::select! {
            _ = stop.cancelled() => break,
            m = conn.recv() => m?,
        };
        let now = Instant::now();
        if let Some(sent) = m.sent_at_us().filter(|_| record_latency) {
            latency.saturating_record(shared.micros_since_epoch(now).saturating_sub(sent));
        }
        if let Some(id) = m.bench_id() {
            if !ids.insert(id) {
                repeated += 1;
            }
        }
        conn.ack(&m, ack).await?;
        received += 1;
        last = Some(now);
        shared.received.fetch_add(1, Ordering::Relaxed);
    }
    Ok(ConsumerResult {
        received,
        latency,
        last,
        ids,
        repeated,
    })
}
