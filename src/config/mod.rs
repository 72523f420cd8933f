//! Configuration: one serde struct filled from a TOML file, then `BATON_*`
//! environment variables, then command-line flags (flags win). Every key has
//! one name in all three places: `database.url` = `BATON_DATABASE_URL` =
//! `--database-url`. Unknown keys and bad values are rejected before
//! anything is bound.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod auth;
mod jdbc;
mod keys;
pub mod limits;
pub mod policy;
mod secrets;
mod tls;
mod validate;
pub mod websocket;
pub use jdbc::{is_jdbc, translate as translate_jdbc, JdbcUrl};
pub use keys::{Key, Kind, KEYS};
pub use policy::{DeadLetterStrategy, PolicyConfig};
pub use secrets::redact_url;

/// Why the configuration was rejected. The message names the key and what
/// is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("unknown environment variable {0}: it matches no configuration key (see `baton serve --help`)")]
    UnknownEnv(String),
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's name in the cluster; default: hostname-adminport.
    pub node_id: Option<String>,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub stomp: StompConfig,
    pub websocket: websocket::WebSocketConfig,
    pub openwire: OpenWireConfig,
    pub admin: AdminConfig,
    pub broker: BrokerConfig,
    pub limits: limits::LimitsConfig,
    pub election: ElectionConfig,
    pub auth: auth::AuthConfig,
    /// Warnings found while loading (e.g. dropped JDBC URL parameters), to
    /// be logged once logging is set up. Never holds a password.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// How a node becomes master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ElectionMode {
    /// `session` on PostgreSQL and MySQL/MariaDB, `lease` on SQLite.
    #[default]
    Auto,
    /// Take over as soon as the old master's database session is gone.
    Session,
    /// Take over only once the lease has expired.
    Lease,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectionConfig {
    pub mode: ElectionMode,
    /// How long a master's claim lasts without renewal (database clock).
    pub lease_ms: u64,
    /// How often the master renews its lease.
    pub renew_ms: u64,
    /// How often a slave tries for the lock.
    pub retry_ms: u64,
    /// A master that has not renewed for `lease_ms - margin_ms` (its own
    /// monotonic clock, from when the last successful renewal was sent)
    /// stops serving.
    pub margin_ms: u64,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            mode: ElectionMode::Auto,
            lease_ms: 3000,
            renew_ms: 750,
            retry_ms: 50,
            margin_ms: 500,
        }
    }
}

impl ElectionConfig {
    /// The mode in effect for `url`.
    pub fn effective_mode(&self, url: &str) -> ElectionMode {
        match (self.mode, Backend::of(url)) {
            (ElectionMode::Auto, Some(Backend::Sqlite)) => ElectionMode::Lease,
            (ElectionMode::Auto, _) => ElectionMode::Session,
            (m, _) => m,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `baton=debug,sqlx=warn`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Where the store is. `Debug` (in `secrets.rs`) never shows the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// A sqlx URL or a JDBC URL; after loading, always the sqlx URL with
    /// `username` and `password` merged in.
    pub url: String,
    /// Fills in the URL's user (must agree with a user in the URL).
    pub username: Option<String>,
    /// Fills in the URL's password (an error if the URL has one too).
    pub password: Option<String>,
    pub table_prefix: String,
    /// Most write requests queued for the group-commit writer before
    /// producers wait.
    pub write_queue: usize,
    /// Most operations in one group-commit transaction.
    pub max_batch: usize,
    /// Longest the writer waits for more requests before a group commit
    /// when the commits before it were shared by many producers (0 = never
    /// wait), in microseconds.
    pub commit_wait_us: u64,
    /// SQLite only: `full` syncs every commit to disk (survives power
    /// loss); `normal` syncs at checkpoints (survives a process crash,
    /// not a power loss).
    pub sqlite_synchronous: SqliteSynchronous,
    /// Connections in the pool (PostgreSQL, MySQL/MariaDB).
    pub pool_size: u32,
    /// How long to wait for a new database connection.
    pub connect_timeout_ms: u64,
    /// Longest a single statement may run (server-side where the database
    /// supports it).
    pub statement_timeout_ms: u64,
    /// Group commits in flight at once (PostgreSQL, MySQL; SQLite: 1).
    pub pipeline: usize,
    /// PostgreSQL: the master vacuums the message table this often (0 =
    /// leave it to autovacuum), so queue churn does not bloat it.
    pub vacuum_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite:./data/baton.db".into(),
            username: None,
            password: None,
            table_prefix: "baton_".into(),
            write_queue: 4096,
            max_batch: 2000,
            commit_wait_us: 0,
            sqlite_synchronous: SqliteSynchronous::Full,
            pool_size: 8,
            connect_timeout_ms: 5000,
            statement_timeout_ms: 5000,
            pipeline: 1,
            vacuum_interval_ms: 10_000,
        }
    }
}

/// `[openwire]`: the listener of the ActiveMQ Java client's protocol. It
/// speaks TLS with the `stomp.tls_*` files when those are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenWireConfig {
    /// `host:port`; empty turns the listener off.
    pub listen: String,
    /// Largest frame accepted, advertised to clients as MaxFrameSize.
    pub max_frame_bytes: usize,
}

impl Default for OpenWireConfig {
    fn default() -> Self {
        OpenWireConfig {
            listen: "127.0.0.1:61616".to_string(),
            max_frame_bytes: 100 * 1024 * 1024,
        }
    }
}

impl Config {
    /// The OpenWire listener's address, `None` when it is turned off.
    pub fn openwire_listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let listen = self.openwire.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            invalid(
                "openwire.listen",
                format!("must be host:port (e.g. 127.0.0.1:61616) or empty to turn OpenWire off, got '{listen}'"),
            )
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StompConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Shortest interval at which the broker sends heart-beats.
    pub heartbeat_send_ms: u64,
    /// Shortest interval at which the broker wants heart-beats.
    pub heartbeat_receive_ms: u64,
    /// Prefetch of a subscription without `activemq.prefetchSize`.
    pub default_prefetch: usize,
    /// Most persistent sends and receipted ACKs one connection may have
    /// waiting for their commit before the broker stops reading from it.
    pub max_pending_commits: usize,
    /// TLS files (see `config/tls.rs`); TLS only when cert and key are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Default for StompConfig {
    fn default() -> Self {
        StompConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 61613)),
            max_body_bytes: 100 * 1024 * 1024,
            max_headers: 1000,
            max_header_bytes: 10 * 1024,
            heartbeat_send_ms: 1000,
            heartbeat_receive_ms: 1000,
            default_prefetch: 1000,
            max_pending_commits: 1024,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Largest request body the admin server reads.
    pub max_body_bytes: usize,
    /// TLS files (see `config/tls.rs`); HTTPS only when cert and key are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8161)),
            max_body_bytes: 10 * 1024 * 1024,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Failed deliveries allowed before a message goes to the dead-letter queue.
    pub max_redeliveries: u32,
    /// Dead-letter queue of `/queue/NAME` is `/queue/<dlq_prefix>NAME`.
    pub dlq_prefix: String,
    /// Undelivered messages a topic subscriber may fall behind before it is
    /// disconnected as a slow consumer.
    pub topic_pending_limit: usize,
    /// Messages of one queue kept in memory; stored messages beyond it
    /// stay in the database and are paged in, in order, as it drains.
    pub queue_window: usize,
    /// Body bytes of one queue kept in memory, the same way.
    pub queue_window_bytes: usize,
    /// How often waiting messages are checked for expiry.
    pub expiry_check_ms: u64,
    /// How long the last sequence of a producer that sends nothing more is
    /// kept for duplicate detection (a resend after a failover comes within
    /// seconds; a week is generous).
    pub producer_retention_hours: u64,
    /// Hand persistent queue messages to consumers while their insert
    /// waits for the group commit (ActiveMQ's concurrentStoreAndDispatch):
    /// a message acknowledged before its insert is taken never reaches the
    /// database. Off by default: a message delivered whose commit then
    /// fails (database outage, failover) may be delivered again.
    pub dispatch_before_commit: bool,
    /// `[[broker.policy]]` entries (file only), see `policy.rs`.
    pub policy: Vec<PolicyConfig>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_redeliveries: 6,
            dlq_prefix: "DLQ.".into(),
            topic_pending_limit: 10_000,
            queue_window: 10_000,
            queue_window_bytes: 64 << 20,
            expiry_check_ms: 1000,
            producer_retention_hours: 168,
            dispatch_before_commit: false,
            policy: Vec::new(),
        }
    }
}

/// The database family a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn of(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" if url.contains("://") => Some(Backend::Postgres),
            "mysql" | "mariadb" if url.contains("://") => Some(Backend::Mysql),
            _ => None,
        }
    }
}

/// `BATON_*` variables that belong to the client commands (`send`,
/// `receive`, `browse`), the tests or the scripts, not to `serve`: a shell
/// that exports them can still start a node.
pub const CLIENT_ENV: [&str; 10] = [
    "BATON_URL",
    "BATON_LOGIN",
    "BATON_PASSCODE",
    "BATON_TLS_CA",
    "BATON_TLS_CERT",
    "BATON_TLS_KEY",
    "BATON_ADMIN_URL",
    "BATON_ADMIN_USER",
    "BATON_ADMIN_PASSWORD",
    "BATON_ADMIN_TOKEN",
];

fn not_config_env(var: &str) -> bool {
    CLIENT_ENV.contains(&var) || var.starts_with("BATON_TEST_") || var.starts_with("BATON_FUZZ_")
}

/// Builds the configuration: file, then environment, then flags.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(String, String)],
) -> Result<Config, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: secrets::syntax_message(&text, &e),
                })?
        }
        None => toml::Table::new(),
    };
    let all_env: HashMap<String, String> = env.into_iter().collect();
    let mut env: Vec<(String, String)> = all_env
        .iter()
        .filter(|(k, _)| k.starts_with("BATON_") && !not_config_env(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.sort();
    for (var, raw) in env {
        let key = KEYS
            .iter()
            .find(|k| k.env() == var)
            .ok_or_else(|| ConfigError::UnknownEnv(var.clone()))?;
        set(&mut table, key.name, key.value(&raw, &var)?);
    }
    for (name, raw) in flags {
        let key = KEYS
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| invalid(name, "no such key"))?;
        set(
            &mut table,
            key.name,
            key.value(raw, &format!("--{}", key.flag()))?,
        );
    }
    secrets::expand(&mut table, &all_env)?;
    let mut config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            invalid(&key, e.into_inner().to_string())
        })?;
    let (url, notes) = jdbc::resolve(&config.database)?;
    config.database.url = url;
    config.notes.extend(notes);
    config.validate()?;
    Ok(config)
}

fn set(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else {
            return;
        };
        t = inner;
    }
    t.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests;
