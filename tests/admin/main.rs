//! The admin server: REST API, management operations, cluster view,
//! metrics and the dashboard, against the real binary
//! (docs/admin-api.md, docs/dashboard.md, docs/operations.md "Metrics").

#[path = "../common/mod.rs"]
mod common;

mod api;
mod cluster;
mod dashboard;
mod dashboard_in_chromium;
mod manage;
mod metrics;
mod schemathesis;
