//! Session locks for session-mode election: `pg_try_advisory_lock` and
//! `GET_LOCK`, each on a dedicated connection (not from the pool) that the
//! database frees the lock with when it closes. Only autocommit statements
//! run on these connections: no transaction is ever left open.
//!
//! Both are cancel-safe: the connection is taken out of the handle while a
//! statement is in flight, so a cancelled attempt drops (closes) it, which
//! frees any lock it may have got, and the handle reads as not holding.

use super::mysql::setup_session;
use super::postgres::connect;
use super::sqlutil::deadline;
use super::{SessionLock, StoreError};
use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;

/// `pg_try_advisory_lock` on a connection of its own, opened on first use.
/// Advisory locks are per database, so the key only needs the prefix.
pub struct PgSessionLock {
    options: PgConnectOptions,
    key: i64,
    connect_timeout_ms: u64,
    statement_timeout_ms: u64,
    conn: Option<PgConnection>,
    held: bool,
}

impl PgSessionLock {
    pub(super) fn new(
        options: PgConnectOptions,
        key: i64,
        connect_timeout_ms: u64,
        statement_timeout_ms: u64,
    ) -> PgSessionLock {
        PgSessionLock {
            options,
            key,
            connect_timeout_ms,
            statement_timeout_ms,
            conn: None,
            held: false,
        }
    }

    /// Client-side bound for one statement on the lock connection.
    fn check_ms(&self) -> u64 {
        if self.statement_timeout_ms > 0 {
            self.statement_timeout_ms
        } else {
            self.connect_timeout_ms
        }
    }
}

#[async_trait]
impl SessionLock for PgSessionLock {
    async fn try_lock(&mut self) -> Result<bool, StoreError> {
        let was_held = std::mem::replace(&mut self.held, false);
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let mut conn = connect(&self.options, self.connect_timeout_ms).await?;
                let set = format!("SET statement_timeout = {}", self.statement_timeout_ms);
                deadline(self.check_ms(), sqlx::query(&set).execute(&mut conn)).await?;
                conn
            }
        };
        let outcome = if was_held {
            // Held: the database keeps it as long as this session lives.
            deadline(self.check_ms(), sqlx::query("SELECT 1").execute(&mut conn))
                .await
                .map(|_| true)
        } else {
            deadline(
                self.check_ms(),
                sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(self.key)
                    .fetch_one(&mut conn),
            )
            .await
        };
        match outcome {
            Ok(held) => {
                self.held = held;
                self.conn = Some(conn);
                Ok(held)
            }
            // Dropping the connection closes it; the database frees the lock.
            Err(e) => Err(e),
        }
    }

    async fn unlock(&mut self) {
        let held = std::mem::replace(&mut self.held, false);
        if let Some(mut conn) = self.conn.take() {
            let ms = self.check_ms();
            if held {
                let unlock = sqlx::query("SELECT pg_advisory_unlock($1)").bind(self.key);
                let _ = deadline(ms, unlock.execute(&mut conn)).await;
            }
            // Closing frees whatever the session still holds.
            let _ = tokio::time::timeout(Duration::from_millis(ms.max(1)), conn.close()).await;
        }
    }
}

/// `GET_LOCK` on a connection of its own, opened on first use. The name is
/// server-wide, so it includes the database name (see `mysql::lock_name`).
pub struct MySqlSessionLock {
    options: MySqlConnectOptions,
    name: String,
    connect_timeout_ms: u64,
    statement_timeout_ms: u64,
    conn: Option<MySqlConnection>,
    held: bool,
}

impl MySqlSessionLock {
    pub(super) fn new(
        options: MySqlConnectOptions,
        name: String,
        connect_timeout_ms: u64,
        statement_timeout_ms: u64,
    ) -> MySqlSessionLock {
        MySqlSessionLock {
            options,
            name,
            connect_timeout_ms,
            statement_timeout_ms,
            conn: None,
            held: false,
        }
    }

    /// Client-side bound for one statement on the lock connection.
    fn check_ms(&self) -> u64 {
        if self.statement_timeout_ms > 0 {
            self.statement_timeout_ms
        } else {
            self.connect_timeout_ms
        }
    }
}

#[async_trait]
impl SessionLock for MySqlSessionLock {
    async fn try_lock(&mut self) -> Result<bool, StoreError> {
        let was_held = std::mem::replace(&mut self.held, false);
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let mut conn = deadline(self.connect_timeout_ms, self.options.connect()).await?;
                deadline(
                    self.check_ms(),
                    setup_session(&mut conn, self.statement_timeout_ms),
                )
                .await?;
                conn
            }
        };
        let outcome = if was_held {
            // Held: the server keeps it as long as this session lives.
            deadline(self.check_ms(), sqlx::query("SELECT 1").execute(&mut conn))
                .await
                .map(|_| true)
        } else {
            // 1: got it; 0: someone else has it; NULL: error (e.g. killed).
            deadline(
                self.check_ms(),
                sqlx::query_scalar::<_, Option<i64>>("SELECT GET_LOCK(?, 0)")
                    .bind(&self.name)
                    .fetch_one(&mut conn),
            )
            .await
            .map(|got| got == Some(1))
        };
        match outcome {
            Ok(held) => {
                self.held = held;
                self.conn = Some(conn);
                Ok(held)
            }
            // Dropping the connection closes it; the server frees the lock.
            Err(e) => Err(e),
        }
    }

    async fn unlock(&mut self) {
        let held = std::mem::replace(&mut self.held, false);
        if let Some(mut conn) = self.conn.take() {
            let ms = self.check_ms();
            if held {
                let release = sqlx::query("SELECT RELEASE_LOCK(?)").bind(&self.name);
                let _ = deadline(ms, release.execute(&mut conn)).await;
            }
            // Closing frees whatever the session still holds.
            let _ = tokio::time::timeout(Duration::from_millis(ms.max(1)), conn.close()).await;
        }
    }
}
