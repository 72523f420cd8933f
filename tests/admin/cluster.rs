//! The admin API on a two-node cluster, on each database: a slave answers
//! reads (persistent messages straight from the database) and refuses
//! writes with 503 naming the master's admin address; after the master
//! dies, the other node's API serves writes.

use crate::common;
use crate::common::users as setup;

use common::cluster::*;
use common::http::Http;
use serde_json::json;

/// Every password the processes of `n` logged.
fn passwords(n: &Node) -> Vec<String> {
    let lines: Vec<String> = n.log_text().lines().map(str::to_string).collect();
    lines
        .iter()
        .filter_map(|l| setup::generated_password(std::slice::from_ref(l)))
        .collect()
}

/// User `admin` on node `i`: with its own generated password on SQLite,
/// with the cluster's (logged by the node that generated it) on a shared
/// database server.
fn client(nodes: &[Node], i: usize) -> Http {
    let password = passwords(&nodes[i])
        .into_iter()
        .chain(nodes.iter().flat_map(passwords))
        .next()
        .expect("generated password in a log");
    Http::basic(&nodes[i].admin, "admin", &password)
}

async fn slave_reads_and_refuses_writes(db: Db) {
    let mut nodes = start_cluster(&db, &Settings::fast(None), &["adm-a", "adm-b"]).await;
    let (master, slave) = (client(&nodes, 0), client(&nodes, 1));
    let mut ids = Vec::new();
    for body in ["one", "two"] {
        let r = master.post(
            "/api/v1/queues/work/messages",
            "text/plain",
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    let r = master.post(
        "/api/v1/queues/work/messages?persistent=false",
        "text/plain",
        b"memory only",
    );
    assert_eq!(r.status, 201);

    let status = slave.get("/api/v1/status").json();
    assert_eq!(status["role"], "slave");
    assert!(status["epoch"].is_null());
    assert_eq!(status["master"]["node_id"], "adm-a");
    assert_eq!(status["master"]["admin_addr"], nodes[0].admin.as_str());
    let cluster = slave.get("/api/v1/nodes").json();
    let masters: Vec<&serde_json::Value> = cluster
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["is_master"] == true)
        .collect();
    assert_eq!(masters.len(), 1, "{cluster}");
    assert_eq!(masters[0]["node_id"], "adm-a");

    // Reads from the database.
    let queues = slave.get("/api/v1/queues").json();
    assert_eq!(queues[0]["name"], "work", "{queues}");
    assert_eq!(queues[0]["stored"], 2, "{queues}");
    assert_eq!(queues[0]["depth"], 2, "{queues}");
    assert_eq!(slave.get("/api/v1/queues/work").json()["stored"], 2);
    let page = slave.get("/api/v1/queues/work/messages?limit=1").json();
    assert_eq!(page["messages"][0]["body"], "one");
    let next = page["next_after"].as_i64().expect("a second page");
    let page = slave
        .get(&format!(
            "/api/v1/queues/work/messages?limit=1&after={next}"
        ))
        .json();
    assert_eq!(page["messages"][0]["body"], "two");
    let page = slave
        .get(&format!("/api/v1/queues/work/messages?after={}", ids[1]))
        .json();
    assert_eq!(
        page["messages"],
        json!([]),
        "the transient message lives only on the master"
    );
    let one = slave
        .get(&format!("/api/v1/queues/work/messages/{}", ids[0]))
        .json();
    assert_eq!(one["body"], "one");
    assert_eq!(one["persistent"], true);
    assert_eq!(slave.get("/api/v1/connections").json(), json!([]));
    assert_eq!(slave.get("/api/v1/subscriptions").json(), json!([]));
    db.execute(&format!(
        "INSERT INTO {PREFIX}acks (client_id, subscription, destination, selector, last_acked_id) \
         VALUES ('app-1', 'audit', '/topic/orders', 'kind = 1', 42)"
    ))
    .await;
    let subs = slave.get("/api/v1/subscriptions").json();
    assert_eq!(
        subs,
        json!([{"client_id": "app-1", "subscription": "audit", "destination": "/topic/orders",
                "selector": "kind = 1", "last_acked_id": 42}])
    );
    let master_page = master.get("/api/v1/queues/work/messages").json();
    assert_eq!(
        master_page["messages"].as_array().unwrap().len(),
        3,
        "{master_page}"
    );

    // Writes: 503 with the master's admin address.
    let id = ids[0];
    let writes = [
        slave.post("/api/v1/queues/work/messages", "text/plain", b"x"),
        slave.post("/api/v1/topics/t/messages", "text/plain", b"x"),
        slave.post(
            "/api/message/work?type=queue",
            "application/x-www-form-urlencoded",
            b"body=x",
        ),
        slave.post("/api/v1/queues/work/purge", "text/plain", b""),
        slave.delete(&format!("/api/v1/queues/work/messages/{id}")),
        slave.post_json(
            &format!("/api/v1/queues/work/messages/{id}/move"),
            &json!({"to": "b"}),
        ),
        slave.post_json(
            &format!("/api/v1/queues/work/messages/{id}/copy"),
            &json!({"to": "b"}),
        ),
        slave.delete("/api/v1/queues/work"),
        slave.delete("/api/v1/topics/t"),
        slave.delete("/api/v1/connections/1"),
        slave.delete("/api/v1/subscriptions/c/s"),
    ];
    for r in &writes {
        let e = r.expect_error(503);
        assert!(e.contains("slave"), "{e}");
        assert_eq!(
            r.json()["master"]["admin_addr"],
            nodes[0].admin.as_str(),
            "{}",
            r.text()
        );
    }
    assert_eq!(
        slave.get("/api/v1/queues/work").json()["stored"],
        2,
        "nothing changed"
    );

    // The master dies; the other node takes over and its API writes.
    nodes[0].kill9();
    nodes[1].wait_role(Role::Master).await;
    let status = slave.get("/api/v1/status").json();
    assert_eq!(status["role"], "master");
    let r = slave.post("/api/v1/queues/work/purge", "text/plain", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["purged"], 2);
    assert_eq!(
        slave.delete("/api/v1/subscriptions/app-1/audit").status,
        204
    );
    assert_eq!(slave.get("/api/v1/subscriptions").json(), json!([]));
    slave
        .delete("/api/v1/subscriptions/app-1/audit")
        .expect_error(404);
}

#[tokio::test]
async fn sqlite_slave_reads_and_refuses_writes() {
    slave_reads_and_refuses_writes(Db::sqlite()).await;
}

#[tokio::test]
async fn postgres_slave_reads_and_refuses_writes() {
    slave_reads_and_refuses_writes(Db::postgres()).await;
}

#[tokio::test]
async fn mariadb_slave_reads_and_refuses_writes() {
    slave_reads_and_refuses_writes(Db::mariadb()).await;
}

/// Without users, the first node generates the cluster's admin password and
/// stores only its hash; the other node (and the first after a restart)
/// uses it and says who generated it; both accept it, nothing else.
async fn one_admin_password_per_cluster(db: Db) {
    let mut nodes = start_cluster(&db, &Settings::fast(None), &["pw-a", "pw-b"]).await;
    let generated = passwords(&nodes[0]);
    assert_eq!(generated.len(), 1, "{}", nodes[0].log_text());
    let password = &generated[0];
    assert!(passwords(&nodes[1]).is_empty(), "{}", nodes[1].log_text());
    nodes[1]
        .wait_log(
            "using the cluster's admin password, generated by node pw-a at ",
            1,
        )
        .await;
    let stored = db
        .texts(&format!(
            "SELECT password_hash FROM {PREFIX}generated_login"
        ))
        .await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("$argon2"), "{stored:?}");
    assert!(!stored[0].contains(password.as_str()));
    for n in &nodes {
        let admin = Http::basic(&n.admin, "admin", password);
        assert_eq!(admin.get("/api/v1/status").status, 200, "{}", n.name);
        Http::basic(&n.admin, "admin", "wrong")
            .get("/api/v1/status")
            .expect_error(401);
    }
    // A restarted node generates nothing new and keeps the password.
    nodes[0].kill9();
    nodes[1].wait_role(Role::Master).await;
    nodes[0].restart();
    nodes[0]
        .wait_log(
            "using the cluster's admin password, generated by node pw-a at ",
            1,
        )
        .await;
    assert_eq!(passwords(&nodes[0]), generated);
    let admin = Http::basic(&nodes[0].admin, "admin", password);
    assert_eq!(admin.get("/api/v1/status").status, 200);
}

#[tokio::test]
async fn postgres_cluster_has_one_admin_password() {
    one_admin_password_per_cluster(Db::postgres()).await;
}

#[tokio::test]
async fn mariadb_cluster_has_one_admin_password() {
    one_admin_password_per_cluster(Db::mariadb()).await;
}

#[tokio::test]
async fn sqlite_nodes_keep_their_own_admin_password() {
    let nodes = start_cluster(&Db::sqlite(), &Settings::fast(None), &["own-a", "own-b"]).await;
    let (a, b) = (passwords(&nodes[0]), passwords(&nodes[1]));
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_ne!(a, b);
    for (n, pw) in nodes.iter().zip([&a[0], &b[0]]) {
        assert_eq!(
            Http::basic(&n.admin, "admin", pw)
                .get("/api/v1/status")
                .status,
            200
        );
    }
}
