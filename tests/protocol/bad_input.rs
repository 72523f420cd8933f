//! STOMP 1.0/1.1/1.2 protocol conformance and bad-input tests against the
//! real `baton` binary, mostly over raw TCP so that the exact bytes on the
//! wire are under the test's control.
//!
//! Timing: no test asserts how fast anything happens. Sleeps only create
//! the situation under test (split TCP reads, silence longer than a
//! negotiated heart-beat interval); read timeouts (10 s, set by
//! `common::Raw`) only guard against hangs.

mod common;

use baton::client::Client;
use baton::stomp::frame::{parse, Command, Frame, Limits, Parsed, Version};
use common::{Baton, Incoming, Raw};
use std::collections::HashSet;
use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

// ---------------------------------------------------------------------------
// helpers

/// A frame in wire format. Header names and values are written exactly as
/// given (no escaping), so tests can put escape sequences on the wire.
fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(command.as_bytes());
    v.push(b'\n');
    for (k, val) in headers {
        v.extend_from_slice(k.as_bytes());
        v.push(b':');
        v.extend_from_slice(val.as_bytes());
        v.push(b'\n');
    }
    v.push(b'\n');
    v.extend_from_slice(body);
    v.push(0);
    v
}

fn version_of(accept: &str) -> Version {
    Version::parse(accept).unwrap_or(Version::V1_0)
}

/// Opens a connection and sends CONNECT. `accept` is the `accept-version`
/// header ("" = none: STOMP 1.0); `hb` the `heart-beat` header if any.
fn connect_raw(addr: &str, accept: &str, hb: Option<&str>) -> (Raw, Frame) {
    let mut raw = Raw::connect(addr);
    let mut headers = vec![("host", "localhost")];
    if !accept.is_empty() {
        headers.push(("accept-version", accept));
    }
    if let Some(hb) = hb {
        headers.push(("heart-beat", hb));
    }
    raw.write(&frame("CONNECT", &headers, b""));
    let connected = raw.read_frame_as(Version::V1_0).expect("CONNECTED");
    assert_eq!(
        connected.command,
        Command::Connected,
        "expected CONNECTED, got {connected:?}"
    );
    (raw, connected)
}

/// Connects speaking exactly `version` ("1.0", "1.1" or "1.2").
fn connect(addr: &str, version: &str) -> Raw {
    let accept = if version == "1.0" { "" } else { version };
    let (raw, connected) = connect_raw(addr, accept, None);
    assert_eq!(connected.header("version"), Some(version), "{connected:?}");
    raw
}

/// Reads the next frame, failing the test if the connection closed or
/// nothing came.
fn next(raw: &mut Raw, version: Version, what: &str) -> Frame {
    match raw.next_incoming(version) {
        Incoming::Frame(f, _) => f,
        other => panic!("waiting for {what}: {other:?}"),
    }
}

/// Reads until every receipt in `ids` has arrived; returns the MESSAGE
/// frames that came meanwhile. Fails on ERROR or an unexpected receipt.
fn receipts(raw: &mut Raw, version: Version, ids: &[&str]) -> Vec<Frame> {
    let mut want: HashSet<&str> = ids.iter().copied().collect();
    let mut messages = Vec::new();
    while !want.is_empty() {
        let f = next(raw, version, &format!("receipts {want:?}"));
        match f.command {
            Command::Receipt => {
                let id = f.header("receipt-id").unwrap_or_default().to_string();
                assert!(
                    want.remove(id.as_str()),
                    "unexpected or repeated receipt {id:?} while waiting for {want:?}"
                );
            }
            Command::Message => messages.push(f),
            _ => panic!("waiting for receipts {want:?}, got {f:?}"),
        }
    }
    messages
}

/// Reads `n` MESSAGE frames (after any already collected in `have`).
fn messages(raw: &mut Raw, version: Version, mut have: Vec<Frame>, n: usize) -> Vec<Frame> {
    while have.len() < n {
        let f = next(raw, version, "MESSAGE");
        assert_eq!(f.command, Command::Message, "expected MESSAGE, got {f:?}");
        have.push(f);
    }
    have
}

fn body(f: &Frame) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

/// Asserts that the server closes the connection (EOF or reset), with the
/// 10 s read timeout as the failure guard.
fn assert_closed(raw: &mut Raw, context: &str) {
    match raw.next_incoming(Version::V1_0) {
        Incoming::Closed => {}
        Incoming::TimedOut => panic!("{context}: the server did not close the connection"),
        Incoming::Frame(f, _) => panic!("{context}: frame after the end: {f:?}"),
    }
}

/// A client connected before a bad client misbehaves; `check` proves it can
/// still send and receive afterwards.
struct Bystander {
    raw: Raw,
    queue: String,
    round: usize,
}

impl Bystander {
    fn new(addr: &str) -> Bystander {
        let mut raw = connect(addr, "1.2");
        let queue = "/queue/bystander".to_string();
        raw.write(&frame(
            "SUBSCRIBE",
            &[("destination", &queue), ("id", "by"), ("receipt", "by-sub")],
            b"",
        ));
        receipts(&mut raw, Version::V1_2, &["by-sub"]);
        Bystander {
            raw,
            queue,
            round: 0,
        }
    }

    fn check(&mut self, context: &str) {
        self.round += 1;
        let text = format!("ping {}", self.round);
        let receipt = format!("by-{}", self.round);
        self.raw.write(&frame(
            "SEND",
            &[("destination", &self.queue), ("receipt", &receipt)],
            text.as_bytes(),
        ));
        let got = receipts(&mut self.raw, Version::V1_2, &[&receipt]);
        let got = messages(&mut self.raw, Version::V1_2, got, 1);
        assert_eq!(got.len(), 1, "{context}: bystander got {got:?}");
        assert_eq!(body(&got[0]), text, "{context}: bystander got {got:?}");
    }
}

/// One bad-input scenario: optional CONNECT, setup frames answered with
/// receipts, then the bad bytes, which must be answered with ERROR and a
/// close.
struct Bad {
    name: &'static str,
    /// Version to CONNECT with first ("1.0", "1.1", "1.2"), or None to send
    /// the bad bytes on a fresh connection.
    connect: Option<&'static str>,
    setup: Vec<Vec<u8>>,
    setup_receipts: Vec<&'static str>,
    bad: Vec<u8>,
    /// Substrings the ERROR `message` header must contain (any case).
    message: Vec<&'static str>,
    /// Expected `receipt-id` of the ERROR.
    receipt: Option<&'static str>,
}

fn bad(
    name: &'static str,
    connect: Option<&'static str>,
    bad: Vec<u8>,
    message: &[&'static str],
) -> Bad {
    Bad {
        name,
        connect,
        setup: Vec::new(),
        setup_receipts: Vec::new(),
        bad,
        message: message.to_vec(),
        receipt: None,
    }
}

impl Bad {
    fn receipt(mut self, r: &'static str) -> Bad {
        self.receipt = Some(r);
        self
    }

    fn setup(mut self, frame: Vec<u8>, receipt: &'static str) -> Bad {
        self.setup.push(frame);
        self.setup_receipts.push(receipt);
        self
    }

    /// Runs the case; returns a description of what went wrong, if anything.
    fn run(&self, addr: &str) -> Result<(), String> {
        let mut raw = Raw::connect(addr);
        let version = match self.connect {
            None => Version::V1_0,
            Some(v) => {
                let accept = if v == "1.0" { "" } else { v };
                let mut headers = vec![("host", "localhost")];
                if !accept.is_empty() {
                    headers.push(("accept-version", accept));
                }
                raw.write(&frame("CONNECT", &headers, b""));
                match raw.read_frame_as(Version::V1_0) {
                    Some(f) if f.command == Command::Connected => {}
                    other => return Err(format!("no CONNECTED: {other:?}")),
                }
                version_of(v)
            }
        };
        for f in &self.setup {
            raw.write(f);
        }
        let mut want: HashSet<&str> = self.setup_receipts.iter().copied().collect();
        while !want.is_empty() {
            match raw.read_frame_as(version) {
                Some(f) if f.command == Command::Receipt => {
                    want.remove(f.header("receipt-id").unwrap_or_default());
                }
                Some(f) if f.command == Command::Message => {}
                other => return Err(format!("setup failed: {other:?}")),
            }
        }
        // The server may already have closed (e.g. after an early limit
        // error), so a failed write is not a failure by itself.
        raw.try_write(&self.bad);
        let error = match raw.next_incoming(version) {
            Incoming::Frame(f, _) if f.command == Command::Error => f,
            other => return Err(format!("expected ERROR, got {other:?}")),
        };
        let message = error.header("message").unwrap_or_default().to_lowercase();
        if message.is_empty() {
            return Err(format!("ERROR without a message header: {error:?}"));
        }
        let parts: Vec<&str> = message.split(": ").collect();
        if parts.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("ERROR message repeats itself: {message:?}"));
        }
        for m in &self.message {
            if !message.contains(&m.to_lowercase()) {
                return Err(format!("ERROR message {message:?} does not mention {m:?}"));
            }
        }
        if let Some(r) = self.receipt {
            if error.header("receipt-id") != Some(r) {
                return Err(format!("ERROR without receipt-id {r}: {error:?}"));
            }
        }
        if let Some(cl) = error.header("content-length") {
            if cl != error.body.len().to_string() {
                return Err(format!(
                    "ERROR content-length {cl} but body {:?}",
                    error.body
                ));
            }
        }
        match raw.next_incoming(version) {
            Incoming::Closed => Ok(()),
            other => Err(format!("connection not closed after ERROR: {other:?}")),
        }
    }
}

/// Runs every case on a fresh connection, with a bystander connected the
/// whole time that must keep working after each bad client was kicked.
fn run_bad_cases(b: &Baton, cases: Vec<Bad>) {
    let mut bystander = Bystander::new(&b.stomp);
    let mut failures = Vec::new();
    let mut names = HashSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "duplicate case name {}", case.name);
        if let Err(e) = case.run(&b.stomp) {
            failures.push(format!("{}: {e}", case.name));
        }
        bystander.check(case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// CONNECT / STOMP and version negotiation

#[test]
fn version_negotiation() {
    let b = Baton::start();
    let cases: &[(Option<&str>, &str)] = &[
        (None, "1.0"),
        (Some("1.0"), "1.0"),
        (Some("1.1"), "1.1"),
        (Some("1.2"), "1.2"),
        (Some("1.0,1.1,1.2"), "1.2"),
        (Some("1.2,1.0"), "1.2"),
        (Some("1.0,1.1"), "1.1"),
        (Some("1.1,2.0"), "1.1"),
        (Some("2.0,1.0"), "1.0"),
    ];
    let mut sessions = HashSet::new();
    for (accept, want) in cases {
        for command in ["CONNECT", "STOMP"] {
            let mut raw = Raw::connect(&b.stomp);
            let mut headers = vec![("host", "localhost")];
            if let Some(a) = accept {
                headers.push(("accept-version", a));
            }
            raw.write(&frame(command, &headers, b""));
            let c = next(&mut raw, Version::V1_0, "CONNECTED");
            let ctx = format!("{command} accept-version {accept:?}");
            assert_eq!(c.command, Command::Connected, "{ctx}: {c:?}");
            assert_eq!(c.header("version"), Some(*want), "{ctx}: {c:?}");
            let server = c.header("server").unwrap_or_default();
            assert!(server.starts_with("Baton/"), "{ctx}: server {server:?}");
            let session = c.header("session").unwrap_or_default().to_string();
            assert!(!session.is_empty(), "{ctx}: no session: {c:?}");
            assert!(
                sessions.insert(session.clone()),
                "{ctx}: session {session} reused"
            );
            if *want != "1.0" {
                assert!(
                    c.header("heart-beat").is_some(),
                    "{ctx}: no heart-beat: {c:?}"
                );
            }
            // The connection is usable in the negotiated version.
            raw.write(&frame("DISCONNECT", &[("receipt", "bye")], b""));
            let r = next(&mut raw, version_of(want), "RECEIPT");
            assert_eq!(r.command, Command::Receipt, "{ctx}: {r:?}");
            assert_eq!(r.header("receipt-id"), Some("bye"), "{ctx}");
            assert_closed(&mut raw, &ctx);
        }
    }
}

#[test]
fn unsupported_versions_are_refused() {
    let b = Baton::start();
    let cases = vec![
        bad(
            "accept-version 2.0",
            None,
            frame("CONNECT", &[("accept-version", "2.0"), ("host", "x")], b""),
            &["2.0", "supported"],
        ),
        bad(
            "STOMP accept-version 0.9,3.0",
            None,
            frame(
                "STOMP",
                &[("accept-version", "0.9,3.0"), ("host", "x")],
                b"",
            ),
            &["supported"],
        ),
        bad(
            "heart-beat not two numbers",
            None,
            frame(
                "CONNECT",
                &[("accept-version", "1.2"), ("heart-beat", "fast")],
                b"",
            ),
            &["heart-beat"],
        ),
        bad(
            "heart-beat with one value",
            None,
            frame(
                "CONNECT",
                &[("accept-version", "1.2"), ("heart-beat", "100")],
                b"",
            ),
            &["heart-beat"],
        ),
    ];
    run_bad_cases(&b, cases);
}

#[test]
fn connect_headers_are_never_unescaped() {
    let b = Baton::start();
    // `\q` and `\t` are invalid escapes in 1.1/1.2 headers, but CONNECT
    // headers are taken literally in every version.
    for accept in ["1.1", "1.2", "1.0,1.1,1.2"] {
        let mut raw = Raw::connect(&b.stomp);
        raw.write(&frame(
            "CONNECT",
            &[
                ("accept-version", accept),
                ("host", "x\\q"),
                ("login", "guest\\t\\"),
            ],
            b"",
        ));
        let c = next(&mut raw, Version::V1_0, "CONNECTED");
        assert_eq!(c.command, Command::Connected, "accept {accept}: {c:?}");
    }
}

#[test]
fn heartbeat_lines_before_connect_are_ignored() {
    let b = Baton::start();
    let mut raw = Raw::connect(&b.stomp);
    raw.write(b"\n\r\n\n");
    raw.write(&frame("CONNECT", &[("accept-version", "1.2")], b""));
    let c = next(&mut raw, Version::V1_2, "CONNECTED");
    assert_eq!(c.command, Command::Connected, "{c:?}");
    assert_eq!(c.header("version"), Some("1.2"));
}

// ---------------------------------------------------------------------------
// heart-beats

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

// ---------------------------------------------------------------------------
// framing

fn session_bytes(eol: &str) -> Vec<u8> {
    let text = format!(
        "CONNECT{e}accept-version:1.2{e}host:x{e}{e}\0{e}\
         SUBSCRIBE{e}destination:/queue/split{e}id:s{e}receipt:sub{e}{e}\0\
         SEND{e}destination:/queue/split{e}user:value{e}receipt:send1{e}{e}hello split\0{e}{e}\
         SEND{e}destination:/queue/split{e}content-length:5{e}receipt:send2{e}{e}a\0b\0c\0",
        e = eol
    );
    text.into_bytes()
}

fn check_split_session(raw: &mut Raw, eol: &str) {
    let c = next(raw, Version::V1_2, "CONNECTED");
    assert_eq!(c.command, Command::Connected, "{c:?}");
    let got = receipts(raw, Version::V1_2, &["sub", "send1", "send2"]);
    let got = messages(raw, Version::V1_2, got, 2);
    assert_eq!(body(&got[0]), "hello split", "eol {eol:?}");
    assert_eq!(
        got[0].header("user"),
        Some("value"),
        "eol {eol:?}: {:?}",
        got[0]
    );
    assert_eq!(&got[1].body[..], b"a\0b\0c", "eol {eol:?}");
}

#[test]
fn frames_split_across_reads() {
    let b = Baton::start();
    for eol in ["\n", "\r\n"] {
        let mut raw = Raw::connect(&b.stomp);
        for (i, byte) in session_bytes(eol).iter().enumerate() {
            raw.write(&[*byte]);
            raw.stream.flush().unwrap();
            if i % 4 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        check_split_session(&mut raw, eol);
    }
}

#[test]
fn crlf_line_endings() {
    let b = Baton::start();
    let mut raw = Raw::connect(&b.stomp);
    raw.write(&session_bytes("\r\n"));
    check_split_session(&mut raw, "\r\n");
    // The MESSAGE of a CR LF sender has no CR in any header value.
    let mut raw = connect(&b.stomp, "1.1");
    raw.write(b"SUBSCRIBE\r\ndestination:/queue/crlf\r\nid:1\r\nreceipt:s\r\n\r\n\0\r\n");
    receipts(&mut raw, Version::V1_1, &["s"]);
    raw.write(b"SEND\r\ndestination:/queue/crlf\r\nh:v\r\n\r\nbody\0\r\n");
    let m = messages(&mut raw, Version::V1_1, vec![], 1).remove(0);
    assert_eq!(m.header("h"), Some("v"), "{m:?}");
    assert_eq!(m.header("destination"), Some("/queue/crlf"), "{m:?}");
    assert_eq!(body(&m), "body");
}

#[test]
fn many_frames_in_one_write() {
    let b = Baton::start();
    let mut raw = Raw::connect(&b.stomp);
    let mut all = frame("CONNECT", &[("accept-version", "1.2")], b"");
    // The frame right after CONNECT already uses 1.2 escaping (\r).
    all.extend(frame(
        "SUBSCRIBE",
        &[
            ("destination", "/queue/many"),
            ("id", "s"),
            ("receipt", "sub"),
        ],
        b"",
    ));
    all.extend(frame(
        "SEND",
        &[("destination", "/queue/many"), ("x", "a\\rb")],
        b"first",
    ));
    all.extend_from_slice(b"\n\n");
    let n = 100;
    for i in 0..n {
        let receipt = format!("s{i}");
        all.extend(frame(
            "SEND",
            &[("destination", "/queue/many"), ("receipt", &receipt)],
            format!("m{i}").as_bytes(),
        ));
        if i % 3 == 0 {
            all.extend_from_slice(b"\r\n");
        }
    }
    raw.write(&all);
    let c = next(&mut raw, Version::V1_2, "CONNECTED");
    assert_eq!(c.header("version"), Some("1.2"), "{c:?}");
    let ids: Vec<String> = std::iter::once("sub".to_string())
        .chain((0..n).map(|i| format!("s{i}")))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let got = receipts(&mut raw, Version::V1_2, &ids);
    let got = messages(&mut raw, Version::V1_2, got, n + 1);
    assert_eq!(got[0].header("x"), Some("a\rb"), "{:?}", got[0]);
    let bodies: Vec<String> = got.iter().map(body).collect();
    let want: Vec<String> = std::iter::once("first".to_string())
        .chain((0..n).map(|i| format!("m{i}")))
        .collect();
    assert_eq!(bodies, want);
}

#[test]
fn body_without_content_length_ends_at_first_nul() {
    let b = Baton::start();
    let mut raw = connect(&b.stomp, "1.2");
    raw.write(&frame(
        "SUBSCRIBE",
        &[("destination", "/queue/nul"), ("id", "s"), ("receipt", "s")],
        b"",
    ));
    receipts(&mut raw, Version::V1_2, &["s"]);
    // "abc" ends the first frame; the second NUL-terminated chunk is a
    // separate (valid) SEND.
    let mut bytes = b"SEND\ndestination:/queue/nul\n\nabc\0\n".to_vec();
    bytes.extend(frame("SEND", &[("destination", "/queue/nul")], b"def"));
    raw.write(&bytes);
    let got = messages(&mut raw, Version::V1_2, vec![], 2);
    assert_eq!(body(&got[0]), "abc");
    assert_eq!(body(&got[1]), "def");
    assert_eq!(got[0].header("content-length"), Some("3"));
}

#[test]
fn content_length_bodies_with_nul_bytes_round_trip_exactly() {
    let b = Baton::start();
    let mut consumer = connect(&b.stomp, "1.2");
    consumer.write(&frame(
        "SUBSCRIBE",
        &[("destination", "/queue/bin"), ("id", "s"), ("receipt", "s")],
        b"",
    ));
    receipts(&mut consumer, Version::V1_2, &["s"]);
    let mut producer = connect(&b.stomp, "1.0");
    let payloads: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0, 0, 0],
        b"\0leading and trailing\0".to_vec(),
        (0..=255u8).cycle().take(3000).collect(),
        b"looks\0like\nSEND\ndestination:/queue/x\n\n\0a frame".to_vec(),
        Vec::new(),
    ];
    for (i, p) in payloads.iter().enumerate() {
        let len = p.len().to_string();
        let receipt = format!("p{i}");
        producer.write(&frame(
            "SEND",
            &[
                ("destination", "/queue/bin"),
                ("content-length", &len),
                ("receipt", &receipt),
            ],
            p,
        ));
        receipts(&mut producer, Version::V1_0, &[&receipt]);
    }
    let got = messages(&mut consumer, Version::V1_2, vec![], payloads.len());
    for (m, p) in got.iter().zip(&payloads) {
        assert_eq!(&m.body[..], &p[..], "{m:?}");
        assert_eq!(
            m.header("content-length"),
            Some(p.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn binary_bodies_round_trip_with_client() {
    let b = Baton::start();
    let mut consumer = Client::connect(&b.stomp).await.unwrap();
    consumer
        .subscribe("/queue/bin", "s", "client-individual", &[])
        .await
        .unwrap();
    let mut producer = Client::connect(&b.stomp).await.unwrap();
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(payload.contains(&0));
    producer
        .send("/queue/bin", payload.clone(), &[("persistent", "true")])
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), consumer.next_message())
        .await
        .expect("no MESSAGE within 10 s")
        .unwrap();
    assert_eq!(&m.body[..], &payload[..]);
    assert!(m.header("ack").is_some(), "{m:?}");
    consumer.ack(&m, false).await.unwrap();
    consumer.disconnect().await.unwrap();
    producer.disconnect().await.unwrap();
}

#[test]
fn repeated_headers_first_one_wins() {
    let b = Baton::start();
    let mut raw = connect(&b.stomp, "1.2");
    raw.write(&frame(
        "SUBSCRIBE",
        &[
            ("destination", "/queue/first"),
            ("id", "s"),
            ("receipt", "s"),
        ],
        b"",
    ));
    receipts(&mut raw, Version::V1_2, &["s"]);
    raw.write(&frame(
        "SEND",
        &[
            ("destination", "/queue/first"),
            ("destination", "/queue/second"),
            ("h", "one"),
            ("h", "two"),
            ("receipt", "r"),
        ],
        b"x",
    ));
    let got = receipts(&mut raw, Version::V1_2, &["r"]);
    let m = messages(&mut raw, Version::V1_2, got, 1).remove(0);
    assert_eq!(m.header("destination"), Some("/queue/first"), "{m:?}");
    assert_eq!(m.header("h"), Some("one"), "{m:?}");
}

// ---------------------------------------------------------------------------
// header value encoding

/// Subscribes `raw` (speaking `version`) to `dest` with id `id`.
fn subscribe(raw: &mut Raw, version: Version, dest: &str, id: &str, ack: &str) {
    let receipt = format!("sub-{id}");
    raw.write(&frame(
        "SUBSCRIBE",
        &[
            ("destination", dest),
            ("id", id),
            ("ack", ack),
            ("receipt", &receipt),
        ],
        b"",
    ));
    receipts(raw, version, &[&receipt]);
}

/// The header lines of a raw frame.
fn header_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\n\n").next().unwrap_or_default();
    head.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn escaping_round_trips_in_1_1_and_1_2() {
    let b = Baton::start();
    let mut c12 = connect(&b.stomp, "1.2");
    subscribe(&mut c12, Version::V1_2, "/topic/esc", "a", "auto");
    let mut c11 = connect(&b.stomp, "1.1");
    subscribe(&mut c11, Version::V1_1, "/topic/esc", "b", "auto");

    // 1.2 producer: name "k:ey", value "a:b<LF>c\d<CR>e".
    let mut p12 = connect(&b.stomp, "1.2");
    p12.write(&frame(
        "SEND",
        &[
            ("destination", "/topic/esc"),
            ("k\\cey", "a\\cb\\nc\\\\d\\re"),
            ("receipt", "r"),
        ],
        b"1",
    ));
    receipts(&mut p12, Version::V1_2, &["r"]);
    let raw = c12.read_raw_frame().expect("MESSAGE for 1.2");
    assert!(
        header_lines(&raw).contains(&"k\\cey:a\\cb\\nc\\\\d\\re".to_string()),
        "1.2 MESSAGE not escaped as sent: {:?}",
        String::from_utf8_lossy(&raw)
    );
    let m12 = match parse(&raw, Version::V1_2, &Limits::default()) {
        Ok(Some(Parsed::Frame(f, _))) => f,
        other => panic!("unparsable {raw:?}: {other:?}"),
    };
    assert_eq!(m12.header("k:ey"), Some("a:b\nc\\d\re"), "{m12:?}");
    // 1.1 has no \r escape: the 1.1 subscriber gets the other escapes.
    let m11 = next(&mut c11, Version::V1_1, "MESSAGE for 1.1");
    let v = m11.header("k:ey").unwrap_or_default();
    assert!(v.starts_with("a:b\nc\\d"), "{m11:?}");

    // 1.1 producer: \c \n \\ decode the same way.
    let mut p11 = connect(&b.stomp, "1.1");
    p11.write(&frame(
        "SEND",
        &[
            ("destination", "/topic/esc"),
            ("v", "x\\cy\\nz\\\\"),
            ("receipt", "r"),
        ],
        b"2",
    ));
    receipts(&mut p11, Version::V1_1, &["r"]);
    for (raw, version) in [(&mut c12, Version::V1_2), (&mut c11, Version::V1_1)] {
        let m = next(raw, version, "MESSAGE 2");
        assert_eq!(body(&m), "2");
        assert_eq!(m.header("v"), Some("x:y\nz\\"), "{version}: {m:?}");
    }
}

#[test]
fn no_unescaping_in_1_0() {
    let b = Baton::start();
    let mut c10 = connect(&b.stomp, "1.0");
    c10.write(&frame(
        "SUBSCRIBE",
        &[("destination", "/topic/raw"), ("receipt", "s")],
        b"",
    ));
    receipts(&mut c10, Version::V1_0, &["s"]);
    let mut c12 = connect(&b.stomp, "1.2");
    subscribe(&mut c12, Version::V1_2, "/topic/raw", "s", "auto");

    // In 1.0 backslashes are ordinary characters, even ones that would be
    // invalid escapes in 1.1/1.2.
    let mut p10 = connect(&b.stomp, "1.0");
    p10.write(&frame(
        "SEND",
        &[
            ("destination", "/topic/raw"),
            ("h", "a\\cb\\qz\\"),
            ("receipt", "r"),
        ],
        b"x",
    ));
    receipts(&mut p10, Version::V1_0, &["r"]);

    let raw = c10.read_raw_frame().expect("MESSAGE for 1.0");
    assert!(
        header_lines(&raw).contains(&"h:a\\cb\\qz\\".to_string()),
        "1.0 MESSAGE changed the value: {:?}",
        String::from_utf8_lossy(&raw)
    );
    let m = next(&mut c12, Version::V1_2, "MESSAGE for 1.2");
    assert_eq!(m.header("h"), Some("a\\cb\\qz\\"), "{m:?}");
}

// ---------------------------------------------------------------------------
// receipts and DISCONNECT

fn ack_headers(version: Version, m: &Frame) -> Vec<(&'static str, &str)> {
    match version {
        Version::V1_2 => vec![("id", m.header("ack").expect("ack header in 1.2"))],
        Version::V1_1 => vec![
            ("message-id", m.header("message-id").expect("message-id")),
            (
                "subscription",
                m.header("subscription").expect("subscription"),
            ),
        ],
        Version::V1_0 => vec![("message-id", m.header("message-id").expect("message-id"))],
    }
}

fn with<'a>(
    mut h: Vec<(&'a str, &'a str)>,
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    h.extend_from_slice(more);
    h
}

#[test]
fn every_frame_with_a_receipt_gets_a_receipt() {
    let b = Baton::start();
    for version in ["1.0", "1.1", "1.2"] {
        let v = version_of(version);
        let q = format!("/queue/receipts-{version}");
        // STOMP 1.0 knows only auto and client acknowledgement, and no NACK.
        let ack_mode = if v == Version::V1_0 {
            "client"
        } else {
            "client-individual"
        };
        let mut raw = connect(&b.stomp, version);
        raw.write(&frame(
            "SUBSCRIBE",
            &[
                ("destination", &q),
                ("id", "s"),
                ("ack", ack_mode),
                ("receipt", "r-sub"),
            ],
            b"",
        ));
        raw.write(&frame(
            "SEND",
            &[("destination", &q), ("receipt", "r-send1")],
            b"one",
        ));
        raw.write(&frame(
            "SEND",
            &[("destination", &q), ("receipt", "r-send2")],
            b"two",
        ));
        let got = receipts(&mut raw, v, &["r-sub", "r-send1", "r-send2"]);
        let got = messages(&mut raw, v, got, 2);
        let (one, two) = (&got[0], &got[1]);
        assert_eq!((body(one).as_str(), body(two).as_str()), ("one", "two"));

        raw.write(&frame(
            "ACK",
            &with(ack_headers(v, one), &[("receipt", "r-ack")]),
            b"",
        ));
        let mut got = receipts(&mut raw, v, &["r-ack"]);
        let again = if v == Version::V1_0 {
            two.clone()
        } else {
            raw.write(&frame(
                "NACK",
                &with(ack_headers(v, two), &[("receipt", "r-nack")]),
                b"",
            ));
            got.extend(receipts(&mut raw, v, &["r-nack"]));
            // The NACKed message comes back.
            messages(&mut raw, v, got, 1).remove(0)
        };
        assert_eq!(body(&again), "two", "{version}");

        raw.write(&frame(
            "BEGIN",
            &[("transaction", "t1"), ("receipt", "r-begin")],
            b"",
        ));
        raw.write(&frame(
            "SEND",
            &[
                ("destination", &q),
                ("transaction", "t1"),
                ("receipt", "r-txsend"),
            ],
            b"three",
        ));
        raw.write(&frame(
            "ACK",
            &with(
                ack_headers(v, &again),
                &[("transaction", "t1"), ("receipt", "r-txack")],
            ),
            b"",
        ));
        raw.write(&frame(
            "COMMIT",
            &[("transaction", "t1"), ("receipt", "r-commit")],
            b"",
        ));
        let got = receipts(&mut raw, v, &["r-begin", "r-txsend", "r-txack", "r-commit"]);
        let three = messages(&mut raw, v, got, 1).remove(0);
        assert_eq!(body(&three), "three", "{version}");

        raw.write(&frame(
            "BEGIN",
            &[("transaction", "t2"), ("receipt", "r-begin2")],
            b"",
        ));
        raw.write(&frame(
            "SEND",
            &[("destination", &q), ("transaction", "t2")],
            b"aborted",
        ));
        raw.write(&frame(
            "ABORT",
            &[("transaction", "t2"), ("receipt", "r-abort")],
            b"",
        ));
        raw.write(&frame(
            "SEND",
            &[("destination", &q), ("receipt", "r-send4")],
            b"four",
        ));
        let got = receipts(&mut raw, v, &["r-begin2", "r-abort", "r-send4"]);
        let four = messages(&mut raw, v, got, 1).remove(0);
        assert_eq!(body(&four), "four", "{version}: aborted send was delivered");

        raw.write(&frame(
            "UNSUBSCRIBE",
            &[("id", "s"), ("receipt", "r-unsub")],
            b"",
        ));
        receipts(&mut raw, v, &["r-unsub"]);
        raw.write(&frame("DISCONNECT", &[("receipt", "r-disc")], b""));
        receipts(&mut raw, v, &["r-disc"]);
        assert_closed(&mut raw, &format!("{version} DISCONNECT"));
    }
}

#[test]
fn disconnect_without_receipt_closes() {
    let b = Baton::start();
    let mut raw = connect(&b.stomp, "1.2");
    raw.write(&frame("DISCONNECT", &[], b""));
    assert_closed(&mut raw, "DISCONNECT");
}

// ---------------------------------------------------------------------------
// ACK / NACK addressing per version

/// After the test's ACKs, a fresh consumer must see `marker` first: any
/// message that was wrongly left unacknowledged would come before it.
fn assert_queue_drained(addr: &str, q: &str) {
    let mut p = connect(addr, "1.2");
    p.write(&frame(
        "SEND",
        &[("destination", q), ("receipt", "m")],
        b"marker",
    ));
    receipts(&mut p, Version::V1_2, &["m"]);
    let mut c = connect(addr, "1.2");
    subscribe(&mut c, Version::V1_2, q, "check", "auto");
    let m = next(&mut c, Version::V1_2, "marker");
    assert_eq!(body(&m), "marker", "left in {q}: {m:?}");
}

#[test]
fn ack_addressing_1_2_uses_the_ack_header() {
    let b = Baton::start();
    let q = "/queue/ack12";
    let mut raw = connect(&b.stomp, "1.2");
    subscribe(&mut raw, Version::V1_2, q, "sub-1", "client-individual");
    for i in 0..2 {
        raw.write(&frame(
            "SEND",
            &[("destination", q)],
            format!("m{i}").as_bytes(),
        ));
    }
    let got = messages(&mut raw, Version::V1_2, vec![], 2);
    let acks: Vec<String> = got
        .iter()
        .map(|m| {
            m.header("ack")
                .expect("1.2 MESSAGE of a client-individual subscription has ack")
                .to_string()
        })
        .collect();
    assert_ne!(acks[0], acks[1]);
    for m in &got {
        assert_eq!(m.header("subscription"), Some("sub-1"));
        assert!(m.header("message-id").is_some());
    }
    // Acknowledge in reverse order: client-individual is per message.
    raw.write(&frame("NACK", &[("id", &acks[1]), ("receipt", "n")], b""));
    let got2 = receipts(&mut raw, Version::V1_2, &["n"]);
    let again = messages(&mut raw, Version::V1_2, got2, 1).remove(0);
    assert_eq!(body(&again), "m1");
    assert_eq!(again.header("redelivered"), Some("true"), "{again:?}");
    let again_ack = again.header("ack").expect("ack").to_string();
    raw.write(&frame("ACK", &[("id", &again_ack), ("receipt", "a1")], b""));
    raw.write(&frame("ACK", &[("id", &acks[0]), ("receipt", "a0")], b""));
    receipts(&mut raw, Version::V1_2, &["a1", "a0"]);
    // Acknowledging the same message again is an error.
    raw.write(&frame(
        "ACK",
        &[("id", &acks[0]), ("receipt", "twice")],
        b"",
    ));
    let e = next(&mut raw, Version::V1_2, "ERROR");
    assert_eq!(e.command, Command::Error, "{e:?}");
    assert_eq!(e.header("receipt-id"), Some("twice"));
    assert_closed(&mut raw, "double ACK");
    assert_queue_drained(&b.stomp, q);
}

#[test]
fn ack_addressing_1_1_uses_message_id_and_subscription() {
    let b = Baton::start();
    let q = "/queue/ack11";
    let mut raw = connect(&b.stomp, "1.1");
    subscribe(&mut raw, Version::V1_1, q, "s11", "client-individual");
    // A second subscription on another queue: the subscription header
    // picks the right one.
    subscribe(
        &mut raw,
        Version::V1_1,
        "/queue/other11",
        "o11",
        "client-individual",
    );
    raw.write(&frame("SEND", &[("destination", q)], b"a"));
    raw.write(&frame("SEND", &[("destination", q)], b"b"));
    let got = messages(&mut raw, Version::V1_1, vec![], 2);
    for m in &got {
        assert_eq!(m.header("subscription"), Some("s11"), "{m:?}");
    }
    let id = |m: &Frame| m.header("message-id").expect("message-id").to_string();
    raw.write(&frame(
        "ACK",
        &[
            ("message-id", &id(&got[0])),
            ("subscription", "s11"),
            ("receipt", "a"),
        ],
        b"",
    ));
    raw.write(&frame(
        "NACK",
        &[
            ("message-id", &id(&got[1])),
            ("subscription", "s11"),
            ("receipt", "n"),
        ],
        b"",
    ));
    let more = receipts(&mut raw, Version::V1_1, &["a", "n"]);
    let again = messages(&mut raw, Version::V1_1, more, 1).remove(0);
    assert_eq!(body(&again), "b");
    raw.write(&frame(
        "ACK",
        &[
            ("message-id", &id(&again)),
            ("subscription", "s11"),
            ("receipt", "a2"),
        ],
        b"",
    ));
    receipts(&mut raw, Version::V1_1, &["a2"]);
    raw.write(&frame("DISCONNECT", &[("receipt", "d")], b""));
    receipts(&mut raw, Version::V1_1, &["d"]);
    assert_queue_drained(&b.stomp, q);

    // The subscription header counts: a message held by one subscription
    // cannot be acknowledged through another one.
    let mut raw = connect(&b.stomp, "1.1");
    subscribe(
        &mut raw,
        Version::V1_1,
        "/queue/w1",
        "holder",
        "client-individual",
    );
    subscribe(
        &mut raw,
        Version::V1_1,
        "/queue/w2",
        "other",
        "client-individual",
    );
    raw.write(&frame("SEND", &[("destination", "/queue/w1")], b"x"));
    let m = messages(&mut raw, Version::V1_1, vec![], 1).remove(0);
    assert_eq!(m.header("subscription"), Some("holder"), "{m:?}");
    raw.write(&frame(
        "ACK",
        &[
            ("message-id", &id(&m)),
            ("subscription", "other"),
            ("receipt", "wrong"),
        ],
        b"",
    ));
    let e = next(&mut raw, Version::V1_1, "ERROR");
    assert_eq!(e.command, Command::Error, "{e:?}");
    assert_eq!(e.header("receipt-id"), Some("wrong"));
    assert_closed(&mut raw, "ACK on the wrong subscription");
}

#[test]
fn ack_addressing_1_0_uses_message_id() {
    let b = Baton::start();
    let q = "/queue/ack10";
    let mut raw = connect(&b.stomp, "1.0");
    // 1.0: no id header needed.
    raw.write(&frame(
        "SUBSCRIBE",
        &[("destination", q), ("ack", "client"), ("receipt", "s")],
        b"",
    ));
    receipts(&mut raw, Version::V1_0, &["s"]);
    raw.write(&frame(
        "SEND",
        &[("destination", q), ("receipt", "p")],
        b"only",
    ));
    let got = receipts(&mut raw, Version::V1_0, &["p"]);
    let m = messages(&mut raw, Version::V1_0, got, 1).remove(0);
    assert_eq!(m.header("destination"), Some(q));
    let id = m.header("message-id").expect("message-id").to_string();
    raw.write(&frame("ACK", &[("message-id", &id), ("receipt", "a")], b""));
    receipts(&mut raw, Version::V1_0, &["a"]);
    // Without an id, a 1.0 subscription is named by its destination.
    raw.write(&frame(
        "UNSUBSCRIBE",
        &[("destination", q), ("receipt", "u")],
        b"",
    ));
    receipts(&mut raw, Version::V1_0, &["u"]);
    raw.write(&frame("DISCONNECT", &[("receipt", "d")], b""));
    receipts(&mut raw, Version::V1_0, &["d"]);
    assert_queue_drained(&b.stomp, q);
}

// ---------------------------------------------------------------------------
// bad input: ERROR, close, and the others keep working

fn sub12(id: &str) -> Vec<u8> {
    let receipt = format!("setup-{id}");
    frame(
        "SUBSCRIBE",
        &[
            ("destination", "/queue/bad-setup"),
            ("id", id),
            ("ack", "client-individual"),
            ("receipt", &receipt),
        ],
        b"",
    )
}

#[test]
fn errors_before_connect() {
    let b = Baton::start();
    let cases = vec![
        bad(
            "SEND before CONNECT",
            None,
            frame(
                "SEND",
                &[("destination", "/queue/a"), ("receipt", "r0")],
                b"x",
            ),
            &["CONNECT"],
        )
        .receipt("r0"),
        bad(
            "SUBSCRIBE before CONNECT",
            None,
            frame(
                "SUBSCRIBE",
                &[("destination", "/queue/a"), ("id", "1")],
                b"",
            ),
            &["CONNECT"],
        ),
        bad(
            "DISCONNECT before CONNECT",
            None,
            frame("DISCONNECT", &[("receipt", "d")], b""),
            &["CONNECT"],
        )
        .receipt("d"),
        bad(
            "MESSAGE before CONNECT",
            None,
            frame("MESSAGE", &[("destination", "/queue/a")], b""),
            &["CONNECT"],
        ),
        bad(
            "unknown command before CONNECT",
            None,
            frame("HELLO", &[], b""),
            &["unknown", "HELLO"],
        ),
        bad(
            "lower-case connect",
            None,
            frame("connect", &[("accept-version", "1.2")], b""),
            &["unknown"],
        ),
        bad(
            "HTTP request",
            None,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &["unknown"],
        ),
        bad(
            "NUL byte as command",
            None,
            b"\0\n\n\0".to_vec(),
            &["unknown"],
        ),
        bad(
            "too many headers in CONNECT",
            None,
            {
                let names: Vec<String> = (0..1001).map(|i| format!("h{i}")).collect();
                let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
                frame("CONNECT", &headers, b"")
            },
            &["too many headers"],
        ),
    ];
    run_bad_cases(&b, cases);
}

#[test]
fn errors_for_bad_frames_after_connect() {
    let b = Baton::start();
    let v12 = Some("1.2");
    let v11 = Some("1.1");
    let v10 = Some("1.0");
    let send = |extra: &[(&'static str, &'static str)]| {
        let mut h = vec![("destination", "/queue/a"), ("receipt", "r")];
        h.extend_from_slice(extra);
        frame("SEND", &h, b"x")
    };
    let cases = vec![
        bad(
            "unknown command",
            v12,
            frame("BOGUS", &[], b""),
            &["unknown", "BOGUS"],
        ),
        bad(
            "lower-case send",
            v12,
            frame("send", &[("destination", "/queue/a")], b""),
            &["unknown"],
        ),
        bad(
            "second CONNECT",
            v12,
            frame(
                "CONNECT",
                &[("accept-version", "1.2"), ("receipt", "c2")],
                b"",
            ),
            &["already connected"],
        )
        .receipt("c2"),
        bad(
            "STOMP after CONNECT",
            v11,
            frame("STOMP", &[("accept-version", "1.1")], b""),
            &["already connected"],
        ),
        bad(
            "SEND without destination",
            v12,
            frame("SEND", &[("receipt", "r1")], b"x"),
            &["destination"],
        )
        .receipt("r1"),
        bad(
            "SEND to /foo/x",
            v12,
            frame(
                "SEND",
                &[("destination", "/foo/x"), ("receipt", "r2")],
                b"x",
            ),
            &["/foo/x"],
        )
        .receipt("r2"),
        bad(
            "SEND to an empty queue name",
            v10,
            frame("SEND", &[("destination", "/queue/")], b""),
            &["/queue/"],
        ),
        bad(
            "priority 10",
            v12,
            send(&[("priority", "10")]),
            &["priority"],
        )
        .receipt("r"),
        bad(
            "priority -1",
            v12,
            send(&[("priority", "-1")]),
            &["priority"],
        )
        .receipt("r"),
        bad(
            "priority not a number",
            v11,
            send(&[("priority", "high")]),
            &["priority"],
        )
        .receipt("r"),
        bad(
            "expires negative",
            v12,
            send(&[("expires", "-5")]),
            &["expires"],
        )
        .receipt("r"),
        bad(
            "expires not a number",
            v10,
            send(&[("expires", "tomorrow")]),
            &["expires"],
        )
        .receipt("r"),
        bad(
            "SEND in an unknown transaction",
            v12,
            send(&[("transaction", "nope")]),
            &["nope"],
        )
        .receipt("r"),
        bad(
            "SUBSCRIBE without id in 1.1",
            v11,
            frame(
                "SUBSCRIBE",
                &[("destination", "/queue/a"), ("receipt", "s")],
                b"",
            ),
            &["'id'"],
        )
        .receipt("s"),
        bad(
            "SUBSCRIBE without id in 1.2",
            v12,
            frame("SUBSCRIBE", &[("destination", "/queue/a")], b""),
            &["'id'"],
        ),
        bad(
            "SUBSCRIBE without destination",
            v12,
            frame("SUBSCRIBE", &[("id", "1")], b""),
            &["destination"],
        ),
        bad(
            "SUBSCRIBE to /foo/x",
            v12,
            frame("SUBSCRIBE", &[("id", "1"), ("destination", "/foo/x")], b""),
            &["/foo/x"],
        ),
        bad(
            "SUBSCRIBE with a bad ack mode",
            v12,
            frame(
                "SUBSCRIBE",
                &[
                    ("id", "1"),
                    ("destination", "/queue/a"),
                    ("ack", "sometimes"),
                    ("receipt", "k"),
                ],
                b"",
            ),
            &["ack", "sometimes"],
        )
        .receipt("k"),
        bad(
            "SUBSCRIBE with prefetch 0",
            v12,
            frame(
                "SUBSCRIBE",
                &[
                    ("id", "1"),
                    ("destination", "/queue/a"),
                    ("activemq.prefetchSize", "0"),
                ],
                b"",
            ),
            &["prefetchSize"],
        ),
        bad("SUBSCRIBE with a duplicate id", v12, sub12("dup"), &["dup"])
            .setup(sub12("dup"), "setup-dup"),
        bad(
            "UNSUBSCRIBE of an unknown id",
            v12,
            frame("UNSUBSCRIBE", &[("id", "ghost"), ("receipt", "u")], b""),
            &["ghost"],
        )
        .receipt("u"),
        bad(
            "UNSUBSCRIBE without id in 1.2",
            v12,
            frame("UNSUBSCRIBE", &[], b""),
            &["'id'"],
        ),
        bad(
            "ACK of an unknown id (1.2)",
            v12,
            frame("ACK", &[("id", "999:s"), ("receipt", "a")], b""),
            &["999"],
        )
        .setup(sub12("s"), "setup-s")
        .receipt("a"),
        bad(
            "NACK of an unknown id (1.2)",
            v12,
            frame("NACK", &[("id", "999:s")], b""),
            &["999"],
        )
        .setup(sub12("s"), "setup-s"),
        bad(
            "ACK on an unknown subscription (1.2)",
            v12,
            frame("ACK", &[("id", "1:nosuch")], b""),
            &["nosuch"],
        ),
        bad(
            "ACK id not issued by the broker (1.2)",
            v12,
            frame("ACK", &[("id", "garbage")], b""),
            &["garbage"],
        ),
        bad(
            "ACK with 1.1 headers in 1.2",
            v12,
            frame("ACK", &[("message-id", "1"), ("subscription", "s")], b""),
            &["'id'"],
        )
        .setup(sub12("s"), "setup-s"),
        bad(
            "ACK with only id in 1.1",
            v11,
            frame("ACK", &[("id", "1:s")], b""),
            &["'message-id'"],
        ),
        bad(
            "ACK without subscription in 1.1",
            v11,
            frame("ACK", &[("message-id", "1")], b""),
            &["'subscription'"],
        ),
        bad(
            "ACK of an unknown message-id (1.0)",
            v10,
            frame("ACK", &[("message-id", "12345"), ("receipt", "a")], b""),
            &["12345"],
        )
        .receipt("a"),
        bad(
            "ACK in an unknown transaction",
            v12,
            frame("ACK", &[("id", "1:s"), ("transaction", "tx-none")], b""),
            &["tx-none"],
        )
        .setup(sub12("s"), "setup-s"),
        bad(
            "COMMIT of an unknown transaction",
            v12,
            frame("COMMIT", &[("transaction", "t9"), ("receipt", "c")], b""),
            &["t9"],
        )
        .receipt("c"),
        bad(
            "ABORT of an unknown transaction",
            v11,
            frame("ABORT", &[("transaction", "t9")], b""),
            &["t9"],
        ),
        bad(
            "COMMIT after ABORT",
            v12,
            frame("COMMIT", &[("transaction", "t1")], b""),
            &["t1"],
        )
        .setup(
            frame("BEGIN", &[("transaction", "t1"), ("receipt", "b")], b""),
            "b",
        )
        .setup(
            frame("ABORT", &[("transaction", "t1"), ("receipt", "ab")], b""),
            "ab",
        ),
        bad(
            "duplicate BEGIN",
            v12,
            frame("BEGIN", &[("transaction", "t1"), ("receipt", "b2")], b""),
            &["t1", "already"],
        )
        .setup(
            frame("BEGIN", &[("transaction", "t1"), ("receipt", "b1")], b""),
            "b1",
        )
        .receipt("b2"),
        bad(
            "BEGIN without transaction",
            v12,
            frame("BEGIN", &[], b""),
            &["transaction"],
        ),
        bad(
            "MESSAGE from a client",
            v12,
            frame(
                "MESSAGE",
                &[("destination", "/queue/a"), ("receipt", "m")],
                b"x",
            ),
            &["MESSAGE"],
        )
        .receipt("m"),
        bad(
            "RECEIPT from a client",
            v11,
            frame("RECEIPT", &[("receipt-id", "1")], b""),
            &["RECEIPT"],
        ),
        bad(
            "CONNECTED from a client",
            v12,
            frame("CONNECTED", &[], b""),
            &["CONNECTED"],
        ),
        bad(
            "ERROR from a client",
            v10,
            frame("ERROR", &[("message", "hi")], b""),
            &["ERROR"],
        ),
    ];
    run_bad_cases(&b, cases);
}

#[test]
fn errors_for_malformed_frames() {
    let b = Baton::start();
    let v12 = Some("1.2");
    let v11 = Some("1.1");
    let cases = vec![
        bad(
            "invalid escape \\t in 1.2",
            v12,
            frame("SEND", &[("destination", "/queue/a"), ("h", "a\\tb")], b""),
            &["escape"],
        ),
        bad(
            "trailing backslash in 1.2",
            v12,
            frame("SEND", &[("destination", "/queue/a"), ("h", "ab\\")], b""),
            &["escape"],
        ),
        bad(
            "invalid escape in a header name",
            v12,
            frame("SEND", &[("destination", "/queue/a"), ("h\\x", "v")], b""),
            &["escape"],
        ),
        bad(
            "\\r escape in 1.1",
            v11,
            frame("SEND", &[("destination", "/queue/a"), ("h", "a\\rb")], b""),
            &["escape"],
        ),
        bad(
            "header without a colon",
            v12,
            b"SEND\ndestination:/queue/a\nnocolon\n\n\0".to_vec(),
            &["':'"],
        ),
        bad(
            "header with an empty name",
            v12,
            b"SEND\ndestination:/queue/a\n:value\n\n\0".to_vec(),
            &["empty header name"],
        ),
        bad(
            "content-length not a number",
            v12,
            frame(
                "SEND",
                &[("destination", "/queue/a"), ("content-length", "three")],
                b"abc",
            ),
            &["content-length"],
        ),
        bad(
            "negative content-length",
            v12,
            frame(
                "SEND",
                &[("destination", "/queue/a"), ("content-length", "-1")],
                b"",
            ),
            &["content-length"],
        ),
        bad(
            "content-length shorter than the body",
            v12,
            frame(
                "SEND",
                &[("destination", "/queue/a"), ("content-length", "2")],
                b"abcdef",
            ),
            &["NUL"],
        ),
        bad(
            "header value not UTF-8",
            v12,
            b"SEND\ndestination:/queue/a\nh:\xff\xfe\n\n\0".to_vec(),
            &["UTF-8"],
        ),
    ];
    run_bad_cases(&b, cases);
}

#[test]
fn limits_are_enforced() {
    let b = Baton::start_with(&[
        "--stomp-max-body-bytes",
        "100",
        "--stomp-max-headers",
        "5",
        "--stomp-max-header-bytes",
        "64",
    ]);
    let v12 = Some("1.2");
    let long_value = "v".repeat(63); // "h:" + 63 = 65 bytes
    let long_line = frame(
        "SEND",
        &[("destination", "/queue/a"), ("h", &long_value)],
        b"",
    );
    let mut unterminated = b"SEND\ndestination:/queue/a\nh:".to_vec();
    unterminated.extend(std::iter::repeat_n(b'y', 10_000));
    let body101 = vec![b'z'; 101];
    let cases = vec![
        bad(
            "body over the limit with content-length",
            v12,
            frame(
                "SEND",
                &[("destination", "/queue/a"), ("content-length", "101")],
                &body101,
            ),
            &["body too large", "100"],
        ),
        bad(
            "body over the limit without content-length",
            v12,
            frame("SEND", &[("destination", "/queue/a")], &body101),
            &["body too large"],
        ),
        bad(
            "huge content-length, body never sent",
            v12,
            b"SEND\ndestination:/queue/a\ncontent-length:1000000000\n\n".to_vec(),
            &["body too large"],
        ),
        bad(
            "endless body without NUL",
            v12,
            {
                let mut v = b"SEND\ndestination:/queue/a\n\n".to_vec();
                v.extend(std::iter::repeat_n(b'x', 5000));
                v
            },
            &["body too large"],
        ),
        bad(
            "too many headers",
            v12,
            frame(
                "SEND",
                &[
                    ("destination", "/queue/a"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                    ("d", "4"),
                    ("e", "5"),
                ],
                b"",
            ),
            &["too many headers", "5"],
        ),
        bad("header line too long", v12, long_line, &["too long", "64"]),
        bad("unterminated header line", v12, unterminated, &["too long"]),
        bad("command line too long", v12, vec![b'S'; 200], &["too long"]),
        bad(
            "too many headers in CONNECT",
            None,
            frame(
                "CONNECT",
                &[
                    ("accept-version", "1.2"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                    ("d", "4"),
                    ("e", "5"),
                ],
                b"",
            ),
            &["too many headers"],
        ),
    ];
    run_bad_cases(&b, cases);

    // Exactly at the limits is fine.
    let mut raw = connect(&b.stomp, "1.2");
    subscribe(&mut raw, Version::V1_2, "/queue/edge", "s", "auto");
    let at_limit = "v".repeat(62); // "h:" + 62 = 64 bytes
    let body100 = vec![b'q'; 100];
    raw.write(&frame(
        "SEND",
        &[
            ("destination", "/queue/edge"),
            ("h", &at_limit),
            ("content-length", "100"),
            ("receipt", "a"),
        ],
        &body100,
    ));
    raw.write(&frame(
        "SEND",
        &[
            ("destination", "/queue/edge"),
            ("x", "1"),
            ("y", "2"),
            ("z", "3"),
            ("receipt", "b"),
        ],
        &body100,
    ));
    let got = receipts(&mut raw, Version::V1_2, &["a", "b"]);
    let got = messages(&mut raw, Version::V1_2, got, 2);
    assert_eq!(got[0].header("h"), Some(at_limit.as_str()));
    assert_eq!(&got[0].body[..], &body100[..]);
    assert_eq!(got[1].header("z"), Some("3"));
    assert_eq!(&got[1].body[..], &body100[..]);
}

// ---------------------------------------------------------------------------
// fuzz

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fuzz_input(rng: &mut XorShift, seeds: &[Vec<u8>]) -> Vec<u8> {
    const STRUCTURAL: &[u8] = b"\n\r\0:\\cnrt-0123456789SENDACKCONNECTcontent-length/queue/\xff ";
    match rng.below(3) {
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        1 => (0..rng.below(120))
            .map(|_| STRUCTURAL[rng.below(STRUCTURAL.len())])
            .collect(),
        _ => {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let len = input.len();
                match rng.below(5) {
                    0 if len > 0 => {
                        let i = rng.below(len);
                        input[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(len + 1);
                        input.insert(i, STRUCTURAL[rng.below(STRUCTURAL.len())]);
                    }
                    2 if len > 0 => {
                        input.remove(rng.below(len));
                    }
                    3 => input.truncate(rng.below(len + 1)),
                    _ => {
                        let a = rng.below(len + 1);
                        let b = (a + rng.below(16)).min(len);
                        let chunk = input[a..b].to_vec();
                        let at = rng.below(len + 1);
                        input.splice(at..at, chunk);
                    }
                }
            }
            input
        }
    }
}

#[tokio::test]
async fn garbage_never_takes_the_broker_down() {
    let b = Baton::start_with(&[
        "--stomp-max-body-bytes",
        "1000",
        "--stomp-max-headers",
        "20",
    ]);
    let connect12 = frame(
        "CONNECT",
        &[("accept-version", "1.2"), ("heart-beat", "0,0")],
        b"",
    );
    let mut seeds: Vec<Vec<u8>> = vec![
        connect12.clone(),
        frame("STOMP", &[("accept-version", "1.0,1.1")], b""),
        frame("CONNECT", &[], b""),
    ];
    let tails = [
        frame(
            "SEND",
            &[("destination", "/queue/fz"), ("receipt", "1")],
            b"hi",
        ),
        frame(
            "SEND",
            &[
                ("destination", "/topic/fz"),
                ("content-length", "3"),
                ("h", "a\\cb"),
            ],
            b"a\0b",
        ),
        frame(
            "SUBSCRIBE",
            &[("destination", "/queue/fz"), ("id", "0"), ("ack", "client")],
            b"",
        ),
        frame("ACK", &[("id", "1:0")], b""),
        frame("BEGIN", &[("transaction", "t")], b""),
        frame("DISCONNECT", &[("receipt", "9")], b""),
    ];
    for t in &tails {
        let mut s = connect12.clone();
        s.extend_from_slice(t);
        seeds.push(s);
        seeds.push(t.clone());
    }
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut errors = 0;
    for i in 0..500 {
        let input = fuzz_input(&mut rng, &seeds);
        let mut raw = Raw::connect(&b.stomp);
        raw.try_write(&input);
        // Half-close: an incomplete frame can never complete, so the
        // broker must end the session instead of waiting.
        let _ = raw.stream.shutdown(Shutdown::Write);
        let mut seen_error = false;
        loop {
            match raw.next_incoming(Version::V1_0) {
                Incoming::Closed => break,
                Incoming::TimedOut => panic!(
                    "input {i} {:?}: the broker neither answered nor closed",
                    String::from_utf8_lossy(&input)
                ),
                Incoming::Frame(f, _) => {
                    assert!(!seen_error, "input {i}: frame after ERROR: {f:?}");
                    match f.command {
                        Command::Error => {
                            seen_error = true;
                            errors += 1;
                            assert!(f.header("message").is_some(), "{f:?}");
                        }
                        Command::Connected | Command::Receipt | Command::Message => {}
                        other => panic!("input {i}: server sent {other}"),
                    }
                }
            }
        }
    }
    assert!(
        errors > 100,
        "only {errors} inputs were answered with ERROR"
    );
    assert!(!b.log_contains("panicked"), "{}", b.log_text());

    // The broker still serves normal clients.
    let mut consumer = Client::connect(&b.stomp).await.unwrap();
    consumer
        .subscribe("/queue/after-fuzz", "s", "auto", &[])
        .await
        .unwrap();
    let mut producer = Client::connect(&b.stomp).await.unwrap();
    producer
        .send("/queue/after-fuzz", "still here", &[])
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), consumer.next_message())
        .await
        .expect("no MESSAGE within 10 s")
        .unwrap();
    assert_eq!(&m.body[..], b"still here");
}

#[test]
fn unsupported_version_error_lists_the_supported_ones() {
    let b = Baton::start();
    let mut raw = Raw::connect(&b.stomp);
    raw.write(b"CONNECT\naccept-version:2.0,3.0\nhost:x\n\n\0");
    let e = raw.read_frame().expect("ERROR frame");
    assert_eq!(e.command, Command::Error);
    assert_eq!(e.header("version"), Some("1.0,1.1,1.2"));
    assert!(raw.closed());
}

#[test]
fn over_long_destination_names_are_refused_with_a_clear_error() {
    let b = Baton::start();
    let mut raw = Raw::connect(&b.stomp);
    raw.write(b"CONNECT\naccept-version:1.2\nhost:x\n\n\0");
    assert_eq!(
        raw.read_frame().expect("CONNECTED").command,
        Command::Connected
    );
    let name = "x".repeat(baton::message::MAX_NAME_CHARS + 1);
    raw.write(
        format!("SEND\ndestination:/queue/{name}\npersistent:true\nreceipt:r\n\nbody\0").as_bytes(),
    );
    let e = raw.read_frame().expect("ERROR frame");
    assert_eq!(e.command, Command::Error);
    assert_eq!(e.header("receipt-id"), Some("r"));
    assert!(
        e.header("message").unwrap_or("").contains("too long"),
        "{e:?}"
    );
    assert!(raw.closed());
}
