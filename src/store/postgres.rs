//! The PostgreSQL store: a connection pool for the data path, batch SQL
//! with arrays (`UNNEST`), and an advisory lock on a dedicated connection
//! for session-mode election. Every statement in PostgreSQL's own SQL is
//! in this file (the few that read the same on every backend are in
//! `message_store.rs`, `inspect.rs` and `plan.rs`).
//!
//! The group commit renders a [`CommitPlan`] as one transaction: inserts
//! as `INSERT ... SELECT FROM UNNEST` of arrays, redelivery updates and
//! deletes by id arrays, the other rows one statement each, then (a
//! pipelined batch after waiting for its turn, see `plan.rs`) the producer
//! rows and the fencing read of the lock row last. A small plan of only inserts,
//! deletes and producer marks (the steady state of produce + consume) is
//! one statement, so one round trip and an implicit transaction:
//! data-modifying CTEs that write only when the fencing CTE sees our
//! epoch. Only when its turn has come, though: a pipelined batch that must
//! wait for the one before it runs step by step (an implicit transaction
//! cannot wait before its COMMIT).

use super::message_store::{check_epoch, message_store_impl, MessageSql};
use super::plan::{
    chunks, forget_producers, remaining_rows, update_rows, CommitPlan, CommitTurn, RowSql,
};
use super::rows::{self, MessageRow, ReadRow};
use super::session::{DbSessionLock, LockDialect};
use super::sqlutil::{deadline, fnv1a64, on_own_connection, ping_when_idle, redact_url};
use super::{
    migrate, Claim, GeneratedLogin, Lease, LockState, NodeRecord, Registry, SessionLock, Store,
    StoreError, LOCK_NAME,
};
use crate::config::DatabaseConfig;
use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{Arguments, ConnectOptions, Connection, Executor, PgPool, Row, TypeInfo, ValueRef};
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
    message_sql: MessageSql,
    row_sql: RowSql,
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
        let message_sql = MessageSql::new(&config.table_prefix, "", placeholder);
        let store = PgStore {
            pool,
            prefix: config.table_prefix.clone(),
            row_sql: row_sql(&config.table_prefix, &message_sql),
            message_sql,
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

/// The n-th placeholder.
fn placeholder(n: usize) -> String {
    format!("${n}")
}

/// The per-row statements of a commit; redelivery updates are one
/// statement of arrays instead.
fn row_sql(p: &str, shared: &MessageSql) -> RowSql {
    RowSql {
        set_redeliveries: None,
        move_to: format!(
            "UPDATE {p}msgs SET destination = $1, headers = $2, expires = $3, redeliveries = 0, scheduled = 0 WHERE id = $4"
        ),
        reschedule: format!("UPDATE {p}msgs SET scheduled = $1, headers = $2 WHERE id = $3"),
        delete_spilled: shared.delete_spilled.clone(),
        durable_save: format!(
            "INSERT INTO {p}acks (client_id, subscription, destination, selector, last_acked_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, subscription) DO UPDATE SET destination = EXCLUDED.destination, last_acked_id = EXCLUDED.last_acked_id, selector = EXCLUDED.selector"
        ),
        durable_ack: format!(
            "UPDATE {p}acks SET last_acked_id = GREATEST(last_acked_id, $1) \
             WHERE client_id = $2 AND subscription = $3"
        ),
        durable_delete: format!("DELETE FROM {p}acks WHERE client_id = $1 AND subscription = $2"),
        forget_producers: format!("DELETE FROM {p}producers WHERE updated_at < {NOW_MS} - $1"),
    }
}

impl ReadRow for PgRow {
    /// Integers are read at their declared width (SMALLINT, INTEGER,
    /// BIGINT).
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        let bytes = match self.try_get_raw(column)?.type_info().name() {
            "INT2" => 2,
            "INT4" => 4,
            _ => 8,
        };
        Ok(match bytes {
            2 => i64::from(self.try_get::<i16, _>(column)?),
            4 => i64::from(self.try_get::<i32, _>(column)?),
            _ => self.try_get::<i64, _>(column)?,
        })
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(column)?)
    }
}

impl PgStore {
    /// One statement only when the turn has come: an implicit transaction
    /// cannot wait for it before its COMMIT.
    async fn commit_plan(
        &self,
        epoch: i64,
        plan: &CommitPlan<'_>,
        turn: &CommitTurn,
    ) -> Result<(), StoreError> {
        if fits_one_statement(plan) && turn.is_open() {
            self.commit_in_one_statement(epoch, plan).await
        } else {
            self.commit_in_steps(epoch, plan, turn).await
        }
    }

    /// For [`MessageStore::stored_after_commits`](super::MessageStore):
    /// `FOR UPDATE` waits for every commit holding the fence's `FOR SHARE`.
    const READ_BACK_BEGIN: &'static str = "BEGIN";
    const READ_BACK_LOCK: &'static str = "FOR UPDATE";

    /// One statement: the fencing row lock is held while it runs, which
    /// [`fits_one_statement`] keeps short.
    async fn commit_in_one_statement(
        &self,
        epoch: i64,
        plan: &CommitPlan<'_>,
    ) -> Result<(), StoreError> {
        let deletes = !plan.deletes.is_empty();
        let producers = !plan.producer_marks.is_empty();
        let sql = one_statement_sql(&self.prefix, deletes, producers);
        let mut args = PgArguments::default();
        args.add(LOCK_NAME).map_err(sqlx::Error::Encode)?;
        args.add(epoch).map_err(sqlx::Error::Encode)?;
        InsertArrays::of(&plan.inserts).add_to(&mut args)?;
        if deletes {
            args.add(&plan.deletes).map_err(sqlx::Error::Encode)?;
        }
        if producers {
            add_marks(&mut args, &plan.producer_marks)?;
        }
        let current: i64 = sqlx::query_scalar_with(&sql, args)
            .fetch_one(&self.pool)
            .await?;
        if current != epoch {
            return Err(StoreError::Fenced { epoch, current });
        }
        Ok(())
    }

    async fn commit_in_steps(
        &self,
        epoch: i64,
        plan: &CommitPlan<'_>,
        turn: &CommitTurn,
    ) -> Result<(), StoreError> {
        let p = &self.prefix;
        on_own_connection(&self.pool, async |conn| {
            let mut tx = conn.begin().await?;
            for chunk in chunks(&plan.inserts, MAX_INSERT_ROWS, MAX_INSERT_BYTES) {
                let mut args = PgArguments::default();
                InsertArrays::of(chunk).add_to(&mut args)?;
                sqlx::query_with(
                    &format!(
                        "INSERT INTO {p}msgs (id, destination, priority, expires, redeliveries, headers, body, scheduled) \
                         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], \
                         $5::integer[], $6::text[], $7::bytea[], $8::bigint[])"
                    ),
                    args,
                )
                .execute(&mut *tx)
                .await?;
            }
            if !plan.redeliveries.is_empty() {
                let ids: Vec<i64> = plan.redeliveries.iter().map(|r| r.id).collect();
                let counts: Vec<i32> = plan.redeliveries.iter().map(|r| r.count).collect();
                let due: Vec<i64> = plan.redeliveries.iter().map(|r| r.at).collect();
                sqlx::query(&format!(
                    "UPDATE {p}msgs AS m SET redeliveries = u.n, scheduled = u.at \
                     FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[]) AS u(id, n, at) WHERE m.id = u.id"
                ))
                .bind(ids)
                .bind(counts)
                .bind(due)
                .execute(&mut *tx)
                .await?;
            }
            update_rows!(tx, plan, &self.row_sql).await?;
            if !plan.deletes.is_empty() {
                sqlx::query(&format!(
                    "DELETE FROM {p}msgs AS m USING UNNEST($1::bigint[]) AS d(id) WHERE m.id = d.id"
                ))
                .bind(&plan.deletes)
                .execute(&mut *tx)
                .await?;
            }
            remaining_rows!(tx, plan, &self.row_sql).await?;
            // Dropping the transaction rolls it back.
            turn.wait().await?;
            forget_producers!(tx, plan, &self.row_sql).await?;
            if !plan.producer_marks.is_empty() {
                let mut args = PgArguments::default();
                add_marks(&mut args, &plan.producer_marks)?;
                sqlx::query_with(
                    &format!(
                        "INSERT INTO {p}producers (producer_id, last_seq, updated_at) \
                         SELECT u.id, u.seq, {NOW_MS} FROM UNNEST($1::text[], $2::bigint[]) AS u(id, seq) \
                         ON CONFLICT (producer_id) DO UPDATE SET \
                         last_seq = GREATEST({p}producers.last_seq, EXCLUDED.last_seq), \
                         updated_at = EXCLUDED.updated_at"
                    ),
                    args,
                )
                .execute(&mut *tx)
                .await?;
            }
            // Fencing, last: the shared row lock conflicts with try_acquire's
            // UPDATE, so a new master's claim and this commit are ordered (the
            // claim waits for the commit, or this read sees the new epoch and
            // everything above rolls back). Taken at the end, it is held only
            // for the COMMIT, so the lease renewal (an UPDATE of the same row)
            // never waits for a long batch.
            check_epoch!(self, &mut *tx, "FOR SHARE", epoch);
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// Producer marks as the two arrays (ids, sequences) `UNNEST` takes.
fn add_marks(args: &mut PgArguments, marks: &[(&str, i64)]) -> Result<(), sqlx::Error> {
    let (ids, seqs): (Vec<&str>, Vec<i64>) = marks.iter().copied().unzip();
    args.add(ids).map_err(sqlx::Error::Encode)?;
    args.add(seqs).map_err(sqlx::Error::Encode)
}

/// The single-statement commit. Parts without rows are left out rather
/// than given empty arrays: a cached plan made while the table was small
/// may scan it whole, and an empty `DELETE` would pay that on every commit.
/// Deletes join the ids (`USING UNNEST`) instead of `id = ANY(...)`: on a
/// queue table with few live rows the planner took `id = ANY` for a full
/// scan of the `(destination, priority, id)` index, which is slow while it
/// holds the dead entries of the last seconds; the join probes the primary
/// key once per id.
fn one_statement_sql(p: &str, deletes: bool, producers: bool) -> String {
    let mut sql = format!(
        "WITH fence AS (SELECT epoch FROM {p}lock WHERE name = $1 FOR SHARE), \
         ours AS (SELECT 1 FROM fence WHERE epoch = $2), \
         ins AS (INSERT INTO {p}msgs (id, destination, priority, expires, redeliveries, headers, body, scheduled) \
           SELECT u.* FROM UNNEST($3::bigint[], $4::text[], $5::smallint[], $6::bigint[], \
           $7::integer[], $8::text[], $9::bytea[], $10::bigint[]) AS u WHERE EXISTS (SELECT 1 FROM ours))"
    );
    let mut next = 11;
    if deletes {
        sql.push_str(&format!(
            ", del AS (DELETE FROM {p}msgs AS m USING UNNEST(${next}::bigint[]) AS d(id) \
             WHERE m.id = d.id AND EXISTS (SELECT 1 FROM ours))"
        ));
        next += 1;
    }
    if producers {
        let seq = next + 1;
        sql.push_str(&format!(
            ", prod AS (INSERT INTO {p}producers (producer_id, last_seq, updated_at) \
             SELECT u.id, u.seq, {NOW_MS} FROM UNNEST(${next}::text[], ${seq}::bigint[]) AS u(id, seq) \
             WHERE EXISTS (SELECT 1 FROM ours) \
             ON CONFLICT (producer_id) DO UPDATE SET \
             last_seq = GREATEST({p}producers.last_seq, EXCLUDED.last_seq), \
             updated_at = EXCLUDED.updated_at)"
        ));
    }
    sql.push_str(" SELECT epoch FROM fence");
    sql
}

/// Most ops a single-statement commit carries; a larger batch (a burst of
/// acknowledgements after a drain, say) holds the fencing lock only for
/// its COMMIT, so the lease renewal never waits for it.
const ONE_STATEMENT_MAX_OPS: usize = 1024;

/// True when `ops` are only inserts, deletes and producer marks, few
/// enough for one statement, with inserts that fit one `INSERT` (rows and
/// bytes). The batch has been through `cancel_out`, so no delete is of a
/// row inserted here (a CTE would not see that row).
fn fits_one_statement(plan: &CommitPlan<'_>) -> bool {
    plan.ops <= ONE_STATEMENT_MAX_OPS
        && plan.only_inserts_deletes_marks()
        && chunks(&plan.inserts, MAX_INSERT_ROWS, MAX_INSERT_BYTES).len() <= 1
}

/// The columns of inserted messages, as the arrays `UNNEST` takes.
struct InsertArrays<'r> {
    ids: Vec<i64>,
    dests: Vec<&'r str>,
    prios: Vec<i16>,
    expires: Vec<i64>,
    redeliveries: Vec<i32>,
    headers: Vec<&'r str>,
    bodies: Vec<&'r [u8]>,
    scheduled: Vec<i64>,
}

impl<'r> InsertArrays<'r> {
    fn of(rows: &'r [MessageRow<'_>]) -> InsertArrays<'r> {
        InsertArrays {
            ids: rows.iter().map(|m| m.id).collect(),
            dests: rows.iter().map(|m| m.destination.as_str()).collect(),
            prios: rows.iter().map(|m| m.priority).collect(),
            expires: rows.iter().map(|m| m.expires).collect(),
            redeliveries: rows.iter().map(|m| m.redeliveries).collect(),
            headers: rows.iter().map(|m| m.headers.as_str()).collect(),
            bodies: rows.iter().map(|m| m.body).collect(),
            scheduled: rows.iter().map(|m| m.scheduled).collect(),
        }
    }

    /// Appends the eight arrays as the next parameters, in column order.
    fn add_to(self, args: &mut PgArguments) -> Result<(), sqlx::Error> {
        args.add(self.ids).map_err(sqlx::Error::Encode)?;
        args.add(self.dests).map_err(sqlx::Error::Encode)?;
        args.add(self.prios).map_err(sqlx::Error::Encode)?;
        args.add(self.expires).map_err(sqlx::Error::Encode)?;
        args.add(self.redeliveries).map_err(sqlx::Error::Encode)?;
        args.add(self.headers).map_err(sqlx::Error::Encode)?;
        args.add(self.bodies).map_err(sqlx::Error::Encode)?;
        args.add(self.scheduled).map_err(sqlx::Error::Encode)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Lease for PgStore {
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
        rows::lock_state(&row)
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
}

#[async_trait]
impl Registry for PgStore {
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
        rows.iter().map(rows::node).collect()
    }

    async fn generated_login(
        &self,
        ours: &GeneratedLogin,
    ) -> Result<Option<(GeneratedLogin, bool)>, StoreError> {
        let p = &self.prefix;
        let stored = sqlx::query(&format!(
            "INSERT INTO {p}generated_login (name, password_hash, created_by, created_at) \
             VALUES ($1, $2, $3, {NOW_MS}) ON CONFLICT (name) DO NOTHING"
        ))
        .bind(crate::auth::GENERATED_USER)
        .bind(&ours.password_hash)
        .bind(&ours.created_by)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT password_hash, created_by, created_at FROM {p}generated_login WHERE name = $1"
        ))
        .bind(crate::auth::GENERATED_USER)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((rows::generated_login(&row)?, stored)))
    }
}

super::inspect::inspect_impl!(PgStore, placeholder);

message_store_impl!(
    PgStore,
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
);

/// `pg_try_advisory_lock`. Advisory locks are per database, so the key
/// only needs the table prefix.
struct PgLock {
    options: PgConnectOptions,
    key: i64,
}

#[async_trait]
impl LockDialect for PgLock {
    type Conn = PgConnection;

    async fn open(&self, statement_timeout_ms: u64) -> Result<PgConnection, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        let set = format!("SET statement_timeout = {statement_timeout_ms}");
        sqlx::query(&set).execute(&mut conn).await?;
        Ok(conn)
    }

    async fn take(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(conn)
            .await
    }

    async fn give_back(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(conn)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plan::test_message;
    use crate::store::WriteOp;

    fn fits(ops: &[WriteOp]) -> bool {
        fits_one_statement(&CommitPlan::of(ops))
    }

    #[test]
    fn only_small_batches_of_inserts_deletes_and_marks_are_one_statement() {
        let deletes: Vec<WriteOp> = (0..10).map(WriteOp::Delete).collect();
        assert!(fits(&deletes));
        let many: Vec<WriteOp> = (0..=ONE_STATEMENT_MAX_OPS as i64)
            .map(WriteOp::Delete)
            .collect();
        assert!(!fits(&many));
        let with_update = [
            WriteOp::Delete(1),
            WriteOp::SetRedeliveries {
                id: 2,
                count: 1,
                at: 0,
            },
        ];
        assert!(!fits(&with_update));
        let big = |id| WriteOp::Insert(test_message(id, MAX_INSERT_BYTES / 2 + 1));
        assert!(fits(&[big(1)]));
        assert!(!fits(&[big(1), big(2)]));
    }

    #[test]
    fn parts_without_rows_are_left_out_and_parameters_stay_numbered() {
        let plain = one_statement_sql("b_", false, false);
        assert!(!plain.contains("DELETE") && !plain.contains("producers"));
        let both = one_statement_sql("b_", true, true);
        assert!(both.contains("UNNEST($11::bigint[]) AS d(id)"));
        assert!(both.contains("UNNEST($12::text[], $13::bigint[])"));
        let marks = one_statement_sql("b_", false, true);
        assert!(marks.contains("UNNEST($11::text[], $12::bigint[])"));
    }
}
