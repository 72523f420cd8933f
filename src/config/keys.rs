//! Every configuration key with its type and help text: the one table that
//! drives environment variable names, command-line flags and the table of
//! docs/configuration.md.

use super::{invalid, ConfigError};

/// The type of a key's value, for environment variables and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated in an environment variable or flag.
    List,
}

/// One configuration key.
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// Every key, in the order `--help` and docs/configuration.md list them.
pub const KEYS: &[Key] = &[
    Key {
        name: "node_id",
        kind: Kind::Str,
        help: "node name in the cluster [default: hostname-adminport]",
    },
    Key {
        name: "log.format",
        kind: Kind::Str,
        help: "text or json [default: text]",
    },
    Key {
        name: "log.level",
        kind: Kind::Str,
        help: "tracing filter, e.g. info or baton=debug [default: info]",
    },
    Key {
        name: "database.url",
        kind: Kind::Str,
        help: "store URL, sqlx or JDBC (jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://) [default: sqlite:./data/baton.db]",
    },
    Key {
        name: "database.username",
        kind: Kind::Str,
        help: "database user, filled into the URL (must agree with a user in the URL) [default: none]",
    },
    Key {
        name: "database.password",
        kind: Kind::Str,
        help: "database password, filled into the URL (error if the URL has one too); never logged [default: none]",
    },
    Key {
        name: "database.table_prefix",
        kind: Kind::Str,
        help: "prefix of every table [default: baton_]",
    },
    Key {
        name: "database.write_queue",
        kind: Kind::Int,
        help: "write requests queued before producers wait [default: 4096]",
    },
    Key {
        name: "database.max_batch",
        kind: Kind::Int,
        help: "most operations per group commit [default: 2000]",
    },
    Key {
        name: "database.commit_wait_us",
        kind: Kind::Int,
        help: "microseconds a group commit waits for more requests when the commits before it were shared by several producers, so the producers confirmed by the last commit join the next one (0 = never wait) [default: 0]",
    },
    Key {
        name: "database.pipeline",
        kind: Kind::Int,
        help: "group commits in flight at once, each on its own connection; waiters complete in order (PostgreSQL, MySQL/MariaDB; SQLite always 1) [default: 1]",
    },
    Key {
        name: "database.sqlite_synchronous",
        kind: Kind::Str,
        help: "SQLite: full (fsync per commit) or normal (survives crashes, not power loss) [default: full]",
    },
    Key {
        name: "database.pool_size",
        kind: Kind::Int,
        help: "connections per pool (PostgreSQL, MySQL) [default: 8]",
    },
    Key {
        name: "database.connect_timeout_ms",
        kind: Kind::Int,
        help: "wait for a database connection [default: 5000]",
    },
    Key {
        name: "database.statement_timeout_ms",
        kind: Kind::Int,
        help: "longest one statement may run [default: 5000]",
    },
    Key {
        name: "database.vacuum_interval_ms",
        kind: Kind::Int,
        help: "PostgreSQL: the master runs VACUUM on the message table this often, 0 = only autovacuum [default: 10000]",
    },
    Key {
        name: "stomp.listen",
        kind: Kind::Str,
        help: "STOMP address [default: 127.0.0.1:61613]",
    },
    Key {
        name: "openwire.listen",
        kind: Kind::Str,
        help: "OpenWire (ActiveMQ Java client) address, empty = off; TLS with the stomp.tls_* files [default: 127.0.0.1:61616]",
    },
    Key {
        name: "openwire.max_frame_bytes",
        kind: Kind::Int,
        help: "largest OpenWire frame, advertised to clients as MaxFrameSize [default: 104857600]",
    },
    Key {
        name: "stomp.max_body_bytes",
        kind: Kind::Int,
        help: "largest message body [default: 104857600]",
    },
    Key {
        name: "stomp.max_headers",
        kind: Kind::Int,
        help: "most headers per frame [default: 1000]",
    },
    Key {
        name: "stomp.max_header_bytes",
        kind: Kind::Int,
        help: "longest header line [default: 10240]",
    },
    Key {
        name: "stomp.heartbeat_send_ms",
        kind: Kind::Int,
        help: "fastest heart-beat the broker sends, 0 = none [default: 1000]",
    },
    Key {
        name: "stomp.heartbeat_receive_ms",
        kind: Kind::Int,
        help: "fastest heart-beat the broker checks, 0 = none [default: 1000]",
    },
    Key {
        name: "stomp.default_prefetch",
        kind: Kind::Int,
        help: "prefetch without activemq.prefetchSize [default: 1000]",
    },
    Key {
        name: "stomp.max_pending_commits",
        kind: Kind::Int,
        help: "uncommitted sends per connection before reads pause [default: 1024]",
    },
    Key {
        name: "stomp.tls_cert",
        kind: Kind::Str,
        help: "PEM certificate chain file; with stomp.tls_key the STOMP listener speaks TLS only [default: none]",
    },
    Key {
        name: "stomp.tls_key",
        kind: Kind::Str,
        help: "PEM private key file of stomp.tls_cert [default: none]",
    },
    Key {
        name: "stomp.tls_client_ca",
        kind: Kind::Str,
        help: "PEM CA file; when set, clients must present a certificate it signed [default: none]",
    },
    Key {
        name: "websocket.listen",
        kind: Kind::Str,
        help: "STOMP over WebSocket address (ws://, or wss:// with stomp.tls_*), empty = off [default: 127.0.0.1:61614]",
    },
    Key {
        name: "websocket.allowed_origins",
        kind: Kind::List,
        help: "origins whose pages may connect besides the broker's own host name, comma-separated; * = any [default: none]",
    },
    Key {
        name: "admin.listen",
        kind: Kind::Str,
        help: "admin HTTP address [default: 127.0.0.1:8161]",
    },
    Key {
        name: "admin.max_body_bytes",
        kind: Kind::Int,
        help: "largest admin HTTP request body [default: 10485760]",
    },
    Key {
        name: "admin.tls_cert",
        kind: Kind::Str,
        help: "PEM certificate chain file; with admin.tls_key the admin server speaks TLS only [default: none]",
    },
    Key {
        name: "admin.tls_key",
        kind: Kind::Str,
        help: "PEM private key file of admin.tls_cert [default: none]",
    },
    Key {
        name: "admin.tls_client_ca",
        kind: Kind::Str,
        help: "PEM CA file; when set, clients must present a certificate it signed [default: none]",
    },
    Key {
        name: "auth.anonymous",
        kind: Kind::Str,
        help: "STOMP, OpenWire and WebSocket without credentials: auto (only while the messaging listeners are loopback), allow (true) or deny (false) [default: auto]",
    },
    Key {
        name: "broker.max_redeliveries",
        kind: Kind::Int,
        help: "failed deliveries before the DLQ where no [[broker.policy]] sets it [default: 6]",
    },
    Key {
        name: "broker.dlq_prefix",
        kind: Kind::Str,
        help: "dead-letter queue name prefix where no [[broker.policy]] sets it [default: DLQ.]",
    },
    Key {
        name: "broker.topic_pending_limit",
        kind: Kind::Int,
        help: "backlog that disconnects a slow topic subscriber [default: 10000]",
    },
    Key {
        name: "broker.queue_window",
        kind: Kind::Int,
        help: "messages of one queue held in memory; stored messages beyond it are paged in from the database [default: 10000]",
    },
    Key {
        name: "broker.queue_window_bytes",
        kind: Kind::Int,
        help: "body bytes of one queue held in memory, likewise [default: 67108864]",
    },
    Key {
        name: "broker.expiry_check_ms",
        kind: Kind::Int,
        help: "expiry sweep interval [default: 1000]",
    },
    Key {
        name: "broker.producer_retention_hours",
        kind: Kind::Int,
        help: "how long an idle producer's last sequence is kept for duplicate detection [default: 168]",
    },
    Key {
        name: "broker.dispatch_before_commit",
        kind: Kind::Bool,
        help: "deliver persistent queue messages while their insert waits for the commit; an ACK before the insert cancels both (may redeliver after a failed commit) [default: false]",
    },
    Key {
        name: "limits.max_connections",
        kind: Kind::Int,
        help: "open client connections; more are refused with an ERROR [default: 10000]",
    },
    Key {
        name: "limits.max_connections_per_address",
        kind: Kind::Int,
        help: "open client connections from one IP address [default: 1000]",
    },
    Key {
        name: "limits.max_subscriptions_per_connection",
        kind: Kind::Int,
        help: "subscriptions one connection may hold [default: 1000]",
    },
    Key {
        name: "limits.max_transactions_per_connection",
        kind: Kind::Int,
        help: "transactions one connection may have open [default: 1000]",
    },
    Key {
        name: "limits.max_temp_destinations_per_connection",
        kind: Kind::Int,
        help: "temporary queues and topics one connection may hold [default: 1000]",
    },
    Key {
        name: "limits.max_producers_per_connection",
        kind: Kind::Int,
        help: "producers one OpenWire connection may hold open [default: 1000]",
    },
    Key {
        name: "limits.max_unacked_per_consumer",
        kind: Kind::Int,
        help: "unacknowledged messages per subscription; caps activemq.prefetchSize [default: 10000]",
    },
    Key {
        name: "limits.max_non_persistent_bytes",
        kind: Kind::Int,
        help: "memory for non-persistent messages before their producers are slowed [default: 268435456]",
    },
    Key {
        name: "election.mode",
        kind: Kind::Str,
        help: "auto, session or lease; auto = session on PostgreSQL/MySQL, lease on SQLite [default: auto]",
    },
    Key {
        name: "election.lease_ms",
        kind: Kind::Int,
        help: "master lease length [default: 3000]",
    },
    Key {
        name: "election.renew_ms",
        kind: Kind::Int,
        help: "lease renewal interval [default: 750]",
    },
    Key {
        name: "election.retry_ms",
        kind: Kind::Int,
        help: "how often a slave tries for the lock [default: 50]",
    },
    Key {
        name: "election.margin_ms",
        kind: Kind::Int,
        help: "a master steps down lease_ms - margin_ms after its last renewal [default: 500]",
    },
];

impl Key {
    pub fn flag(&self) -> String {
        self.name.replace(['.', '_'], "-")
    }

    pub fn env(&self) -> String {
        format!("BATON_{}", self.name.replace('.', "_").to_uppercase())
    }

    pub(super) fn value(&self, raw: &str, source: &str) -> Result<toml::Value, ConfigError> {
        match self.kind {
            Kind::Str => Ok(toml::Value::String(raw.to_string())),
            Kind::List => Ok(toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            )),
            Kind::Int => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| {
                    invalid(
                        self.name,
                        format!("{source} must be a whole number, got '{raw}'"),
                    )
                }),
            Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(toml::Value::Boolean(true)),
                "false" | "no" | "off" | "0" => Ok(toml::Value::Boolean(false)),
                _ => Err(invalid(
                    self.name,
                    format!("{source} must be true or false, got '{raw}'"),
                )),
            },
        }
    }
}
