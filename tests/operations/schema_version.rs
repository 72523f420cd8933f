//! A node refuses to start on a database whose schema a newer baton has
//! migrated, and leaves that schema alone, on every backend.

use crate::common;
use crate::common::proc;

use common::testdb::{Db, PREFIX};
use proc::{serve_args, Proc};

fn node(db: &Db, id: &str) -> Vec<String> {
    let mut args = serve_args(&db.url());
    args.extend(["--node-id".to_string(), id.to_string()]);
    args
}

async fn refuses_a_newer_schema(db: Db) {
    // The first node creates the schema.
    let mut first = Proc::serve(&node(&db, "first"), &[]);
    first.wait_log("became master");
    let (status, _) = first.terminate();
    assert!(status.success());
    // A "newer baton" records a migration this one does not know.
    let table = format!("{PREFIX}schema_migrations");
    db.execute(&format!(
        "INSERT INTO {table} (version, applied_at) VALUES (999, 0)"
    ))
    .await;

    let (status, out) = Proc::spawn(&node(&db, "second"), &[]).wait_exit();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("database schema version 999 is newer than this baton")
            && out.contains("upgrade baton or point it to another database"),
        "{out}"
    );
    assert!(!out.contains("became master"), "{out}");
    let registry = db.registry().await;
    assert!(
        registry.iter().all(|(id, _)| id != "second"),
        "the refused node registered itself: {registry:?}"
    );

    // Nothing else was changed: without the foreign version the same
    // database serves again.
    db.execute(&format!("DELETE FROM {table} WHERE version = 999"))
        .await;
    let third = Proc::serve(&node(&db, "third"), &[]);
    third.wait_log("became master");
}

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    refuses_a_newer_schema(Db::sqlite()).await;
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema() {
    refuses_a_newer_schema(Db::postgres()).await;
}

#[tokio::test]
async fn mariadb_refuses_a_newer_schema() {
    refuses_a_newer_schema(Db::mariadb()).await;
}
