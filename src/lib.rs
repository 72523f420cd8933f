//! Baton: a STOMP message broker with shared-database high availability.
//! See ARCHITECTURE.md for how a message travels through these modules.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod election;
pub mod import;
pub mod listener;
pub mod message;
pub mod metrics;
pub mod node;
pub mod openwire;
pub mod selector;
pub mod status;
pub mod stomp;
pub mod stop;
pub mod store;
pub mod tls;
pub mod wildcard;
