//! The SQL of paging (`broker/state/paging.rs`), the same on every backend
//! but for quoting and placeholders: what promotion loads whole, the
//! waiting messages per queue, one page of a queue at one priority, and
//! the delete of a purged queue's spilled rows.
//!
//! A queue's "plain waiting" messages are its rows with `scheduled = 0`;
//! the others (scheduled, or waiting out a redelivery delay) and every topic
//! row are held in memory from promotion on. A page reads one priority by
//! the `(destination, priority, id)` index.

const COLUMNS: &str = "id, destination, priority, expires, scheduled, redeliveries, headers, body";
const PLAIN_QUEUE_ROW: &str = "scheduled = 0 AND destination LIKE '/queue/%'";

/// The statements for one message table.
pub struct PageSql {
    pub held: String,
    pub depths: String,
    pub page: String,
    pub delete_spilled: String,
}

impl PageSql {
    /// `table` as it is written in SQL (quoted where needed); `ph(n)` is the
    /// n-th placeholder (1-based).
    pub fn new(table: &str, ph: impl Fn(usize) -> String) -> PageSql {
        PageSql {
            held: format!("SELECT {COLUMNS} FROM {table} WHERE NOT ({PLAIN_QUEUE_ROW}) ORDER BY id"),
            depths: format!(
                "SELECT destination, COUNT(*) AS n FROM {table} WHERE {PLAIN_QUEUE_ROW} GROUP BY destination"
            ),
            page: format!(
                "SELECT {COLUMNS} FROM {table} WHERE destination = {} AND priority = {} AND id >= {} \
                 AND scheduled = 0 ORDER BY id LIMIT {}",
                ph(1),
                ph(2),
                ph(3),
                ph(4)
            ),
            delete_spilled: format!(
                "DELETE FROM {table} WHERE destination = {} AND priority = {} AND id >= {} AND id <= {} \
                 AND scheduled = 0",
                ph(1),
                ph(2),
                ph(3),
                ph(4)
            ),
        }
    }
}

/// PostgreSQL's numbered placeholders.
pub fn dollar(n: usize) -> String {
    format!("${n}")
}

/// MySQL's and SQLite's positional placeholders.
pub fn question(_: usize) -> String {
    "?".to_string()
}
