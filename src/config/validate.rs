//! `Config::validate`: what serde cannot check (schemes, ranges, names,
//! combinations of keys), before anything is bound or opened.

use super::{invalid, policy, Backend, Config, ConfigError, ElectionMode};

impl Config {
    /// Checks what serde cannot: schemes, ranges, names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database.url;
        if Backend::of(url).is_none() {
            let allowed = "sqlite:PATH, postgres://user@host/db, mysql://user@host/db or mariadb://user@host/db";
            // Only something shaped like a scheme is echoed: a password
            // put here by mistake must not end up in the message.
            let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
                !s.is_empty()
                    && s.len() <= 16
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
            let message = match scheme {
                Some(s) => format!("'{s}:' is not supported; expected {allowed}, or a JDBC URL"),
                None => {
                    format!("it does not start with a scheme; expected {allowed}, or a JDBC URL")
                }
            };
            return Err(invalid("database.url", message));
        }
        let p = &self.database.table_prefix;
        if p.len() > 32 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                "database.table_prefix",
                format!("'{p}' must be at most 32 characters of A-Z, a-z, 0-9 and _"),
            ));
        }
        if let Some(id) = &self.node_id {
            if id.is_empty() || id.len() > 128 {
                return Err(invalid("node_id", "must be 1 to 128 characters"));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "'{}' is not a tracing filter such as info or baton=debug",
                    self.log.level
                ),
            ));
        }
        let positive = [
            ("database.write_queue", self.database.write_queue),
            ("database.max_batch", self.database.max_batch),
            ("database.pipeline", self.database.pipeline),
            ("database.pool_size", self.database.pool_size as usize),
            (
                "database.connect_timeout_ms",
                self.database.connect_timeout_ms as usize,
            ),
            (
                "database.statement_timeout_ms",
                self.database.statement_timeout_ms as usize,
            ),
            ("stomp.max_body_bytes", self.stomp.max_body_bytes),
            ("openwire.max_frame_bytes", self.openwire.max_frame_bytes),
            ("admin.max_body_bytes", self.admin.max_body_bytes),
            ("stomp.max_headers", self.stomp.max_headers),
            ("stomp.max_header_bytes", self.stomp.max_header_bytes),
            ("stomp.default_prefetch", self.stomp.default_prefetch),
            ("stomp.max_pending_commits", self.stomp.max_pending_commits),
            (
                "broker.topic_pending_limit",
                self.broker.topic_pending_limit,
            ),
            ("broker.queue_window", self.broker.queue_window),
            ("broker.queue_window_bytes", self.broker.queue_window_bytes),
            (
                "broker.expiry_check_ms",
                self.broker.expiry_check_ms as usize,
            ),
            (
                "broker.producer_retention_hours",
                self.broker.producer_retention_hours as usize,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.database.commit_wait_us > 100_000 {
            return Err(invalid(
                "database.commit_wait_us",
                "must be at most 100000 (100 ms): every waiting commit delays its producers' confirmations by up to this long",
            ));
        }
        if self.stomp.max_header_bytes < 64 {
            return Err(invalid("stomp.max_header_bytes", "must be at least 64"));
        }
        if Backend::of(url) != Some(Backend::Sqlite)
            && self.database.pipeline >= self.database.pool_size as usize
        {
            return Err(invalid(
                "database.pipeline",
                format!(
                    "must be less than database.pool_size ({}): the lease renewal and admin queries need a connection too",
                    self.database.pool_size
                ),
            ));
        }
        let e = &self.election;
        if Backend::of(url) == Some(Backend::Sqlite) && e.mode == ElectionMode::Session {
            return Err(invalid(
                "election.mode",
                "SQLite has no session locks; use lease (or auto)",
            ));
        }
        if e.margin_ms == 0 || e.margin_ms >= e.lease_ms {
            return Err(invalid(
                "election.margin_ms",
                "must be at least 1 and less than election.lease_ms",
            ));
        }
        if e.renew_ms == 0 || e.renew_ms >= e.lease_ms - e.margin_ms {
            return Err(invalid(
                "election.renew_ms",
                format!(
                    "must be at least 1 and less than election.lease_ms - election.margin_ms ({} ms), so a renewal can succeed before the master must step down",
                    e.lease_ms - e.margin_ms
                ),
            ));
        }
        if e.retry_ms == 0 {
            return Err(invalid("election.retry_ms", "must be at least 1"));
        }
        if self.broker.dlq_prefix.chars().count() > 64 {
            return Err(invalid(
                "broker.dlq_prefix",
                "must be at most 64 characters",
            ));
        }
        if self.broker.dlq_prefix.is_empty() {
            return Err(invalid("broker.dlq_prefix", "must not be empty"));
        }
        self.limits.validate(self.stomp.default_prefetch)?;
        policy::validate(&self.broker.policy)?;
        self.stomp_tls()?;
        self.websocket.validate()?;
        self.openwire_listen()?;
        self.admin_tls()?;
        self.auth.validate()
    }
}
