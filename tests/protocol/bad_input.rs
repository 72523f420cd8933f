//! Bad input: every malformed, oversized or out-of-place frame gets an
//! ERROR (with `receipt-id` when asked) and a closed connection, and the
//! other clients keep working.

use super::helpers::*;

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
            "timestamp not a number",
            v12,
            send(&[("timestamp", "now")]),
            &["timestamp"],
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
