//! Advisories of temporary destinations, as ActiveMQ publishes them: when
//! a temporary queue or topic is created or removed, a non-persistent
//! message goes to the topic `ActiveMQ.Advisory.TempQueue` (or
//! `…TempTopic`), and a new subscriber of those topics first gets one for
//! every temporary destination that exists. The ActiveMQ Java client needs
//! them: it refuses to send to a temporary destination (a `JMSReplyTo`)
//! it has no advisory for. Any client may subscribe to them.

use crate::broker::state::{State, SubKey};
use crate::message::{now_ms, stamp_arrival, BodyKind, Destination, Message, Value};
use crate::store::WriteOp;

/// The advisory topics of temporary queues and topics.
pub const TEMP_QUEUE_TOPIC: &str = "ActiveMQ.Advisory.TempQueue";
pub const TEMP_TOPIC_TOPIC: &str = "ActiveMQ.Advisory.TempTopic";

/// Header of an advisory: the temporary destination it is about.
pub const DESTINATION: &str = "advisory-destination";
/// Header of an advisory: `add` or `remove`.
pub const OPERATION: &str = "advisory-operation";

/// The advisory topic for a temporary destination.
fn topic_of(dest: &Destination) -> Destination {
    Destination::Topic(
        if dest.is_queue() {
            TEMP_QUEUE_TOPIC
        } else {
            TEMP_TOPIC_TOPIC
        }
        .to_string(),
    )
}

impl State {
    /// The advisory message saying `dest` was added (or removed).
    fn advisory(&self, dest: &Destination, added: bool) -> Message {
        let mut headers = vec![
            (DESTINATION.to_string(), Value::String(dest.to_string())),
            (
                OPERATION.to_string(),
                Value::from(if added { "add" } else { "remove" }),
            ),
            ("type".to_string(), Value::from("Advisory")),
        ];
        stamp_arrival(&mut headers, now_ms());
        Message {
            id: self
                .config
                .ids
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            destination: topic_of(dest),
            priority: 0,
            expires: 0,
            persistent: false,
            headers: headers.into(),
            body: bytes::Bytes::new(),
            body_kind: BodyKind::Empty,
            client_id: None,
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
            origin: 0,
        }
    }

    /// Tells every advisory subscriber that `dest` was added or removed
    /// (nothing is published while nobody subscribes to its topic).
    pub(super) fn advise(&mut self, dest: &Destination, added: bool, ops: &mut Vec<WriteOp>) {
        let topic = topic_of(dest);
        let listened = self
            .destinations
            .topics
            .get(topic.name())
            .is_some_and(|t| !t.subscribers.is_empty());
        if listened {
            let m = self.advisory(dest, added);
            self.route(m, ops);
        }
    }

    /// A new subscriber of an advisory topic first learns of every
    /// temporary destination that exists.
    pub(super) fn advise_existing(&mut self, key: &SubKey, topic: &str, ops: &mut Vec<WriteOp>) {
        let queues = match topic {
            TEMP_QUEUE_TOPIC => true,
            TEMP_TOPIC_TOPIC => false,
            _ => return,
        };
        let temps: Vec<Destination> = if queues {
            self.destinations
                .queues
                .iter()
                .filter(|(_, q)| q.owner.is_some())
                .map(|(n, _)| Destination::Queue(n.clone()))
                .collect()
        } else {
            self.destinations
                .topics
                .iter()
                .filter(|(_, t)| t.owner.is_some())
                .map(|(n, _)| Destination::Topic(n.clone()))
                .collect()
        };
        if temps.is_empty() {
            return;
        }
        for dest in temps {
            let m = self.advisory(&dest, true);
            if let Some(sub) = self.subscriptions.get_mut(key) {
                sub.backlog.insert(m);
            }
        }
        self.dispatch_topic_sub(key, ops);
    }
}
