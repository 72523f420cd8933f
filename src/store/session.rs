//! Session locks for session-mode election (`pg_try_advisory_lock` in
//! `postgres.rs`, `GET_LOCK` in `mysql.rs`), each on a dedicated connection (not from the pool) that the
//! database frees the lock with when it closes. Only autocommit statements
//! run on these connections: no transaction is ever left open.
//!
//! Cancel-safe: the connection is taken out of the handle while a statement
//! is in flight, so a cancelled attempt drops (closes) it, which frees any
//! lock it may have got, and the handle reads as not holding.

use super::sqlutil::deadline;
use super::{SessionLock, StoreError};
use async_trait::async_trait;
use sqlx::Connection;
use std::time::Duration;

/// What differs between databases: how to open the lock connection, take
/// the lock without waiting, and give it back.
#[async_trait]
pub trait LockDialect: Send + Sync + 'static {
    type Conn: Connection + Send;
    /// Opens and prepares a connection (session settings).
    async fn open(&self, statement_timeout_ms: u64) -> Result<Self::Conn, sqlx::Error>;
    /// One non-blocking attempt; `true` = now held by this session.
    async fn take(&self, conn: &mut Self::Conn) -> Result<bool, sqlx::Error>;
    /// Releases a held lock (closing the connection would too).
    async fn give_back(&self, conn: &mut Self::Conn) -> Result<(), sqlx::Error>;
}

/// A session lock on a connection of its own, opened on first use.
pub struct DbSessionLock<D: LockDialect> {
    dialect: D,
    connect_timeout_ms: u64,
    statement_timeout_ms: u64,
    conn: Option<D::Conn>,
    held: bool,
}

impl<D: LockDialect> DbSessionLock<D> {
    pub(super) fn new(dialect: D, connect_timeout_ms: u64, statement_timeout_ms: u64) -> Self {
        DbSessionLock {
            dialect,
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
impl<D: LockDialect> SessionLock for DbSessionLock<D> {
    async fn try_lock(&mut self) -> Result<bool, StoreError> {
        let was_held = std::mem::replace(&mut self.held, false);
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                deadline(
                    self.connect_timeout_ms + self.check_ms(),
                    self.dialect.open(self.statement_timeout_ms),
                )
                .await?
            }
        };
        let outcome = if was_held {
            // Held: the database keeps it as long as this session lives.
            deadline(self.check_ms(), conn.ping()).await.map(|_| true)
        } else {
            deadline(self.check_ms(), self.dialect.take(&mut conn)).await
        };
        // On error the connection is dropped, which closes it: the
        // database frees whatever it held.
        let held = outcome?;
        self.held = held;
        self.conn = Some(conn);
        Ok(held)
    }

    async fn unlock(&mut self) {
        let held = std::mem::replace(&mut self.held, false);
        if let Some(mut conn) = self.conn.take() {
            let ms = self.check_ms();
            if held {
                let _ = deadline(ms, self.dialect.give_back(&mut conn)).await;
            }
            // Closing frees whatever the session still holds.
            let _ = tokio::time::timeout(Duration::from_millis(ms.max(1)), conn.close()).await;
        }
    }
}
