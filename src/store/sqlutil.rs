//! Small helpers shared by the PostgreSQL and MySQL/MariaDB backends.

use crate::message::Message;
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

/// Splits `messages` into runs of at most `max_rows` rows and, unless a
/// single message is bigger, at most `max_bytes` of headers and body, so
/// one statement stays within the server's packet limit.
pub fn batches<'a>(
    messages: &[&'a Message],
    max_rows: usize,
    max_bytes: usize,
) -> Vec<Vec<&'a Message>> {
    let mut out = Vec::new();
    let mut current: Vec<&Message> = Vec::new();
    let mut bytes = 0usize;
    for m in messages {
        let size = m.body.len()
            + m.headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>()
            + 64;
        if !current.is_empty() && (current.len() >= max_rows || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(m);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
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
    use crate::message::Destination;

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

    #[test]
    fn batches_respect_rows_and_bytes() {
        let msg = |n: usize| Message {
            id: 1,
            destination: Destination::Queue("q".into()),
            priority: 4,
            expires: 0,
            persistent: true,
            headers: Vec::new(),
            body: bytes::Bytes::from(vec![0u8; n]),
            redelivery_count: 0,
            redelivered: false,
            producer: None,
            scheduled: 0,
        };
        let small: Vec<Message> = (0..10).map(|_| msg(10)).collect();
        let refs: Vec<&Message> = small.iter().collect();
        let sizes: Vec<usize> = batches(&refs, 4, 1 << 20).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let big: Vec<Message> = (0..3).map(|_| msg(1000)).collect();
        let refs: Vec<&Message> = big.iter().collect();
        let sizes: Vec<usize> = batches(&refs, 100, 500).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(batches(&[], 10, 10).is_empty());
    }
}
