//! Operations: the `baton serve` process (shutdown, configuration, logs),
//! a load balancer in front of a cluster, the schema version, PostgreSQL
//! vacuuming and the ActiveMQ importer (docs/operations.md,
//! docs/configuration.md, docs/migrating-from-activemq.md).

#[path = "../common/mod.rs"]
mod common;

mod haproxy;
mod import_activemq;
mod pg_vacuum;
mod schema_version;
mod server_process;
