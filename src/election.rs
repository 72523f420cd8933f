//! Master election on the shared database: the lock row with holder, epoch
//! and a lease on the database's clock, plus (session mode) a database
//! session lock so a slave takes over the moment the old master's
//! connection dies. See docs/design.md, "Election" and "Fencing".

use crate::config::{ElectionConfig, ElectionMode};
use crate::store::{Claim, Lease, SessionLock};
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
    store: Arc<dyn Lease>,
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
        store: Arc<dyn Lease>,
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
        let mut claimable_since: Option<Instant> = None;
        let mut session_pause_until = Instant::now();
        loop {
            let attempt = match self.mode {
                ElectionMode::Session if Instant::now() >= session_pause_until => {
                    if self.try_session_lock(self.renew).await {
                        claimable_since = None;
                        let won = self.claim(true, &mut last_error).await;
                        if won.is_none() {
                            // The master claimed the row by lease without
                            // the session lock: let it have the lock.
                            self.step_down().await;
                            session_pause_until = Instant::now() + self.renew * 2;
                        }
                        won
                    } else {
                        self.claim_after_grace(&mut claimable_since, &mut last_error)
                            .await
                    }
                }
                ElectionMode::Session => {
                    self.claim_after_grace(&mut claimable_since, &mut last_error)
                        .await
                }
                _ => self.claim(false, &mut last_error).await,
            };
            if attempt.is_some() {
                return attempt;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = sleep(self.retry) => {}
            }
        }
    }

    /// One conditional claim of the lock row.
    async fn claim(
        &self,
        with_session: bool,
        last_error: &mut Option<String>,
    ) -> Option<(i64, Instant)> {
        let sent = Instant::now();
        let attempt = timeout(
            self.renew,
            self.store
                .try_acquire(&self.claim, self.lease_ms, with_session),
        )
        .await;
        match attempt {
            Ok(Ok(Some(epoch))) => return Some((epoch, sent)),
            Ok(Ok(None)) => {
                if last_error.take().is_some() {
                    tracing::info!("database reachable again; waiting for the master lock");
                }
            }
            Ok(Err(e)) => report(last_error, e.to_string()),
            Err(_) => report(last_error, "the database did not answer in time".into()),
        }
        None
    }

    /// Session mode without the session lock: another session holds it.
    /// That holder is either alive (it claims a free row within a retry or
    /// two) or a session lingering on the database side. Claim by the lease
    /// rule only once the row has stayed claimable for a grace period, so a
    /// live session holder is never raced.
    async fn claim_after_grace(
        &self,
        claimable_since: &mut Option<Instant>,
        last_error: &mut Option<String>,
    ) -> Option<(i64, Instant)> {
        let state = match timeout(self.renew, self.store.lock_state()).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => {
                report(last_error, e.to_string());
                return None;
            }
            Err(_) => {
                report(last_error, "the database did not answer in time".into());
                return None;
            }
        };
        if state.holder.is_some() && state.lease_remaining_ms >= 0 {
            *claimable_since = None;
            return None;
        }
        let since = *claimable_since.get_or_insert_with(Instant::now);
        let grace = self.renew.max(self.retry * 10);
        if since.elapsed() < grace {
            return None;
        }
        self.claim(false, last_error).await
    }

    /// True when the session lock (session mode) is held.
    async fn try_session_lock(&mut self, limit: Duration) -> bool {
        let Some(lock) = self.session.as_mut() else {
            return false;
        };
        match timeout(limit, lock.try_lock()).await {
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
            // Keep (or re-take) the session lock and record in the row
            // whether we hold it; if another node got it, it takes the row
            // and the renewal says so.
            let with_session = match self.mode {
                ElectionMode::Session => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.try_session_lock(left.min(self.renew)).await
                }
                _ => false,
            };
            let sent = Instant::now();
            let renewal = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return TermEnd::Shutdown,
                _ = fenced.cancelled() => return TermEnd::Fenced,
                r = timeout_at(deadline, self.store.renew(&self.claim.node_id, epoch, self.lease_ms, with_session)) => r,
            };
            match renewal {
                Ok(Ok(true)) => {
                    last_ok_sent = sent;
                    crate::metrics::get()
                        .renew_seconds
                        .observe(sent.elapsed().as_secs_f64());
                }
                Ok(Ok(false)) => return TermEnd::Deposed,
                Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
                Err(_) => return TermEnd::LeaseDeadline,
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
