//! The chaos soak's cluster and the faults injected into its master: three
//! nodes, each reaching the database through its own test proxy, so that
//! "cut the master's database connection" is pausing that node's proxy.

use crate::common::cluster::{self, Db, Node, Role, Settings, GUARD};
use crate::common::proxy::Proxy;
use std::time::Instant;

/// What the driver does to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9; the node is restarted once another one took over.
    Kill9,
    /// SIGTERM (graceful handover); restarted afterwards.
    Terminate,
    /// Silent partition between the master and the database until another
    /// node took over; then healed (and the node restarted if it exited).
    CutDatabase,
}

/// The faults, in the order the driver cycles through them.
pub const CYCLE: [Fault; 3] = [Fault::Kill9, Fault::Terminate, Fault::CutDatabase];

pub struct Cluster {
    pub nodes: Vec<Node>,
    proxies: Vec<Proxy>,
}

impl Cluster {
    /// Node "a" becomes master, then "b" and "c" join as slaves.
    pub async fn start(db: &Db, settings: &Settings) -> Cluster {
        let mut nodes = Vec::new();
        let mut proxies = Vec::new();
        for name in ["a", "b", "c"] {
            let proxy = Proxy::start(&db.addr());
            let node = Node::start(name, &db.url_via(&proxy.addr()), settings);
            if nodes.is_empty() {
                node.wait_role(Role::Master).await;
            } else {
                node.wait_log("slave: waiting for the master lock", 1).await;
            }
            nodes.push(node);
            proxies.push(proxy);
        }
        cluster::assert_single_master(db, &nodes, 0).await;
        Cluster { nodes, proxies }
    }

    /// A failover URL over every node, tried in order.
    pub fn failover_url(&self) -> String {
        let list: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("tcp://{}", n.stomp))
            .collect();
        format!(
            "failover:({})?initialReconnectDelay=10&maxReconnectDelay=200&randomize=false",
            list.join(",")
        )
    }

    /// Injects `fault` into the current master, waits until another node
    /// is master, and brings the old master back as a slave. Returns the
    /// old and the new master's names.
    pub async fn inject(&mut self, fault: Fault) -> (String, String) {
        let m = cluster::wait_master(&self.nodes).await;
        match fault {
            Fault::Kill9 => self.nodes[m].kill9(),
            Fault::Terminate => {
                self.nodes[m].terminate();
            }
            Fault::CutDatabase => {
                let before = self.nodes[m].log_count("demoted");
                self.proxies[m].pause();
                self.nodes[m].wait_log("demoted", before + 1).await;
            }
        }
        let next = self.wait_other_master(m).await;
        if fault == Fault::CutDatabase {
            self.proxies[m].resume();
        }
        if !self.nodes[m].is_running() {
            self.nodes[m].restart();
        }
        self.nodes[m].wait_role(Role::Slave).await;
        (self.nodes[m].name.clone(), self.nodes[next].name.clone())
    }

    /// Waits (guarded) until a node other than `old` says master.
    async fn wait_other_master(&self, old: usize) -> usize {
        let deadline = Instant::now() + GUARD;
        loop {
            let found =
                (0..self.nodes.len()).find(|&i| i != old && self.nodes[i].role() == Role::Master);
            if let Some(i) = found {
                return i;
            }
            if Instant::now() > deadline {
                panic!(
                    "no node took over from {} after the fault",
                    self.nodes[old].name
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
