//! The memory budget for non-persistent messages (`limits.max_non_persistent_bytes`).
//!
//! A non-persistent message lives only in memory, so its size (body plus
//! headers) is charged to the budget when it is published, and released
//! when the last copy of it is gone (consumed, expired, dropped with its
//! temporary destination or with the broker). The charge rides on the body:
//! the body's bytes are owned by a [`Charged`] value whose `Drop` releases
//! the charge, and every clone of the message (topic fan-out, in-flight
//! copies, deliveries waiting to be written) shares that owner. So nothing
//! has to be released by hand on each path a message can leave by.
//!
//! Once the budget is used up, protocol adapters stop reading from the
//! connections that produce non-persistent messages (flow control) until
//! usage falls back to [`RESUME_PERCENT`] of the budget.

use crate::message::Message;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Producers are read from again once usage is at most this share of the
/// budget, so they do not flap around the limit one message at a time.
pub const RESUME_PERCENT: u64 = 90;

/// Bytes of non-persistent messages held, against a limit.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    resume_at: u64,
    used: AtomicU64,
    /// Woken when usage falls to `resume_at` or below.
    room: Notify,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            resume_at: limit / 100 * RESUME_PERCENT + limit % 100 * RESUME_PERCENT / 100,
            used: AtomicU64::new(0),
            room: Notify::new(),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the budget is used up: producers must wait for room.
    pub fn exhausted(&self) -> bool {
        self.used() >= self.limit
    }

    /// Charges a non-persistent message to the budget (persistent ones are
    /// in the database and are not counted).
    pub fn charge(self: &Arc<Self>, m: &mut Message) {
        if m.persistent {
            return;
        }
        let headers: usize = m
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.to_text().len())
            .sum();
        let bytes = (m.body.len() + headers) as u64;
        self.used.fetch_add(bytes, Ordering::Relaxed);
        crate::metrics::get()
            .non_persistent_bytes
            .inc_by(bytes as i64);
        let body = std::mem::take(&mut m.body);
        m.body = Bytes::from_owner(Charged {
            body,
            bytes,
            budget: self.clone(),
        });
    }

    fn release(&self, bytes: u64) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        crate::metrics::get()
            .non_persistent_bytes
            .dec_by(bytes as i64);
        let after = before.saturating_sub(bytes);
        if before > self.resume_at && after <= self.resume_at {
            self.room.notify_waiters();
        }
    }

    /// Resolves once usage is at most [`RESUME_PERCENT`] of the limit.
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release in between wakes us.
            notified.as_mut().enable();
            if self.used() <= self.resume_at {
                return;
            }
            notified.await;
        }
    }
}

/// The owner of a charged message body: releases the charge when the last
/// copy of the body is dropped.
struct Charged {
    body: Bytes,
    bytes: u64,
    budget: Arc<MemoryBudget>,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for Charged {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Destination;

    fn message(body: &str, persistent: bool) -> Message {
        Message {
            id: 1,
            destination: Destination::Queue("q".into()),
            priority: 4,
            expires: 0,
            persistent,
            headers: vec![("k".into(), "vv".into())].into(),
            body: Bytes::from(body.to_string()),
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
            body_kind: Default::default(),
            client_id: None,
            origin: 0,
        }
    }

    #[test]
    fn charge_lasts_until_the_last_copy_is_gone() {
        let budget = MemoryBudget::new(10);
        let mut m = message("1234567", false);
        budget.charge(&mut m);
        assert_eq!(budget.used(), 10);
        assert!(budget.exhausted());
        assert_eq!(&m.body[..], b"1234567");
        let copy = m.clone();
        drop(m);
        assert_eq!(budget.used(), 10);
        drop(copy);
        assert_eq!(budget.used(), 0);
        let mut p = message("persistent", true);
        budget.charge(&mut p);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn room_waits_for_the_resume_level() {
        let budget = MemoryBudget::new(100);
        // 80, 15 and 5 bytes with their 3 header bytes each.
        let mut a = message(&"x".repeat(77), false);
        let mut b = message(&"y".repeat(12), false);
        let mut c = message("zz", false);
        for m in [&mut a, &mut b, &mut c] {
            budget.charge(m);
        }
        assert_eq!(budget.used(), 100);
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.room().await }
        });
        drop(c);
        assert_eq!(budget.used(), 95);
        assert!(!budget.exhausted());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished(), "resumed above the resume level");
        drop(b);
        waiter.await.unwrap();
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
