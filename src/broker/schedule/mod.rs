//! The facade of scheduled delivery: firing due jobs after their commit,
//! waiting for the next one, listing and cancelling them.

mod state;

pub use state::{first_due, JobView, DELAY, JOB_ID, PERIOD, REPEAT};

use super::state::State;
use super::{Broker, BrokerError};
use tokio::sync::oneshot;

impl Broker {
    /// Delivers every scheduled message that is due: copies are routed
    /// once their rows (and the jobs' updates) are committed.
    pub async fn fire_due(&self) {
        let now = crate::message::now_ms();
        let mut ops = Vec::new();
        let copies = {
            let mut st = self.lock();
            st.take_due(now, || self.next_id(), &mut ops)
        };
        if copies.is_empty() {
            // Delayed redeliveries that came due were routed already.
            self.inner.store.push(ops);
            return;
        }
        let broker = self.clone();
        self.lock().expect_routes(&copies);
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |result| match result {
                    Ok(()) => broker.route(copies),
                    // The jobs' rows are unchanged: after the failover that
                    // follows, the new master fires them again.
                    Err(e) => {
                        broker.lock().routes_failed(copies.iter().map(|m| m.id));
                        tracing::warn!(error = %e, "scheduled deliveries not committed");
                    }
                }),
            )
            .await;
    }

    /// Runs `f` on the state and wakes the scheduler when `f` made
    /// something due sooner (a failed delivery waiting for its
    /// redelivery delay).
    pub(super) fn with_due<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let (r, sooner) = {
            let mut st = self.lock();
            let before = st.next_due();
            let r = f(&mut st);
            let after = st.next_due();
            (r, after.is_some() && (before.is_none() || after < before))
        };
        if sooner {
            self.inner.scheduled.notify_one();
        }
        r
    }

    /// Waits until the next scheduled message is due (at most `max`), or
    /// until something new was scheduled.
    pub async fn wait_for_due(&self, max: std::time::Duration) {
        let now = crate::message::now_ms();
        let wait = match self.lock().next_due() {
            Some(at) => std::time::Duration::from_millis(at.saturating_sub(now).max(0) as u64),
            None => max,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.min(max)) => {}
            _ = self.inner.scheduled.notified() => {}
        }
    }

    /// Waiting scheduled messages.
    pub fn scheduled_jobs(&self) -> Vec<JobView> {
        self.lock().scheduled_jobs()
    }

    /// Cancels a scheduled message (committed before this returns).
    pub async fn cancel_scheduled(&self, id: i64) -> Result<bool, BrokerError> {
        let mut ops = Vec::new();
        if !self.lock().cancel_scheduled(id, &mut ops) {
            return Ok(false);
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |r| {
                    let _ = tx.send(r.map_err(BrokerError::from));
                }),
            )
            .await;
        rx.await.unwrap_or(Err(BrokerError::ShuttingDown))?;
        Ok(true)
    }
}
