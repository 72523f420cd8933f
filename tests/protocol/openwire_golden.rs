//! Golden OpenWire frames of a real 5.17.2 client (../shared/OPENWIRE.md
//! Appendix A) and the raw-socket helpers the OpenWire protocol tests
//! share: no client is written here, only captured bytes replayed.

use super::helpers::*;

/// Appendix A as the codec's unit tests hold it (size prefixes included).
#[path = "../../src/openwire/tests/golden.rs"]
#[allow(dead_code)]
mod appendix_a;

/// A.1: the 5.17.2 client's WireFormatInfo (v12, loose, no cache), without
/// its size prefix.
pub const CLIENT_WIREFORMAT: &str = appendix_a::A_1.split_at(8).1;

/// A.4: ConnectionInfo #1 (anonymous), without its size prefix.
pub const CONNECTION_INFO: &str = appendix_a::A_4.split_at(8).1;

/// A.12: ProducerInfo #4 on queue TEST.Q, without its size prefix. Its
/// last six bytes are brokerPath (absent), dispatchAsync, windowSize.
pub const PRODUCER_INFO: &str = appendix_a::A_12.split_at(8).1;

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A frame: the size prefix, then `body` (type byte first).
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = u32::try_from(body.len())
        .expect("size")
        .to_be_bytes()
        .to_vec();
    v.extend_from_slice(body);
    v
}

/// The first frame the broker sends: (type byte, size).
pub fn read_frame_head(raw: &mut Raw) -> (u8, usize) {
    use std::io::Read;
    let mut prefix = [0u8; 4];
    raw.stream.read_exact(&mut prefix).expect("a frame size");
    let size = u32::from_be_bytes(prefix) as usize;
    let mut body = vec![0u8; size];
    raw.stream.read_exact(&mut body).expect("a frame body");
    (body[0], size)
}

/// A connection that did the handshake: the client's WireFormatInfo sent,
/// the broker's WireFormatInfo (type 1) and BrokerInfo (type 2) read.
pub fn handshaken(addr: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.write(&framed(&hex(CLIENT_WIREFORMAT)));
    assert_eq!(read_frame_head(&mut raw).0, 1, "WireFormatInfo first");
    assert_eq!(read_frame_head(&mut raw).0, 2, "then BrokerInfo");
    raw
}
