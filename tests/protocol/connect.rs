//! CONNECT / STOMP: version negotiation, refused versions, headers.

use super::helpers::*;

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
