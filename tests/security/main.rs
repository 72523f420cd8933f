//! Security: STOMP login and permissions, TLS, secrets kept out of every
//! output, and the credential commands, against the real binary
//! (docs/security.md).

#[path = "../common/mod.rs"]
mod common;

mod credentials_cli;
mod secrets;
mod stomp_auth;
mod tls;
