//! Small helpers shared by the SQL backends.

use sqlx::pool::PoolConnection;
use std::time::Duration;

use super::StoreError;

/// 64-bit FNV-1a: a stable hash (unlike std's randomised `DefaultHasher`),
/// so every node derives the same advisory-lock key from the same prefix.
pub fn fnv1a64(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub use crate::config::redact_url;

/// A pooled connection idle for longer than this is pinged before use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pool options that ping a connection before handing it out only when it
/// sat idle for over [`PING_AFTER_IDLE`] (a dead one is then replaced),
/// instead of sqlx's ping on every acquire: under load each commit takes a
/// connection used a moment ago, and the ping was one more round trip per
/// group commit.
pub fn ping_when_idle<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Runs `work`, a transaction, on a connection of `pool` that goes back to
/// the pool only if `work` finished (committed or not, sqlx knowing it);
/// dropped before that (a commit timeout, the term ending), the connection
/// is closed, and the server rolls back whatever it had open.
///
/// sqlx counts a transaction only once the server has answered its BEGIN.
/// A future dropped while the BEGIN is on the wire leaves the connection
/// inside a transaction sqlx does not know of, so nothing rolls it back,
/// and sqlx returns it to the pool. Its next user then writes into that
/// transaction: PostgreSQL's single-statement commit succeeds there and is
/// never committed, a confirmed send lost (the pipelined chaos soak found
/// it; `tests/ha/store_backends.rs` holds a BEGIN back to show it).
pub async fn on_own_connection<DB, T, E>(
    pool: &sqlx::Pool<DB>,
    work: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, E>,
) -> Result<T, E>
where
    DB: sqlx::Database,
    E: From<sqlx::Error>,
{
    let mut conn = CloseUnlessEnded {
        conn: pool.acquire().await?,
        ended: false,
    };
    let result = work(&mut conn.conn).await;
    conn.ended = true;
    result
}

/// See [`on_own_connection`].
struct CloseUnlessEnded<DB: sqlx::Database> {
    conn: PoolConnection<DB>,
    ended: bool,
}

impl<DB: sqlx::Database> Drop for CloseUnlessEnded<DB> {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}

/// Runs `fut` with a client-side deadline: a server-side statement timeout
/// cannot fire on a connection whose peer is gone.
pub async fn deadline<T, F>(ms: u64, fut: F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    match tokio::time::timeout(Duration::from_millis(ms.max(1)), fut).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact_url("mysql://h/db?x=a@b"), "mysql://h/db?x=a@b");
        assert_eq!(redact_url("sqlite:./x.db"), "sqlite:./x.db");
    }
}
