//! The facade of paging (the state half is `state.rs` here): routing committed messages
//! (which may stay in the database only), and the page reads the pager
//! task makes while the node is master.

mod state;

pub use super::state::PRIORITIES;
use super::Broker;
use crate::message::{Destination, Message};
use crate::store::{MessageStore, StoreError};
#[cfg(test)]
pub(super) use state::Page;
pub use state::{page_from_rows, PageRequest};
use std::time::Duration;

/// How long the pager waits before retrying a failed read.
const RETRY: Duration = Duration::from_secs(1);

impl Broker {
    /// Routes messages whose inserts are committed; a queue whose window
    /// is full keeps them in the database only.
    pub(super) fn route_stored(&self, messages: Vec<Message>) {
        if messages.iter().any(|m| m.scheduled != 0) {
            self.inner.scheduled.notify_one();
        }
        let mut ops = Vec::new();
        {
            let mut st = self.lock();
            for m in messages {
                if m.persistent {
                    st.route_stored(m, &mut ops);
                } else {
                    st.route(m, &mut ops);
                }
            }
        }
        self.inner.store.push(ops);
    }

    /// Waits until a queue wants a page, then reads every page asked for
    /// and hands the messages out. A read that fails is retried after a
    /// second (the database is also what the election watches).
    pub async fn page_in(&self, store: &dyn MessageStore) {
        let pager = self.lock().pager();
        let requests = self.lock().take_page_requests();
        if requests.is_empty() {
            pager.notified().await;
            return;
        }
        for request in requests {
            match read_page(store, &request).await {
                Ok((rows, full)) => {
                    let page = page_from_rows(&request, rows, full);
                    let mut ops = Vec::new();
                    self.with_due(|st| st.paged_in(&request, page, &mut ops));
                    self.inner.store.push(ops);
                }
                Err(e) => {
                    tracing::warn!(queue = %request.queue, error = %e, "paging in stored messages failed; retrying");
                    self.lock().page_failed(&request);
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// Reads up to `room` rows per priority from the cursors (highest
/// priority first, stopping once a prioritized page is full); `true` when
/// some read hit its limit, so more may wait.
async fn read_page(
    store: &dyn MessageStore,
    request: &PageRequest,
) -> Result<(Vec<Message>, bool), StoreError> {
    let destination = Destination::Queue(request.queue.clone()).to_string();
    let mut rows = Vec::new();
    let mut full = false;
    for priority in (0..PRIORITIES).rev() {
        if request.prioritized && rows.len() >= request.room {
            full = true;
            break;
        }
        // A prioritized page needs only what is left of its room; a FIFO
        // page merges every priority by id, so each may fill it.
        let limit = if request.prioritized {
            request.room - rows.len()
        } else {
            request.room
        };
        let got = store
            .load_queue_page(&destination, priority as u8, request.from[priority], limit)
            .await?;
        full |= got.len() >= limit;
        rows.extend(got);
    }
    Ok((rows, full))
}
