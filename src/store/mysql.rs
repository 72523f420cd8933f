//! The MySQL/MariaDB store (InnoDB): a connection pool for the data path,
//! multi-row statements built with `QueryBuilder`, and `GET_LOCK` on a
//! dedicated connection for session-mode election.
//!
//! Session settings on every connection (see [`setup_session`]): a
//! server-side statement timeout, strict mode (an over-long value is an
//! error, never silently truncated) and READ COMMITTED. Correctness does not
//! depend on the isolation level (fencing is a locking read, which sees the
//! latest committed row at any level); READ COMMITTED avoids the gap and
//! next-key locks REPEATABLE READ takes when a DELETE looks up ids already
//! gone, which pipelined batches could wait on. It is skipped when the
//! server logs statements
//! (`binlog_format=STATEMENT`), where MySQL rejects READ COMMITTED writes.
//! Row-lock waits are bounded by the statement timeout as well
//! (`innodb_lock_wait_timeout`, whole seconds, rounded up).
//!
//! sqlx connects with `CLIENT_FOUND_ROWS`, so `rows_affected` counts
//! matched rows: a renewal within the same millisecond still reports 1.
//!
//! The group commit renders a [`CommitPlan`] as one transaction of
//! multi-row `INSERT ... VALUES` and primary-key `DELETE`s
//! ([`delete_by_primary_key`]) of at most `ROWS_PER_STATEMENT` rows, the
//! other rows one statement each, then (a
//! pipelined batch after waiting for its turn, see `plan.rs`) the
//! producer rows and the fencing read of the lock row last, before COMMIT. Every statement in
//! MySQL's own SQL is in this file (the few that read the same on every
//! backend are in `message_store.rs`, `inspect.rs` and `plan.rs`).

use super::message_store::{check_epoch, message_store_impl, MessageSql};
use super::plan::{
    chunks, forget_producers, insert_values, remaining_rows, update_rows, CommitPlan, CommitTurn,
    RowSql,
};
use super::rows::{self, ReadRow};
use super::session::{DbSessionLock, LockDialect};
use super::sqlutil::{deadline, fnv1a64, on_own_connection, ping_when_idle, redact_url};
use super::{
    migrate, Claim, GeneratedLogin, Lease, LockState, NodeRecord, Registry, SessionLock, Store,
    StoreError, LOCK_NAME,
};
use crate::config::DatabaseConfig;
use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions, MySqlRow};
use sqlx::{ConnectOptions, Connection, Executor, MySql, MySqlPool, QueryBuilder, Row};
use std::str::FromStr;
use std::time::Duration;

/// The database clock in Unix milliseconds, from UTC directly: the same
/// whatever the session time zone (a `timezone=` URL parameter with DST
/// would make `UNIX_TIMESTAMP(NOW(3))` ambiguous for an hour a year).
const NOW_MS: &str =
    "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000 AS SIGNED)";

/// Rows per multi-row statement: 7 placeholders each, far below 65535.
const ROWS_PER_STATEMENT: usize = 1000;

/// Longest wait for another node's migration.
const MIGRATION_LOCK_WAIT_S: u32 = 60;

/// A `GET_LOCK` name: server-wide, so it names the database as well as the
/// prefix (two clusters in two schemas of one server must not share it).
/// At most 64 characters, MySQL's limit.
fn lock_name(prefix: &str, database: &str, what: &str) -> String {
    let name = format!("{prefix}{what}@{database}");
    if name.len() <= 64 {
        name
    } else {
        format!("{prefix}{what}@{:016x}", fnv1a64(database))
    }
}

/// Per-connection settings; see the module comment.
async fn setup_session(conn: &mut MySqlConnection, statement_ms: u64) -> Result<(), sqlx::Error> {
    if statement_ms > 0 {
        let mariadb = format!(
            "SET SESSION max_statement_time = {:.3}",
            statement_ms as f64 / 1000.0
        );
        if conn.execute(mariadb.as_str()).await.is_err() {
            // MySQL: bounds SELECTs only. Neither known: no server-side bound.
            let mysql = format!("SET SESSION max_execution_time = {statement_ms}");
            let _ = conn.execute(mysql.as_str()).await;
        }
        // Row-lock waits (the fencing read, the lock-row UPDATE) end with
        // the statement timeout too, not after InnoDB's default 50 s.
        let wait = format!(
            "SET SESSION innodb_lock_wait_timeout = {}",
            statement_ms.div_ceil(1000)
        );
        let _ = conn.execute(wait.as_str()).await;
        // MariaDB: end a session that stops talking inside a transaction
        // (a master partitioned mid-commit), so its shared lock on the lock
        // row cannot block the next master's claim. MySQL has no such bound.
        let idle = format!(
            "SET SESSION idle_transaction_timeout = {}",
            statement_ms.div_ceil(1000)
        );
        let _ = conn.execute(idle.as_str()).await;
    }
    conn.execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')")
        .await?;
    let binlog: Option<String> = sqlx::query_scalar("SELECT CAST(@@SESSION.binlog_format AS CHAR)")
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(None);
    if !binlog.is_some_and(|f| f.eq_ignore_ascii_case("STATEMENT")) {
        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .await?;
    }
    Ok(())
}

pub struct MySqlStore {
    pool: MySqlPool,
    prefix: String,
    message_sql: MessageSql,
    row_sql: RowSql,
    options: MySqlConnectOptions,
    database: String,
    connect_timeout_ms: u64,
    statement_timeout_ms: u64,
    /// Bytes per multi-row INSERT, from the server's `max_allowed_packet`.
    insert_bytes: usize,
}

impl MySqlStore {
    /// Connects the pool (`mariadb://` is read as `mysql://`) and migrates.
    pub async fn open(config: &DatabaseConfig) -> Result<MySqlStore, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            url: redact_url(&config.url),
            reason,
        };
        let url = match config.url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => config.url.clone(),
        };
        let options = MySqlConnectOptions::from_str(&url).map_err(|e| open_err(e.to_string()))?;
        let database = options.get_database().unwrap_or_default().to_string();
        if database.is_empty() {
            return Err(open_err(
                "the URL names no database, e.g. mysql://user@host/baton".into(),
            ));
        }
        let statement_ms = config.statement_timeout_ms;
        let pool = ping_when_idle(MySqlPoolOptions::new())
            .max_connections(config.pool_size.max(1))
            .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
            .after_connect(move |conn, _meta| Box::pin(setup_session(conn, statement_ms)))
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let packet: Option<i64> = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
            .fetch_one(&pool)
            .await
            .unwrap_or(None);
        let insert_bytes =
            (packet.unwrap_or(4 << 20).max(0) as usize / 2).clamp(64 << 10, 16 << 20);
        let message_sql = MessageSql::new(&config.table_prefix, "`", |_| "?".to_string());
        let store = MySqlStore {
            pool,
            prefix: config.table_prefix.clone(),
            row_sql: row_sql(&config.table_prefix, &message_sql),
            message_sql,
            options,
            database,
            connect_timeout_ms: config.connect_timeout_ms,
            statement_timeout_ms: statement_ms,
            insert_bytes,
        };
        if let Err(e) = store.migrate().await {
            store.pool.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Applies pending migrations on a dedicated connection without the
    /// statement timeout. DDL commits implicitly in MySQL, so a transaction
    /// cannot serialise nodes starting together: `GET_LOCK` does, and every
    /// statement is idempotent, so a migration cut short is simply rerun.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = deadline(self.connect_timeout_ms, self.options.connect()).await?;
        let name = lock_name(&self.prefix, &self.database, "migrate");
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&name)
            .bind(MIGRATION_LOCK_WAIT_S)
            .fetch_one(&mut conn)
            .await?;
        if got != Some(1) {
            return Err(StoreError::Migration {
                version: 0,
                reason: format!(
                    "another node held the migration lock '{name}' for {MIGRATION_LOCK_WAIT_S} s"
                ),
            });
        }
        let result = self.migrate_locked(&mut conn).await;
        let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&name)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        result
    }

    async fn migrate_locked(&self, conn: &mut MySqlConnection) -> Result<(), StoreError> {
        let p = &self.prefix;
        sqlx::raw_sql(&format!(
            "CREATE TABLE IF NOT EXISTS `{p}schema_migrations` \
             (version INT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE = InnoDB"
        ))
        .execute(&mut *conn)
        .await?;
        let newest: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT CAST(MAX(version) AS SIGNED) FROM `{p}schema_migrations`"
        ))
        .fetch_one(&mut *conn)
        .await?;
        migrate::check_not_newer(newest, migrate::MYSQL)?;
        for m in migrate::MYSQL {
            let done: Option<i32> = sqlx::query_scalar(&format!(
                "SELECT version FROM `{p}schema_migrations` WHERE version = ?"
            ))
            .bind(m.version as i32)
            .fetch_optional(&mut *conn)
            .await?;
            if done.is_some() {
                continue;
            }
            for statement in migrate::split_statements(&migrate::render(m.sql, p)) {
                sqlx::raw_sql(&statement)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| StoreError::Migration {
                        version: m.version,
                        reason: e.to_string(),
                    })?;
            }
            sqlx::query(&format!(
                "INSERT IGNORE INTO `{p}schema_migrations` (version, applied_at) VALUES (?, {NOW_MS})"
            ))
            .bind(m.version as i32)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// Deletes the messages `ids` by primary key, one lookup each.
///
/// Not `DELETE ... WHERE id IN (...)`: when the list covers about half the
/// table or more (a queue whose consumers keep up), InnoDB plans that as a
/// full scan, and a scanning DELETE waits for every row another transaction
/// holds, even in READ COMMITTED, including rows it will not delete. Two
/// pipelined batches then wait for each other: the earlier one's DELETE
/// for the later one's uncommitted inserts, the later one for its turn,
/// until the statement timeout. `STRAIGHT_JOIN` from a derived table of the
/// ids makes InnoDB look each one up in the primary key (`eq_ref`), which
/// locks only the rows deleted. Index hints cannot do it: a single-table
/// DELETE refuses them and the multi-table form ignores them.
fn delete_by_primary_key<'q>(table: &str, ids: &'q [i64]) -> QueryBuilder<'q, MySql> {
    let mut qb = QueryBuilder::new("DELETE m FROM (");
    let mut rows = qb.separated(" UNION ALL ");
    for id in ids {
        rows.push("SELECT CAST(")
            .push_bind_unseparated(*id)
            .push_unseparated(" AS SIGNED) AS id");
    }
    qb.push(format!(") AS k STRAIGHT_JOIN {table} AS m ON m.id = k.id"));
    qb
}

/// The per-row statements of a commit.
fn row_sql(p: &str, shared: &MessageSql) -> RowSql {
    RowSql {
        set_redeliveries: Some(format!(
            "UPDATE `{p}msgs` SET redeliveries = ?, scheduled = ? WHERE id = ?"
        )),
        move_to: format!(
            "UPDATE `{p}msgs` SET destination = ?, headers = ?, expires = ?, redeliveries = 0, scheduled = 0 WHERE id = ?"
        ),
        reschedule: format!("UPDATE `{p}msgs` SET scheduled = ?, headers = ? WHERE id = ?"),
        delete_spilled: shared.delete_spilled.clone(),
        durable_save: format!(
            "INSERT INTO `{p}acks` (client_id, subscription, destination, selector, last_acked_id) \
             VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE destination = VALUES(destination), last_acked_id = VALUES(last_acked_id), selector = VALUES(selector)"
        ),
        durable_ack: format!(
            "UPDATE `{p}acks` SET last_acked_id = GREATEST(last_acked_id, ?) \
             WHERE client_id = ? AND subscription = ?"
        ),
        durable_delete: format!("DELETE FROM `{p}acks` WHERE client_id = ? AND subscription = ?"),
        forget_producers: format!("DELETE FROM `{p}producers` WHERE updated_at < {NOW_MS} - ?"),
    }
}

impl ReadRow for MySqlRow {
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }

    /// The tables use the binary collation `utf8mb4_bin`, which the
    /// protocol flags as binary, so sqlx will not decode a text column as
    /// `String`: read the bytes and check the UTF-8.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        let Some(bytes) = self.try_get::<Option<Vec<u8>>, _>(column)? else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|e| {
            StoreError::from(sqlx::Error::ColumnDecode {
                index: column.to_string(),
                source: Box::new(e),
            })
        })
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(column)?)
    }
}

impl MySqlStore {
    async fn commit_plan(
        &self,
        epoch: i64,
        plan: &CommitPlan<'_>,
        turn: &CommitTurn,
    ) -> Result<(), StoreError> {
        let p = &self.prefix;
        on_own_connection(&self.pool, async |conn| {
            let mut tx = conn.begin().await?;
            let table = format!("`{p}msgs`");
            for chunk in chunks(&plan.inserts, ROWS_PER_STATEMENT, self.insert_bytes) {
                insert_values::<MySql>(&table, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            update_rows!(tx, plan, &self.row_sql).await?;
            for chunk in plan.deletes.chunks(ROWS_PER_STATEMENT) {
                delete_by_primary_key(&table, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            remaining_rows!(tx, plan, &self.row_sql).await?;
            // Dropping the transaction rolls it back.
            turn.wait().await?;
            forget_producers!(tx, plan, &self.row_sql).await?;
            if !plan.producer_marks.is_empty() {
                let mut qb: QueryBuilder<MySql> = QueryBuilder::new(format!(
                    "INSERT INTO `{p}producers` (producer_id, last_seq, updated_at) "
                ));
                qb.push_values(&plan.producer_marks, |mut row, (id, seq)| {
                    row.push_bind(*id)
                        .push_bind(*seq)
                        .push_unseparated(format!(", {NOW_MS}"));
                });
                qb.push(
                    " ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq)), \
                     updated_at = VALUES(updated_at)",
                );
                qb.build().execute(&mut *tx).await?;
            }
            // Fencing, last: the shared row lock conflicts with try_acquire's
            // UPDATE, so a new master's claim and this commit are ordered (the
            // claim waits for the commit, or this read sees the new epoch and
            // everything above rolls back). Taken at the end, it is held only
            // for the COMMIT, so the lease renewal (an UPDATE of the same row)
            // never waits for a long batch.
            check_epoch!(self, &mut *tx, "LOCK IN SHARE MODE", epoch);
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

impl MySqlStore {
    /// For [`MessageStore::stored_after_commits`](super::MessageStore):
    /// `FOR UPDATE` waits for every commit holding the fence's shared lock.
    const READ_BACK_BEGIN: &'static str = "BEGIN";
    const READ_BACK_LOCK: &'static str = "FOR UPDATE";
}

#[async_trait]
impl Store for MySqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Lease for MySqlStore {
    async fn try_acquire(
        &self,
        claim: &Claim,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<Option<i64>, StoreError> {
        let p = &self.prefix;
        on_own_connection(&self.pool, async |conn| {
            let mut tx = conn.begin().await?;
            let done = sqlx::query(&format!(
                "UPDATE `{p}lock` SET holder     = ?, epoch = epoch + 1, lease_expires = {NOW_MS} + ?, \
                 stomp_addr = ?, admin_addr = ?, session_held = ? \
                 WHERE name = ? AND (holder IS NULL OR lease_expires < {NOW_MS} OR (? AND session_held))"
            ))
            .bind(&claim.node_id)
            .bind(lease_ms as i64)
            .bind(&claim.stomp_addr)
            .bind(&claim.admin_addr)
            .bind(with_session)
            .bind(LOCK_NAME)
            .bind(with_session)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let epoch: i64 = sqlx::query_scalar(&format!("SELECT epoch FROM `{p}lock` WHERE name = ?"))
                .bind(LOCK_NAME)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(epoch))
        })
        .await
    }

    async fn renew(
        &self,
        node_id: &str,
        epoch: i64,
        lease_ms: u64,
        with_session: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE `{}lock` SET lease_expires = {NOW_MS} + ?, session_held = ? WHERE name = ? AND holder = ? AND epoch = ?",
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
            "UPDATE `{}lock` SET holder = NULL, lease_expires = 0 WHERE name = ? AND holder = ? AND epoch = ?",
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
             FROM `{}lock` WHERE name = ?",
            self.prefix
        ))
        .bind(LOCK_NAME)
        .fetch_one(&self.pool)
        .await?;
        rows::lock_state(&row)
    }

    fn session_lock(&self) -> Option<Box<dyn SessionLock>> {
        let lock = MySqlLock {
            options: self.options.clone(),
            name: lock_name(&self.prefix, &self.database, "baton_master"),
        };
        Some(Box::new(DbSessionLock::new(
            lock,
            self.connect_timeout_ms,
            self.statement_timeout_ms,
        )))
    }
}

#[async_trait]
impl Registry for MySqlStore {
    async fn heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO `{}nodes` (node_id, stomp_addr, admin_addr, role, started_at, last_seen) \
             VALUES (?, ?, ?, ?, ?, {NOW_MS}) \
             ON DUPLICATE KEY UPDATE stomp_addr = VALUES(stomp_addr), \
             admin_addr = VALUES(admin_addr), role = VALUES(role), \
             started_at = VALUES(started_at), last_seen = VALUES(last_seen)",
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
            "SELECT node_id, stomp_addr, admin_addr, role, started_at, last_seen FROM `{}nodes` ORDER BY node_id",
            self.prefix
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::node).collect()
    }

    async fn generated_login(
        &self,
        ours: &GeneratedLogin,
    ) -> Result<Option<(GeneratedLogin, bool)>, StoreError> {
        let p = &self.prefix;
        let stored = sqlx::query(&format!(
            "INSERT IGNORE INTO `{p}generated_login` (name, password_hash, created_by, created_at) \
             VALUES (?, ?, ?, {NOW_MS})"
        ))
        .bind(crate::auth::GENERATED_USER)
        .bind(&ours.password_hash)
        .bind(&ours.created_by)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT password_hash, created_by, created_at FROM `{p}generated_login` WHERE name = ?"
        ))
        .bind(crate::auth::GENERATED_USER)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((rows::generated_login(&row)?, stored)))
    }
}

super::inspect::inspect_impl!(MySqlStore, |_| "?".to_string());

message_store_impl!(MySqlStore);

/// `GET_LOCK`. The name is server-wide, so it includes the database name
/// (see [`lock_name`]).
struct MySqlLock {
    options: MySqlConnectOptions,
    name: String,
}

#[async_trait]
impl LockDialect for MySqlLock {
    type Conn = MySqlConnection;

    async fn open(&self, statement_timeout_ms: u64) -> Result<MySqlConnection, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        setup_session(&mut conn, statement_timeout_ms).await?;
        Ok(conn)
    }

    async fn take(&self, conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
        // 1: got it; 0: someone else has it; NULL: error (e.g. killed).
        sqlx::query_scalar::<_, Option<i64>>("SELECT GET_LOCK(?, 0)")
            .bind(&self.name)
            .fetch_one(conn)
            .await
            .map(|got| got == Some(1))
    }

    async fn give_back(&self, conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&self.name)
            .execute(conn)
            .await
            .map(|_| ())
    }
}
