//! STOMP over WebSocket (`websocket.listen`): the same sessions as on the
//! STOMP port, one frame per WebSocket message. Messages cross between the
//! two ports both ways; any path and any (or no) STOMP subprotocol is
//! accepted; pages from a foreign `Origin` are refused; heart-beats are
//! EOL messages; bad frames get the same ERROR-then-close; the connection
//! limits count both ports together. Browsers (`@stomp/stompjs` in
//! Chromium) are in tests/clients/stompjs_in_chromium.rs, `wss://` in
//! tests/security/tls.rs, logins and permissions in
//! tests/security/stomp_auth.rs.

use crate::common::stomp::{self as st, guard};
use crate::common::websocket::{open, Received};
use crate::common::Baton;
use baton::stomp::frame::Command;
use tokio_tungstenite::tungstenite::{http::StatusCode, Error, Message};

#[tokio::test]
async fn messages_cross_between_websocket_and_tcp_both_ways() {
    let b = Baton::start();
    let addr = b.websocket();
    let mut ws = open(
        &addr,
        "/stomp/any/path?x=1",
        &[("sec-websocket-protocol", "v10.stomp, v11.stomp, v12.stomp")],
    )
    .await
    .expect("upgrade");
    assert_eq!(ws.response.headers()["sec-websocket-protocol"], "v12.stomp");
    ws.send("CONNECT", &[("accept-version", "1.2"), ("host", "b")], "")
        .await;
    let connected = ws.frame().await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    assert_eq!(connected.header("version"), Some("1.2"));
    ws.send(
        "SUBSCRIBE",
        &[
            ("id", "q"),
            ("destination", "/queue/ws.in"),
            ("receipt", "r1"),
        ],
        "",
    )
    .await;
    assert_eq!(ws.frame().await.header("receipt-id"), Some("r1"));

    // TCP → WebSocket, a persistent queue message.
    let mut tcp = st::connect(&b).await;
    st::persist(&mut tcp, "/queue/ws.in", "from tcp: ü").await;
    let m = ws.frame().await;
    assert_eq!(m.command, Command::Message);
    assert_eq!(&m.body[..], "from tcp: ü".as_bytes());
    assert_eq!(m.header("destination"), Some("/queue/ws.in"));

    // WebSocket → TCP, with a receipt.
    st::subscribe(&mut tcp, "/topic/ws.out", "t", "auto", &[]).await;
    ws.send(
        "SEND",
        &[("destination", "/topic/ws.out"), ("receipt", "r2")],
        "from the browser",
    )
    .await;
    assert_eq!(ws.frame().await.header("receipt-id"), Some("r2"));
    assert_eq!(st::next_body(&mut tcp).await, "from the browser");

    // A body that is not UTF-8 leaves as a binary message, intact.
    let body = vec![0xff, 0x00, 0xfe];
    guard("send bytes", tcp.send("/queue/ws.in", body.clone(), &[]))
        .await
        .expect("send bytes");
    let m = ws.frame().await;
    assert_eq!(&m.body[..], &body[..]);

    // The admin API tells the WebSocket connection from the TCP one.
    let password = crate::common::users::generated_password(&b.logs.lock().unwrap())
        .expect("generated password");
    let admin = crate::common::http::Http::basic(&b.admin, "admin", &password);
    let connections = admin.get("/api/v1/connections").json();
    let mut protocols: Vec<&str> = connections
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["protocol"].as_str())
        .collect();
    protocols.sort();
    assert_eq!(protocols, ["stomp", "websocket"], "{connections}");

    ws.send("DISCONNECT", &[("receipt", "bye")], "").await;
    assert_eq!(ws.frame().await.header("receipt-id"), Some("bye"));
    assert!(ws.closed().await);
}

#[tokio::test]
async fn works_without_a_subprotocol_and_binary_messages() {
    let b = Baton::start();
    let mut ws = open(&b.websocket(), "/", &[]).await.expect("upgrade");
    assert!(ws
        .response
        .headers()
        .get("sec-websocket-protocol")
        .is_none());
    ws.send_message(Message::binary(
        &b"CONNECT\naccept-version:1.1\nhost:b\n\n\0"[..],
    ))
    .await;
    assert_eq!(ws.frame().await.header("version"), Some("1.1"));
    // Only a subprotocol we speak is answered.
    let ws = open(
        &b.websocket(),
        "/",
        &[("sec-websocket-protocol", "mqtt, v10.stomp")],
    )
    .await
    .expect("upgrade");
    assert_eq!(ws.response.headers()["sec-websocket-protocol"], "v10.stomp");
}

#[tokio::test]
async fn pages_from_another_site_are_refused() {
    let b = Baton::start();
    let addr = b.websocket();
    match open(&addr, "/", &[("origin", "https://evil.example")]).await {
        Err(Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let body =
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("websocket.allowed_origins"), "{body}");
        }
        Err(e) => panic!("expected 403, got {e}"),
        Ok(_) => panic!("a page from evil.example was let in"),
    }
    guard("the refusal is logged", async {
        while !b.log_contains("origin not allowed") {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    // A page from the broker's own host (any port) is fine.
    let mut ws = open(&addr, "/", &[("origin", "http://127.0.0.1:3000")])
        .await
        .expect("same host");
    ws.send("CONNECT", &[("accept-version", "1.2")], "").await;
    assert_eq!(ws.frame().await.command, Command::Connected);

    // websocket.allowed_origins lets a listed site in, and only it.
    let b = Baton::start_with(&[
        "--websocket-allowed-origins",
        "https://app.example, https://other.example:8443",
    ]);
    let addr = b.websocket();
    open(&addr, "/", &[("origin", "https://app.example")])
        .await
        .expect("listed origin");
    assert!(open(&addr, "/", &[("origin", "http://app.example")])
        .await
        .is_err());
}

#[tokio::test]
async fn heartbeats_are_eol_messages_both_ways() {
    let b = Baton::start_with(&[
        "--stomp-heartbeat-send-ms",
        "100",
        "--stomp-heartbeat-receive-ms",
        "100",
    ]);
    let mut ws = open(&b.websocket(), "/", &[]).await.expect("upgrade");
    // We promise a heart-beat every second (the broker allows twice that)
    // and ask for one every 100 ms.
    ws.send(
        "CONNECT",
        &[("accept-version", "1.2"), ("heart-beat", "1000,100")],
        "",
    )
    .await;
    assert_eq!(ws.frame().await.header("heart-beat"), Some("100,1000"));
    // The broker's heart-beats arrive as EOL messages; ours, sent far more
    // often than promised, keep the connection open meanwhile.
    let mut beats = 0;
    while beats < 5 {
        ws.send_message(Message::text("\n")).await;
        match ws.receive().await {
            Received::Heartbeat => beats += 1,
            other => panic!("expected a heart-beat, got {other:?}"),
        }
    }
    ws.send(
        "SEND",
        &[("destination", "/queue/hb"), ("receipt", "r")],
        "x",
    )
    .await;
    assert_eq!(ws.frame().await.header("receipt-id"), Some("r"));

    // Silence: the broker gives up with an ERROR, then closes.
    let error = ws.frame().await;
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert!(error
        .header("message")
        .unwrap_or_default()
        .contains("heart-beat"));
    assert!(ws.closed().await);
}

#[tokio::test]
async fn bad_frames_get_an_error_then_close() {
    let b = Baton::start_with(&["--stomp-max-headers", "4"]);
    let addr = b.websocket();
    let cases: [(&str, &[u8]); 3] = [
        (
            "unknown command",
            b"CONNECT\naccept-version:1.2\n\n\0BOGUS\n\n\0",
        ),
        (
            "too many headers",
            b"CONNECT\naccept-version:1.2\n\n\0SEND\na:1\nb:2\nc:3\nd:4\ne:5\n\n\0",
        ),
        ("before CONNECT", b"SEND\ndestination:/queue/x\n\nx\0"),
    ];
    for (what, bytes) in cases {
        let mut ws = open(&addr, "/", &[]).await.expect("upgrade");
        ws.send_message(Message::binary(bytes.to_vec())).await;
        let mut f = ws.frame().await;
        if f.command == Command::Connected {
            f = ws.frame().await;
        }
        assert_eq!(f.command, Command::Error, "{what}: {f:?}");
        assert!(ws.closed().await, "{what}: not closed after the ERROR");
    }
    // Neither port was harmed.
    let mut tcp = st::connect(&b).await;
    st::send(&mut tcp, "/queue/after", "still fine", &[]).await;
    // Text that is not HTTP at all is refused without harm either.
    let mut raw = crate::common::Raw::connect(&addr);
    raw.write(b"CONNECT\naccept-version:1.2\n\n\0");
    assert!(raw.closed());
}

#[tokio::test]
async fn both_ports_share_the_connection_limit() {
    let b = Baton::start_with(&["--limits-max-connections-per-address", "1"]);
    let _tcp = st::connect(&b).await;
    let mut ws = open(&b.websocket(), "/", &[]).await.expect("upgrade");
    ws.send(
        "CONNECT",
        &[("accept-version", "1.2"), ("receipt", "c")],
        "",
    )
    .await;
    let error = ws.frame().await;
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert!(
        error
            .header("message")
            .unwrap_or_default()
            .contains("limits.max_connections_per_address"),
        "{error:?}"
    );
    assert!(ws.closed().await);
}
