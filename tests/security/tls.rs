//! TLS on the real binary, with certificates made at test time: the
//! project's client (plain and failover URLs) over `stomp+ssl://`, the CLI,
//! required client certificates, a wrong CA, the admin server over HTTPS,
//! and configuration errors that name the key at fault.

use crate::common;

use baton::client::{Client, ClientOptions, FailoverClient};
use common::certs::{arg, Ca, Leaf};
use common::cluster::{Db, Node, Role, Settings};
use common::Baton;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Guard against a hang (never a performance threshold).
const GUARD: Duration = Duration::from_secs(30);

struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Leaf,
    client: Leaf,
    /// A second CA that signed nothing the broker trusts.
    other: Ca,
    other_client: Leaf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "test");
    let server = ca.server(dir.path(), "server");
    let client = ca.client(dir.path(), "client");
    let other = Ca::new(dir.path(), "other");
    let other_client = other.client(dir.path(), "intruder");
    Pki {
        dir,
        ca,
        server,
        client,
        other,
        other_client,
    }
}

fn stomp_tls_flags(p: &Pki, client_ca: bool) -> Vec<String> {
    let mut flags = vec![
        "--stomp-tls-cert".to_string(),
        arg(&p.server.cert),
        "--stomp-tls-key".into(),
        arg(&p.server.key),
    ];
    if client_ca {
        flags.extend(["--stomp-tls-client-ca".to_string(), arg(&p.ca.pem)]);
    }
    flags
}

fn start(flags: &[String]) -> Baton {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Baton::start_with(&flags)
}

fn options(ca: &Path, identity: Option<&Leaf>) -> ClientOptions {
    ClientOptions {
        tls_ca: Some(ca.to_path_buf()),
        tls_cert: identity.map(|l| l.cert.clone()),
        tls_key: identity.map(|l| l.key.clone()),
        heartbeat_ms: 0,
        ..ClientOptions::default()
    }
}

/// Sends one persistent message through `url` and receives it back.
async fn round_trip(url: &str, options: ClientOptions, queue: &str) {
    let mut client = timeout(GUARD, FailoverClient::connect(url, options))
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    client
        .send(queue, "secret", &[("persistent", "true")])
        .await
        .expect("persistent send confirmed");
    client
        .subscribe(queue, "s", "client-individual", &[])
        .await
        .expect("subscribe");
    let m = timeout(GUARD, client.next_message())
        .await
        .expect("message in time")
        .expect("a message");
    assert_eq!(m.body(), b"secret");
    client.ack(&m, false).await.expect("ack");
    client.close().await.expect("close");
}

#[tokio::test]
async fn stomp_ssl_round_trip_with_project_client_and_failover_url() {
    let p = pki();
    let b = start(&stomp_tls_flags(&p, false));
    let plain = format!("stomp+ssl://{}", b.stomp);
    round_trip(&plain, options(&p.ca.pem, None), "/queue/tls.plain").await;
    let by_name = plain.replace("127.0.0.1", "localhost");
    round_trip(&by_name, options(&p.ca.pem, None), "/queue/tls.name").await;
    let failover = format!("failover:({plain})?initialReconnectDelay=10&maxReconnectAttempts=3");
    round_trip(&failover, options(&p.ca.pem, None), "/queue/tls.failover").await;

    assert!(b.log_contains("\"tls\":true"), "{}", b.log_text());

    // A plain-text client gets no CONNECTED from a TLS port.
    let plain_tcp = timeout(GUARD, Client::connect(&b.stomp))
        .await
        .expect("answer in time")
        .err()
        .expect("plain STOMP refused")
        .to_string();
    assert!(plain_tcp.contains("use stomp+ssl://"), "{plain_tcp}");
}

#[tokio::test]
async fn failover_client_over_stomp_ssl_survives_kill9_of_the_master() {
    let p = pki();
    let db = Db::sqlite();
    let mut settings = Settings::fast(None);
    settings.extra = stomp_tls_flags(&p, true);
    // Not cluster::start_cluster: its checks speak plain STOMP.
    let a = Node::start("a", &db.url(), &settings);
    a.wait_role(Role::Master).await;
    let b = Node::start("b", &db.url(), &settings);
    b.wait_log("slave: waiting for the master lock", 1).await;
    let mut nodes = [a, b];
    let url = format!(
        "failover:(stomp+ssl://{},stomp+ssl://{})?initialReconnectDelay=10&maxReconnectDelay=100&randomize=false",
        nodes[0].stomp, nodes[1].stomp
    );
    let queue = "/queue/tls.ha";
    let mut client = timeout(
        GUARD,
        FailoverClient::connect(&url, options(&p.ca.pem, Some(&p.client))),
    )
    .await
    .expect("connect in time")
    .expect("connect over TLS");
    let persistent = [("persistent", "true")];
    client
        .send(queue, "before", &persistent)
        .await
        .expect("first send");
    nodes[0].kill9();
    timeout(GUARD, client.send(queue, "after", &persistent))
        .await
        .expect("send through the failover in time")
        .expect("send confirmed by the new master");
    assert_eq!(nodes[1].role(), Role::Master);
    assert!(client.failovers() >= 1);
    client
        .subscribe(queue, "s", "client-individual", &[])
        .await
        .expect("subscribe");
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let m = timeout(GUARD, client.next_message())
            .await
            .expect("message in time")
            .expect("a message");
        bodies.push(String::from_utf8_lossy(m.body()).to_string());
        client.ack(&m, false).await.expect("ack");
    }
    assert_eq!(bodies, ["before", "after"]);
    client.close().await.expect("close");
}

#[tokio::test]
async fn wrong_ca_fails_with_a_clear_error() {
    let p = pki();
    let b = start(&stomp_tls_flags(&p, false));
    let url = format!("stomp+ssl://{}", b.stomp);
    let err = FailoverClient::connect(&url, options(&p.other.pem, None))
        .await
        .err()
        .expect("untrusted broker certificate refused");
    let text = err.to_string();
    assert!(text.contains("TLS handshake with"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn required_client_certificate() {
    let p = pki();
    let b = start(&stomp_tls_flags(&p, true));
    let url = format!("stomp+ssl://{}", b.stomp);
    round_trip(&url, options(&p.ca.pem, Some(&p.client)), "/queue/tls.mtls").await;

    let anonymous = FailoverClient::connect(&url, options(&p.ca.pem, None))
        .await
        .err()
        .expect("no client certificate: refused")
        .to_string();
    assert!(anonymous.contains("CertificateRequired"), "{anonymous}");
    let foreign = FailoverClient::connect(&url, options(&p.ca.pem, Some(&p.other_client))).await;
    assert!(foreign.is_err(), "certificate of another CA: refused");
    assert!(b.log_contains("TLS handshake failed"), "{}", b.log_text());
}

/// GET over HTTPS with the test's own rustls client; (status line, body).
async fn https_get(
    addr: &str,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn admin_over_https_with_client_certificates() {
    let p = pki();
    let flags = [
        "--admin-tls-cert".to_string(),
        arg(&p.server.cert),
        "--admin-tls-key".into(),
        arg(&p.server.key),
        "--admin-tls-client-ca".into(),
        arg(&p.ca.pem),
    ];
    let b = start(&flags);
    let with_cert =
        baton::tls::client_config(Some(&p.ca.pem), Some((&p.client.cert, &p.client.key)))
            .expect("client config");
    let response = timeout(GUARD, https_get(&b.admin, "/role", with_cert))
        .await
        .expect("in time")
        .expect("HTTPS GET /role");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("master\n"), "{response}");

    let without = baton::tls::client_config(Some(&p.ca.pem), None).expect("client config");
    let refused = timeout(GUARD, https_get(&b.admin, "/role", without))
        .await
        .expect("in time");
    assert!(refused.is_err(), "no client certificate: {refused:?}");

    // Plain HTTP on the HTTPS port gets no answer.
    let (code, _) = http_status_plain(&b.admin);
    assert_eq!(code, None);
}

/// A plain HTTP request; the status code if one came back.
fn http_status_plain(addr: &str) -> (Option<u16>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(GUARD)).expect("timeout");
    let _ = s.write_all(b"GET /role HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    (code, text)
}

#[test]
fn cli_send_and_receive_over_stomp_ssl() {
    let p = pki();
    let b = start(&stomp_tls_flags(&p, true));
    let url = format!("stomp+ssl://{}", b.stomp);
    let tls = [
        "--url".to_string(),
        url,
        "--tls-ca".into(),
        arg(&p.ca.pem),
        "--tls-cert".into(),
        arg(&p.client.cert),
        "--tls-key".into(),
        arg(&p.client.key),
    ];
    let send = Command::new(common::BIN)
        .args(["send", "-d", "/queue/tls.cli", "--persistent", "over-tls"])
        .args(&tls)
        .env_clear()
        .output()
        .expect("run baton send");
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    let receive = Command::new(common::BIN)
        .args(["receive", "-d", "/queue/tls.cli", "--count", "1"])
        .args(&tls)
        .env_clear()
        .output()
        .expect("run baton receive");
    assert!(
        receive.status.success(),
        "{}",
        String::from_utf8_lossy(&receive.stderr)
    );
    assert!(String::from_utf8_lossy(&receive.stdout).contains("over-tls"));
}

/// Runs `baton serve` with `flags`; it must exit non-zero in time. Returns stderr.
fn refused_config(dir: &Path, flags: &[String]) -> String {
    let mut child = Command::new(common::BIN)
        .args([
            "serve",
            "--stomp-listen",
            "127.0.0.1:0",
            "--openwire-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--database-url")
        .arg(format!("sqlite:{}/baton.db", dir.display()))
        .args(flags)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success());
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("baton started with a bad TLS configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    err
}

#[test]
fn bad_tls_configuration_names_the_key() {
    let p = pki();
    let dir = p.dir.path();
    let s = |x: &str| x.to_string();
    let cert_only = refused_config(dir, &[s("--stomp-tls-cert"), arg(&p.server.cert)]);
    assert!(cert_only.contains("stomp.tls_key"), "{cert_only}");

    let missing = dir.join("nope.pem");
    let no_file = refused_config(
        dir,
        &[
            s("--admin-tls-cert"),
            arg(&missing),
            s("--admin-tls-key"),
            arg(&p.server.key),
        ],
    );
    assert!(
        no_file.contains("admin.tls_cert") && no_file.contains("nope.pem"),
        "{no_file}"
    );

    let not_a_key = refused_config(
        dir,
        &[
            s("--stomp-tls-cert"),
            arg(&p.server.cert),
            s("--stomp-tls-key"),
            arg(&p.server.cert),
        ],
    );
    assert!(not_a_key.contains("stomp.tls_key"), "{not_a_key}");

    let wrong_key = refused_config(
        dir,
        &[
            s("--stomp-tls-cert"),
            arg(&p.server.cert),
            s("--stomp-tls-key"),
            arg(&p.client.key),
        ],
    );
    assert!(wrong_key.contains("stomp.tls_key"), "{wrong_key}");

    let ca_alone = refused_config(dir, &[s("--stomp-tls-client-ca"), arg(&p.ca.pem)]);
    assert!(ca_alone.contains("stomp.tls_client_ca"), "{ca_alone}");
}

/// One STOMP session over TLS with the test's own rustls client: CONNECT,
/// DISCONNECT with a receipt, then everything the broker sends until it
/// closes. Returns the bytes and how the handshake went.
async fn stomp_tls_session(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> (std::io::Result<String>, Option<rustls::HandshakeKind>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let kind = tls.get_ref().1.handshake_kind();
    tls.write_all(
        b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0DISCONNECT\nreceipt:bye\n\n\0",
    )
    .await
    .expect("write");
    let mut text = String::new();
    let read = tls.read_to_string(&mut text).await.map(|_| text);
    (read, kind)
}

/// The broker ends a TLS connection with close_notify (a client can tell a
/// complete close from a cut one) and sends no TLS 1.3 session tickets
/// (docs/security.md, "TLS"), so a second connection makes a full handshake.
#[tokio::test]
async fn stomp_tls_close_is_clean_and_sessions_are_not_resumed() {
    let p = pki();
    let b = start(&stomp_tls_flags(&p, false));
    let config = baton::tls::client_config(Some(&p.ca.pem), None).expect("client config");
    for round in 0..2 {
        let (read, kind) = timeout(GUARD, stomp_tls_session(&b.stomp, config.clone()))
            .await
            .expect("in time");
        let text = read.unwrap_or_else(|e| panic!("round {round}: unclean close: {e}"));
        assert!(text.starts_with("CONNECTED\n"), "{text}");
        assert!(text.contains("RECEIPT\nreceipt-id:bye\n"), "{text}");
        assert_eq!(kind, Some(rustls::HandshakeKind::Full), "round {round}");
    }
}

#[tokio::test]
async fn websocket_over_tls_with_the_stomp_certificate() {
    use common::websocket::open_over;
    let p = pki();
    let b = start(&stomp_tls_flags(&p, true));
    let addr = b.websocket();
    let port = addr.rsplit(':').next().expect("port");
    let connect = |identity: Option<&Leaf>| {
        let config = baton::tls::client_config(
            Some(&p.ca.pem),
            identity.map(|l| (l.cert.as_path(), l.key.as_path())),
        )
        .expect("client config");
        let addr = addr.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
        }
    };
    // wss:// with a client certificate signed by stomp.tls_client_ca.
    let tls = timeout(GUARD, connect(Some(&p.client)))
        .await
        .expect("in time")
        .expect("TLS handshake");
    let mut ws = timeout(
        GUARD,
        open_over(
            tls,
            &format!("wss://localhost:{port}/stomp"),
            &[("sec-websocket-protocol", "v12.stomp")],
        ),
    )
    .await
    .expect("in time")
    .expect("upgrade over TLS");
    ws.send("CONNECT", &[("accept-version", "1.2")], "").await;
    assert_eq!(
        ws.frame().await.command,
        baton::stomp::frame::Command::Connected
    );
    assert!(b.log_contains("\"message\":\"websocket listener bound\""));

    // Without a client certificate the TLS handshake fails (TLS 1.3 may
    // report it only on the first read); plain ws:// gets no upgrade.
    let refused = match timeout(GUARD, connect(None)).await.expect("in time") {
        Err(_) => true,
        Ok(tls) => timeout(
            GUARD,
            open_over(tls, &format!("wss://localhost:{port}/"), &[]),
        )
        .await
        .expect("in time")
        .is_err(),
    };
    assert!(refused, "wss:// without a client certificate");
    let plain = timeout(GUARD, common::websocket::open(&addr, "/", &[]))
        .await
        .expect("in time");
    assert!(plain.is_err(), "plain ws:// on the TLS port");
}
