//! Golden OpenWire frames of a real 5.17.2 client (../shared/OPENWIRE.md
//! Appendix A) and the raw-socket helpers the OpenWire protocol tests
//! share: no client is written here, only captured bytes replayed.

use super::helpers::*;

/// A.1: the 5.17.2 client's WireFormatInfo (v12, loose, no cache), without
/// its size prefix.
pub const CLIENT_WIREFORMAT: &str = concat!(
    "014163746976654d510000000c01000001400000000d0011537461636b5472616365456e61626c65640101000f",
    "506c6174666f726d44657461696c730900044a617661000c4361636865456e61626c6564010100115463704e6f",
    "44656c6179456e61626c65640101001253697a6550726566697844697361626c656401000009436163686553",
    "697a650500000400000c50726f76696465724e616d650900084163746976654d5100145469676874456e636f",
    "64696e67456e61626c65640101000c4d61784672616d6553697a65067fffffffffffffff00154d6178496e61",
    "637469766974794475726174696f6e06000000000000753000204d6178496e61637469766974794475726174",
    "696f6e496e6974616c44656c617906000000000000271000134d61784672616d6553697a65456e61626c6564",
    "0101000f50726f766964657256657273696f6e090006352e31372e32",
);

/// A.4: ConnectionInfo #1 (anonymous), without its size prefix.
pub const CONNECTION_INFO: &str = concat!(
    "030000000101017801001d49443a766d2d34353932352d313739363531313831303536342d313a3101000563",
    "69642d31000000000101010000",
);

/// A.12: ProducerInfo #4 on queue TEST.Q, without its size prefix. Its
/// last six bytes are brokerPath (absent), dispatchAsync, windowSize.
pub const PRODUCER_INFO: &str = concat!(
    "060000000401017b01001d49443a766d2d34353932352d313739363531313831303536342d313a3100000000",
    "0000000100000000000000010164010006544553542e51000000000000",
);

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
