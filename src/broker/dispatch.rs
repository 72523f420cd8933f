//! Routing committed messages to destinations and handing them out to
//! subscriptions with free prefetch: round robin over a queue's consumers
//! (wildcard consumers included), the first exclusive consumer alone when
//! there is one, message groups pinned to one consumer, fan-out for topics.

use crate::broker::state::{State, SubKey, GROUP_HEADER, GROUP_SEQ_HEADER};
use crate::broker::TEMP_PREFIX;
use crate::message::{now_ms, Destination, Message};
use crate::store::WriteOp;
use crate::wildcard;

impl State {
    /// Routes a message that is committed (persistent) or needs no commit.
    pub fn route(&mut self, message: Message, ops: &mut Vec<WriteOp>) {
        self.pager.unrouted.remove(&message.id);
        if message.scheduled != 0 {
            self.hold(message);
            return;
        }
        let now = now_ms();
        let dest = message.destination.clone();
        if dest.name().starts_with(TEMP_PREFIX) && self.owner_of(&dest).is_none() {
            // Its connection closed (or deleted it) after the send was
            // accepted: a transaction committed or a schedule came due
            // later. Nobody can ever read it there.
            tracing::info!(
                destination = %dest,
                id = message.id,
                "dropped a message to a temporary destination that is gone"
            );
            return;
        }
        match &dest {
            Destination::Queue(n) => {
                let prioritized = self.config.policies.of(&dest).prioritized;
                let q = self.destinations.queues.entry(n.clone()).or_default();
                if message.is_expired(now) {
                    self.expired(message, ops);
                    return;
                }
                q.pending.set_prioritized(prioritized);
                q.stats.enqueued += 1;
                State::note_resident(q, &message);
                q.pending.insert(message);
                self.dispatch_queue(n, ops);
            }
            Destination::Topic(n) => {
                let t = self.destinations.topics.entry(n.clone()).or_default();
                if message.is_expired(now) {
                    t.stats.expired += 1;
                    return;
                }
                t.stats.enqueued += 1;
                let mut targets = t.subscribers.clone();
                targets.extend(
                    self.destinations
                        .wild_topic_subs
                        .iter()
                        .filter(|k| {
                            self.subscriptions
                                .get(*k)
                                .is_some_and(|s| wildcard::matches(s.destination.name(), n))
                        })
                        .cloned(),
                );
                targets.retain(|k| {
                    self.subscriptions.get(k).is_some_and(|s| {
                        s.wants(&message) && !(s.no_local && message.origin == k.0)
                    })
                });
                let limit = self.config.topic_pending_limit;
                for key in targets {
                    let Some(sub) = self.subscriptions.get_mut(&key) else {
                        continue;
                    };
                    sub.backlog.insert(message.clone());
                    if sub.backlog.len() > limit {
                        sub.backlog.drain();
                        crate::metrics::limit_hit("broker.topic_pending_limit");
                        if let Some(c) = self.connections.by_id.get(&key.0) {
                            c.outbox.close(format!(
                                "slow consumer: subscription '{}' on {} has more than {} undelivered messages (broker.topic_pending_limit); consume faster or use a queue",
                                key.1, dest, limit
                            ));
                        }
                    }
                    self.dispatch_topic_sub(&key, ops);
                }
                self.route_to_durables(&message, n, ops);
            }
        }
    }

    /// Hands out messages of `dest` (a name or a pattern) to subscriptions
    /// with free prefetch.
    pub(super) fn dispatch(&mut self, dest: &Destination, ops: &mut Vec<WriteOp>) {
        let name = dest.name();
        match dest {
            Destination::Queue(_) if wildcard::is_pattern(name) => {
                let names: Vec<String> = self
                    .destinations
                    .queues
                    .keys()
                    .filter(|q| wildcard::matches(name, q))
                    .cloned()
                    .collect();
                for n in names {
                    self.dispatch_queue(&n, ops);
                }
            }
            Destination::Queue(n) => self.dispatch_queue(n, ops),
            Destination::Topic(_) => {
                let keys: Vec<SubKey> = self
                    .subscriptions
                    .iter()
                    .filter(|(_, s)| s.destination == *dest)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    self.dispatch_topic_sub(&key, ops);
                }
            }
        }
    }

    /// Who consumes queue `name` now: its own consumers and matching
    /// wildcard consumers in subscription order, or only the first
    /// exclusive one among them.
    fn queue_consumers(&self, name: &str) -> Vec<SubKey> {
        let own = self
            .destinations
            .queues
            .get(name)
            .map(|q| q.consumers.as_slice());
        let mut all: Vec<SubKey> = own.unwrap_or_default().to_vec();
        all.extend(
            self.destinations
                .wild_queue_subs
                .iter()
                .filter(|k| {
                    self.subscriptions
                        .get(*k)
                        .is_some_and(|s| wildcard::matches(s.destination.name(), name))
                })
                .cloned(),
        );
        match all
            .iter()
            .find(|k| self.subscriptions.get(*k).is_some_and(|s| s.exclusive))
        {
            Some(first) => vec![first.clone()],
            None => all,
        }
    }

    pub(super) fn dispatch_queue(&mut self, name: &str, ops: &mut Vec<WriteOp>) {
        let consumers = self.queue_consumers(name);
        if consumers.is_empty() {
            return;
        }
        let State {
            destinations,
            subscriptions: subs,
            connections,
            ..
        } = self;
        let conns = &connections.by_id;
        let Some(q) = destinations.queues.get_mut(name) else {
            return;
        };
        let now = now_ms();
        let n = consumers.len();
        // Messages whose group is pinned to a consumer without credit wait
        // for it; the others go on.
        let mut held: Vec<Message> = Vec::new();
        let mut expired: Vec<Message> = Vec::new();
        while !q.pending.is_empty()
            && consumers
                .iter()
                .any(|k| subs.get(k).is_some_and(|s| s.has_credit()))
        {
            let Some(m) = q.pending.pop() else { break };
            if m.is_expired(now) {
                expired.push(m);
                continue;
            }
            let group = m.header(GROUP_HEADER).map(str::to_string);
            let pinned = group
                .as_ref()
                .and_then(|g| q.groups.owner(g))
                .filter(|owner| consumers.contains(owner))
                .filter(|owner| subs.get(*owner).is_some_and(|s| s.wants(&m)))
                .cloned();
            let target = match pinned {
                Some(owner) => subs
                    .get(&owner)
                    .is_some_and(|s| s.has_credit())
                    .then_some(owner),
                None => {
                    let found = (0..n).map(|i| (q.next + i) % n).find(|&i| {
                        subs.get(&consumers[i])
                            .is_some_and(|s| s.has_credit() && s.wants(&m))
                    });
                    found.map(|i| {
                        q.next = (i + 1) % n;
                        consumers[i].clone()
                    })
                }
            };
            let Some(key) = target else {
                held.push(m);
                continue;
            };
            if let Some(g) = group {
                if matches!(m.property_i64(GROUP_SEQ_HEADER), Some(Ok(-1))) {
                    q.groups.close(&g);
                } else {
                    q.groups.assign(g, key.clone());
                }
            }
            if let (Some(sub), Some(c)) = (subs.get_mut(&key), conns.get(&key.0)) {
                sub.deliver(&key.1, m, &c.outbox);
            }
        }
        for m in held {
            q.pending.insert(m);
        }
        for m in expired {
            self.expired(m, ops);
        }
        self.want_page(name);
    }

    pub(super) fn dispatch_topic_sub(&mut self, key: &SubKey, ops: &mut Vec<WriteOp>) {
        let (Some(sub), Some(c)) = (
            self.subscriptions.get_mut(key),
            self.connections.by_id.get(&key.0),
        ) else {
            return;
        };
        let now = now_ms();
        let mut expired = Vec::new();
        while sub.has_credit() {
            let Some(m) = sub.backlog.pop() else { break };
            if m.is_expired(now) {
                expired.push(m);
            } else {
                sub.deliver(&key.1, m, &c.outbox);
            }
        }
        for m in expired {
            self.topic_expired(key, m, ops);
        }
    }
}
