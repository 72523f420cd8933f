//! Clients: the failover client, `baton send` / `receive`, stomp.py as a
//! real third-party client, and the `baton bench` load generator
//! (docs/clients.md, docs/benchmarks.md).

#[path = "../common/mod.rs"]
mod common;

mod bench;
mod failover_client;
mod openwire_java;
mod send_receive_cli;
mod stomp_py;
