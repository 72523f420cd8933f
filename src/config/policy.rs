//! `[[broker.policy]]`: redelivery, dead-letter, expiry and priority
//! settings per destination pattern (ActiveMQ's `policyEntry` with its
//! `redeliveryPolicy` and `deadLetterStrategy`). File-only, like
//! `[[auth.users]]`. The first entry whose `destination` matches a
//! destination applies to it; a setting an entry leaves out takes the
//! global `broker.*` value (or the default below).

use super::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

/// Longest delay or TTL a policy accepts: 7 days.
pub const MAX_POLICY_MS: u64 = 7 * 24 * 3_600_000;

/// Where messages go that have used up their redeliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterStrategy {
    /// One dead-letter queue per destination: `<dlq_prefix><name>`.
    #[default]
    Individual,
    /// One dead-letter queue for every matching destination.
    Shared,
    /// Dropped (counted as dead-lettered, not stored).
    Discard,
}

fn yes() -> bool {
    true
}

fn five() -> f64 {
    5.0
}

/// One `[[broker.policy]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Destination pattern, e.g. `/queue/orders.>` or `>`.
    pub destination: String,
    /// Failed deliveries before dead-lettering [default: broker.max_redeliveries].
    pub max_redeliveries: Option<u32>,
    /// Delay before the first redelivery.
    #[serde(default)]
    pub initial_redelivery_delay_ms: u64,
    /// Delay before later redeliveries [default: initial_redelivery_delay_ms].
    pub redelivery_delay_ms: Option<u64>,
    /// Each delay is the previous one times `backoff_multiplier`.
    #[serde(default)]
    pub use_exponential_backoff: bool,
    #[serde(default = "five")]
    pub backoff_multiplier: f64,
    /// Cap of an exponential delay (0 = no cap).
    #[serde(default)]
    pub maximum_redelivery_delay_ms: u64,
    #[serde(default)]
    pub dead_letter_strategy: DeadLetterStrategy,
    /// Individual strategy: name prefix [default: broker.dlq_prefix].
    pub dlq_prefix: Option<String>,
    /// Individual strategy: a topic's dead letters go to a queue (true) or
    /// to a topic of the same name.
    #[serde(default = "yes")]
    pub use_queue_for_topic_messages: bool,
    /// Shared strategy: the queue's name [default: ActiveMQ.DLQ].
    pub dead_letter_queue: Option<String>,
    /// Expired messages go to the dead-letter queue instead of being dropped.
    #[serde(default)]
    pub process_expired: bool,
    /// Expiry given to messages sent without one (0 = none).
    #[serde(default)]
    pub default_ttl_ms: u64,
    /// Longest time to live a message may have (0 = no ceiling).
    #[serde(default)]
    pub ttl_ceiling_ms: u64,
    /// false: strict FIFO, the `priority` header is ignored for ordering.
    #[serde(default = "yes")]
    pub prioritized_messages: bool,
}

/// ActiveMQ's shared dead-letter queue.
pub const SHARED_DLQ: &str = "ActiveMQ.DLQ";

/// Checks every entry; errors name the entry as `broker.policy[i].key`.
pub fn validate(entries: &[PolicyConfig]) -> Result<(), ConfigError> {
    for (i, p) in entries.iter().enumerate() {
        let key = |k: &str| format!("broker.policy[{i}].{k}");
        crate::auth::Pattern::parse(&p.destination)
            .map_err(|e| invalid(&key("destination"), e.to_string()))?;
        if !p.backoff_multiplier.is_finite() || p.backoff_multiplier < 1.0 {
            return Err(invalid(
                &key("backoff_multiplier"),
                format!("must be >= 1, got {}", p.backoff_multiplier),
            ));
        }
        let times = [
            ("initial_redelivery_delay_ms", p.initial_redelivery_delay_ms),
            ("redelivery_delay_ms", p.redelivery_delay_ms.unwrap_or(0)),
            ("maximum_redelivery_delay_ms", p.maximum_redelivery_delay_ms),
            ("default_ttl_ms", p.default_ttl_ms),
            ("ttl_ceiling_ms", p.ttl_ceiling_ms),
        ];
        for (k, v) in times {
            if v > MAX_POLICY_MS {
                return Err(invalid(
                    &key(k),
                    format!("must be at most {MAX_POLICY_MS} (7 days), got {v}"),
                ));
            }
        }
        if p.ttl_ceiling_ms > 0 && p.default_ttl_ms > p.ttl_ceiling_ms {
            return Err(invalid(
                &key("default_ttl_ms"),
                format!(
                    "must not exceed ttl_ceiling_ms ({}), got {}",
                    p.ttl_ceiling_ms, p.default_ttl_ms
                ),
            ));
        }
        if p.dead_letter_queue.is_some() && p.dead_letter_strategy != DeadLetterStrategy::Shared {
            return Err(invalid(
                &key("dead_letter_queue"),
                "only applies with dead_letter_strategy = \"shared\"",
            ));
        }
        if p.dlq_prefix.is_some() && p.dead_letter_strategy != DeadLetterStrategy::Individual {
            return Err(invalid(
                &key("dlq_prefix"),
                "only applies with dead_letter_strategy = \"individual\"",
            ));
        }
        if let Some(prefix) = &p.dlq_prefix {
            check_name(&key("dlq_prefix"), prefix, 64)?;
        }
        if let Some(name) = &p.dead_letter_queue {
            check_name(&key("dead_letter_queue"), name, 200)?;
        }
    }
    Ok(())
}

/// A queue name or name prefix: not empty, no wildcards or `/`, short
/// enough that a dead-letter queue's name still fits the store.
fn check_name(key: &str, name: &str, max: usize) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    if name.chars().count() > max {
        return Err(invalid(key, format!("must be at most {max} characters")));
    }
    if name.contains(['*', '>', '/', ',']) {
        return Err(invalid(
            key,
            format!("'{name}' must not contain '*', '>', '/' or ','"),
        ));
    }
    Ok(())
}
