//! Moving from ActiveMQ: `baton import-activemq` run as a process on the
//! reference configuration, `baton check-config` on its output, and a node
//! on PostgreSQL configured with a JDBC URL plus `database.username` /
//! `database.password`.

use crate::common;

use baton::client::Client;
use common::testdb::Db;
use common::BIN;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(30);
const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/activemq-jdbc-mysql.xml"
);

/// Runs `baton args` to completion with a cleared environment.
fn baton(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn reference_configuration_becomes_a_config_serve_accepts() {
    let out = baton(&["import-activemq", REFERENCE], &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("url = \"mysql://localhost/activemq\""),
        "{stdout}"
    );
    assert!(stdout.contains("listen = \"0.0.0.0:61616\""), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with('#') || !l.contains("relaxAutoCommit")),
        "{stdout}"
    );
    for needle in ["relaxAutoCommit=true", "<destinationPolicy>"] {
        assert!(
            stderr.contains(needle),
            "no warning about {needle}: {stderr}"
        );
    }
    assert!(
        stderr.lines().all(|l| l.starts_with("warning: ")),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(&path, &stdout).unwrap();
    let path = path.to_str().unwrap();
    let check = baton(&["check-config", "--config", path], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("configuration OK"));
    // The same loader still rejects what serve would reject: here a
    // password in both the URL and database.password.
    let bad = baton(
        &["check-config", "--config", path],
        &[(
            "BATON_DATABASE_URL",
            "mysql://activemq:hunter2@localhost/activemq",
        )],
    );
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(err.contains("database.password"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn missing_or_malformed_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.xml");
    let out = baton(&["import-activemq", missing.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<beans><broker></beans>").unwrap();
    let out = baton(&["import-activemq", broken.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not well-formed XML"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let other = dir.path().join("other.xml");
    std::fs::write(&other, "<beans/>").unwrap();
    let out = baton(&["import-activemq", other.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no <broker> element"),
        "{}",
        text(&out.stderr)
    );

    let out = baton(&["import-activemq"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn placeholders_take_values_from_properties_and_defines() {
    let dir = tempfile::tempdir().unwrap();
    let xml = std::fs::read_to_string(REFERENCE)
        .unwrap()
        .replace(
            "value=\"activemq\"/>\n        <property name=\"poolPreparedStatements\"",
            "value=\"${db.password}\"/>\n        <property name=\"poolPreparedStatements\"",
        )
        .replace(
            "<property name=\"username\" value=\"activemq\"/>",
            "<property name=\"username\" value=\"${db.user}\"/>",
        );
    assert!(xml.contains("${db.password}") && xml.contains("${db.user}"));
    let file = dir.path().join("activemq.xml");
    std::fs::write(&file, xml).unwrap();
    let props = dir.path().join("credentials.properties");
    std::fs::write(&props, "db.user=amq\ndb.password=from-file\n").unwrap();
    let (file, props) = (file.to_str().unwrap(), props.to_str().unwrap());

    let out = baton(&["import-activemq", file], &[]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("# password = \"${db.password}\""),
        "{stdout}"
    );
    assert!(
        stderr.contains("${db.password}") && stderr.contains("--properties"),
        "{stderr}"
    );

    let out = baton(
        &[
            "import-activemq",
            file,
            "--properties",
            props,
            "-D",
            "db.password=from-flag",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("username = \"amq\""), "{stdout}");
    assert!(stdout.contains("password = \"from-flag\""), "{stdout}");
    assert!(
        !text(&out.stderr).contains("${db."),
        "{}",
        text(&out.stderr)
    );

    let missing = dir.path().join("nope.properties");
    let out = baton(
        &[
            "import-activemq",
            file,
            "--properties",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nope.properties"),
        "{}",
        text(&out.stderr)
    );
    let out = baton(&["import-activemq", file, "-D", "novalue"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("NAME=VALUE"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_config_explains_bad_jdbc_urls() {
    let out = baton(
        &[
            "check-config",
            "--database-url",
            "jdbc:derby:amq;create=true",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("database.url") && err.contains("Derby"),
        "{err}"
    );
}

/// A PostgreSQL login role for one test, dropped after its database.
struct Role(String);

impl Role {
    fn create(password: &str) -> Role {
        let name = format!("baton imp@{}", std::process::id());
        psql(&format!(
            "CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'"
        ));
        Role(name)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        psql(&format!("DROP ROLE IF EXISTS \"{}\"", self.0));
    }
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
}

/// `baton serve --config FILE` with extra environment; killed on drop.
struct Served {
    child: Child,
    stomp: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(config: &Path, env: &[(&str, &str)]) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .args([
                "--stomp-listen",
                "127.0.0.1:0",
                "--openwire-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--websocket-listen",
                "127.0.0.1:0",
            ])
            .args(["--log-format", "json", "--log-level", "baton=debug,info"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let l = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["fields"]["message"] == "stomp listener bound" {
                        let _ = tx.send(v["fields"]["addr"].as_str().unwrap_or("").to_string());
                    }
                }
                l.lock().unwrap().push(line);
            }
        });
        let l = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        let stomp = match rx.recv_timeout(GUARD) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "baton did not become master:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Served { child, stomp, logs }
    }

    fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_node_with_jdbc_url_and_separate_credentials() {
    let password = "p@ss:w/rd%41 x";
    let role = Role::create(password);
    let db = Db::postgres();
    psql(&format!(
        "ALTER DATABASE {} OWNER TO \"{}\"",
        db.name, role.0
    ));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    let url = format!(
        "jdbc:postgresql://127.0.0.1:5432/{}?tcpKeepAlive=true&ApplicationName=baton-import-test",
        db.name
    );
    let toml = format!(
        "[database]\nurl = {}\nusername = {}\n",
        toml::Value::String(url),
        toml::Value::String(role.0.clone())
    );
    std::fs::write(&config, toml).unwrap();
    let node = Served::start(&config, &[("BATON_DATABASE_PASSWORD", password)]);

    let mut c = tokio::time::timeout(GUARD, Client::connect(&node.stomp))
        .await
        .expect("connect in time")
        .expect("connect");
    tokio::time::timeout(
        GUARD,
        c.send("/queue/moved", "from ActiveMQ", &[("persistent", "true")]),
    )
    .await
    .expect("send in time")
    .expect("persistent send confirmed");
    assert_eq!(db.stored_bodies().await, vec!["from ActiveMQ".to_string()]);

    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let owner: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'baton_msgs'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(
        owner, role.0,
        "tables were not created as database.username"
    );
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND application_name = 'baton-import-test'",
    )
    .bind(&role.0)
    .bind(&db.name)
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert!(
        sessions > 0,
        "no session as {} with the kept ApplicationName",
        role.0
    );
    pg.close().await.unwrap();

    let log = node.log();
    assert!(
        log.contains("tcpKeepAlive=true"),
        "no warning about the dropped parameter:\n{log}"
    );
    assert!(!log.contains("ApplicationName"), "{log}");
    for secret in [password, "p%40ss%3Aw%2Frd%2541%20x", "rd%41"] {
        assert!(!log.contains(secret), "password in the log:\n{log}");
    }
    drop(c);
    drop(node);
    drop(db);
    drop(role);
}
