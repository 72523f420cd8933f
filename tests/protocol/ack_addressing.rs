//! ACK / NACK addressing per version: the `ack` header in 1.2,
//! `message-id` + `subscription` in 1.1, `message-id` in 1.0.

use super::helpers::*;

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
