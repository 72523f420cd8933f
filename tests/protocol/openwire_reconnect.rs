//! OpenWire: a client that reconnects over a new socket while the broker
//! still holds its old one (a failover reconnect that came back before the
//! broker saw the old socket die; ../shared/OPENWIRE.md §3.1). The same
//! ConnectionId wins and the stale socket is closed; another connection
//! with the same client id is still refused. Golden frames of a real
//! 5.17.2 client over raw sockets.

use super::helpers::*;
use super::openwire_golden::*;

/// Response and ExceptionResponse type bytes.
const RESPONSE: u8 = 0x1e;
const EXCEPTION_RESPONSE: u8 = 0x1f;

#[test]
fn the_same_connection_id_on_a_new_socket_replaces_the_stale_one() {
    let b = Baton::start();
    let addr = b.openwire();
    let mut old = handshaken(&addr);
    old.write(&framed(&hex(CONNECTION_INFO)));
    assert_eq!(
        read_frame_head(&mut old).0,
        RESPONSE,
        "the first connection"
    );

    // Another client (another ConnectionId) with the same client id.
    let other_id = CONNECTION_INFO.replacen("766d2d3435393235", "766d2d3435393236", 1);
    assert_ne!(other_id, CONNECTION_INFO);
    let mut other = handshaken(&addr);
    other.write(&framed(&hex(&other_id)));
    assert_eq!(
        read_frame_head(&mut other).0,
        EXCEPTION_RESPONSE,
        "a different connection with a client id in use is refused"
    );

    // The same client again, the old socket still open.
    let mut new = handshaken(&addr);
    new.write(&framed(&hex(CONNECTION_INFO)));
    assert_eq!(
        read_frame_head(&mut new).0,
        RESPONSE,
        "the reconnect of the same ConnectionId is accepted"
    );
    assert!(old.closed(), "the stale socket is closed");
    assert!(
        b.log_contains("its stale connection is closed"),
        "{}",
        b.log_text()
    );
    // The client id is the new socket's now: a third attempt from another
    // ConnectionId is still refused, and the new socket is answered.
    let mut third = handshaken(&addr);
    third.write(&framed(&hex(&other_id)));
    assert_eq!(read_frame_head(&mut third).0, EXCEPTION_RESPONSE);
    new.write(&framed(&hex(&CONNECTION_INFO.replacen(
        "0300000001",
        "0300000009",
        1,
    ))));
    assert_eq!(
        read_frame_head(&mut new).0,
        RESPONSE,
        "the new socket works"
    );
}
