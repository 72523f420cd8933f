//! Embedded schema migrations. Each file uses `{prefix}` for the table prefix
//! so several clusters can share one database.

use super::StoreError;

/// One schema step.
pub struct Migration {
    pub version: u32,
    pub sql: &'static str,
}

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/sqlite/0002_generated_login.sql"),
    },
];

pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/postgres/0002_generated_login.sql"),
    },
];

pub const MYSQL: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/mysql/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/mysql/0002_generated_login.sql"),
    },
];

/// Refuses a database whose newest recorded migration (`newest`, from
/// `schema_migrations`) is one this binary does not know: a newer baton
/// migrated it, and running old code on it could corrupt it.
pub fn check_not_newer(newest: Option<i64>, known: &[Migration]) -> Result<(), StoreError> {
    let known = known.iter().map(|m| m.version).max().unwrap_or(0);
    match newest {
        Some(found) if found > i64::from(known) => Err(StoreError::SchemaTooNew { found, known }),
        _ => Ok(()),
    }
}

/// The migration text with the table prefix filled in.
pub fn render(sql: &str, prefix: &str) -> String {
    sql.replace("{prefix}", prefix)
}

/// Splits a migration into single statements for databases that take one
/// statement per query (MySQL): drops `--` comment lines, then splits at
/// `;`. Migration files keep `;` out of literals and comments' ends.
pub fn split_statements(sql: &str) -> Vec<String> {
    let text: Vec<&str> = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    text.join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_migration_splits_into_its_statements() {
        let stmts = split_statements(&render(MYSQL[0].sql, "x_"));
        assert_eq!(stmts.len(), 6, "{stmts:#?}");
        assert!(stmts.iter().all(|s| !s.contains("--") && !s.contains('{')));
        assert!(stmts[3].starts_with("INSERT IGNORE INTO `x_lock`"));
    }

    #[test]
    fn a_newer_schema_is_refused_and_known_ones_pass() {
        assert!(check_not_newer(None, SQLITE).is_ok());
        assert!(check_not_newer(Some(1), SQLITE).is_ok());
        let e = check_not_newer(Some(99), SQLITE).unwrap_err().to_string();
        assert!(e.contains("schema version 99 is newer"), "{e}");
        assert!(e.contains("knows up to 2"), "{e}");
    }

    #[test]
    fn every_backend_has_the_same_versions() {
        let versions = |m: &[Migration]| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        assert_eq!(versions(SQLITE), versions(MYSQL));
    }
}
