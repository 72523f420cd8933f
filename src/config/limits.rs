//! `[limits]`: the limits that protect the broker from its clients
//! (connections, subscriptions, open transactions, temporary destinations,
//! producers, unacknowledged messages, memory for non-persistent messages). Frame limits stay under `[stomp]`, the slow
//! topic subscriber limit under `[broker]`.

use super::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open client connections; more are refused with an ERROR.
    pub max_connections: usize,
    /// Open client connections from one IP address.
    pub max_connections_per_address: usize,
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions_per_connection: usize,
    /// Transactions one connection may have open at once.
    pub max_transactions_per_connection: usize,
    /// Temporary destinations one connection may hold at once.
    pub max_temp_destinations_per_connection: usize,
    /// Producers one OpenWire connection may hold open at once.
    pub max_producers_per_connection: usize,
    /// Delivered but unacknowledged messages one subscription may hold,
    /// whatever prefetch it asks for.
    pub max_unacked_per_consumer: usize,
    /// Bytes (bodies and headers) of non-persistent messages the broker
    /// holds before producers of non-persistent messages are slowed.
    pub max_non_persistent_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 10_000,
            max_connections_per_address: 1_000,
            max_subscriptions_per_connection: 1_000,
            max_transactions_per_connection: 1_000,
            max_temp_destinations_per_connection: 1_000,
            max_producers_per_connection: 1_000,
            max_unacked_per_consumer: 10_000,
            max_non_persistent_bytes: 256 * 1024 * 1024,
        }
    }
}

impl LimitsConfig {
    /// Checks the limits, and that `stomp.default_prefetch` fits under
    /// `limits.max_unacked_per_consumer`.
    pub fn validate(&self, default_prefetch: usize) -> Result<(), ConfigError> {
        let positive = [
            ("limits.max_connections", self.max_connections as u64),
            (
                "limits.max_connections_per_address",
                self.max_connections_per_address as u64,
            ),
            (
                "limits.max_subscriptions_per_connection",
                self.max_subscriptions_per_connection as u64,
            ),
            (
                "limits.max_transactions_per_connection",
                self.max_transactions_per_connection as u64,
            ),
            (
                "limits.max_temp_destinations_per_connection",
                self.max_temp_destinations_per_connection as u64,
            ),
            (
                "limits.max_producers_per_connection",
                self.max_producers_per_connection as u64,
            ),
            (
                "limits.max_unacked_per_consumer",
                self.max_unacked_per_consumer as u64,
            ),
            (
                "limits.max_non_persistent_bytes",
                self.max_non_persistent_bytes,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_connections_per_address > self.max_connections {
            return Err(invalid(
                "limits.max_connections_per_address",
                format!(
                    "{} is more than limits.max_connections ({}); lower it or raise limits.max_connections",
                    self.max_connections_per_address, self.max_connections
                ),
            ));
        }
        if default_prefetch > self.max_unacked_per_consumer {
            return Err(invalid(
                "stomp.default_prefetch",
                format!(
                    "{default_prefetch} is more than limits.max_unacked_per_consumer ({}); lower it or raise the limit",
                    self.max_unacked_per_consumer
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_is_not() {
        assert!(LimitsConfig::default().validate(1000).is_ok());
        let e = LimitsConfig::default()
            .validate(10_001)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stomp.default_prefetch"), "{e}");
        let zero = LimitsConfig {
            max_unacked_per_consumer: 0,
            ..LimitsConfig::default()
        };
        let e = zero.validate(1).unwrap_err().to_string();
        assert!(e.contains("limits.max_unacked_per_consumer"), "{e}");
        let per_address = LimitsConfig {
            max_connections: 10,
            max_connections_per_address: 11,
            ..LimitsConfig::default()
        };
        let e = per_address.validate(1).unwrap_err().to_string();
        assert!(e.contains("limits.max_connections_per_address"), "{e}");
    }
}
