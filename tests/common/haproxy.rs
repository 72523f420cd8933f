//! HAProxy (Debian's package) in TCP mode in front of a cluster's nodes,
//! health-checked on each node's `/role` as in docs/operations.md, "Load
//! balancers": one frontend and backend per messaging port.

use super::cluster::{guard, Node};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `haproxy -db` (foreground), killed on drop.
pub struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
}

/// One frontend: its backend's name, where HAProxy listens, and which
/// address of each node it forwards to.
pub struct Frontend<'a> {
    pub backend: &'static str,
    pub listen: &'a str,
    pub target: fn(&Node) -> &str,
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().expect("port")
}

impl Haproxy {
    /// The configuration of docs/operations.md with short check intervals.
    pub fn start(frontends: &[Frontend], nodes: &[&Node]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("admin.sock");
        let mut config = format!(
            "global
    maxconn 1000
    stats socket {} mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 1m
    timeout server 1m
",
            socket.display()
        );
        for f in frontends {
            config.push_str(&format!(
                "
frontend {name}-in
    bind {listen}
    default_backend {name}

backend {name}
    option httpchk GET /role
    http-check expect status 200
    default-server inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions
",
                name = f.backend,
                listen = f.listen
            ));
            for n in nodes {
                config.push_str(&format!(
                    "    server {} {} check port {}\n",
                    n.name,
                    (f.target)(n),
                    port_of(&n.admin)
                ));
            }
        }
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

    /// HAProxy's state of `server` in `backend` ("UP", "DOWN", ...) from
    /// its stats socket.
    pub fn server_status(&self, backend: &str, server: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s =
            std::os::unix::net::UnixStream::connect(self.dir.path().join("admin.sock")).ok()?;
        s.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        s.read_to_string(&mut csv).ok()?;
        // pxname,svname,...; field 17 is status.
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == backend && f[1] == server)
            .map(|f| f[17].to_string())
    }

    /// Waits (guarded) until HAProxy sees `server` of `backend` in `status`.
    pub async fn wait_status(&self, backend: &str, server: &str, status: &str) {
        guard(
            &format!("haproxy marks {backend}/{server} {status}"),
            async {
                while self.server_status(backend, server).as_deref() != Some(status) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        )
        .await
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
