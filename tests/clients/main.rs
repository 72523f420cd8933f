//! Clients: the failover client, `baton send` / `receive`, stomp.py as a
//! real third-party client, `@stomp/stompjs` in Chromium over WebSocket,
//! and the `baton bench` load generator (docs/clients.md,
//! docs/web-applications.md, docs/benchmarks.md).

#[path = "../common/mod.rs"]
mod common;

mod bench;
mod failover_client;
mod openwire_java;
mod send_receive_cli;
mod stomp_py;
mod stompjs_in_chromium;
