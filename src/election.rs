//! Master election on the shared database: the lock row with holder, epoch
//! and a lease on the database's clock, plus (session mode) a database
//! session lock so a slave takes over the moment the old master's
//! connection dies. See DESIGN.md "Election and fencing".

use crate::config::{ElectionConfig, ElectionMode};
use crate::store::{Claim, SessionLock, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// Why a term as master ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermEnd {
    /// Graceful stop requested.
    Shutdown,
    /// A write was refused because another node holds a newer epoch.
    Fenced,
    /// A renewal found the lock row held by someone else.
    Deposed,
    /// No renewal succeeded within `lease - margin`.
    LeaseDeadline,
}

impl TermEnd {
    pub fn describe(self) -> &'static str {
        match self {
            TermEnd::Shutdown => "shutting down",
            TermEnd::Fenced => "a write was fenced off by a newer epoch",
            TermEnd::Deposed => "another node holds the lock",
            TermEnd::LeaseDeadline => "no lease renewal succeeded before the deadline",
        }
    }
}

/// One node's side of the election.
pub struct Election {
    store: Arc<dyn Store>,
    claim: Claim,
    mode: ElectionMode,
    lease_ms: u64,
    renew: Duration,
    retry: Duration,
    /// How long after the last successful renewal was sent the master may
    /// keep serving.
    serve_for: Duration,
    session: Option<Box<dyn SessionLock>>,
}

impl Election {
    pub fn new(
        store: Arc<dyn Store>,
        claim: Claim,
        config: &ElectionConfig,
        url: &str,
    ) -> Election {
        let mode = config.effective_mode(url);
        let session = match mode {
            ElectionMode::Session => store.session_lock(),
            _ => None,
        };
        Election {
            store,
            claim,
            mode,
            lease_ms: config.lease_ms,
            renew: Duration::from_millis(config.renew_ms),
            retry: Duration::from_millis(config.retry_ms),
            serve_for: Duration::from_millis(config.lease_ms - config.margin_ms),
            session,
        }
    }

    pub fn mode(&self) -> ElectionMode {
        self.mode
    }

    /// Waits until this node holds the lock. Returns the new epoch and when
    /// the winning claim was sent, or `None` on shutdown.
    pub async fn acquire(&mut self, shutdown: &CancellationToken) -> Option<(i64, Instant)> {
        let mut last_error: Option<String> = None;
        loop {
            let force = self.try_session_lock().await;
            let sent = Instant::now();
            let attempt = timeout(
                self.renew,
                self.store.try_acquire(&self.claim, self.lease_ms, force),
            )
            .await;
            match attempt {
                Ok(Ok(Some(epoch))) => return Some((epoch, sent)),
                Ok(Ok(None)) => {
                    if last_error.take().is_some() {
                        tracing::info!("database reachable again; waiting for the master lock");
                    }
                }
                Ok(Err(e)) => report(&mut last_error, e.to_string()),
                Err(_) => report(
                    &mut last_error,
                    "the database did not answer in time".into(),
                ),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = sleep(self.retry) => {}
            }
        }
    }

    /// True when the session lock (session mode) is held.
    async fn try_session_lock(&mut self) -> bool {
        let Some(lock) = self.session.as_mut() else {
            return false;
        };
        match timeout(self.renew, lock.try_lock()).await {
            Ok(Ok(held)) => held,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "session lock attempt failed");
                false
            }
            Err(_) => {
                tracing::debug!("session lock attempt timed out");
                lock.unlock().await;
                false
            }
        }
    }

    /// Keeps the lease alive until the term ends, and says why it ended.
    /// `claimed_at` is when the winning claim was sent.
    pub async fn hold(
        &mut self,
        epoch: i64,
        claimed_at: Instant,
        shutdown: &CancellationToken,
        fenced: &CancellationToken,
    ) -> TermEnd {
        let mut last_ok_sent = claimed_at;
        loop {
            let deadline = last_ok_sent + self.serve_for;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return TermEnd::Shutdown,
                _ = fenced.cancelled() => return TermEnd::Fenced,
                _ = sleep_until(deadline) => return TermEnd::LeaseDeadline,
                _ = sleep(self.renew) => {}
            }
            let sent = Instant::now();
            let renewal = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return TermEnd::Shutdown,
                _ = fenced.cancelled() => return TermEnd::Fenced,
                r = timeout_at(deadline, self.store.renew(&self.claim.node_id, epoch, self.lease_ms)) => r,
            };
            match renewal {
                Ok(Ok(true)) => last_ok_sent = sent,
                Ok(Ok(false)) => return TermEnd::Deposed,
                Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
                Err(_) => return TermEnd::LeaseDeadline,
            }
            // Keep (or re-take) the session lock; if another node got it, it
            // will take the row and the next renewal says so.
            if self.session.is_some() && !self.try_session_lock().await {
                tracing::warn!("this master does not hold the database session lock");
            }
        }
    }

    /// Frees the lock row and the session lock so a slave takes over at once.
    pub async fn release(&mut self, epoch: i64) {
        match timeout(self.renew, self.store.release(&self.claim.node_id, epoch)).await {
            Ok(Ok(())) => tracing::info!(epoch, "released the master lock"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not release the master lock; it expires with the lease")
            }
            Err(_) => {
                tracing::warn!("releasing the master lock timed out; it expires with the lease")
            }
        }
        self.step_down().await;
    }

    /// Closes the session-lock connection (after losing mastership).
    pub async fn step_down(&mut self) {
        if let Some(lock) = self.session.as_mut() {
            lock.unlock().await;
        }
    }
}

/// Logs a database problem once per distinct message.
fn report(last: &mut Option<String>, msg: String) {
    if last.as_deref() != Some(msg.as_str()) {
        tracing::warn!(error = %msg, "cannot reach the database to try for the master lock; retrying");
        *last = Some(msg);
    }
}
