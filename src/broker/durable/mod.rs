//! Durable topic subscriptions: the facade (recovery from the store,
//! unsubscribe, admin removal) here, the state half in `state.rs`.

pub(super) mod state;

use super::{Broker, BrokerError, ConnId, DurableRecord};
use crate::message::Destination;
use crate::selector::Selector;
use crate::store::{MessageStore, StoreError};
use tokio::sync::oneshot;

impl Broker {
    /// Ends a durable subscription for good.
    pub fn unsubscribe_durable(
        &self,
        conn: ConnId,
        client_id: &str,
        name: &str,
    ) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        let r = self
            .lock()
            .unsubscribe_durable(conn, client_id, name, &mut ops);
        self.inner.store.push(ops);
        r
    }

    /// Removes a durable subscription nobody is attached to (admin).
    pub async fn remove_durable(&self, client_id: &str, name: &str) -> Result<(), BrokerError> {
        let mut ops = Vec::new();
        self.lock().remove_durable(client_id, name, &mut ops)?;
        let (tx, rx) = oneshot::channel();
        self.inner
            .store
            .submit(
                ops,
                Box::new(move |r| {
                    let _ = tx.send(r.map_err(BrokerError::from));
                }),
            )
            .await;
        rx.await.unwrap_or(Err(BrokerError::ShuttingDown))
    }
}

/// The durable subscriptions recorded in the store.
pub(super) async fn load_durables(
    store: &dyn MessageStore,
) -> Result<Vec<DurableRecord>, StoreError> {
    let mut out = Vec::new();
    for row in store.load_durables().await? {
        let selector = match row.selector.as_deref().map(Selector::parse).transpose() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    client_id = %row.client_id,
                    subscription = %row.subscription,
                    error = %e,
                    "ignoring a durable subscription with a bad selector"
                );
                continue;
            }
        };
        match Destination::parse(&row.destination) {
            Ok(destination) => out.push(DurableRecord {
                client_id: row.client_id,
                name: row.subscription,
                destination,
                selector,
                last_acked: row.last_acked_id,
            }),
            Err(e) => tracing::warn!(
                client_id = %row.client_id,
                subscription = %row.subscription,
                error = %e,
                "ignoring a durable subscription with a bad destination"
            ),
        }
    }
    Ok(out)
}
