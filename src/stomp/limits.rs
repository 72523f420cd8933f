//! Limits the STOMP listener enforces around sessions: how many connections
//! it admits (in total and per client IP address), the ERROR a refused
//! client gets, and the flow-control pause of a connection that produces
//! non-persistent messages while their memory budget is used up.

use super::frame::{Command, Frame, FrameError, Limits, Parsed};
use super::transport::Transport;
pub use crate::admission::{Permit, Refusal};
use futures::{SinkExt, StreamExt};
use std::time::Duration;

/// How long a refused client gets to send its CONNECT frame, which is
/// answered with the ERROR (a client reads the answer to its CONNECT; an
/// ERROR sent before it arrived could be lost to a TCP reset).
const REFUSAL_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A refused client's CONNECT is read only this far (it has no body).
const REFUSAL_LIMITS: Limits = Limits {
    max_body_bytes: 1024,
    max_headers: 64,
    max_header_bytes: 4096,
};

/// Answers a refused client's first frame with an ERROR naming the limit,
/// then closes the connection.
pub async fn refuse<T: Transport>(mut framed: T, peer: &str, refusal: Refusal) {
    tracing::info!(%peer, reason = %refusal, "connection refused");
    framed.codec_mut().limits = REFUSAL_LIMITS;
    let first = tokio::time::timeout(REFUSAL_READ_TIMEOUT, async {
        loop {
            match framed.next().await {
                Some(Ok(Parsed::Heartbeat(_))) => continue,
                Some(Ok(Parsed::Frame(f, _))) => return Some(f),
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let detail = format!("{refusal}\n");
    let mut error = Frame::new(Command::Error)
        .with_header(
            "message",
            format!("connection refused: {refusal}").replace(['\r', '\n'], " "),
        )
        .with_header("content-type", "text/plain")
        .with_header("content-length", detail.len().to_string())
        .with_header(super::error::RETRYABLE, "true");
    if let Some(r) = first.as_ref().and_then(|f| f.header("receipt")) {
        error.push_header("receipt-id", r);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        framed.send(error.with_body(detail)).await?;
        SinkExt::<Frame>::close(&mut framed).await
    })
    .await;
}

/// Flow control of one connection: while paused the session reads nothing
/// from it (so its next SEND and that SEND's RECEIPT wait), but still
/// writes deliveries and earlier receipts.
#[derive(Debug, Default)]
pub struct FlowPause {
    paused: bool,
}

impl FlowPause {
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// After a frame: pauses when it was a non-persistent SEND and the
    /// memory budget is used up.
    pub fn after_frame(&mut self, non_persistent_send: bool, budget_exhausted: bool) {
        if non_persistent_send && budget_exhausted && !self.paused {
            self.paused = true;
            crate::metrics::limit_hit("limits.max_non_persistent_bytes");
            crate::metrics::get().flow_controlled.inc();
        }
    }

    pub fn resume(&mut self) {
        if self.paused {
            self.paused = false;
            crate::metrics::get().flow_controlled.dec();
        }
    }
}

impl Drop for FlowPause {
    fn drop(&mut self) {
        self.resume();
    }
}

/// Counts a frame refused by a frame limit in `limit_hits`.
pub fn count_frame_limit(e: &FrameError) {
    let key = match e {
        FrameError::BodyTooLarge { .. } => "stomp.max_body_bytes",
        FrameError::TooManyHeaders { .. } => "stomp.max_headers",
        FrameError::HeaderTooLong { .. } => "stomp.max_header_bytes",
        _ => return,
    };
    crate::metrics::limit_hit(key);
}

/// Whether `frame` is a SEND of a non-persistent message (charged to the
/// memory budget).
pub fn is_non_persistent_send(frame: &Frame) -> bool {
    frame.command == Command::Send
        && !frame
            .header("persistent")
            .is_some_and(|p| p.eq_ignore_ascii_case("true"))
}
