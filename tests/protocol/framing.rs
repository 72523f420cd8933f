//! Framing: frames split across reads, CRLF, many frames in one write,
//! bodies with and without `content-length`, repeated headers.

use super::helpers::*;

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
