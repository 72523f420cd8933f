//! RECEIPT for every frame that asks for one, and DISCONNECT.

use super::helpers::*;

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
