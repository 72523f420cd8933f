//! Embedded schema migrations. Each file uses `{prefix}` for the table prefix
//! so several clusters can share one database.

/// One schema step.
pub struct Migration {
    pub version: u32,
    pub sql: &'static str,
}

pub const SQLITE: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../../migrations/sqlite/0001_init.sql"),
}];

/// The migration text with the table prefix filled in.
pub fn render(sql: &str, prefix: &str) -> String {
    sql.replace("{prefix}", prefix)
}
