//! Messages waiting for a consumer, in delivery order: priority (higher
//! first), then id (FIFO within a priority).

use crate::message::Message;
use std::cmp::Reverse;
use std::collections::BTreeMap;

#[derive(Default, Debug)]
pub struct Pending {
    messages: BTreeMap<(Reverse<u8>, i64), Message>,
    bytes: usize,
    /// Strict FIFO: the priority is ignored for ordering.
    fifo: bool,
}

impl Pending {
    pub fn insert(&mut self, message: Message) {
        self.bytes += message.body.len();
        let priority = if self.fifo { 0 } else { message.priority };
        self.messages
            .insert((Reverse(priority), message.id), message);
    }

    /// Orders by priority then id (`true`, the default) or by id only.
    pub fn set_prioritized(&mut self, prioritized: bool) {
        self.fifo = !prioritized;
    }

    /// Takes the next message to deliver.
    pub fn pop(&mut self) -> Option<Message> {
        let (_, m) = self.messages.pop_first()?;
        self.bytes -= m.body.len();
        Some(m)
    }

    /// Body bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Every message, in delivery order.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    /// Removes every message `expired` selects and returns them.
    pub fn remove_where(&mut self, mut expired: impl FnMut(&Message) -> bool) -> Vec<Message> {
        let keys: Vec<_> = self
            .messages
            .iter()
            .filter(|(_, m)| expired(m))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(m) = self.messages.remove(&k) {
                self.bytes -= m.body.len();
                out.push(m);
            }
        }
        out
    }

    /// Copies of every message, in delivery order.
    pub fn snapshot(&self) -> Vec<Message> {
        self.messages.values().cloned().collect()
    }

    /// Drops everything, returning the messages.
    pub fn drain(&mut self) -> Vec<Message> {
        self.bytes = 0;
        std::mem::take(&mut self.messages).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Destination;

    fn msg(id: i64, priority: u8) -> Message {
        Message {
            id,
            destination: Destination::Queue("q".into()),
            priority,
            expires: 0,
            persistent: false,
            headers: vec![].into(),
            body: bytes::Bytes::from_static(b"x"),
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
    fn higher_priority_first_then_fifo() {
        let mut p = Pending::default();
        for (id, prio) in [(1, 4), (2, 9), (3, 4), (4, 0), (5, 9)] {
            p.insert(msg(id, prio));
        }
        let order: Vec<i64> = std::iter::from_fn(|| p.pop()).map(|m| m.id).collect();
        assert_eq!(order, vec![2, 5, 1, 3, 4]);
        assert!(p.is_empty());
    }

    #[test]
    fn a_requeued_message_goes_back_to_its_place() {
        let mut p = Pending::default();
        p.insert(msg(2, 4));
        p.insert(msg(3, 4));
        p.insert(msg(1, 4));
        assert_eq!(p.pop().map(|m| m.id), Some(1));
    }

    #[test]
    fn remove_where_takes_only_matching() {
        let mut p = Pending::default();
        for id in 1..=5 {
            p.insert(msg(id, 4));
        }
        let gone = p.remove_where(|m| m.id % 2 == 0);
        assert_eq!(gone.len(), 2);
        assert_eq!(p.len(), 3);
    }
}
