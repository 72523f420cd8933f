//! The PostgreSQL store: a connection pool for the data path, batch SQL
//! with arrays (`UNNEST`, `= ANY`), and an advisory lock on a dedicated
//! connection for session-mode election.

mod commit;

use super::session::{DbSessionLock, PgLock};
use super::sqlutil::{deadline, fnv1a64, ping_when_idle, redact_url};
use super::{
    decode_headers, migrate, Claim, LockState, NodeRecord, SessionLock, Store, StoreError, WriteOp,
    LOCK_NAME,
};
use crate::config::DatabaseConfig;
use crate::message::{Destination, Message};
use async_trait::async_trait;
use bytes::Bytes;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Executor, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// The database clock in Unix milliseconds (`clock_timestamp`, not the
/// transaction start `now()`).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Messages per `INSERT ... SELECT FROM UNNEST` statement, and their bytes:
/// bounds one protocol message far below PostgreSQL's 1 GB limit.
const MAX_INSERT_ROWS: usize = 10_000;
const MAX_INSERT_BYTES: usize = 64 << 20;

/// The advisory-lock key of the master session lock for a table prefix.
pub fn session_lock_key(prefix: &str) -> i64 {
    fnv1a64(&format!("baton_master:{prefix}")) as i64
}

/// The advisory-lock key that serialises migrations for a table prefix
/// (different from the session key: both live in one key space).
pub fn migration_lock_key(prefix: &str) -> i64 {
    fnv1a64(&format!("baton_migrate:{prefix}")) as i64
}

/// Settings for every pooled connection. `statement_timeout` bounds each
/// statement (row-lock waits included). `idle_in_transaction_session_timeout`
/// makes the server end a session that stops talking inside a transaction:
/// a master partitioned mid-commit would otherwise keep its `FOR SHARE` row
/// lock, and with it block the next master's claim, for as long as the
/// server believes the connection alive. Our transactions send statements
/// back to back, so the same bound never hurts a healthy one.
fn session_settings(statement_ms: u64) -> String {
    format!(
        "SET statement_timeout = {statement_ms}; \
         SET idle_in_transaction_session_timeout = {statement_ms}"
    )
}

pub struct PgStore {
    pool: PgPool,
    prefix: String,
    options: PgConnectOptions,
    connect_timeout_ms: u64,
    statement_timeout_ms: u64,
}

impl PgStore {
    /// Connects the pool and migrates.
    pub async fn open(config: &DatabaseConfig) -> Result<PgStore, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            url: redact_url(&config.url),
            reason,
        };
        let mut options =
            PgConnectOptions::from_str(&config.url).map_err(|e| open_err(e.to_string()))?;
        if options.get_application_name().is_none() {
            options = options.application_name("baton");
        }
        let statement_ms = config.statement_timeout_ms;
        let pool = ping_when_idle(PgPoolOptions::new())
            .max_connections(config.pool_size.max(1))
            .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute(session_settings(statement_ms).as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let store = PgStore {
            pool,
            prefix: config.table_prefix.clone(),
            options,
            connect_timeout_ms: config.connect_timeout_ms,
            statement_timeout_ms: statement_ms,
        };
        if let Err(e) = store.migrate().await {
            store.pool.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Applies pending migrations on a dedicated connection without the
    /// statement timeout (a schema change on a big table may take long).
    /// Each runs in one transaction holding a transaction-level advisory
    /// lock, so nodes starting together on an empty database queue up and
    /// the later ones find the version recorded. `schema_migrations` is
    /// created under the same lock: concurrent `CREATE TABLE IF NOT
    /// EXISTS` can fail in PostgreSQL.
    async fn migrate(&self) -> Result<(), StoreError> {
        let p = &self.prefix;
        let mut conn = connect(&self.options, self.connect_timeout_ms).await?;
        for m in migrate::POSTGRES {
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(migration_lock_key(p))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "CREATE TABLE IF NOT EXISTS {p}schema_migrations \
                 (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
            ))
            .execute(&mut *tx)
            .await?;
            let newest: Option<i64> = sqlx::query_scalar(&format!(
                "SELECT CAST(MAX(version) AS BIGINT) FROM {p}schema_migrations"
            ))
            .fetch_one(&mut *tx)
            .await?;
            migrate::check_not_newer(newest, migrate::POSTGRES)?;
            let done: Option<i32> = sqlx::query_scalar(&format!(
                "SELECT version FROM {p}schema_migrations WHERE version = $1"
            ))
            .bind(m.version as i32)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_none() {
                let sql = migrate::render(m.sql, p);
                sqlx::raw_sql(&sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration {
                        version: m.version,
                        reason: e.to_string(),
                    })?;
                sqlx::query(&format!(
                    "INSERT INTO {p}schema_migrations (version, applied_at) VALUES ($1, {NOW_MS})"
                ))
                .bind(m.version as i32)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        let _ = conn.close().await;
        Ok(())
    }
}

/// Opens one connection outside the pool, within the connect timeout.
pub(super) async fn connect(
    options: &PgConnectOptions,
    timeout_ms: u64,
) -> Result<PgConnection, StoreError> {
    deadline(timeout_ms, options.connect()).await
}

fn row_to_message(row: &PgRow) -> Result<Message, StoreError> {
    let id: i64 = row.try_get("id")?;
    let dest: String = row.try_get("destination")?;
    let destination = Destination::parse(&dest).map_err(|e| StoreError::Corrupt {
        id,
        reason: e.to_string(),
    })?;
    let headers: String = row.try_get("headers")?;
    let body: Vec<u8> = row.try_get("body")?;
    let priority: i16 = row.try_get("priority")?;
    let redeliveries: i32 = row.try_get("redeliveries")?;
    Ok(Message {
        id,
        destination,
        priority: priority.clamp(0, 9) as u8,
        expires: row.try_get("expires")?,
        persistent: true,
        headers: decode_headers(id, &headers)?,
        body: Bytes::from(body),
        redelivery_count: redeliveries.max(0) as u32,
        redelivered: false,
        producer: None,
        scheduled: row.try_get("scheduled")?,
    })
}

#[async_trait]
impl Store for PgStore {
    async fn max_message_id(&self) -> Result<i64, StoreError> {
        let max: Option<i64> =
            sqlx::query_scalar(&format!("SELECT MAX(id) FROM {}msgs", self.prefix))
                .fetch_one(&self.pool)
                .await?;
        Ok(max.unwrap_or(0))
    }

    async fn load_messages(&self) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, destination, priority, expires, scheduled, redeliveries, headers, body FROM {}msgs ORDER BY id",
            self.prefix
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_message).collect()
    }

    async fn load_producers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT producer_id, last_seq FROM {}producers",
            self.prefix
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn commit(&self, epoch: i64, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.commit_batch(epoch, ops).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn try_acquire(
        &self,
        claim: &Claim,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<Option<i64>, StoreError> {
        let p = &self.prefix;
        let epoch: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE {p}lock SET holder = $1, epoch = epoch + 1, lease_expires = {NOW_MS} + $2, \
             stomp_addr = $3, admin_addr = $4, session_held = $6 \
             WHERE name = $5 AND (holder IS NULL OR lease_expires < {NOW_MS} OR ($6 AND session_held)) RETURNING epoch"
        ))
        .bind(&claim.node_id)
        .bind(lease_ms as i64)
        .bind(&claim.stomp_addr)
        .bind(&claim.admin_addr)
        .bind(LOCK_NAME)
        .bind(with_session)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch)
    }

    async fn renew(
        &self,
        node_id: &str,
        epoch: i64,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE {}lock SET lease_expires = {NOW_MS} + $1, session_held = $5 WHERE name = $2 AND holder = $3 AND epoch = $4",
            self.prefix
        ))
        .bind(lease_ms as i64)
        .bind(LOCK_NAME)
        .bind(node_id)
        .bind(epoch)
        .bind(with_session)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, node_id: &str, epoch: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {}lock SET holder = NULL, lease_expires = 0 WHERE name = $1 AND holder = $2 AND epoch = $3",
            self.prefix
        ))
        .bind(LOCK_NAME)
        .bind(node_id)
        .bind(epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn lock_state(&self) -> Result<LockState, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT holder, epoch, stomp_addr, admin_addr, lease_expires - {NOW_MS} AS remaining \
             FROM {}lock WHERE name = $1",
            self.prefix
        ))
        .bind(LOCK_NAME)
        .fetch_one(&self.pool)
        .await?;
        Ok(LockState {
            holder: row.try_get("holder")?,
            epoch: row.try_get("epoch")?,
            stomp_addr: row.try_get("stomp_addr")?,
            admin_addr: row.try_get("admin_addr")?,
            lease_remaining_ms: row.try_get("remaining")?,
        })
    }

    async fn vacuum(&self) -> Result<bool, StoreError> {
        // Simple protocol: VACUUM cannot run in a prepared statement's
        // implicit transaction. TRUNCATE false keeps the empty pages at the
        // table's end for the next inserts: cutting them off takes an
        // ACCESS EXCLUSIVE lock that stalls every commit meanwhile, and the
        // table grows back within seconds (BENCHMARKS.md, "Which layout").
        sqlx::raw_sql(&format!("VACUUM (TRUNCATE false) {}msgs", self.prefix))
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    fn inspect(&self) -> Option<&dyn super::inspect::Inspect> {
        Some(self)
    }

    fn session_lock(&self) -> Option<Box<dyn SessionLock>> {
        let lock = PgLock {
            options: self.options.clone(),
            key: session_lock_key(&self.prefix),
        };
        Some(Box::new(DbSessionLock::new(
            lock,
            self.connect_timeout_ms,
            self.statement_timeout_ms,
        )))
    }

    async fn heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO {}nodes (node_id, stomp_addr, admin_addr, role, started_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5, {NOW_MS}) \
             ON CONFLICT (node_id) DO UPDATE SET stomp_addr = EXCLUDED.stomp_addr, \
             admin_addr = EXCLUDED.admin_addr, role = EXCLUDED.role, \
             started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen",
            self.prefix
        ))
        .bind(&node.node_id)
        .bind(&node.stomp_addr)
        .bind(&node.admin_addr)
        .bind(&node.role)
        .bind(node.started_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT node_id, stomp_addr, admin_addr, role, started_at, last_seen FROM {}nodes ORDER BY node_id",
            self.prefix
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NodeRecord {
                    node_id: r.try_get("node_id")?,
                    stomp_addr: r
                        .try_get::<Option<String>, _>("stomp_addr")?
                        .unwrap_or_default(),
                    admin_addr: r
                        .try_get::<Option<String>, _>("admin_addr")?
                        .unwrap_or_default(),
                    role: r.try_get("role")?,
                    started_at: r.try_get("started_at")?,
                    last_seen: r.try_get("last_seen")?,
                })
            })
            .collect()
    }
}

/// A redelivery count as stored (INTEGER).
fn clamp_count(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

super::inspect::inspect_impl!(
    PgStore,
    row_to_message,
    |r: &PgRow, c: &str| -> Result<String, StoreError> { Ok(r.try_get(c)?) },
    |n| format!("${n}")
);

super::paging::paging_impl!(
    PgStore,
    sqlx::PgConnection,
    row_to_message,
    |r: &PgRow, c: &str| -> Result<String, StoreError> { Ok(r.try_get(c)?) },
    |n| format!("${n}")
);
