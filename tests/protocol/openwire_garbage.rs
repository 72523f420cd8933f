//! OpenWire: Baton's answer to bad frames from a raw socket
//! (../shared/OPENWIRE.md §5.3 item 38, §6.2). Each bad input closes its
//! connection, the broker stays up, and a connection opened before keeps
//! working. The valid frames are the golden frames of a real 5.17.2 client
//! (OPENWIRE.md Appendix A), edited byte by byte; no client is written
//! here. The Java client's own oversized sends are in
//! tests/clients/openwire_java.rs (`oversized_message`).

use super::helpers::*;
use super::openwire_golden::*;

/// One bad input and where it is sent.
struct Case {
    what: &'static str,
    /// Sent after the handshake (else as the very first bytes).
    after_handshake: bool,
    /// Sent after the ConnectionInfo (implies the handshake).
    after_connect: bool,
    bytes: Vec<u8>,
    /// Half-close after writing (a frame that can never complete).
    half_close: bool,
}

fn cases() -> Vec<Case> {
    let mut bad_magic = hex(CLIENT_WIREFORMAT);
    bad_magic[8] = b'X'; // "ActiveMX"
    let mut long_string = hex(CONNECTION_INFO);
    // connectionId.value: its u16 length 0x001d becomes 0x7fff, past the
    // end of the frame.
    assert_eq!(&long_string[9..11], &[0x00, 0x1d]);
    long_string[9..11].copy_from_slice(&[0x7f, 0xff]);
    let mut negative_count = hex(PRODUCER_INFO);
    let tail = negative_count.len() - 6;
    negative_count.truncate(tail);
    // brokerPath present with count -32768.
    negative_count.extend_from_slice(&[0x01, 0x80, 0x00, 0x00, 0, 0, 0, 0]);
    let mut truncated = 0x100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&hex(PRODUCER_INFO)[..20]);
    let case = |what, after_handshake, after_connect, bytes, half_close| Case {
        what,
        after_handshake,
        after_connect,
        bytes,
        half_close,
    };
    vec![
        case("bad magic", false, false, framed(&bad_magic), false),
        case(
            "a ConnectionInfo before the WireFormatInfo",
            false,
            false,
            framed(&hex(CONNECTION_INFO)),
            false,
        ),
        case(
            "a negative frame size",
            false,
            false,
            vec![0xff, 0xff, 0xff, 0xfe, 0x01, 0x00],
            false,
        ),
        case(
            "a 1 GiB frame before the handshake",
            false,
            false,
            [&0x4000_0000u32.to_be_bytes()[..], &[0x01; 64]].concat(),
            false,
        ),
        case(
            "a 1 MiB frame after the handshake, before the ConnectionInfo",
            true,
            false,
            [&0x0010_0000u32.to_be_bytes()[..], &[0x1c; 64]].concat(),
            false,
        ),
        case(
            "an unknown type byte",
            true,
            false,
            framed(&[0xee, 0, 0, 0, 2, 0]),
            false,
        ),
        case(
            "a string length past the end of the frame",
            true,
            false,
            framed(&long_string),
            false,
        ),
        case(
            "a negative array count",
            true,
            true,
            framed(&negative_count),
            false,
        ),
        case(
            "a truncated frame, then end of input",
            true,
            true,
            truncated,
            true,
        ),
        case(
            "a frame above twice the frame limit",
            true,
            true,
            [&0x7fff_0000u32.to_be_bytes()[..], &[0x1c; 64]].concat(),
            false,
        ),
    ]
}

#[test]
fn bad_frames_close_only_their_connection() {
    let b = Baton::start();
    let addr = b.openwire();
    // Bystanders opened before the bad input: an OpenWire connection that
    // logged in, and a STOMP one.
    let mut bystander = handshaken(&addr);
    bystander.write(&framed(&hex(CONNECTION_INFO)));
    let (kind, _) = read_frame_head(&mut bystander);
    assert_eq!(kind, 0x1e, "Response to the bystander's ConnectionInfo");
    let (mut stomp, _) = connect_raw(&b.stomp, "1.2", None);
    for case in cases() {
        let mut raw = if case.after_handshake || case.after_connect {
            handshaken(&addr)
        } else {
            Raw::connect(&addr)
        };
        if case.after_connect {
            // Client id "cid-2": the bystander holds "cid-1".
            let other_client = CONNECTION_INFO.replacen("056369642d31", "056369642d32", 1);
            raw.write(&framed(&hex(&other_client)));
            assert_eq!(read_frame_head(&mut raw).0, 0x1e, "{}: Response", case.what);
        }
        raw.try_write(&case.bytes);
        if case.half_close {
            let _ = raw.stream.shutdown(Shutdown::Write);
        }
        assert!(
            raw.closed(),
            "{}: the broker neither closed the connection nor ended its read timeout",
            case.what
        );
        // The bystanders are unaffected.
        bystander.write(&framed(&hex(&CONNECTION_INFO.replacen(
            "0300000001",
            "0300000009",
            1,
        ))));
        let (kind, _) = read_frame_head(&mut bystander);
        assert_eq!(kind, 0x1e, "{}: the bystander is answered", case.what);
        stomp.write(&frame(
            "SEND",
            &[("destination", "/queue/bystander"), ("receipt", "r")],
            case.what.as_bytes(),
        ));
        let receipt = stomp.read_frame().expect("RECEIPT");
        assert_eq!(receipt.command, Command::Receipt, "{}", case.what);
        assert!(
            !b.log_contains("panicked"),
            "{}: a panic in the broker:\n{}",
            case.what,
            b.log_text()
        );
    }
    // And a new connection still gets the whole handshake.
    handshaken(&addr);
}
