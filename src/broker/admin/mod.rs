//! The admin side of the `Broker` facade: inspect queues in memory, delete,
//! purge, move or copy messages, remove destinations, list and close
//! connections. Writes go through the group commit (fenced like every
//! other write) and return once committed.

mod state;

pub use state::{AdminOpError, ConnView, SubView};

use super::{Broker, DestInfo};
use crate::message::{Destination, Message};
use crate::store::{StoreError, WriteOp};
use tokio::sync::oneshot;

impl Broker {
    /// One destination's counters, if the broker knows it.
    pub fn destination(&self, dest: &Destination) -> Option<DestInfo> {
        self.destinations()
            .into_iter()
            .find(|d| &d.destination == dest)
    }

    /// See [`super::state::State::memory_messages`].
    pub fn memory_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
        transient_only: bool,
    ) -> Vec<Message> {
        self.lock()
            .memory_messages(queue, after, limit, transient_only)
    }

    /// Message `id` of `queue` in memory (waiting or in flight).
    pub fn find_message(&self, queue: &str, id: i64) -> Option<Message> {
        self.lock().find_in_queue(queue, id)
    }

    /// Deletes one waiting message.
    pub async fn delete_message(&self, queue: &str, id: i64) -> Result<(), AdminOpError> {
        let m = self.lock().take_waiting(queue, id)?;
        if m.persistent {
            self.commit_ops(vec![WriteOp::Delete(m.id)]).await?;
        }
        Ok(())
    }

    /// Deletes every waiting message of `queue`; returns how many.
    pub async fn purge(&self, queue: &str) -> Result<usize, AdminOpError> {
        let mut ops = Vec::new();
        let n = self.lock().purge(queue, &mut ops)?;
        self.commit_ops(ops).await?;
        Ok(n)
    }

    /// Removes a destination that has no consumers, with its messages.
    pub async fn delete_destination(&self, dest: &Destination) -> Result<usize, AdminOpError> {
        let mut ops = Vec::new();
        let n = self.lock().remove_destination(dest, &mut ops)?;
        self.commit_ops(ops).await?;
        Ok(n)
    }

    /// Moves (or copies) waiting message `id` of queue `from` to queue `to`;
    /// returns the id of the message in `to` (the same for a move, a new
    /// one for a copy). Routed to `to` once committed.
    pub async fn move_message(
        &self,
        from: &str,
        id: i64,
        to: &str,
        copy: bool,
    ) -> Result<i64, AdminOpError> {
        let target = Destination::Queue(to.to_string());
        if copy {
            let original = self
                .find_message(from, id)
                .ok_or_else(|| self.lock().not_in_memory(from, id))?;
            let mut m = original;
            m.id = self.next_id();
            m.destination = target;
            m.redelivered = false;
            m.redelivery_count = 0;
            let new_id = m.id;
            let ops = if m.persistent {
                vec![WriteOp::Insert(m.clone())]
            } else {
                Vec::new()
            };
            self.commit_then_route(ops, m).await?;
            return Ok(new_id);
        }
        let mut m = self.lock().take_waiting(from, id)?;
        let original = m.clone();
        m.destination = target;
        m.redelivery_count = 0;
        let ops = if m.persistent {
            vec![WriteOp::Move {
                id,
                destination: m.destination.to_string(),
                meta: m.meta(),
                expires: m.expires,
            }]
        } else {
            Vec::new()
        };
        if let Err(e) = self.commit_then_route(ops, m).await {
            self.route(vec![original]);
            return Err(e);
        }
        Ok(id)
    }

    pub fn connections(&self) -> Vec<ConnView> {
        self.lock().connections()
    }

    pub fn connection_count(&self) -> usize {
        self.lock().connection_count()
    }

    /// Closes a client connection with an ERROR frame.
    pub fn close_connection(&self, id: u64) -> Result<(), AdminOpError> {
        self.lock()
            .close_connection(id, "closed by an administrator".to_string())
    }

    /// Commits `ops`, then routes `m`; until then a page read of its queue
    /// skips it (`State::expect_routes`).
    async fn commit_then_route(&self, ops: Vec<WriteOp>, m: Message) -> Result<(), AdminOpError> {
        let id = m.id;
        self.lock().expect_routes(std::slice::from_ref(&m));
        match self.commit_ops(ops).await {
            Ok(()) => {
                self.route(vec![m]);
                Ok(())
            }
            Err(e) => {
                self.lock().routes_failed([id]);
                Err(e)
            }
        }
    }

    async fn commit_ops(&self, ops: Vec<WriteOp>) -> Result<(), AdminOpError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
            .await;
        rx.await
            .unwrap_or(Err(StoreError::Closed))
            .map_err(|e| AdminOpError::Store(e.to_string()))
    }
}
