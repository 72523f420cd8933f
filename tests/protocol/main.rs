//! The STOMP protocol: conformance to STOMP 1.0, 1.1 and 1.2 and the
//! answer to bad input (and OpenWire's answer to bad frames,
//! `openwire_garbage`, and to a reconnect over a new socket,
//! `openwire_reconnect`), against the real `baton` binary, mostly over raw
//! TCP so that the exact bytes on the wire are under the test's control
//! (docs/messaging.md, "What the broker does"). One module per part of the
//! protocol.
//!
//! Timing: no test asserts how fast anything happens. Sleeps only create
//! the situation under test (split TCP reads, silence longer than a
//! negotiated heart-beat interval); read timeouts (10 s, set by
//! `common::Raw`) only guard against hangs.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod ack_addressing;
mod bad_input;
mod connect;
mod framing;
mod header_encoding;
mod heartbeats;
mod openwire_garbage;
mod openwire_golden;
mod openwire_reconnect;
mod random_garbage;
mod receipts;
mod websocket;
