//! Per-destination policies resolved from `[[broker.policy]]`: which entry
//! applies to a destination (the first whose pattern matches, else the
//! global `broker.*` defaults), redelivery delays, the dead-letter
//! destination and the time-to-live rules.

use crate::auth::Pattern;
use crate::config::{DeadLetterStrategy, PolicyConfig};
use crate::message::{Destination, Message};

/// Where a message goes once it has used up its redeliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// `<prefix><name>`; a topic's messages to a queue or to a topic.
    Individual {
        prefix: String,
        queue_for_topics: bool,
    },
    /// One queue for all.
    Shared(String),
    Discard,
}

/// The settings that apply to one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub max_redeliveries: u32,
    initial_delay_ms: i64,
    delay_ms: i64,
    exponential: bool,
    multiplier: f64,
    /// 0 = no cap.
    max_delay_ms: i64,
    pub dead_letter: DeadLetter,
    /// Expired messages go to the dead-letter destination.
    pub process_expired: bool,
    default_ttl_ms: i64,
    ttl_ceiling_ms: i64,
    /// false: FIFO regardless of `priority`.
    pub prioritized: bool,
}

/// Every policy, in configuration order, and the defaults.
#[derive(Debug, Clone)]
pub struct Policies {
    entries: Vec<(Pattern, Policy)>,
    default: Policy,
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Policies {
    /// The global defaults only: `max_redeliveries`, individual
    /// dead-letter queues named `<dlq_prefix><name>`, immediate
    /// redelivery, expired messages dropped, priority order.
    pub fn defaults(max_redeliveries: u32, dlq_prefix: &str) -> Policies {
        Policies {
            entries: Vec::new(),
            default: Policy {
                max_redeliveries,
                initial_delay_ms: 0,
                delay_ms: 0,
                exponential: false,
                multiplier: 1.0,
                max_delay_ms: 0,
                dead_letter: DeadLetter::Individual {
                    prefix: dlq_prefix.to_string(),
                    queue_for_topics: true,
                },
                process_expired: false,
                default_ttl_ms: 0,
                ttl_ceiling_ms: 0,
                prioritized: true,
            },
        }
    }

    /// Resolves validated entries (an entry whose pattern does not parse
    /// is skipped; `Config::validate` rejects it first).
    pub fn new(max_redeliveries: u32, dlq_prefix: &str, entries: &[PolicyConfig]) -> Policies {
        let mut out = Policies::defaults(max_redeliveries, dlq_prefix);
        for e in entries {
            let Ok(pattern) = Pattern::parse(&e.destination) else {
                continue;
            };
            let dead_letter = match e.dead_letter_strategy {
                DeadLetterStrategy::Individual => DeadLetter::Individual {
                    prefix: e.dlq_prefix.clone().unwrap_or_else(|| dlq_prefix.into()),
                    queue_for_topics: e.use_queue_for_topic_messages,
                },
                DeadLetterStrategy::Shared => DeadLetter::Shared(
                    e.dead_letter_queue
                        .clone()
                        .unwrap_or_else(|| crate::config::policy::SHARED_DLQ.into()),
                ),
                DeadLetterStrategy::Discard => DeadLetter::Discard,
            };
            let policy = Policy {
                max_redeliveries: e.max_redeliveries.unwrap_or(max_redeliveries),
                initial_delay_ms: ms(e.initial_redelivery_delay_ms),
                delay_ms: ms(e
                    .redelivery_delay_ms
                    .unwrap_or(e.initial_redelivery_delay_ms)),
                exponential: e.use_exponential_backoff,
                multiplier: e.backoff_multiplier,
                max_delay_ms: ms(e.maximum_redelivery_delay_ms),
                dead_letter,
                process_expired: e.process_expired,
                default_ttl_ms: ms(e.default_ttl_ms),
                ttl_ceiling_ms: ms(e.ttl_ceiling_ms),
                prioritized: e.prioritized_messages,
            };
            out.entries.push((pattern, policy));
        }
        out
    }

    /// The policy of `dest`: the first matching entry, else the defaults.
    pub fn of(&self, dest: &Destination) -> &Policy {
        self.entries
            .iter()
            .find(|(p, _)| p.matches(dest))
            .map_or(&self.default, |(_, policy)| policy)
    }

    /// Whether `dest` is a dead-letter destination of some policy; its
    /// messages are never dead-lettered again.
    pub fn is_dead_letter(&self, dest: &Destination) -> bool {
        let name = dest.name();
        self.entries
            .iter()
            .map(|(_, p)| p)
            .chain(std::iter::once(&self.default))
            .any(|p| match &p.dead_letter {
                DeadLetter::Individual { prefix, .. } => name.starts_with(prefix.as_str()),
                DeadLetter::Shared(q) => dest.is_queue() && name == q,
                DeadLetter::Discard => false,
            })
    }
}

impl Policy {
    /// How long the `count`-th redelivery (1 = the first) waits: the
    /// initial delay, then the redelivery delay, each further one the
    /// previous times the multiplier (capped) with exponential backoff,
    /// as ActiveMQ's `RedeliveryPolicy.getNextRedeliveryDelay`.
    pub fn redelivery_delay(&self, count: u32) -> i64 {
        let mut delay = self.initial_delay_ms;
        for _ in 1..count {
            let next = if delay > 0 && self.exponential && self.multiplier > 1.0 {
                let grown = (delay as f64 * self.multiplier).min(i64::MAX as f64) as i64;
                if self.max_delay_ms > 0 && grown > self.max_delay_ms {
                    self.max_delay_ms.max(self.delay_ms)
                } else {
                    grown
                }
            } else {
                self.delay_ms
            };
            if next == delay {
                break;
            }
            delay = next;
        }
        delay
    }

    /// Where a message of `from` goes when it is dead-lettered (`None`:
    /// discarded).
    pub fn dead_letter_destination(&self, from: &Destination) -> Option<Destination> {
        match &self.dead_letter {
            DeadLetter::Individual {
                prefix,
                queue_for_topics,
            } => {
                let name = format!("{prefix}{}", from.name());
                Some(match from {
                    Destination::Topic(_) if !queue_for_topics => Destination::Topic(name),
                    _ => Destination::Queue(name),
                })
            }
            DeadLetter::Shared(q) => Some(Destination::Queue(q.clone())),
            DeadLetter::Discard => None,
        }
    }

    /// Applies the default TTL (a message without `expires`) and the TTL
    /// ceiling to a message sent at `now`, keeping its `expires` header
    /// in step (ActiveMQ's `TimeStampingBrokerPlugin`).
    pub fn stamp_ttl(&self, m: &mut Message, now: i64) {
        let mut expires = m.expires;
        if expires == 0 && self.default_ttl_ms > 0 {
            expires = now.saturating_add(self.default_ttl_ms);
        }
        if self.ttl_ceiling_ms > 0 {
            let ceiling = now.saturating_add(self.ttl_ceiling_ms);
            if expires == 0 || expires > ceiling {
                expires = ceiling;
            }
        }
        if expires != m.expires {
            m.expires = expires;
            m.edit_headers(|headers| {
                headers.retain(|(k, _)| k != "expires");
                headers.push(("expires".into(), expires.to_string().into()));
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml_text: &str) -> PolicyConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn first_match_wins_and_defaults_apply_elsewhere() {
        let p = Policies::new(
            6,
            "DLQ.",
            &[
                entry("destination = \"/queue/orders.vip\"\nmax_redeliveries = 1"),
                entry("destination = \"/queue/orders.>\"\nmax_redeliveries = 3"),
            ],
        );
        let q = |n: &str| Destination::Queue(n.into());
        assert_eq!(p.of(&q("orders.vip")).max_redeliveries, 1);
        assert_eq!(p.of(&q("orders.eu")).max_redeliveries, 3);
        assert_eq!(p.of(&q("other")).max_redeliveries, 6);
        assert_eq!(
            p.of(&Destination::Topic("orders.eu".into()))
                .max_redeliveries,
            6
        );
    }

    #[test]
    fn exponential_backoff_is_capped() {
        let p = Policies::new(
            6,
            "DLQ.",
            &[entry(
                "destination = \">\"\ninitial_redelivery_delay_ms = 100\nuse_exponential_backoff = true\nbackoff_multiplier = 2.0\nmaximum_redelivery_delay_ms = 500",
            )],
        );
        let pol = p.of(&Destination::Queue("x".into()));
        let delays: Vec<i64> = (1..=6).map(|n| pol.redelivery_delay(n)).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500, 500]);
    }

    #[test]
    fn constant_delay_after_the_initial_one() {
        let p = Policies::new(
            6,
            "DLQ.",
            &[entry(
                "destination = \">\"\ninitial_redelivery_delay_ms = 10\nredelivery_delay_ms = 300",
            )],
        );
        let pol = p.of(&Destination::Queue("x".into()));
        assert_eq!(pol.redelivery_delay(1), 10);
        assert_eq!(pol.redelivery_delay(4), 300);
    }

    #[test]
    fn dead_letter_destinations_per_strategy() {
        let p = Policies::new(
            6,
            "DLQ.",
            &[
                entry("destination = \"/queue/a.>\"\ndead_letter_strategy = \"shared\""),
                entry("destination = \"/topic/t\"\nuse_queue_for_topic_messages = false"),
                entry("destination = \"/queue/gone\"\ndead_letter_strategy = \"discard\""),
            ],
        );
        let q = |n: &str| Destination::Queue(n.into());
        let t = Destination::Topic("t".into());
        assert_eq!(
            p.of(&q("a.b")).dead_letter_destination(&q("a.b")),
            Some(q("ActiveMQ.DLQ"))
        );
        assert_eq!(
            p.of(&t).dead_letter_destination(&t),
            Some(Destination::Topic("DLQ.t".into()))
        );
        assert_eq!(p.of(&q("gone")).dead_letter_destination(&q("gone")), None);
        assert!(p.is_dead_letter(&q("ActiveMQ.DLQ")));
        assert!(p.is_dead_letter(&q("DLQ.x")));
        assert!(!p.is_dead_letter(&q("a.b")));
    }

    #[test]
    fn ttl_default_and_ceiling() {
        let p = Policies::new(
            6,
            "DLQ.",
            &[entry(
                "destination = \">\"\ndefault_ttl_ms = 1000\nttl_ceiling_ms = 5000",
            )],
        );
        let pol = p.of(&Destination::Queue("x".into())).clone();
        let mut m = Message {
            id: 1,
            destination: Destination::Queue("x".into()),
            priority: 4,
            expires: 0,
            persistent: false,
            headers: vec![].into(),
            body: bytes::Bytes::new(),
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
            body_kind: Default::default(),
            client_id: None,
            origin: 0,
        };
        pol.stamp_ttl(&mut m, 10_000);
        assert_eq!(m.expires, 11_000);
        assert_eq!(m.header("expires"), Some("11000"));
        m.expires = 99_000;
        pol.stamp_ttl(&mut m, 10_000);
        assert_eq!(m.expires, 15_000);
    }
}
