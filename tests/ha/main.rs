//! High availability: master/slave on a shared database, on each backend,
//! and the stores' election and fencing primitives against real servers
//! (docs/high-availability.md, docs/design.md).

#[path = "../common/mod.rs"]
mod common;

#[macro_use]
mod shared_database;

mod mariadb;
mod openwire;
mod postgres;
mod sqlite;
mod store_backends;
