//! Unit tests of the frame parser and encoder, on byte strings.

use super::*;

const V10: Version = Version::V1_0;
const V11: Version = Version::V1_1;
const V12: Version = Version::V1_2;

fn lim() -> Limits {
    Limits::default()
}

fn frame_of(buf: &[u8], version: Version) -> (Frame, usize) {
    match parse(buf, version, &lim()) {
        Ok(Some(Parsed::Frame(f, n))) => (f, n),
        other => panic!("expected a frame from {buf:?}, got {other:?}"),
    }
}

fn err_of(buf: &[u8], version: Version, limits: &Limits) -> FrameError {
    match parse(buf, version, limits) {
        Err(e) => e,
        other => panic!("expected an error from {buf:?}, got {other:?}"),
    }
}

fn encoded(frame: &Frame, version: Version) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode(frame, version, &mut dst);
    dst.to_vec()
}

/// Feeds every proper prefix of `buf[..n]` (stateless and incremental)
/// and checks that each is incomplete, then that the whole buffer gives
/// the expected frame.
fn check_every_split(buf: &[u8], version: Version, limits: &Limits) -> (Frame, usize) {
    let (frame, n) = match parse(buf, version, limits) {
        Ok(Some(Parsed::Frame(f, n))) => (f, n),
        other => panic!("expected a frame from {buf:?}, got {other:?}"),
    };
    let mut parser = Parser::new();
    for k in 0..n {
        assert_eq!(
            parse(&buf[..k], version, limits),
            Ok(None),
            "prefix of {k} bytes of {buf:?}"
        );
        assert_eq!(parser.parse(&buf[..k], version, limits), Ok(None));
    }
    assert_eq!(
        parser.parse(&buf[..n], version, limits),
        Ok(Some(Parsed::Frame(frame.clone(), n)))
    );
    assert!(!parser.is_mid_frame());
    (frame, n)
}

#[test]
fn version_strings() {
    for v in Version::ALL {
        assert_eq!(Version::parse(v.as_str()), Some(v));
        assert_eq!(v.to_string(), v.as_str());
    }
    assert_eq!(Version::parse("1.3"), None);
    assert_eq!(Version::parse(" 1.2"), None);
    assert!(V10 < V11 && V11 < V12);
}

#[test]
fn command_strings() {
    for c in Command::ALL {
        assert_eq!(Command::parse(c.as_str()), Some(c));
        assert_eq!(c.to_string(), c.as_str());
    }
    assert_eq!(Command::parse("send"), None);
    assert_eq!(Command::parse("SEND "), None);
    assert_eq!(Command::parse(""), None);
}

#[test]
fn every_command_parses_in_every_version() {
    for v in Version::ALL {
        for c in Command::ALL {
            let raw = format!("{}\nk:v\n\nbody\0", c.as_str());
            let (f, n) = frame_of(raw.as_bytes(), v);
            assert_eq!(n, raw.len());
            assert_eq!(f.command, c);
            assert_eq!(f.headers, vec![("k".to_owned(), "v".to_owned())]);
            assert_eq!(&f.body[..], b"body");
        }
    }
}

#[test]
fn frame_builders() {
    let mut f = Frame::new(Command::Send)
        .with_header("destination", "/queue/a")
        .with_header("destination", "/queue/b")
        .with_body("hello");
    f.push_header("x", "y");
    assert_eq!(f.header("destination"), Some("/queue/a"));
    assert_eq!(f.header("x"), Some("y"));
    assert_eq!(f.header("nope"), None);
    assert_eq!(&f.body[..], b"hello");
    assert_eq!(Frame::new(Command::Ack).body.len(), 0);
}

#[test]
fn crlf_lines() {
    let raw = b"SEND\r\ndestination:/queue/a\r\nx:y\r\n\r\nhi\0";
    let (f, n) = check_every_split(raw, V12, &lim());
    assert_eq!(n, raw.len());
    assert_eq!(f.header("destination"), Some("/queue/a"));
    assert_eq!(f.header("x"), Some("y"));
    assert_eq!(&f.body[..], b"hi");
    // CR LF is accepted in every version, mixed with bare LF.
    for v in Version::ALL {
        let (f, _) = frame_of(b"SEND\r\na:1\nb:2\r\n\nx\0", v);
        assert_eq!(f.headers.len(), 2);
        assert_eq!(f.header("a"), Some("1"));
        assert_eq!(f.header("b"), Some("2"));
    }
}

#[test]
fn bare_cr_inside_value_is_kept() {
    let (f, _) = frame_of(b"SEND\na:x\ry\n\n\0", V10);
    assert_eq!(f.header("a"), Some("x\ry"));
}

#[test]
fn heartbeats_between_frames() {
    let buf = b"\n\r\nSEND\n\nA\0\n\nMESSAGE\n\nB\0\r\n";
    let mut rest: &[u8] = buf;
    let mut items = Vec::new();
    while let Some(p) = parse(rest, V12, &lim()).unwrap() {
        let n = match &p {
            Parsed::Frame(_, n) | Parsed::Heartbeat(n) => *n,
        };
        rest = &rest[n..];
        items.push(p);
    }
    assert!(rest.is_empty());
    let f = |c, b: &'static str, n| Parsed::Frame(Frame::new(c).with_body(b), n);
    assert_eq!(
        items,
        vec![
            Parsed::Heartbeat(3),
            f(Command::Send, "A", 8),
            Parsed::Heartbeat(2),
            f(Command::Message, "B", 11),
            Parsed::Heartbeat(2),
        ]
    );
}

#[test]
fn lone_cr_handling() {
    assert_eq!(parse(b"", V12, &lim()), Ok(None));
    assert_eq!(parse(b"\r", V12, &lim()), Ok(None));
    assert_eq!(parse(b"\n\r", V12, &lim()), Ok(Some(Parsed::Heartbeat(1))));
    assert_eq!(parse(b"\r\n", V12, &lim()), Ok(Some(Parsed::Heartbeat(2))));
    assert_eq!(parse(b"\n", V10, &lim()), Ok(Some(Parsed::Heartbeat(1))));
    assert_eq!(
        parse(b"\n\n\nSEND", V10, &lim()),
        Ok(Some(Parsed::Heartbeat(3)))
    );
    assert!(matches!(
        parse(b"\rX", V12, &lim()),
        Err(FrameError::UnknownCommand(_))
    ));
}

#[test]
fn frame_split_at_every_offset() {
    let samples: Vec<(Vec<u8>, Version)> = vec![
        (b"SEND\ndestination:/queue/a\n\nhello\0".to_vec(), V10),
        (
            b"SEND\r\ndestination:/q\r\ncontent-length:5\r\n\r\na\0b\0c\0".to_vec(),
            V12,
        ),
        (b"MESSAGE\na\\cb:c\\\\d\\ne\\rf\n\n\0".to_vec(), V12),
        (b"ERROR\nmessage:x\n\nsome text\0\n\n".to_vec(), V11),
        (b"DISCONNECT\nreceipt:77\n\n\0".to_vec(), V11),
        (
            b"CONNECT\naccept-version:1.2\nhost:h\r\n\r\n\0".to_vec(),
            V12,
        ),
        (b"ACK\n\n\0".to_vec(), V12),
    ];
    for (raw, v) in samples {
        let (_, n) = check_every_split(&raw, v, &lim());
        assert_eq!(raw[n - 1], 0);
        // Bytes after the frame are not consumed.
        assert!(raw[n..].iter().all(|&b| b == b'\n'));
    }
}

#[test]
fn many_frames_in_one_buffer() {
    let mut buf = Vec::new();
    for i in 0..200 {
        let f = Frame::new(Command::Send)
            .with_header("destination", format!("/queue/{i}"))
            .with_header("content-length", (i % 7).to_string())
            .with_body(vec![b'\0'; i % 7]);
        buf.extend_from_slice(&encoded(&f, V12));
        if i % 3 == 0 {
            buf.extend_from_slice(b"\r\n");
        }
    }
    let mut rest: &[u8] = &buf;
    let mut frames = 0;
    let mut heartbeats = 0;
    while let Some(p) = parse(rest, V12, &lim()).unwrap() {
        match p {
            Parsed::Frame(f, n) => {
                assert_eq!(f.header("destination"), Some(&*format!("/queue/{frames}")));
                assert_eq!(f.body.len(), frames % 7);
                frames += 1;
                rest = &rest[n..];
            }
            Parsed::Heartbeat(n) => {
                heartbeats += 1;
                rest = &rest[n..];
            }
        }
    }
    assert!(rest.is_empty());
    assert_eq!(frames, 200);
    assert_eq!(heartbeats, 67);
}

#[test]
fn content_length_body_with_embedded_nuls() {
    let raw = b"SEND\ncontent-length:7\n\n\0a\0\0b\0\0\0\n";
    let (f, n) = frame_of(raw, V11);
    assert_eq!(&f.body[..], b"\0a\0\0b\0\0");
    assert_eq!(n, raw.len() - 1);
    assert_eq!(f.header("content-length"), Some("7"));
}

#[test]
fn content_length_zero_and_whitespace() {
    let (f, _) = frame_of(b"SEND\ncontent-length:0\n\n\0", V12);
    assert!(f.body.is_empty());
    let (f, _) = frame_of(b"SEND\ncontent-length: 3 \n\nabc\0", V10);
    assert_eq!(&f.body[..], b"abc");
}

#[test]
fn first_content_length_wins() {
    let (f, _) = frame_of(b"SEND\ncontent-length:2\ncontent-length:9\n\na\0\0", V12);
    assert_eq!(&f.body[..], b"a\0");
    // Later (ignored) duplicates are not validated.
    let (f, _) = frame_of(b"SEND\ncontent-length:1\ncontent-length:zz\n\na\0", V12);
    assert_eq!(&f.body[..], b"a");
}

#[test]
fn bad_content_length() {
    for bad in ["-1", "abc", "", "1.5", "+3", "0x10", "1 2", " "] {
        let raw = format!("SEND\ncontent-length:{bad}\n\nabc\0");
        assert_eq!(
            err_of(raw.as_bytes(), V12, &lim()),
            FrameError::BadContentLength(bad.to_owned()),
            "{bad:?}"
        );
        // Detected as soon as the header line is complete.
        let partial = format!("SEND\ncontent-length:{bad}\n");
        assert!(matches!(
            err_of(partial.as_bytes(), V12, &lim()),
            FrameError::BadContentLength(_)
        ));
    }
    let msg = FrameError::BadContentLength("-1".into()).to_string();
    assert!(
        msg.contains("content-length") && msg.contains("-1"),
        "{msg}"
    );
}

#[test]
fn content_length_mismatch() {
    // Body longer than declared: the byte after content-length isn't NUL.
    assert_eq!(
        err_of(b"SEND\ncontent-length:2\n\nabc\0", V12, &lim()),
        FrameError::MissingNul
    );
    // Body shorter than declared: incomplete until the declared length
    // arrives, then the NUL is missing.
    assert_eq!(
        parse(b"SEND\ncontent-length:3\n\nab\0", V12, &lim()),
        Ok(None)
    );
    assert_eq!(
        err_of(b"SEND\ncontent-length:3\n\nab\0x", V12, &lim()),
        FrameError::MissingNul
    );
    assert!(FrameError::MissingNul.to_string().contains("NUL"));
}

#[test]
fn empty_body() {
    for v in Version::ALL {
        let (f, n) = frame_of(b"BEGIN\ntransaction:tx1\n\n\0", v);
        assert!(f.body.is_empty());
        assert_eq!(n, 24);
        let (f, _) = frame_of(b"DISCONNECT\n\n\0", v);
        assert!(f.headers.is_empty() && f.body.is_empty());
    }
}

#[test]
fn escape_function() {
    let s = "a\\b\nc:d\re";
    assert_eq!(escape(s, V10), s);
    assert_eq!(escape(s, V11), "a\\\\b\\nc\\cd\re");
    assert_eq!(escape(s, V12), "a\\\\b\\nc\\cd\\re");
    assert!(matches!(escape("plain", V12), Cow::Borrowed(_)));
    assert!(matches!(escape("a\rb", V11), Cow::Borrowed(_)));
    assert!(matches!(escape("a:b\\", V10), Cow::Borrowed(_)));
    assert_eq!(escape("é:ü", V12), "é\\cü");
}

#[test]
fn escaping_round_trip_per_version() {
    let value12 = "a:b\\c\nd\re ü";
    let value11 = "a:b\\c\nd e ü";
    let name = "we:ird\\na\nme";

    let f12 = Frame::new(Command::Message)
        .with_header(name, value12)
        .with_body("x");
    let wire = encoded(&f12, V12);
    assert_eq!(
        wire,
        "MESSAGE\nwe\\cird\\\\na\\nme:a\\cb\\\\c\\nd\\re ü\n\nx\0".as_bytes()
    );
    assert_eq!(check_every_split(&wire, V12, &lim()).0, f12);

    let f11 = Frame::new(Command::Send).with_header(name, value11);
    let wire = encoded(&f11, V11);
    assert_eq!(
        wire,
        "SEND\nwe\\cird\\\\na\\nme:a\\cb\\\\c\\nd e ü\n\n\0".as_bytes()
    );
    assert_eq!(frame_of(&wire, V11).0, f11);

    // 1.0: no escaping; values may contain colons and backslashes.
    let f10 = Frame::new(Command::Send).with_header("h", "a:b\\c");
    let wire = encoded(&f10, V10);
    assert_eq!(wire, b"SEND\nh:a:b\\c\n\n\0");
    assert_eq!(frame_of(&wire, V10).0, f10);
}

#[test]
fn connect_frames_are_never_escaped() {
    for v in Version::ALL {
        for c in [Command::Connect, Command::Stomp, Command::Connected] {
            let raw = format!("{c}\npasscode:a\\cb\\x\\\nlogin:u:v\n\n\0");
            let (f, _) = frame_of(raw.as_bytes(), v);
            assert_eq!(f.header("passcode"), Some("a\\cb\\x\\"));
            assert_eq!(f.header("login"), Some("u:v"));
            let out = Frame::new(c).with_header("session", "a:b\\c\rd");
            assert_eq!(
                encoded(&out, v),
                format!("{c}\nsession:a:b\\c\rd\n\n\0").as_bytes()
            );
        }
    }
    // ...while other frames in the same version are.
    let (f, _) = frame_of(b"SEND\npasscode:a\\cb\n\n\0", V12);
    assert_eq!(f.header("passcode"), Some("a:b"));
}

#[test]
fn unescapable_lf_is_neutralised() {
    let f = Frame::new(Command::Message).with_header("x", "a\nb:c\n\nz");
    let wire = encoded(&f, V10);
    assert_eq!(wire, b"MESSAGE\nx:a b:c  z\n\n\0");
    let (back, _) = frame_of(&wire, V10);
    assert_eq!(back.headers.len(), 1);
    let f = Frame::new(Command::Connected).with_header("se\nrver", "a\nb");
    assert_eq!(encoded(&f, V12), b"CONNECTED\nse rver:a b\n\n\0");
}

#[test]
fn invalid_escapes() {
    for v in [V11, V12] {
        for (raw, seq) in [
            (&b"SEND\nh:a\\tb\n\n\0"[..], "\\t"),
            (b"SEND\nh:ab\\\n\n\0", "\\"),
            (b"SEND\nh\\x:v\n\n\0", "\\x"),
            (b"SEND\nh:\\C\n\n\0", "\\C"),
            ("SEND\nh:\\é\n\n\0".as_bytes(), "\\é"),
        ] {
            assert_eq!(
                err_of(raw, v, &lim()),
                FrameError::InvalidEscape(seq.to_owned()),
                "{raw:?}"
            );
            // Accepted verbatim in STOMP 1.0.
            assert!(frame_of(raw, V10).0.headers[0].1.contains('\\') || seq == "\\x");
        }
    }
    // \r is only defined from 1.2 on.
    assert_eq!(
        err_of(b"SEND\nh:a\\rb\n\n\0", V11, &lim()),
        FrameError::InvalidEscape("\\r".into())
    );
    assert_eq!(
        frame_of(b"SEND\nh:a\\rb\n\n\0", V12).0.header("h"),
        Some("a\rb")
    );
    assert_eq!(
        frame_of(b"SEND\nh:a\\rb\n\n\0", V10).0.header("h"),
        Some("a\\rb")
    );
    // The error is reported before the frame is complete.
    assert!(matches!(
        parse(b"SEND\nh:a\\tb\n", V12, &lim()),
        Err(FrameError::InvalidEscape(_))
    ));
    assert!(FrameError::InvalidEscape("\\t".into())
        .to_string()
        .contains("'\\t'"));
}

#[test]
fn repeated_headers_kept_in_order() {
    let (f, _) = frame_of(b"MESSAGE\nfoo:World\nfoo:Hello\nbar:1\nfoo:x\n\n\0", V12);
    assert_eq!(
        f.headers,
        vec![
            ("foo".to_owned(), "World".to_owned()),
            ("foo".to_owned(), "Hello".to_owned()),
            ("bar".to_owned(), "1".to_owned()),
            ("foo".to_owned(), "x".to_owned()),
        ]
    );
    assert_eq!(f.header("foo"), Some("World"));
}

#[test]
fn header_split_at_first_colon() {
    for v in Version::ALL {
        let (f, _) = frame_of(b"SEND\nurl:http://x:80/y\nempty:\n\n\0", v);
        assert_eq!(f.header("url"), Some("http://x:80/y"));
        assert_eq!(f.header("empty"), Some(""));
    }
}

#[test]
fn malformed_header_lines() {
    assert_eq!(
        err_of(b"SEND\nnocolon\n\n\0", V12, &lim()),
        FrameError::MissingColon("nocolon".into())
    );
    assert_eq!(
        err_of(b"SEND\r\nnocolon\r\n\r\n\0", V10, &lim()),
        FrameError::MissingColon("nocolon".into())
    );
    assert_eq!(
        err_of(b"SEND\n:value\n\n\0", V10, &lim()),
        FrameError::EmptyHeaderName(":value".into())
    );
    let msg = FrameError::MissingColon("nocolon".into()).to_string();
    assert!(msg.contains("nocolon") && msg.contains("':'"), "{msg}");
    // Long lines are quoted only partially.
    let long = format!("SEND\n{}\n\n\0", "x".repeat(500));
    match err_of(long.as_bytes(), V12, &lim()) {
        FrameError::MissingColon(s) => assert!(s.len() < 100),
        e => panic!("{e:?}"),
    }
}

#[test]
fn unknown_commands() {
    assert_eq!(
        err_of(b"FOO\n\n\0", V12, &lim()),
        FrameError::UnknownCommand("FOO".into())
    );
    assert_eq!(
        err_of(b"send\n\n\0", V12, &lim()),
        FrameError::UnknownCommand("send".into())
    );
    assert_eq!(
        err_of(b"SEND \n\n\0", V12, &lim()),
        FrameError::UnknownCommand("SEND ".into())
    );
    // A complete line that is a mere prefix of a command is unknown...
    assert!(err_of(b"SEN\n", V12, &lim()).to_string().contains("SEN"));
    // ...but while incomplete it may still become one.
    for partial in [
        &b"S"[..],
        b"SEN",
        b"SEND",
        b"SEND\r",
        b"UNSUBSCRIB",
        b"CONNECTED",
    ] {
        assert_eq!(parse(partial, V12, &lim()), Ok(None), "{partial:?}");
    }
    // Input that cannot become a command fails at once.
    for junk in [
        &b"X"[..],
        b"SENX",
        b"GET / HTTP/1.1",
        b"\0",
        b"\xff",
        b"SEND\rX",
    ] {
        assert!(
            matches!(parse(junk, V12, &lim()), Err(FrameError::UnknownCommand(_))),
            "{junk:?}"
        );
    }
    assert!(matches!(
        parse(b"\xff\xfe\n\n\0", V12, &lim()),
        Err(FrameError::UnknownCommand(_))
    ));
}

#[test]
fn invalid_utf8_headers() {
    for v in Version::ALL {
        assert_eq!(
            err_of(b"SEND\nna\xffme:v\n\n\0", v, &lim()),
            FrameError::InvalidUtf8 {
                context: "header name"
            }
        );
        assert_eq!(
            err_of(b"SEND\nname:\xc3\x28\n\n\0", v, &lim()),
            FrameError::InvalidUtf8 {
                context: "header value"
            }
        );
    }
    // Valid multi-byte UTF-8 is fine, and bodies are opaque bytes.
    let (f, _) = frame_of("SEND\nnäme:välue☃\n\n\u{0}".as_bytes(), V12);
    assert_eq!(f.header("näme"), Some("välue☃"));
    let (f, _) = frame_of(b"SEND\n\n\xff\xfe\0", V12);
    assert_eq!(&f.body[..], b"\xff\xfe");
    assert!(FrameError::InvalidUtf8 {
        context: "header value"
    }
    .to_string()
    .contains("UTF-8"));
}

#[test]
fn nul_in_header_line_is_just_an_octet() {
    // The BNF allows any octet except CR, LF and ':' in header text.
    let (f, _) = frame_of(b"SEND\nh:a\0b\n\nbody\0", V12);
    assert_eq!(f.header("h"), Some("a\0b"));
}

#[test]
fn header_line_length_limit() {
    let limits = Limits {
        max_header_bytes: 10,
        ..lim()
    };
    // Exactly at the limit (EOL not counted), with LF or CR LF.
    check_every_split(b"SEND\na:3456789A\n\n\0", V12, &limits);
    check_every_split(b"SEND\r\na:3456789A\r\n\r\n\0", V12, &limits);
    // One byte over, complete.
    let too_long = FrameError::HeaderTooLong { limit: 10 };
    assert_eq!(err_of(b"SEND\na23456789AB\n\n\0", V12, &limits), too_long);
    // One byte over, incomplete: error before the EOL arrives.
    assert_eq!(err_of(b"SEND\na23456789AB", V12, &limits), too_long);
    // At the limit plus a CR that may be half of CR LF: still incomplete.
    assert_eq!(parse(b"SEND\na23456789A\r", V12, &limits), Ok(None));
    assert_eq!(err_of(b"SEND\na23456789A\rx", V12, &limits), too_long);
    // A huge unterminated line fails without being buffered whole.
    let mut huge = b"SEND\nx:".to_vec();
    huge.extend(std::iter::repeat_n(b'y', 1_000_000));
    assert_eq!(err_of(&huge, V12, &limits), too_long);
    // The command line is subject to the same limit.
    let tiny = Limits {
        max_header_bytes: 4,
        ..lim()
    };
    assert_eq!(
        err_of(b"SUBSCRIBE\n\n\0", V12, &tiny),
        FrameError::HeaderTooLong { limit: 4 }
    );
    assert_eq!(
        err_of(b"SUBSC", V12, &tiny),
        FrameError::HeaderTooLong { limit: 4 }
    );
    check_every_split(b"SEND\n\n\0", V12, &tiny);
    assert!(too_long.to_string().contains("10"));
}

#[test]
fn header_count_limit() {
    let limits = Limits {
        max_headers: 3,
        ..lim()
    };
    check_every_split(b"SEND\na:1\nb:2\nc:3\n\n\0", V12, &limits);
    check_every_split(b"SEND\na:1\nb:2\nc:3\r\n\r\n\0", V12, &limits);
    let too_many = FrameError::TooManyHeaders { limit: 3 };
    assert_eq!(
        err_of(b"SEND\na:1\nb:2\nc:3\nd:4\n\n\0", V12, &limits),
        too_many
    );
    // Incomplete: fails as soon as a fourth header line starts.
    assert_eq!(err_of(b"SEND\na:1\nb:2\nc:3\nd", V12, &limits), too_many);
    assert_eq!(err_of(b"SEND\na:1\nb:2\nc:3\n\rd", V12, &limits), too_many);
    assert_eq!(parse(b"SEND\na:1\nb:2\nc:3\n\r", V12, &limits), Ok(None));
    let none = Limits {
        max_headers: 0,
        ..lim()
    };
    check_every_split(b"DISCONNECT\n\n\0", V12, &none);
    assert_eq!(
        err_of(b"SEND\nx", V12, &none),
        FrameError::TooManyHeaders { limit: 0 }
    );
    assert!(too_many.to_string().contains('3'));
}

#[test]
fn body_limit_with_content_length() {
    let limits = Limits {
        max_body_bytes: 5,
        ..lim()
    };
    check_every_split(b"SEND\ncontent-length:5\n\n12345\0", V12, &limits);
    let too_large = FrameError::BodyTooLarge { limit: 5 };
    assert_eq!(
        err_of(b"SEND\ncontent-length:6\n\n123456\0", V12, &limits),
        too_large
    );
    // Rejected as soon as the header line is complete, before the body.
    assert_eq!(err_of(b"SEND\ncontent-length:6\n", V12, &limits), too_large);
    // Absurd values do not overflow.
    assert_eq!(
        err_of(
            b"SEND\ncontent-length:99999999999999999999999999\n",
            V12,
            &lim()
        ),
        FrameError::BodyTooLarge {
            limit: lim().max_body_bytes
        }
    );
    let unlimited = Limits {
        max_body_bytes: usize::MAX,
        ..lim()
    };
    assert_eq!(
        parse(
            b"SEND\ncontent-length:18446744073709551615\n\nabc",
            V12,
            &unlimited
        ),
        Err(FrameError::BodyTooLarge { limit: usize::MAX })
    );
    assert!(too_large.to_string().contains('5'));
}

#[test]
fn body_limit_without_content_length() {
    let limits = Limits {
        max_body_bytes: 5,
        ..lim()
    };
    check_every_split(b"SEND\n\n12345\0", V12, &limits);
    let too_large = FrameError::BodyTooLarge { limit: 5 };
    assert_eq!(err_of(b"SEND\n\n123456\0", V12, &limits), too_large);
    // Incomplete: exactly max bytes without NUL may still end; one more
    // byte without a NUL can't.
    assert_eq!(parse(b"SEND\n\n12345", V12, &limits), Ok(None));
    assert_eq!(err_of(b"SEND\n\n123456", V12, &limits), too_large);
    let mut big = b"SEND\n\n".to_vec();
    big.resize(1_000_000, b'z');
    assert_eq!(err_of(&big, V12, &limits), too_large);
    let zero = Limits {
        max_body_bytes: 0,
        ..lim()
    };
    check_every_split(b"SEND\n\n\0", V12, &zero);
    assert_eq!(
        err_of(b"SEND\n\nx", V12, &zero),
        FrameError::BodyTooLarge { limit: 0 }
    );
}

#[test]
fn parser_resumes_and_resets() {
    let raw = b"SEND\ndestination:/q\n\nhello\0";
    let mut p = Parser::new();
    assert_eq!(p.parse(&raw[..12], V12, &lim()), Ok(None));
    assert!(p.is_mid_frame());
    assert_eq!(p.expected_len(), None);
    // Shorter buffer than already seen: starts over, no panic.
    assert_eq!(p.parse(&raw[..3], V12, &lim()), Ok(None));
    assert!(!p.is_mid_frame());
    assert_eq!(p.parse(&raw[..25], V12, &lim()), Ok(None));
    // A different version restarts too (same result as stateless).
    assert_eq!(p.parse(raw, V10, &lim()), parse(raw, V10, &lim()));
    assert!(!p.is_mid_frame());
    // Reset after errors.
    assert!(p.parse(b"SEND\nbad\n", V12, &lim()).is_err());
    assert!(!p.is_mid_frame());
    // expected_len with content-length.
    let raw = b"SEND\ncontent-length:4\n\nab";
    assert_eq!(p.parse(raw, V12, &lim()), Ok(None));
    assert_eq!(p.expected_len(), Some(raw.len() - 2 + 4 + 1));
    p.reset();
    assert!(!p.is_mid_frame());
}

#[test]
fn incremental_body_scan_is_linear() {
    // 8 MiB body without content-length, fed 4 KiB at a time. A parser
    // that re-scanned from the start on every call would do ~8 GB of
    // work; this finishes quickly.
    let body_len = 8 << 20;
    let mut buf = b"SEND\ndestination:/q\n\n".to_vec();
    let header_len = buf.len();
    buf.resize(header_len + body_len, b'x');
    buf.push(0);
    let mut p = Parser::new();
    let mut end = 0;
    let result = loop {
        end = (end + 4096).min(buf.len());
        match p.parse(&buf[..end], V12, &lim()) {
            Ok(None) => assert!(end < buf.len()),
            other => break other,
        }
    };
    match result {
        Ok(Some(Parsed::Frame(f, n))) => {
            assert_eq!(n, buf.len());
            assert_eq!(f.body.len(), body_len);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn encode_exact_bytes() {
    let f = Frame::new(Command::Send)
        .with_header("destination", "/queue/a")
        .with_header("receipt", "1")
        .with_body(&b"hi\0there"[..]);
    // No content-length is added by encode.
    assert_eq!(
        encoded(&f, V12),
        b"SEND\ndestination:/queue/a\nreceipt:1\n\nhi\0there\0"
    );
    assert_eq!(
        encoded(&Frame::new(Command::Receipt), V10),
        b"RECEIPT\n\n\0"
    );
    // Appends to what is already in dst.
    let mut dst = BytesMut::from(&b"\n"[..]);
    encode(&Frame::new(Command::Ack), V11, &mut dst);
    assert_eq!(&dst[..], b"\nACK\n\n\0");
}

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
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[test]
fn encode_parse_round_trip_random() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let alphabet = [
        'a', 'Z', '0', ':', '\\', '\n', '\r', ' ', 'é', '☃', 'n', 'c',
    ];
    let commands = [
        Command::Send,
        Command::Message,
        Command::Subscribe,
        Command::Error,
    ];
    for _ in 0..2000 {
        let version = *rng.pick(&[V11, V12]);
        let mut f = Frame::new(*rng.pick(&commands));
        for _ in 0..rng.below(6) {
            let mut text = |min: usize| {
                let len = min + rng.below(8);
                (0..len)
                    .map(|_| *rng.pick(&alphabet))
                    .filter(|&c| version == V12 || c != '\r')
                    .collect::<String>()
            };
            let name = text(1);
            let value = text(0);
            if !name.is_empty() && name != "content-length" {
                f.push_header(name, value);
            }
        }
        let body: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
        if body.contains(&0) || rng.below(2) == 0 {
            f.push_header("content-length", body.len().to_string());
        }
        f.body = body.into();
        let mut wire = encoded(&f, version);
        wire.extend_from_slice(b"\r\n");
        let (back, n) = check_every_split(&wire, version, &lim());
        assert_eq!(back, f);
        assert_eq!(n, wire.len() - 2);
    }
}

/// Mutated and random inputs: parse must never panic, results must be
/// self-consistent, and the incremental parser must agree with the
/// stateless one at every prefix.
#[test]
fn no_panic_on_random_and_mutated_input() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<Vec<u8>> = vec![
        b"SEND\ndestination:/queue/a\ncontent-length:3\n\nabc\0".to_vec(),
        b"MESSAGE\r\nsubscription:1\r\nmessage-id:a\\cb\r\n\r\nhello\0\n".to_vec(),
        b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:x\nheart-beat:0,0\n\n\0".to_vec(),
        b"\n\nSUBSCRIBE\nid:0\ndestination:/t\nack:client\n\n\0\r\n".to_vec(),
        b"ERROR\nmessage:bad\\\\thing\ncontent-length:2\n\n\0\0\0".to_vec(),
        b"ACK\nid:12\n\n\0NACK\nid:13\n\n\0".to_vec(),
    ];
    let structural: &[u8] = b"\n\r\0:\\cnrt-0123456789SENDACKcontent-length\xff\xc3 ";
    let limit_sets = [
        Limits {
            max_body_bytes: 0,
            max_headers: 0,
            max_header_bytes: 0,
        },
        Limits {
            max_body_bytes: 4,
            max_headers: 2,
            max_header_bytes: 8,
        },
        Limits {
            max_body_bytes: 16,
            max_headers: 3,
            max_header_bytes: 24,
        },
        lim(),
    ];
    let mut frames_seen = 0usize;
    for iteration in 0..30_000 {
        let mut input: Vec<u8> = if iteration % 3 == 0 {
            (0..rng.below(64))
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        *rng.pick(structural)
                    }
                })
                .collect()
        } else {
            rng.pick(&seeds).clone()
        };
        if iteration % 3 != 0 {
            for _ in 0..1 + rng.below(4) {
                let len = input.len();
                match rng.below(6) {
                    0 if len > 0 => {
                        let i = rng.below(len);
                        input[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(len + 1);
                        input.insert(i, *rng.pick(structural));
                    }
                    2 if len > 0 => {
                        input.remove(rng.below(len));
                    }
                    3 => input.truncate(rng.below(len + 1)),
                    4 if len > 0 => {
                        let a = rng.below(len);
                        let b = (a + rng.below(8)).min(len);
                        let chunk = input[a..b].to_vec();
                        let at = rng.below(len + 1);
                        input.splice(at..at, chunk);
                    }
                    _ => {
                        let i = rng.below(len + 1);
                        input.insert(i, rng.next() as u8);
                    }
                }
            }
        }
        for version in Version::ALL {
            for limits in &limit_sets {
                // Consume the whole input like a codec would.
                let mut rest: &[u8] = &input;
                while let Ok(Some(p)) = parse(rest, version, limits) {
                    let n = match p {
                        Parsed::Heartbeat(n) => {
                            assert!(n >= 1 && n <= rest.len());
                            assert!(rest[..n].iter().all(|&b| b == b'\n' || b == b'\r'));
                            n
                        }
                        Parsed::Frame(f, n) => {
                            frames_seen += 1;
                            assert!(n >= 1 && n <= rest.len());
                            assert_eq!(rest[n - 1], 0);
                            assert!(f.body.len() <= limits.max_body_bytes);
                            assert!(f.headers.len() <= limits.max_headers);
                            // No proper prefix may be an error or a frame.
                            if rest[0] != b'\n' && rest[0] != b'\r' {
                                for k in 0..n {
                                    assert_eq!(parse(&rest[..k], version, limits), Ok(None));
                                }
                            }
                            n
                        }
                    };
                    rest = &rest[n..];
                }
            }
        }
        // Differential check of the resumable parser, on a subset.
        if iteration % 4 == 0 {
            let version = *rng.pick(&Version::ALL);
            let limits = rng.pick(&limit_sets);
            let mut parser = Parser::new();
            let mut k = 0;
            while k <= input.len() {
                let expected = parse(&input[..k], version, limits);
                assert_eq!(parser.parse(&input[..k], version, limits), expected);
                if expected != Ok(None) {
                    break;
                }
                k += 1 + rng.below(3);
            }
        }
    }
    assert!(frames_seen > 1000, "only {frames_seen} frames parsed");
}
