//! What the broker hands to one connection: deliveries waiting to be
//! written, and a request to close. Bounded by the subscriptions' prefetch
//! windows (the broker never hands out more than a subscription may hold).

use crate::broker::AckMode;
use crate::message::Message;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Notify;

/// One message for one subscription of the connection.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subscription: Arc<str>,
    pub ack: AckMode,
    pub message: Message,
}

#[derive(Default)]
struct Inner {
    deliveries: VecDeque<Delivery>,
    close: Option<String>,
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Stomp,
    OpenWire,
    WebSocket,
}

impl Protocol {
    /// The name the admin views show: `stomp`, `openwire`, `websocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Stomp => "stomp",
            Protocol::OpenWire => "openwire",
            Protocol::WebSocket => "websocket",
        }
    }
}

/// Who is on the other end of a connection, for admin views.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub peer: String,
    pub protocol: Protocol,
    /// The version the connection negotiated (STOMP `1.2`, OpenWire `12`).
    pub version: String,
    /// The client id it gave (STOMP `client-id`, the JMS connection's
    /// client id), if any.
    pub client_id: Option<String>,
    /// Unix ms.
    pub connected_at: i64,
}

/// Shared between the broker core (producer side) and the connection task.
#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    meta: OnceLock<ConnMeta>,
}

impl Outbox {
    /// Records who the connection is (once, after CONNECT).
    pub fn describe(&self, meta: ConnMeta) {
        let _ = self.meta.set(meta);
    }

    pub fn meta(&self) -> Option<&ConnMeta> {
        self.meta.get()
    }

    pub fn push(&self, d: Delivery) {
        if let Ok(mut i) = self.inner.lock() {
            i.deliveries.push_back(d);
        }
        self.notify.notify_one();
    }

    /// Asks the connection to close with an ERROR carrying `reason`.
    pub fn close(&self, reason: String) {
        if let Ok(mut i) = self.inner.lock() {
            i.close.get_or_insert(reason);
        }
        self.notify.notify_one();
    }

    /// Takes up to `max` deliveries and any close request.
    pub fn take(&self, max: usize) -> (Vec<Delivery>, Option<String>) {
        match self.inner.lock() {
            Ok(mut i) => {
                let n = i.deliveries.len().min(max);
                (i.deliveries.drain(..n).collect(), i.close.take())
            }
            Err(_) => (Vec::new(), Some("internal error".to_string())),
        }
    }

    /// Takes the deliveries of one subscription that were never written.
    pub fn remove_for(&self, subscription: &str) -> Vec<Delivery> {
        let Ok(mut i) = self.inner.lock() else {
            return Vec::new();
        };
        let (gone, keep): (Vec<Delivery>, Vec<Delivery>) = std::mem::take(&mut i.deliveries)
            .into_iter()
            .partition(|d| &*d.subscription == subscription);
        i.deliveries = keep.into();
        gone
    }

    /// Resolves when something was pushed or a close was requested.
    pub async fn ready(&self) {
        self.notify.notified().await
    }
}
