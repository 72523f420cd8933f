//! `database.vacuum_interval_ms` on PostgreSQL: the master vacuums the
//! message table itself, so the dead rows of consumed messages are reused
//! without waiting for autovacuum's next visit.

use crate::common;

use common::cluster::{self, Db, Settings};
use common::stomp::*;
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// Manual VACUUMs of the message table so far (autovacuum counts apart).
async fn vacuums(db: &Db) -> i64 {
    let mut c = PgConnection::connect(&db.url()).await.expect("connect");
    sqlx::query_scalar("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'baton_msgs'")
        .fetch_one(&mut c)
        .await
        .expect("pg_stat_user_tables")
}

async fn churn(node: &cluster::Node) {
    let mut p = cluster::connect(node).await;
    for i in 0..20 {
        cluster::send_persistent(&mut p, "/queue/churn", &format!("m{i}")).await;
    }
    let mut c = cluster::connect(node).await;
    subscribe(&mut c, "/queue/churn", "s", "client-individual", &[]).await;
    for _ in 0..20 {
        let m = next(&mut c).await;
        ack_confirmed(&mut c, &m, false).await;
    }
}

fn settings(interval_ms: &str) -> Settings {
    let mut s = Settings::fast(None);
    s.extra = vec!["--database-vacuum-interval-ms".into(), interval_ms.into()];
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn the_master_vacuums_the_message_table() {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &settings("200"), &["a"]).await;
    churn(&nodes[0]).await;
    guard(
        "a VACUUM of baton_msgs shows in pg_stat_user_tables",
        async {
            while vacuums(&db).await == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        },
    )
    .await;
    assert!(db.stored_bodies().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_leaves_the_table_to_autovacuum() {
    let db = Db::postgres();
    let nodes = cluster::start_cluster(&db, &settings("0"), &["a"]).await;
    churn(&nodes[0]).await;
    // The other test sees its VACUUM within a few 200 ms intervals; give
    // this one as long and more before looking.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        vacuums(&db).await,
        0,
        "nothing vacuumed with the interval 0"
    );
    assert!(
        nodes[0].log_text().contains("became master"),
        "the node served"
    );
}
