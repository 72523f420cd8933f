//! Limits the STOMP listener enforces around sessions: how many connections
//! it admits (in total and per client IP address), the ERROR a refused
//! client gets, and the flow-control pause of a connection that produces
//! non-persistent messages while their memory budget is used up.

use super::frame::{Command, Frame, FrameError, Limits, Parsed};
use super::transport::Transport;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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

/// Why a connection was not admitted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("too many connections: the broker already has {0} open (limits.max_connections); try again later")]
    Total(usize),
    #[error("too many connections from {ip}: {limit} are open (limits.max_connections_per_address); close some or try again later")]
    PerAddress { ip: IpAddr, limit: usize },
}

impl Refusal {
    /// The configuration key of the limit, as the metric labels it.
    pub fn key(&self) -> &'static str {
        match self {
            Refusal::Total(_) => "limits.max_connections",
            Refusal::PerAddress { .. } => "limits.max_connections_per_address",
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Counts open connections against `limits.max_connections` and
/// `limits.max_connections_per_address`.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    open: Arc<Mutex<Open>>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    ip: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_address: usize) -> Admission {
        Admission {
            max_total,
            max_per_address,
            open: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or says which limit refuses it (and
    /// counts the hit).
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = open.by_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if open.total >= self.max_total {
            Some(Refusal::Total(self.max_total))
        } else if from_ip >= self.max_per_address {
            Some(Refusal::PerAddress {
                ip,
                limit: self.max_per_address,
            })
        } else {
            None
        };
        if let Some(r) = refusal {
            crate::metrics::limit_hit(r.key());
            return Err(r);
        }
        open.total += 1;
        open.by_ip.insert(ip, from_ip + 1);
        Ok(Permit {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

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
        framed.close().await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_per_address_and_in_total() {
        let a = Admission::new(3, 2);
        let one: IpAddr = [10, 0, 0, 1].into();
        let two: IpAddr = [10, 0, 0, 2].into();
        let p1 = a.admit(one).unwrap();
        let _p2 = a.admit(one).unwrap();
        let e = a.admit(one).unwrap_err();
        assert_eq!(e.key(), "limits.max_connections_per_address");
        let _p3 = a.admit(two).unwrap();
        let e = a.admit(two).unwrap_err();
        assert_eq!(e.key(), "limits.max_connections");
        drop(p1);
        assert!(a.admit(one).is_ok());
    }
}
