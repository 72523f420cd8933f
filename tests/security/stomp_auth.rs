//! Authentication and authorization on the STOMP port: `login`/`passcode`
//! against `[[auth.users]]`, anonymous access per `auth.anonymous`, and the
//! per-destination permission map for SEND and SUBSCRIBE, against the real
//! binary with a config file.

use crate::common;

use baton::client::{Client, ClientError};
use common::http::Http;
use common::stomp::{guard, next, send, subscribe};
use common::Baton;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Node {
    b: Baton,
    _dir: tempfile::TempDir,
}

/// A broker whose config file has users `app` (role producers: read and
/// write below /queue/orders, read below /topic/prices), `reader` (read
/// on /queue/orders.* only) and `ops` (admin on everything), and lets role
/// `anonymous` use /queue/public.
fn start(extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baton.toml");
    let hash = |pw: &str| baton::auth::hash_password(pw).expect("hash");
    let config = format!(
        r#"
[[auth.users]]
name = "app"
password_hash = "{}"
roles = ["producers"]

[[auth.users]]
name = "reader"
password_hash = "{}"
roles = ["readers"]

[[auth.users]]
name = "ops"
password_hash = "{}"

[[auth.permissions]]
user = "ops"
destinations = ">"
allow = ["admin"]

[[auth.permissions]]
role = "producers"
destinations = "/queue/orders.>"
allow = ["read", "write"]

[[auth.permissions]]
role = "producers"
destinations = "/topic/prices.>"
allow = ["read"]

[[auth.permissions]]
role = "readers"
destinations = "/queue/orders.*"
allow = ["read"]

[[auth.permissions]]
role = "anonymous"
destinations = "/queue/public"
allow = ["read", "write"]
"#,
        hash("app-secret"),
        hash("reader-secret"),
        hash("ops-secret"),
    );
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("write config");
    let mut args = vec!["--config", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    Node {
        b: Baton::start_with(&args),
        _dir: dir,
    }
}

async fn login(b: &Baton, user: &str, pass: &str) -> Result<Client, ClientError> {
    guard(
        "connect",
        Client::connect_with(&b.stomp, &[("login", user), ("passcode", pass)]),
    )
    .await
}

async fn anonymous(b: &Baton) -> Result<Client, ClientError> {
    guard("connect", Client::connect(&b.stomp)).await
}

/// The text of a refusal; panics on success.
fn refusal<T>(r: Result<T, ClientError>) -> String {
    match r {
        Ok(_) => panic!("expected an ERROR, got success"),
        Err(ClientError::Refused(text)) => text,
        Err(e) => panic!("expected an ERROR frame, got {e}"),
    }
}

/// The value of an unlabelled counter on `/metrics`.
fn metric(b: &Baton, name: &str) -> f64 {
    let text = Http::anonymous(&b.admin).get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_checked_and_failures_logged_counted_and_slowed() {
    let n = start(&[]);
    let b = &n.b;
    let mut app = login(b, "app", "app-secret").await.expect("good login");
    send(&mut app, "/queue/orders.eu", "one", &[]).await;

    let unknown = refusal(login(b, "nobody", "app-secret").await);
    let wrong = refusal(login(b, "app", "wrong-secret").await);
    assert!(unknown.starts_with("authentication failed"), "{unknown}");
    // The same answer either way: nothing tells which part was wrong.
    assert_eq!(unknown, wrong);
    assert!(
        !wrong.contains("password") && !wrong.contains("app"),
        "{wrong}"
    );
    assert_eq!(metric(b, "baton_stomp_auth_failures_total"), 2.0);
    let log = b.log_text();
    assert!(log.contains("login failed"), "{log}");
    assert!(log.contains("\"peer\":\"127.0.0.1:"), "{log}");
    assert!(!log.contains("wrong-secret"), "the passcode was logged");

    // Two consecutive failures from this address so far: the next tries
    // (good or bad) wait first; success resets the count.
    assert_eq!(metric(b, "baton_stomp_auth_delayed_total"), 1.0);
    refusal(login(b, "app", "again-wrong").await);
    assert_eq!(metric(b, "baton_stomp_auth_delayed_total"), 2.0);
    assert!(b.log_contains("delaying a login after repeated failures"));
    login(b, "app", "app-secret")
        .await
        .expect("good login after failures");
    assert_eq!(metric(b, "baton_stomp_auth_delayed_total"), 3.0);
    refusal(login(b, "app", "wrong-once-more").await);
    assert_eq!(metric(b, "baton_stomp_auth_delayed_total"), 3.0);
    assert_eq!(metric(b, "baton_stomp_auth_failures_total"), 4.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_on_loopback_gets_role_anonymous_only() {
    let n = start(&[]);
    let b = &n.b;
    let mut anon = anonymous(b).await.expect("anonymous on loopback");
    send(&mut anon, "/queue/public", "hi", &[]).await;
    subscribe(&mut anon, "/queue/public", "s", "auto", &[]).await;
    assert_eq!(common::stomp::body(&next(&mut anon).await), "hi");
    let e = refusal(guard("send", anon.send("/queue/orders.x", "no".to_string(), &[])).await);
    assert!(
        e.contains("user 'anonymous' lacks write permission on /queue/orders.x"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_refused_when_switched_off() {
    let n = start(&["--auth-anonymous", "false"]);
    let b = &n.b;
    let e = refusal(anonymous(b).await);
    assert!(e.contains("requires login and passcode"), "{e}");
    assert_eq!(metric(b, "baton_stomp_auth_failures_total"), 1.0);
    login(b, "ops", "ops-secret")
        .await
        .expect("login still works");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_loopback_listener_refuses_anonymous_unless_allowed() {
    let n = start(&["--stomp-listen", "0.0.0.0:0"]);
    assert!(n.b.stomp.starts_with("0.0.0.0:"), "{}", n.b.stomp);
    let e = refusal(anonymous(&n.b).await);
    assert!(e.contains("requires login and passcode"), "{e}");
    login(&n.b, "app", "app-secret").await.expect("login");

    let n = start(&["--stomp-listen", "0.0.0.0:0", "--auth-anonymous", "allow"]);
    let mut anon = anonymous(&n.b).await.expect("explicitly allowed");
    send(&mut anon, "/queue/public", "hi", &[]).await;
}

/// User, command, destination, extra headers, expected ERROR text.
type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_send_and_subscribe_name_destination_and_permission() {
    let n = start(&[]);
    let b = &n.b;
    let cases: [Case; 5] = [
        (
            "app",
            "SEND",
            "/queue/other",
            &[],
            "user 'app' lacks write permission on /queue/other",
        ),
        (
            "app",
            "SUBSCRIBE",
            "/queue/other",
            &[],
            "user 'app' lacks read permission on /queue/other",
        ),
        (
            "app",
            "SUBSCRIBE",
            "/queue/other",
            &[("browser", "true")],
            "user 'app' lacks read permission on /queue/other",
        ),
        (
            "app",
            "SEND",
            "/topic/prices.eur",
            &[],
            "user 'app' lacks write permission on /topic/prices.eur",
        ),
        (
            "reader",
            "SEND",
            "/queue/orders.eu",
            &[],
            "user 'reader' lacks write permission on /queue/orders.eu",
        ),
    ];
    for (user, command, dest, headers, expected) in cases {
        let mut c = login(b, user, &format!("{user}-secret"))
            .await
            .expect("login");
        let r = match command {
            "SEND" => guard("send", c.send(dest, "x".to_string(), headers)).await,
            _ => guard("subscribe", c.subscribe(dest, "s", "auto", headers)).await,
        };
        let e = refusal(r);
        assert!(e.starts_with("not authorized"), "{e}");
        assert!(e.contains(expected), "{command} {dest}: {e}");
    }

    // A composite destination is checked part by part, before anything
    // is sent.
    let mut app = login(b, "app", "app-secret").await.expect("login");
    let e = refusal(
        guard(
            "send",
            app.send("/queue/orders.a,other", "x".to_string(), &[]),
        )
        .await,
    );
    assert!(e.contains("lacks write permission on /queue/other"), "{e}");
    let mut app = login(b, "app", "app-secret").await.expect("login");
    send(&mut app, "/queue/orders.a,/queue/orders.b", "both", &[]).await;
    send(&mut app, "/queue/orders.a", "after", &[]).await;
    subscribe(&mut app, "/queue/orders.a", "a", "auto", &[]).await;
    assert_eq!(common::stomp::body(&next(&mut app).await), "both");
    assert_eq!(common::stomp::body(&next(&mut app).await), "after");
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_permissions_and_temporary_destinations() {
    let n = start(&[]);
    let b = &n.b;
    let mut app = login(b, "app", "app-secret").await.expect("login");
    subscribe(&mut app, "/topic/prices.*", "a", "auto", &[]).await;
    subscribe(&mut app, "/topic/prices.eur.>", "b", "auto", &[]).await;
    let e = refusal(guard("subscribe", app.subscribe("/topic/>", "c", "auto", &[])).await);
    assert!(
        e.contains("user 'app' lacks read permission on /topic/>"),
        "{e}"
    );

    // read on /queue/orders.* covers one level: not the wider pattern.
    let mut reader = login(b, "reader", "reader-secret").await.expect("login");
    subscribe(&mut reader, "/queue/orders.*", "a", "auto", &[]).await;
    subscribe(&mut reader, "/queue/orders.eu", "b", "auto", &[]).await;
    let e = refusal(
        guard(
            "subscribe",
            reader.subscribe("/queue/orders.>", "c", "auto", &[]),
        )
        .await,
    );
    assert!(
        e.contains("user 'reader' lacks read permission on /queue/orders.>"),
        "{e}"
    );

    // Its own temporary queue needs no permission entry.
    let mut reader = login(b, "reader", "reader-secret").await.expect("login");
    subscribe(&mut reader, "/temp-queue/replies", "t", "auto", &[]).await;
    send(&mut reader, "/temp-queue/replies", "to myself", &[]).await;
    assert_eq!(common::stomp::body(&next(&mut reader).await), "to myself");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_users_the_generated_admin_logs_in() {
    let b = Baton::start();
    let lines: Vec<String> = b.log_text().lines().map(str::to_string).collect();
    let password = lines
        .iter()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["fields"]["password"].as_str().map(str::to_string)
        })
        .expect("generated password in the log");
    let mut c = login(&b, "admin", &password)
        .await
        .expect("generated admin");
    send(&mut c, "/queue/anything", "x", &[]).await;
    refusal(login(&b, "admin", "not-it").await);
    // Anonymous on loopback, with no permission entries: everything.
    let mut anon = anonymous(&b).await.expect("anonymous");
    send(&mut anon, "/topic/anything", "x", &[]).await;
    // Other logins are anonymous while no users are configured.
    let mut guest = login(&b, "guest", "guest").await.expect("guest");
    send(&mut guest, "/queue/anything", "x", &[]).await;

    // Unless anonymous access is off: then only the generated admin.
    let b = Baton::start_with(&["--auth-anonymous", "deny"]);
    let e = refusal(login(&b, "guest", "guest").await);
    assert!(e.starts_with("authentication failed"), "{e}");
}

/// The Python with stomp.py: `STOMP_PY_PYTHON`, else the repo's `.venv`.
fn python() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = std::env::var_os("STOMP_PY_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with stomp.py at {}: run python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt (scripts/test.sh does this)",
        p.display()
    );
    p
}

#[test]
fn stomp_py_logs_in() {
    let n = start(&["--auth-anonymous", "deny"]);
    let (host, port) = n.b.stomp.rsplit_once(':').expect("host:port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/stomp_py_auth.py");
    let out = Command::new(python())
        .arg(&script)
        .args([host, port])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run stomp_py_auth.py");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{text}\nbroker log:\n{}",
        n.b.log_text()
    );
    assert!(text.contains("OK"), "{text}");
}

/// `baton send` through a failover URL that would retry forever: a wrong
/// passcode ends it at once with the broker's answer (exit 1), a right
/// one sends.
#[test]
fn cli_login_through_a_failover_url() {
    let n = start(&["--auth-anonymous", "deny"]);
    let url = format!(
        "failover:(tcp://{})?maxReconnectAttempts=-1&startupMaxReconnectAttempts=-1",
        n.b.stomp
    );
    let send = |pass: &str| {
        let mut child = Command::new(common::BIN)
            .args(["send", "--url", &url, "-d", "/queue/orders.cli"])
            .args(["--login", "app", "--passcode", pass, "hello"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton send");
        let deadline = std::time::Instant::now() + common::stomp::GUARD * 3;
        loop {
            if child.try_wait().expect("wait").is_some() {
                break child.wait_with_output().expect("output");
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                panic!("baton send did not exit: it keeps retrying a refused login");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let out = send("wrong");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    let out = send("app-secret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CONNECT over WebSocket with these headers: the answer's command and
/// `message` header, and the open connection.
async fn websocket_connect(
    addr: &str,
    headers: &[(&str, &str)],
) -> (
    common::websocket::Ws<tokio::net::TcpStream>,
    baton::stomp::frame::Frame,
) {
    let mut ws = common::websocket::open(addr, "/", &[])
        .await
        .expect("upgrade");
    let mut all = vec![("accept-version", "1.2")];
    all.extend_from_slice(headers);
    ws.send("CONNECT", &all, "").await;
    let answer = ws.frame().await;
    (ws, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_has_the_same_logins_and_permissions() {
    use baton::stomp::frame::Command;
    // WebSocket on every interface: anonymous clients are refused (on
    // every messaging port, as auth.anonymous = auto wants every one on
    // loopback).
    let n = start(&["--websocket-listen", "0.0.0.0:0"]);
    let addr = n.b.websocket();
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    let e = refusal(anonymous(&n.b).await);
    assert!(e.contains("requires login and passcode"), "{e}");
    let (_, refused) = websocket_connect(&addr, &[]).await;
    assert_eq!(refused.command, Command::Error);
    assert!(
        refused
            .header("message")
            .unwrap_or_default()
            .contains("requires login and passcode"),
        "{refused:?}"
    );
    let (_, wrong) = websocket_connect(&addr, &[("login", "app"), ("passcode", "nope")]).await;
    assert_eq!(wrong.command, Command::Error, "{wrong:?}");

    let (mut ws, ok) =
        websocket_connect(&addr, &[("login", "app"), ("passcode", "app-secret")]).await;
    assert_eq!(ok.command, Command::Connected, "{ok:?}");
    ws.send(
        "SEND",
        &[("destination", "/queue/orders.web"), ("receipt", "1")],
        "allowed",
    )
    .await;
    assert_eq!(ws.frame().await.header("receipt-id"), Some("1"));
    ws.send(
        "SEND",
        &[("destination", "/queue/payroll"), ("receipt", "2")],
        "not allowed",
    )
    .await;
    let error = ws.frame().await;
    assert_eq!(error.command, Command::Error);
    let message = error.header("message").unwrap_or_default();
    assert!(
        message.contains("lacks write permission on /queue/payroll"),
        "{message}"
    );
    assert!(ws.closed().await);
}
