//! What this node is now: its identity, its role and, while it is master,
//! the current term's broker. Written by the node's lifecycle (`node.rs`),
//! read by the admin server (`admin/`), which therefore never depends on
//! `node`.

use crate::broker::Broker;
use crate::store::Store;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// What this node is now, shared with the admin server.
pub struct NodeStatus {
    pub node_id: String,
    pub stomp_addr: String,
    pub admin_addr: String,
    /// Unix ms when the process started.
    pub started_at: i64,
    /// Epoch of the current term as master; 0 while slave.
    epoch: AtomicI64,
    store: OnceLock<Arc<dyn Store>>,
    /// The broker of the current term (master only).
    broker: Mutex<Option<Broker>>,
}

impl NodeStatus {
    /// A slave that has not opened its store yet.
    pub fn new(node_id: String, stomp_addr: String, admin_addr: String) -> NodeStatus {
        NodeStatus {
            node_id,
            stomp_addr,
            admin_addr,
            started_at: crate::message::now_ms(),
            epoch: AtomicI64::new(0),
            store: OnceLock::new(),
            broker: Mutex::new(None),
        }
    }

    pub fn is_master(&self) -> bool {
        self.epoch() > 0
    }

    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn role(&self) -> &'static str {
        if self.is_master() {
            "master"
        } else {
            "slave"
        }
    }

    /// The store, once it is open.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store.get()
    }

    /// Records the opened store (the first one wins).
    pub fn set_store(&self, store: Arc<dyn Store>) {
        let _ = self.store.set(store);
    }

    /// The broker while this node is master.
    pub fn broker(&self) -> Option<Broker> {
        self.broker.lock().ok().and_then(|b| b.clone())
    }

    /// This node became master for `epoch`, serving with `broker`.
    pub fn begin_term(&self, epoch: i64, broker: Broker) {
        self.set_broker(Some(broker));
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The term is over: `/role` answers `slave` from now on.
    pub fn end_term(&self) {
        self.epoch.store(0, Ordering::SeqCst);
        self.set_broker(None);
    }

    fn set_broker(&self, broker: Option<Broker>) {
        if let Ok(mut b) = self.broker.lock() {
            *b = broker;
        }
    }
}
