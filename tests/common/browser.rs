//! Debian's headless Chromium driven over WebDriver (chromedriver,
//! fantoccini): the dashboard test and the `@stomp/stompjs` test.

use super::cluster::guard;
use super::testdb::free_port;
use fantoccini::{Client, ClientBuilder};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on an ephemeral port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver; scripts/test.sh installs it)");
        let addr = format!("127.0.0.1:{port}");
        guard("chromedriver listening", async {
            while TcpStream::connect(&addr).is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        Driver {
            child,
            url: format!("http://{addr}"),
        }
    }

    pub async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1366,900"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
