//! `GET /metrics`: the process metrics of `crate::metrics` plus a snapshot
//! taken at scrape time (role, per-destination gauges and counters,
//! connections, database pool), in the Prometheus text format 0.0.4.

use super::AdminState;
use crate::broker::DestInfo;
use crate::store::inspect::{Inspect, PoolUsage};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::time::Duration;

#[derive(Debug)]
struct Snapshot {
    dests: Vec<DestInfo>,
    stored: Vec<(String, i64)>,
    connections: Option<usize>,
    pool: Option<PoolUsage>,
}

type Value = fn(&DestInfo) -> u64;

const GAUGES: &[(&str, &str, Value)] = &[
    ("destination_depth", "messages waiting (master)", |d| {
        d.depth as u64
    }),
    (
        "destination_inflight",
        "messages delivered and not yet acknowledged (master)",
        |d| d.inflight as u64,
    ),
    (
        "destination_consumers",
        "consumers / subscribers (master)",
        |d| d.consumers as u64,
    ),
    (
        "destination_producers",
        "connections that sent to the destination and are still connected (master)",
        |d| d.producers as u64,
    ),
];

const COUNTERS: &[(&str, &str, Value)] = &[
    (
        "destination_enqueued",
        "messages routed to the destination in this term",
        |d| d.stats.enqueued,
    ),
    (
        "destination_dequeued",
        "messages consumed in this term",
        |d| d.stats.dequeued,
    ),
    (
        "destination_expired",
        "messages that expired in this term (dropped or dead-lettered)",
        |d| d.stats.expired,
    ),
    (
        "destination_dead_lettered",
        "messages dead-lettered (or discarded by a discard policy) in this term",
        |d| d.stats.dead_lettered,
    ),
];

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for d in &self.dests {
                let labels = [("destination", d.destination.to_string())];
                ConstGauge::new(value(d) as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, value) in COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for d in &self.dests {
                let labels = [("destination", d.destination.to_string())];
                ConstCounter::new(value(d)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "destination_stored",
            "persistent messages in the database",
            None,
            MetricType::Gauge,
        )?;
        for (dest, n) in &self.stored {
            let labels = [("destination", dest.clone())];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        if let Some(n) = self.connections {
            let m = encoder.encode_descriptor(
                "connections",
                "open client connections (master)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(n as i64).encode(m)?;
        }
        if let Some(p) = self.pool {
            let mut family = encoder.encode_descriptor(
                "db_pool_connections",
                "database pool connections by state",
                None,
                MetricType::Gauge,
            )?;
            let busy = p.size.saturating_sub(p.idle);
            for (state, n) in [("idle", p.idle), ("busy", busy)] {
                let labels = [("state", state)];
                ConstGauge::new(i64::from(n)).encode(family.encode_family(&labels)?)?;
            }
            let m = encoder.encode_descriptor(
                "db_pool_max_connections",
                "database pool size limit",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::from(p.max)).encode(m)?;
        }
        Ok(())
    }
}

pub async fn metrics(State(s): State<AdminState>) -> Response {
    let status = &s.status;
    let m = crate::metrics::get();
    m.role_master.set(i64::from(status.is_master()));
    m.epoch.set(status.epoch());
    m.uptime_seconds
        .set((crate::message::now_ms() - status.started_at) as f64 / 1000.0);
    let broker = status.broker();
    let inspect = status.store().map(|st| -> &dyn Inspect { st.as_ref() });
    let stored = match inspect {
        Some(i) => tokio::time::timeout(Duration::from_secs(2), i.depths())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let snapshot = Snapshot {
        dests: broker
            .as_ref()
            .map(|b| b.destinations())
            .unwrap_or_default(),
        stored,
        connections: broker.as_ref().map(|b| b.connection_count()),
        pool: inspect.map(|i| i.pool_usage()),
    };
    let mut registry = crate::metrics::registry();
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}
