//! The embedded default store: one SQLite file in WAL mode. Every
//! statement in SQLite's own SQL is in this file (the few that read the
//! same on every backend are in `message_store.rs`, `inspect.rs` and
//! `plan.rs`).
//!
//! The group commit renders a [`CommitPlan`] as one `BEGIN IMMEDIATE`
//! transaction of prepared statements (multi-row inserts and `IN (...)`
//! deletes of at most `ROWS_PER_STATEMENT` rows); the fencing read comes
//! first, under the write lock, so the epoch cannot change before COMMIT.

use super::message_store::{check_epoch, message_store_impl, MessageSql};
use super::plan::{
    chunks, forget_producers, insert_values, remaining_rows, update_rows, CommitPlan, CommitTurn,
    RowSql,
};
use super::rows::{self, ReadRow};
use super::sqlutil::on_own_connection;
use super::{
    migrate, Claim, GeneratedLogin, Lease, LockState, NodeRecord, Registry, SessionLock, Store,
    StoreError, LOCK_NAME,
};
use crate::config::{self, DatabaseConfig};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// The database clock in Unix milliseconds.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// Rows per multi-row statement; keeps us far below SQLite's variable limit.
const ROWS_PER_STATEMENT: usize = 500;

pub struct SqliteStore {
    pool: SqlitePool,
    prefix: String,
    message_sql: MessageSql,
    row_sql: RowSql,
}

impl SqliteStore {
    /// Opens (creating file and folder if needed) and migrates.
    pub async fn open(config: &DatabaseConfig) -> Result<SqliteStore, StoreError> {
        let (url, prefix) = (config.url.as_str(), config.table_prefix.as_str());
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let open_err = |reason: String| StoreError::Open {
            url: url.to_string(),
            reason,
        };
        if path.is_empty() || path.starts_with(':') {
            return Err(open_err(
                "expected a file path, e.g. sqlite:./data/baton.db".into(),
            ));
        }
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.sqlite_synchronous {
                config::SqliteSynchronous::Full => SqliteSynchronous::Full,
                config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let message_sql = MessageSql::new(prefix, "", |_| "?".to_string());
        let store = SqliteStore {
            pool,
            prefix: prefix.to_string(),
            row_sql: row_sql(prefix, &message_sql),
            message_sql,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations under an immediate (write-locked)
    /// transaction, so processes starting together migrate once.
    async fn migrate(&self) -> Result<(), StoreError> {
        let p = &self.prefix;
        let mut conn = self.pool.acquire().await?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {p}schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        ))
        .execute(&mut *conn)
        .await?;
        for m in migrate::SQLITE {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let result: Result<(), StoreError> = async {
                let newest: Option<i64> =
                    sqlx::query_scalar(&format!("SELECT MAX(version) FROM {p}schema_migrations"))
                        .fetch_one(&mut *conn)
                        .await?;
                migrate::check_not_newer(newest, migrate::SQLITE)?;
                let done: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT version FROM {p}schema_migrations WHERE version = ?"
                ))
                .bind(m.version as i64)
                .fetch_optional(&mut *conn)
                .await?;
                if done.is_none() {
                    sqlx::raw_sql(&migrate::render(m.sql, p))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| StoreError::Migration {
                            version: m.version,
                            reason: e.to_string(),
                        })?;
                    sqlx::query(&format!(
                        "INSERT INTO {p}schema_migrations (version, applied_at) VALUES (?, ?)"
                    ))
                    .bind(m.version as i64)
                    .bind(crate::message::now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }
            .await;
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            sqlx::query(end).execute(&mut *conn).await?;
            result?;
        }
        Ok(())
    }
}

/// The per-row statements of a commit.
fn row_sql(p: &str, shared: &MessageSql) -> RowSql {
    RowSql {
        set_redeliveries: Some(format!(
            "UPDATE {p}msgs SET redeliveries = ?, scheduled = ? WHERE id = ?"
        )),
        move_to: format!(
            "UPDATE {p}msgs SET destination = ?, headers = ?, expires = ?, redeliveries = 0, scheduled = 0 WHERE id = ?"
        ),
        reschedule: format!("UPDATE {p}msgs SET scheduled = ?, headers = ? WHERE id = ?"),
        delete_spilled: shared.delete_spilled.clone(),
        durable_save: format!(
            "INSERT INTO {p}acks (client_id, subscription, destination, selector, last_acked_id) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, subscription) DO UPDATE SET destination = excluded.destination, last_acked_id = excluded.last_acked_id, selector = excluded.selector"
        ),
        durable_ack: format!(
            "UPDATE {p}acks SET last_acked_id = MAX(last_acked_id, ?) \
             WHERE client_id = ? AND subscription = ?"
        ),
        durable_delete: format!("DELETE FROM {p}acks WHERE client_id = ? AND subscription = ?"),
        forget_producers: format!("DELETE FROM {p}producers WHERE updated_at < {NOW_MS} - ?"),
    }
}

/// `DELETE FROM table WHERE id IN (...)` of `ids`, bound one by one
/// (SQLite has one writer, so no other transaction's rows to wait for).
fn delete_ids<'q>(table: &str, ids: &[i64]) -> QueryBuilder<'q, Sqlite> {
    let mut qb = QueryBuilder::new(format!("DELETE FROM {table} WHERE id IN ("));
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
    qb
}

impl ReadRow for SqliteRow {
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(column)?)
    }
}

impl SqliteStore {
    /// For [`MessageStore::stored_after_commits`](super::MessageStore):
    /// `BEGIN IMMEDIATE` waits for the write lock a commit holds.
    const READ_BACK_BEGIN: &'static str = "BEGIN IMMEDIATE";
    const READ_BACK_LOCK: &'static str = "";

    /// Renders a commit plan: one `BEGIN IMMEDIATE` transaction of
    /// prepared statements, multi-row where the rows vary in number.
    async fn commit_plan(
        &self,
        epoch: i64,
        plan: &CommitPlan<'_>,
        turn: &CommitTurn,
    ) -> Result<(), StoreError> {
        let p = &self.prefix;
        // Before the write lock: one writer at a time, so a batch holding
        // it while it waits would stall the batch it waits for.
        turn.wait().await?;
        on_own_connection(&self.pool, async |conn| {
            // IMMEDIATE takes SQLite's write lock first, so the epoch read
            // below cannot change before the commit.
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            check_epoch!(self, &mut *tx, "", epoch);
            let table = format!("{p}msgs");
            for chunk in chunks(&plan.inserts, ROWS_PER_STATEMENT, usize::MAX) {
                insert_values::<Sqlite>(&table, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            update_rows!(tx, plan, &self.row_sql).await?;
            for chunk in plan.deletes.chunks(ROWS_PER_STATEMENT) {
                delete_ids(&table, chunk).build().execute(&mut *tx).await?;
            }
            remaining_rows!(tx, plan, &self.row_sql).await?;
            forget_producers!(tx, plan, &self.row_sql).await?;
            for (id, seq) in &plan.producer_marks {
                sqlx::query(&format!(
                    "INSERT INTO {p}producers (producer_id, last_seq, updated_at) VALUES (?, ?, {NOW_MS}) \
                     ON CONFLICT (producer_id) DO UPDATE SET \
                     last_seq = MAX(last_seq, excluded.last_seq), updated_at = excluded.updated_at"
                ))
                .bind(*id)
                .bind(*seq)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Lease for SqliteStore {
    async fn try_acquire(
        &self,
        claim: &Claim,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<Option<i64>, StoreError> {
        let p = &self.prefix;
        let epoch: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE {p}lock SET holder = ?, epoch = epoch + 1, lease_expires = {NOW_MS} + ?, \
             stomp_addr = ?, admin_addr = ?, session_held = ? \
             WHERE name = ? AND (holder IS NULL OR lease_expires < {NOW_MS} OR (? AND session_held)) RETURNING epoch"
        ))
        .bind(&claim.node_id)
        .bind(lease_ms as i64)
        .bind(&claim.stomp_addr)
        .bind(&claim.admin_addr)
        .bind(with_session)
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
            "UPDATE {}lock SET lease_expires = {NOW_MS} + ?, session_held = ? WHERE name = ? AND holder = ? AND epoch = ?",
            self.prefix
        ))
        .bind(lease_ms as i64)
        .bind(with_session)
        .bind(LOCK_NAME)
        .bind(node_id)
        .bind(epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, node_id: &str, epoch: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {}lock SET holder = NULL, lease_expires = 0 WHERE name = ? AND holder = ? AND epoch = ?",
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
             FROM {}lock WHERE name = ?",
            self.prefix
        ))
        .bind(LOCK_NAME)
        .fetch_one(&self.pool)
        .await?;
        rows::lock_state(&row)
    }

    fn session_lock(&self) -> Option<Box<dyn SessionLock>> {
        None
    }
}

#[async_trait]
impl Registry for SqliteStore {
    async fn heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO {}nodes (node_id, stomp_addr, admin_addr, role, started_at, last_seen) \
             VALUES (?, ?, ?, ?, ?, {NOW_MS}) \
             ON CONFLICT (node_id) DO UPDATE SET stomp_addr = excluded.stomp_addr, \
             admin_addr = excluded.admin_addr, role = excluded.role, \
             started_at = excluded.started_at, last_seen = excluded.last_seen",
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
        rows.iter().map(rows::node).collect()
    }

    /// SQLite: each node keeps its own generated password (two processes
    /// on one file are on one machine, where both logs are at hand).
    async fn generated_login(
        &self,
        _ours: &GeneratedLogin,
    ) -> Result<Option<(GeneratedLogin, bool)>, StoreError> {
        Ok(None)
    }
}

super::inspect::inspect_impl!(SqliteStore, |_| "?".to_string());

message_store_impl!(SqliteStore);
