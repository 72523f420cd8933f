//! Scheduled delivery, with ActiveMQ's headers: `AMQ_SCHEDULED_DELAY`
//! (ms before the first delivery), `AMQ_SCHEDULED_PERIOD` (ms between
//! repeats) and `AMQ_SCHEDULED_REPEAT` (how many more deliveries after the
//! first). A scheduled message is a job: it waits here, not in its
//! destination; each time it is due a copy with a new id (and a
//! `scheduledJobId` header) is sent to the destination. A persistent job
//! is stored with its due time, so it survives a failover; its row is
//! rescheduled after each repeat and deleted after the last one.

use crate::broker::state::State;
use crate::message::{Destination, Message};
use crate::store::WriteOp;

pub const DELAY: &str = "AMQ_SCHEDULED_DELAY";
pub const PERIOD: &str = "AMQ_SCHEDULED_PERIOD";
pub const REPEAT: &str = "AMQ_SCHEDULED_REPEAT";
/// Set on every delivered copy: the id of the job it came from.
pub const JOB_ID: &str = "scheduledJobId";

/// One waiting job, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobView {
    pub id: i64,
    pub destination: String,
    /// Unix ms of the next delivery.
    pub next: i64,
    pub period_ms: i64,
    /// Deliveries left after the next one.
    pub repeats_left: i64,
    pub persistent: bool,
}

fn header_ms(m: &Message, name: &str) -> i64 {
    m.property_i64(name)
        .and_then(Result::ok)
        .unwrap_or(0)
        .max(0)
}

/// When a message sent now with these headers is first due (0 = not
/// scheduled), or why the headers are wrong.
pub fn first_due(m: &Message, now: i64) -> Result<i64, String> {
    let get = |name: &str| -> Result<i64, String> {
        match m.property_i64(name) {
            None => Ok(0),
            Some(Ok(n)) if n >= 0 => Ok(n),
            Some(_) => Err(format!(
                "{name} must be a whole number >= 0, got '{}'",
                m.property(name).map(|v| v.to_text()).unwrap_or_default()
            )),
        }
    };
    let (delay, period, repeat) = (get(DELAY)?, get(PERIOD)?, get(REPEAT)?);
    if delay == 0 && !(period > 0 && repeat > 0) {
        return Ok(0);
    }
    Ok(now.saturating_add(delay).max(1))
}

impl State {
    /// Keeps a scheduled message until it is due.
    pub(in crate::broker) fn hold(&mut self, m: Message) {
        self.scheduler.jobs.insert((m.scheduled, m.id), m);
    }

    /// When the next job (or delayed topic redelivery) is due.
    pub fn next_due(&self) -> Option<i64> {
        let job = self.scheduler.jobs.keys().next().map(|(at, _)| *at);
        let topic = self.scheduler.topic_delays.keys().next().map(|(at, _)| *at);
        match (job, topic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes every job due at `now`: returns the copies to route once
    /// `ops` (their rows, the jobs' reschedules and deletes) are committed.
    pub fn take_due(
        &mut self,
        now: i64,
        mut next_id: impl FnMut() -> i64,
        ops: &mut Vec<WriteOp>,
    ) -> Vec<Message> {
        self.topic_redeliveries_due(now, ops);
        let mut copies = Vec::new();
        while let Some(entry) = self.scheduler.jobs.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let mut job = entry.remove();
            if job.redelivery_count > 0 {
                // Not a job: a failed delivery waiting for its redelivery
                // delay (jobs are never delivered themselves).
                self.redelivery_due(job, ops);
                continue;
            }
            let mut copy = job.clone();
            copy.id = next_id();
            copy.scheduled = 0;
            copy.edit_headers(|headers| {
                headers.retain(|(k, _)| k != JOB_ID);
                headers.push((JOB_ID.into(), job.id.to_string().into()));
            });
            if copy.persistent && self.keeps(&copy.destination) {
                ops.push(WriteOp::Insert(copy.clone()));
            }
            copies.push(copy);
            let period = header_ms(&job, PERIOD);
            let left = header_ms(&job, REPEAT);
            if period > 0 && left > 0 {
                job.edit_headers(|headers| {
                    headers.retain(|(k, _)| k != REPEAT);
                    headers.push((REPEAT.into(), (left - 1).to_string().into()));
                });
                job.scheduled = now.saturating_add(period);
                if job.persistent {
                    ops.push(WriteOp::Reschedule {
                        id: job.id,
                        at: job.scheduled,
                        meta: job.meta(),
                    });
                }
                self.hold(job);
            } else if job.persistent {
                ops.push(WriteOp::Delete(job.id));
            }
        }
        copies
    }

    /// Whether a persistent message to `d` gets a row.
    pub(in crate::broker) fn keeps(&self, d: &Destination) -> bool {
        match d {
            Destination::Queue(_) => true,
            Destination::Topic(t) => self.has_durables(t),
        }
    }

    /// The waiting jobs, soonest first.
    pub fn scheduled_jobs(&self) -> Vec<JobView> {
        self.scheduler
            .jobs
            .values()
            .filter(|m| m.redelivery_count == 0)
            .map(|m| JobView {
                id: m.id,
                destination: m.destination.to_string(),
                next: m.scheduled,
                period_ms: header_ms(m, PERIOD),
                repeats_left: if header_ms(m, PERIOD) > 0 {
                    header_ms(m, REPEAT)
                } else {
                    0
                },
                persistent: m.persistent,
            })
            .collect()
    }

    /// Cancels a job; `false` when there is none with this id.
    pub fn cancel_scheduled(&mut self, id: i64, ops: &mut Vec<WriteOp>) -> bool {
        let Some(key) = self
            .scheduler
            .jobs
            .iter()
            .find(|((_, i), m)| *i == id && m.redelivery_count == 0)
            .map(|(k, _)| *k)
        else {
            return false;
        };
        if let Some(job) = self.scheduler.jobs.remove(&key) {
            if job.persistent {
                ops.push(WriteOp::Delete(job.id));
            }
        }
        true
    }
}
