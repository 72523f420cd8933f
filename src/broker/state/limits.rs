//! The limits a new subscription is held to:
//! `limits.max_subscriptions_per_connection` (refused) and
//! `limits.max_unacked_per_consumer` (its prefetch lowered).

use super::{ConnId, State};
use crate::broker::{BrokerError, SubscribeSpec};

impl State {
    /// Refuses a subscription over the connection's allowance, and caps
    /// its prefetch; each hit is counted.
    pub(super) fn within_limits(
        &self,
        conn: ConnId,
        spec: &mut SubscribeSpec,
    ) -> Result<(), BrokerError> {
        let Some(c) = self.connections.by_id.get(&conn) else {
            return Err(BrokerError::ShuttingDown);
        };
        let max_subs = self.config.max_subscriptions_per_connection;
        if c.subs.len() >= max_subs {
            crate::metrics::limit_hit("limits.max_subscriptions_per_connection");
            return Err(BrokerError::TooManySubscriptions(max_subs));
        }
        let max_unacked = self.config.max_unacked_per_consumer;
        if spec.prefetch > max_unacked {
            crate::metrics::limit_hit("limits.max_unacked_per_consumer");
            spec.prefetch = max_unacked;
        }
        Ok(())
    }
}
