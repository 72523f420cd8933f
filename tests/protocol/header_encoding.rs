//! Header value encoding: escaping in 1.1 and 1.2, none in 1.0.

use super::helpers::*;

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
