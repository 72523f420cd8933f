//! Load-balancer proof: HAProxy (Debian's package) in TCP mode on one port
//! in front of two nodes, health-checked with `option httpchk GET /role`.
//! Clients connect only through HAProxy; every connection lands on the
//! master; the master is killed and new connections reach the new master,
//! which delivers the persistent message sent before.

use crate::common;

use baton::client::Client;
use common::cluster::*;
use common::haproxy::{Frontend, Haproxy};

/// The configuration of docs/operations.md, "Load balancers".
fn start_haproxy(listen: &str, nodes: &[&Node]) -> Haproxy {
    let stomp = Frontend {
        backend: "baton",
        listen,
        target: |n| &n.stomp,
    };
    Haproxy::start(&[stomp], nodes)
}

async fn connect_through(proxy: &str) -> Client {
    guard("connect", Client::connect(proxy))
        .await
        .expect("a connection through haproxy reaches the master")
}

/// The node id in the CONNECTED frame's `session` header.
fn served_by(c: &Client) -> String {
    let session = c.connected.header("session").expect("session header");
    session
        .rsplit_once('-')
        .map(|(node, _)| node.to_string())
        .expect("node-conn")
}

#[tokio::test]
async fn haproxy_follows_the_master() {
    let db = Db::postgres();
    let mut nodes = start_cluster(&db, &Settings::fast(None), &["lb-a", "lb-b"]).await;
    let proxy = format!("127.0.0.1:{}", free_port());
    let haproxy = start_haproxy(&proxy, &[&nodes[0], &nodes[1]]);

    // Every connection goes to the master, none to the slave (whose STOMP
    // port is closed): the health check took the slave out.
    haproxy.wait_status("baton", "lb-b", "DOWN").await;
    assert_eq!(
        haproxy.server_status("baton", "lb-a").as_deref(),
        Some("UP")
    );
    let mut first = connect_through(&proxy).await;
    for _ in 0..10 {
        let c = connect_through(&proxy).await;
        assert_eq!(served_by(&c), "lb-a");
    }
    assert_eq!(served_by(&first), "lb-a");
    send_persistent(&mut first, "/queue/lb", "sent before the failover").await;

    nodes[0].kill9();
    nodes[1].wait_role(Role::Master).await;
    haproxy.wait_status("baton", "lb-a", "DOWN").await;
    haproxy.wait_status("baton", "lb-b", "UP").await;
    let mut c = connect_through(&proxy).await;
    assert_eq!(served_by(&c), "lb-b");
    for _ in 0..10 {
        let other = connect_through(&proxy).await;
        assert_eq!(served_by(&other), "lb-b");
    }
    guard("subscribe", c.subscribe("/queue/lb", "1", "auto", &[]))
        .await
        .expect("subscribe");
    let m = guard("message", c.next_message()).await.expect("message");
    assert_eq!(&m.body[..], b"sent before the failover");
}
