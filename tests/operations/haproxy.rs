//! Load-balancer proof: HAProxy (Debian's package) in TCP mode on one port
//! in front of two nodes, health-checked with `option httpchk GET /role`.
//! Clients connect only through HAProxy; every connection lands on the
//! master; the master is killed and new connections reach the new master,
//! which delivers the persistent message sent before.

use crate::common;

use baton::client::Client;
use common::cluster::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `haproxy -db` (foreground), killed on drop.
struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// HAProxy's state of `server` ("UP", "DOWN", ...) from its stats socket.
    fn server_status(&self, server: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s =
            std::os::unix::net::UnixStream::connect(self.dir.path().join("admin.sock")).ok()?;
        s.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        s.read_to_string(&mut csv).ok()?;
        // pxname,svname,...; field 17 is status.
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == "baton" && f[1] == server)
            .map(|f| f[17].to_string())
    }

    /// Waits (guarded) until HAProxy sees `server` in `status`.
    async fn wait_status(&self, server: &str, status: &str) {
        guard(&format!("haproxy marks {server} {status}"), async {
            while self.server_status(server).as_deref() != Some(status) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().expect("port")
}

/// The configuration of docs/operations.md, "Load balancers", with short
/// check intervals.
fn start_haproxy(listen: &str, nodes: &[&Node]) -> Haproxy {
    let mut servers = String::new();
    for n in nodes {
        servers.push_str(&format!(
            "    server {} {} check port {}\n",
            n.name,
            n.stomp,
            port_of(&n.admin)
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("admin.sock");
    let config = format!(
        "global
    maxconn 1000
    stats socket {} mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 1m
    timeout server 1m

frontend stomp
    bind {listen}
    default_backend baton

backend baton
    option httpchk GET /role
    http-check expect status 200
    default-server inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions
{servers}",
        socket.display()
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let check = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&path)
        .output()
        .expect("haproxy (Debian package haproxy; scripts/test.sh installs it)");
    assert!(
        check.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    Haproxy { child, dir }
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
    haproxy.wait_status("lb-b", "DOWN").await;
    assert_eq!(haproxy.server_status("lb-a").as_deref(), Some("UP"));
    let mut first = connect_through(&proxy).await;
    for _ in 0..10 {
        let c = connect_through(&proxy).await;
        assert_eq!(served_by(&c), "lb-a");
    }
    assert_eq!(served_by(&first), "lb-a");
    send_persistent(&mut first, "/queue/lb", "sent before the failover").await;

    nodes[0].kill9();
    nodes[1].wait_role(Role::Master).await;
    haproxy.wait_status("lb-a", "DOWN").await;
    haproxy.wait_status("lb-b", "UP").await;
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
