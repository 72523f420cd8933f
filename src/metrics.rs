//! Process-wide Prometheus metrics (prometheus-client). Hot paths update
//! the counters and histograms here with one call; values that are a
//! snapshot of state (role, destinations, connections, pool) are read at
//! scrape time by `admin::metrics`. One node per process, so one registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::Duration;

/// Every metric updated outside the admin server.
pub struct Metrics {
    pub elections_won: Counter,
    pub elections_lost: Counter,
    pub renew_seconds: Histogram,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub connections_accepted: Counter,
    pub stomp_auth_failures: Counter,
    pub stomp_auth_delayed: Counter,
    pub batch_ops: Histogram,
    pub commit_seconds: Histogram,
    pub commit_failures: Counter,
    /// Times a limit was hit, by the limit's configuration key.
    pub limit_hits: Family<LimitLabel, Counter>,
    /// Bytes of non-persistent messages held by the broker.
    pub non_persistent_bytes: Gauge,
    /// Connections not read from because the non-persistent memory budget
    /// is used up.
    pub flow_controlled: Gauge,
    pub store_cancelled: Counter,
    /// Group commits in doubt, by how the read-back settled them.
    pub commits_in_doubt: Family<OutcomeLabel, Counter>,
    /// Set by the admin server on each scrape.
    pub role_master: Gauge,
    pub epoch: Gauge,
    pub uptime_seconds: Gauge<f64, AtomicU64>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    elections_won: Counter::default(),
    elections_lost: Counter::default(),
    renew_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
    bytes_in: Counter::default(),
    bytes_out: Counter::default(),
    connections_accepted: Counter::default(),
    stomp_auth_failures: Counter::default(),
    stomp_auth_delayed: Counter::default(),
    batch_ops: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
    commit_seconds: Histogram::new(exponential_buckets(0.0002, 2.0, 16)),
    commit_failures: Counter::default(),
    limit_hits: Family::default(),
    non_persistent_bytes: Gauge::default(),
    flow_controlled: Gauge::default(),
    store_cancelled: Counter::default(),
    commits_in_doubt: Family::default(),
    role_master: Gauge::default(),
    epoch: Gauge::default(),
    uptime_seconds: Gauge::default(),
});

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Records one group commit of `ops` operations that took `took`.
pub fn commit(ops: usize, took: Duration, ok: bool) {
    let m = get();
    m.batch_ops.observe(ops as f64);
    m.commit_seconds.observe(took.as_secs_f64());
    if !ok {
        m.commit_failures.inc();
    }
}

/// The label of `limit_hits`: the configuration key of the limit.
pub type LimitLabel = [(&'static str, &'static str); 1];

/// Every limit counted in `limit_hits`, by configuration key.
pub const LIMITS: [&str; 12] = [
    "limits.max_connections",
    "limits.max_connections_per_address",
    "limits.max_subscriptions_per_connection",
    "limits.max_transactions_per_connection",
    "limits.max_temp_destinations_per_connection",
    "limits.max_producers_per_connection",
    "limits.max_unacked_per_consumer",
    "limits.max_non_persistent_bytes",
    "stomp.max_body_bytes",
    "stomp.max_headers",
    "stomp.max_header_bytes",
    "broker.topic_pending_limit",
];

/// Counts one hit of the limit configured by `key` (one of [`LIMITS`]).
pub fn limit_hit(key: &'static str) {
    get().limit_hits.get_or_create(&[("limit", key)]).inc();
}

/// The label of `commits_in_doubt`: how the read-back settled a commit.
pub type OutcomeLabel = [(&'static str, &'static str); 1];

/// Every outcome of a commit in doubt: read back as stored, read back as
/// not stored, or left unsettled (the term ended first, or the batch had
/// no message to read back).
pub const IN_DOUBT_OUTCOMES: [&str; 3] = ["stored", "not_stored", "unsettled"];

/// Counts one commit in doubt settled as `outcome` (one of
/// [`IN_DOUBT_OUTCOMES`]).
pub fn commit_in_doubt(outcome: &'static str) {
    get()
        .commits_in_doubt
        .get_or_create(&[("outcome", outcome)])
        .inc();
}

/// Records messages whose insert and delete met in one batch, so neither
/// reached the database.
pub fn cancelled(messages: usize) {
    get().store_cancelled.inc_by(messages as u64);
}

/// A registry holding the process metrics (names prefixed `baton_`).
pub fn registry() -> Registry {
    let m = get();
    let mut r = Registry::with_prefix("baton");
    r.register(
        "role_master",
        "1 while this node is master, 0 while slave",
        m.role_master.clone(),
    );
    r.register(
        "epoch",
        "epoch of this node's current term as master (0 while slave)",
        m.epoch.clone(),
    );
    r.register_with_unit(
        "uptime",
        "time since this process started",
        Unit::Seconds,
        m.uptime_seconds.clone(),
    );
    r.register(
        "elections_won",
        "terms this node started as master",
        m.elections_won.clone(),
    );
    r.register(
        "elections_lost",
        "terms that ended other than by shutdown (deposed, lease deadline, fenced)",
        m.elections_lost.clone(),
    );
    r.register_with_unit(
        "lease_renew",
        "latency of successful lease renewals",
        Unit::Seconds,
        m.renew_seconds.clone(),
    );
    r.register_with_unit(
        "stomp_received",
        "STOMP bytes read from clients",
        Unit::Bytes,
        m.bytes_in.clone(),
    );
    r.register_with_unit(
        "stomp_sent",
        "STOMP bytes written to clients",
        Unit::Bytes,
        m.bytes_out.clone(),
    );
    r.register(
        "stomp_connections_accepted",
        "STOMP connections accepted",
        m.connections_accepted.clone(),
    );
    r.register(
        "stomp_auth_failures",
        "STOMP logins refused (wrong credentials, or none while anonymous access is off)",
        m.stomp_auth_failures.clone(),
    );
    r.register(
        "stomp_auth_delayed",
        "STOMP logins delayed because of earlier failures from the same address",
        m.stomp_auth_delayed.clone(),
    );
    r.register(
        "store_batch_operations",
        "operations per group-commit transaction",
        m.batch_ops.clone(),
    );
    r.register_with_unit(
        "store_commit",
        "group-commit transaction latency",
        Unit::Seconds,
        m.commit_seconds.clone(),
    );
    r.register(
        "store_commit_failures",
        "group commits that failed",
        m.commit_failures.clone(),
    );
    for key in LIMITS {
        // Present from the start, so a rate over them is defined.
        let _ = m.limit_hits.get_or_create(&[("limit", key)]);
    }
    r.register(
        "limit_hits",
        "times a limit was hit, by the configuration key of the limit",
        m.limit_hits.clone(),
    );
    r.register_with_unit(
        "non_persistent",
        "bodies and headers of non-persistent messages held in memory (master)",
        Unit::Bytes,
        m.non_persistent_bytes.clone(),
    );
    r.register(
        "flow_controlled_connections",
        "connections not read from until memory for non-persistent messages is freed",
        m.flow_controlled.clone(),
    );
    r.register(
        "store_cancelled_messages",
        "persistent messages acknowledged before their insert was committed: insert and delete cancelled out in one batch",
        m.store_cancelled.clone(),
    );
    for outcome in IN_DOUBT_OUTCOMES {
        let _ = m.commits_in_doubt.get_or_create(&[("outcome", outcome)]);
    }
    r.register(
        "store_commits_in_doubt",
        "group commits that timed out or lost their connection after their statements may have reached the database, by how reading them back settled them",
        m.commits_in_doubt.clone(),
    );
    r
}
