//! A consumer: SUBSCRIBEs with the chosen ack mode, acknowledges every
//! MESSAGE as that mode requires and records send → receive latency from
//! the producer's timestamp header.

use super::conn::Conn;
use super::{new_histogram, AckMode, BenchError, Shared, SENT_AT_HEADER};
use crate::stomp::frame::{Command, Frame};
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one consumer measured.
pub struct ConsumerResult {
    pub received: u64,
    /// Send → receive in µs, for messages carrying the timestamp header.
    pub latency: Histogram<u64>,
    pub last: Option<Instant>,
}

/// SUBSCRIBE and wait for its receipt, so that no message sent afterwards
/// is missed (a topic delivers only to existing subscriptions).
pub async fn subscribe(
    conn: &mut Conn,
    destination: &str,
    id: &str,
    ack: AckMode,
    prefetch: Option<u32>,
) -> Result<(), BenchError> {
    let mut f = Frame::new(Command::Subscribe)
        .with_header("destination", destination)
        .with_header("id", id)
        .with_header("ack", ack.as_str());
    if let Some(n) = prefetch {
        // ActiveMQ and Baton read the first, RabbitMQ the second.
        f.push_header("activemq.prefetchSize", n.to_string());
        f.push_header("prefetch-count", n.to_string());
    }
    conn.request(f).await
}

/// Receives until `stop` is cancelled. `record_latency` is false when the
/// messages were sent by another run (their timestamps use another epoch).
pub async fn run(
    mut conn: Conn,
    ack: AckMode,
    shared: Arc<Shared>,
    stop: CancellationToken,
    record_latency: bool,
) -> Result<ConsumerResult, BenchError> {
    let mut latency = new_histogram()?;
    let mut received = 0u64;
    let mut last = None;
    loop {
        let f = tokio::select! {
            _ = stop.cancelled() => break,
            f = conn.recv() => f?,
        };
        if f.command != Command::Message {
            return Err(BenchError::Unexpected(f.command.as_str().into()));
        }
        let now = Instant::now();
        let sent_at = f
            .header(SENT_AT_HEADER)
            .filter(|_| record_latency)
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(sent) = sent_at {
            latency.saturating_record(shared.micros_since_epoch(now).saturating_sub(sent));
        }
        if ack != AckMode::Auto {
            let a = conn.ack_frame(&f);
            conn.send(a).await?;
        }
        received += 1;
        last = Some(now);
        shared.received.fetch_add(1, Ordering::Relaxed);
    }
    Ok(ConsumerResult {
        received,
        latency,
        last,
    })
}
