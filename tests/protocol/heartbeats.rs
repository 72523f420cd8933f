//! Heart-beats: negotiation, a silent client disconnected, the broker's own.

use super::helpers::*;

#[test]
fn heartbeat_negotiation() {
    // Server defaults: send 1000 ms, receive 1000 ms.
    let b = Baton::start();
    let cases = [
        (None, "0,0"),
        (Some("0,0"), "0,0"),
        // Client sends every 500 (server wants 1000: max = 1000), wants
        // every 2000 (server can do 1000: max = 2000).
        (Some("500,2000"), "2000,1000"),
        (Some("3000,500"), "1000,3000"),
        (Some("0,5000"), "5000,0"),
        (Some("5000,0"), "0,5000"),
    ];
    for (hb, want) in cases {
        let (mut raw, c) = connect_raw(&b.stomp, "1.2", hb);
        assert_eq!(
            c.header("heart-beat"),
            Some(want),
            "client heart-beat {hb:?}"
        );
        raw.write(&frame("DISCONNECT", &[], b""));
    }
    // A server configured with 0 neither sends nor checks heart-beats.
    let b = Baton::start_with(&[
        "--stomp-heartbeat-send-ms",
        "0",
        "--stomp-heartbeat-receive-ms",
        "0",
    ]);
    for hb in ["500,500", "0,0", "10000,1"] {
        let (_raw, c) = connect_raw(&b.stomp, "1.2", Some(hb));
        assert_eq!(
            c.header("heart-beat"),
            Some("0,0"),
            "client heart-beat {hb}"
        );
    }
}

#[test]
fn silent_client_that_promised_heartbeats_is_disconnected() {
    let b = Baton::start_with(&["--stomp-heartbeat-receive-ms", "100"]);
    let mut bystander = Bystander::new(&b.stomp);
    let (mut raw, c) = connect_raw(&b.stomp, "1.2", Some("200,0"));
    assert_eq!(c.header("heart-beat"), Some("0,200"));
    // Say nothing at all: the server must give up on us.
    let error = next(&mut raw, Version::V1_2, "heart-beat ERROR");
    assert_eq!(error.command, Command::Error, "{error:?}");
    let message = error.header("message").unwrap_or_default();
    assert!(message.contains("heart-beat"), "{message:?}");
    assert_closed(&mut raw, "after heart-beat timeout");
    bystander.check("after heart-beat timeout");
}

#[test]
fn client_sending_heartbeats_stays_connected() {
    let b = Baton::start_with(&["--stomp-heartbeat-receive-ms", "100"]);
    let (mut raw, c) = connect_raw(&b.stomp, "1.2", Some("300,0"));
    assert_eq!(c.header("heart-beat"), Some("0,300"));
    // Only EOLs (LF and CR LF) for several times the 2 x 300 ms tolerance,
    // then only frames: both count as activity.
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        raw.write(if i % 2 == 0 { b"\n" } else { b"\r\n" });
    }
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(50));
        raw.write(&frame("SEND", &[("destination", "/queue/hb")], b"x"));
    }
    raw.write(&frame(
        "SEND",
        &[("destination", "/queue/hb"), ("receipt", "alive")],
        b"x",
    ));
    let r = next(&mut raw, Version::V1_2, "RECEIPT");
    assert_eq!(
        r.command,
        Command::Receipt,
        "dropped despite heart-beats: {r:?}"
    );
    assert_eq!(r.header("receipt-id"), Some("alive"));
}

#[test]
fn client_without_heartbeats_is_not_checked() {
    let b = Baton::start_with(&["--stomp-heartbeat-receive-ms", "50"]);
    let (mut raw, c) = connect_raw(&b.stomp, "1.2", Some("0,0"));
    assert_eq!(c.header("heart-beat"), Some("0,0"));
    // Silent for many times the server's own receive interval.
    std::thread::sleep(Duration::from_millis(500));
    raw.write(&frame(
        "SEND",
        &[("destination", "/queue/hb"), ("receipt", "ok")],
        b"x",
    ));
    let r = next(&mut raw, Version::V1_2, "RECEIPT");
    assert_eq!(r.command, Command::Receipt, "{r:?}");
}

#[test]
fn server_sends_heartbeats_when_asked() {
    let b = Baton::start_with(&["--stomp-heartbeat-send-ms", "50"]);
    let (mut raw, c) = connect_raw(&b.stomp, "1.2", Some("0,100"));
    assert_eq!(c.header("heart-beat"), Some("100,0"));
    // Nothing but EOLs may arrive while we are idle.
    for i in 0..3 {
        match raw.read_byte() {
            Some(b'\n') => {}
            other => panic!("heart-beat {i}: expected an EOL, got {other:?}"),
        }
    }
    // Heart-beats are not frames: a request still gets its reply.
    raw.write(&frame(
        "SEND",
        &[("destination", "/queue/hb"), ("receipt", "r")],
        b"x",
    ));
    let r = next(&mut raw, Version::V1_2, "RECEIPT");
    assert_eq!(r.header("receipt-id"), Some("r"), "{r:?}");
}

#[test]
fn server_sends_no_heartbeats_unless_asked() {
    let b = Baton::start_with(&["--stomp-heartbeat-send-ms", "20"]);
    let (mut raw, c) = connect_raw(&b.stomp, "1.2", Some("0,0"));
    assert_eq!(c.header("heart-beat"), Some("0,0"));
    std::thread::sleep(Duration::from_millis(300));
    raw.write(&frame(
        "SEND",
        &[("destination", "/queue/hb"), ("receipt", "r")],
        b"x",
    ));
    // The very next byte is the RECEIPT, not a heart-beat.
    assert_eq!(raw.read_byte(), Some(b'R'), "unrequested heart-beat sent");
}
