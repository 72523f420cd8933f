//! Queue browsing over STOMP (`browser:true` on SUBSCRIBE, ActiveMQ's
//! queue browser): a snapshot of the waiting messages, then `browser:end`.

use crate::broker::outbox::Delivery;
use crate::broker::state::{selects, ConnId, State, Subscription, BROWSER_END};
use crate::broker::{AckMode, BrokerError, SubscribeSpec};
use crate::message::{Destination, Message};
use crate::wildcard;
use std::sync::Arc;

impl State {
    /// A browsing subscription: the queue's waiting messages as they are
    /// now, then a `browser:end` MESSAGE. Nothing is consumed; the
    /// subscription stays (so UNSUBSCRIBE works) but receives nothing else.
    pub(super) fn browse(&mut self, conn: ConnId, spec: SubscribeSpec) -> Result<(), BrokerError> {
        let Destination::Queue(name) = &spec.destination else {
            return Err(BrokerError::BrowseTopic(spec.destination.to_string()));
        };
        let names: Vec<&String> = if wildcard::is_pattern(name) {
            let mut v: Vec<&String> = self
                .destinations
                .queues
                .keys()
                .filter(|q| wildcard::matches(name, q))
                .collect();
            v.sort();
            v
        } else {
            self.destinations
                .queues
                .get_key_value(name)
                .map(|(k, _)| k)
                .into_iter()
                .collect()
        };
        let messages: Vec<Message> = names
            .iter()
            .filter_map(|n| self.destinations.queues.get(*n))
            .flat_map(|q| q.pending.snapshot())
            .filter(|m| selects(spec.selector.as_ref(), m))
            .collect();
        let id: Arc<str> = Arc::from(spec.id.as_str());
        let Some(c) = self.connections.by_id.get_mut(&conn) else {
            return Err(BrokerError::ShuttingDown);
        };
        for message in messages {
            c.outbox.push(Delivery {
                subscription: id.clone(),
                ack: AckMode::Auto,
                message,
            });
        }
        c.outbox.push(Delivery {
            subscription: id.clone(),
            ack: AckMode::Auto,
            message: Message {
                id: 0,
                destination: spec.destination.clone(),
                priority: 0,
                expires: 0,
                persistent: false,
                headers: vec![(BROWSER_END.into(), "end".into())].into(),
                body: bytes::Bytes::new(),
                redelivery_count: 0,
                redelivered: false,
                producer: None,
                scheduled: 0,
                body_kind: Default::default(),
                client_id: None,
                origin: 0,
            },
        });
        c.subs.push(id.clone());
        let mut sub = Subscription::new(spec, self.config.max_unacked_per_consumer);
        sub.prefetch = 0;
        self.subscriptions.insert((conn, id), sub);
        Ok(())
    }
}
