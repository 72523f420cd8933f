//! Operational safety: the database password never shows in logs (at the
//! most verbose level), in the admin API, on the dashboard, in metrics or
//! in any error; passwords can come from environment variables and files.

use crate::common;
use crate::common::proc;

use common::http::Http;
use common::testdb::{free_port, Db};
use proc::{run, serve_args, Proc};
use std::path::{Path, PathBuf};

const SECRET: &str = "S3cretXYZ";

/// Every admin page a password could leak into.
const PAGES: &[&str] = &[
    "/api/v1/status",
    "/api/v1/nodes",
    "/api/v1/queues",
    "/api/v1/queues/q",
    "/api/v1/topics",
    "/api/v1/connections",
    "/metrics",
    "/role",
    "/healthz",
    "/dashboard",
    "/dashboard/live.json",
    "/dashboard/queues",
    "/dashboard/queues/q",
    "/dashboard/topics",
    "/dashboard/connections",
    "/dashboard/subscriptions",
];

/// Writes `baton.toml` with an admin user `ops` and `extra` TOML.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let hash = baton::auth::hash_password("ops-pw").expect("hash");
    let text = format!(
        "{extra}\n[[auth.users]]\nname = \"ops\"\npassword_hash = \"{hash}\"\nroles = [\"ops\"]\n"
    );
    let path = dir.join("baton.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn with_config(mut args: Vec<String>, path: &Path) -> Vec<String> {
    args.extend(["--config".into(), path.display().to_string()]);
    args
}

/// Fetches every page (after publishing to queue `q` so its pages exist)
/// and asserts none shows `secret`; returns how many answered 200.
fn pages_hide(admin: &str, secret: &str) -> usize {
    let http = Http::basic(admin, "ops", "ops-pw");
    let _ = http.post("/api/v1/queues/q/messages", "text/plain", b"m");
    let mut ok = 0;
    for page in PAGES {
        let r = http.get(page);
        assert!(
            !r.text().contains(secret),
            "{page} shows the password: {}",
            r.text()
        );
        ok += usize::from(r.status == 200);
    }
    ok
}

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the password:\n{text}");
}

#[test]
fn a_password_in_the_postgres_url_is_never_shown() {
    let db = Db::postgres();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres:{SECRET}@127.0.0.1:5432/{}?application_name=safety",
        db.name
    );
    let args = with_config(serve_args(&url), &config(dir.path(), ""));
    let mut node = Proc::serve(&args, &[]);
    node.wait_log("became master");
    let ok = pages_hide(&node.admin, SECRET);
    assert_eq!(ok, PAGES.len(), "some pages failed; log:\n{}", node.text());
    let (status, log) = node.terminate();
    assert!(status.success(), "{log}");
    // The URL was logged, without its password.
    assert!(log.contains("postgres:***@127.0.0.1:5432"), "{log}");
    assert_hidden("the log", &log);
}

#[test]
fn an_unreachable_database_is_reported_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let urls = [
        format!("postgres://postgres:{SECRET}@127.0.0.1:{}/db", free_port()),
        format!(
            "postgres://postgres@127.0.0.1:{}/db?password={SECRET}",
            free_port()
        ),
        format!("mysql://root:{SECRET}@127.0.0.1:{}/db", free_port()),
    ];
    for url in urls {
        let args = with_config(serve_args(&url), &config(dir.path(), ""));
        let mut node = Proc::serve(&args, &[]);
        node.wait_count("database unreachable; retrying", 2);
        pages_hide(&node.admin, SECRET);
        let (_, log) = node.terminate();
        assert!(
            log.contains(":***@") || log.contains("password=***"),
            "{log}"
        );
        assert_hidden("the log", &log);
    }
}

/// A MariaDB user that only the secret lets in, dropped with the guard.
struct User<'a> {
    db: &'a Db,
    name: String,
}

impl User<'_> {
    async fn create(db: &Db) -> User<'_> {
        let name = format!("safety_{}", std::process::id());
        db.execute(&format!("DROP USER IF EXISTS '{name}'@'%'"))
            .await;
        db.execute(&format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{SECRET}'"
        ))
        .await;
        db.execute(&format!("GRANT ALL ON `{}`.* TO '{name}'@'%'", db.name))
            .await;
        User { db, name }
    }
}

impl Drop for User<'_> {
    fn drop(&mut self) {
        let sql = format!("DROP USER IF EXISTS '{}'@'%'", self.name);
        let _ = std::process::Command::new("mariadb")
            .args(["-h", &self.db.host, "-P", &self.db.port.to_string()])
            .args(["-u", "root", "--protocol=tcp", "-e", &sql])
            .status();
    }
}

#[tokio::test]
async fn the_password_comes_from_a_key_the_environment_or_a_file_and_is_never_shown() {
    let db = Db::mariadb();
    let user = User::create(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("db-password");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let url = format!("mysql://{}@127.0.0.1:3306/{}", user.name, db.name);
    let file_ref = format!("${{file:{}}}", secret_file.display());
    // (config file TOML, environment) — each must let the node in.
    let cases: Vec<(String, Vec<(&str, String)>)> = vec![
        (format!("[database]\npassword = \"{SECRET}\""), vec![]),
        (
            String::new(),
            vec![("BATON_DATABASE_PASSWORD", SECRET.into())],
        ),
        (format!("[database]\npassword = \"{file_ref}\""), vec![]),
        (
            "[database]\npassword = \"${env:MY_DB_PASSWORD}\"".into(),
            vec![("MY_DB_PASSWORD", SECRET.into())],
        ),
        (
            String::new(),
            vec![("BATON_DATABASE_PASSWORD", file_ref.clone())],
        ),
    ];
    for (toml, env) in &cases {
        let path = config(dir.path(), toml);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, out) = run(
            &[
                "check-config",
                "--config",
                path.to_str().unwrap(),
                "--database-url",
                &url,
            ],
            &env,
        );
        assert_eq!(code, 0, "{toml} {env:?}: {out}");
        assert_hidden("check-config", &out);
        let mut node = Proc::serve(&with_config(serve_args(&url), &path), &env);
        node.wait_log("became master");
        pages_hide(&node.admin, SECRET);
        let (status, log) = node.terminate();
        assert!(status.success(), "{log}");
        assert_hidden("the log", &log);
    }
    // A wrong password keeps the node out, and is not shown either.
    std::fs::write(&secret_file, "Wr0ngPassQ\n").unwrap();
    let path = config(
        dir.path(),
        &format!("[database]\npassword = \"{file_ref}\""),
    );
    let mut node = Proc::serve(&with_config(serve_args(&url), &path), &[]);
    node.wait_count("database unreachable; retrying", 2);
    let (_, log) = node.terminate();
    assert!(log.contains("Access denied"), "{log}");
    assert!(!log.contains("Wr0ngPassQ"), "{log}");
    assert!(!log.contains("became master"), "{log}");
}

#[test]
fn configuration_errors_never_show_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres:{SECRET}@127.0.0.1:5432/db");
    // Accepted URLs, one with parameters check-config warns about.
    let jdbc = format!("jdbc:postgresql://h/db?password={SECRET}&trustStorePassword={SECRET}&x=1");
    for url in [&url, &jdbc] {
        let (code, out) = run(&["check-config", "--database-url", url], &[]);
        assert_eq!(code, 0, "{out}");
        assert_hidden("check-config", &out);
    }
    let bad_files = [
        // A TOML syntax error on the password's own line.
        format!("[database]\npassword = \"{SECRET}"),
        format!("[database]\npassword = {SECRET}"),
        // A password in the URL and in the key.
        format!("[database]\nurl = \"{url}\"\npassword = \"{SECRET}\""),
        // An unknown key next to it, a bad scheme, a bad JDBC URL.
        format!("[database]\npassword = \"{SECRET}\"\npasword = \"{SECRET}\""),
        format!("[database]\nurl = \"postgrs://u:{SECRET}@h/db\""),
        format!("[database]\nurl = \"jdbc:oracle:thin:u/{SECRET}@h:1521:db\""),
        format!("[database]\nurl = \"sqlite:./x.db\"\npassword = \"{SECRET}\""),
    ];
    // The password given as the URL by mistake (swapped variables).
    let (code, out) = run(&["check-config"], &[("BATON_DATABASE_URL", SECRET)]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("database.url"), "{out}");
    assert_hidden("check-config", &out);
    for toml in bad_files {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, &toml).unwrap();
        for cmd in ["check-config", "serve"] {
            let (code, out) = run(&[cmd, "--config", path.to_str().unwrap()], &[]);
            assert_eq!(code, 2, "{cmd} accepted {toml:?}: {out}");
            assert!(out.contains("baton: "), "{out}");
            assert_hidden(&format!("{cmd} on {toml:?}"), &out);
        }
    }
}

#[test]
fn a_missing_secret_source_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-secret");
    let cases = [
        (
            "[database]\npassword = \"${env:BATON_SAFETY_UNSET}\"".to_string(),
            "BATON_SAFETY_UNSET",
        ),
        (
            format!("[database]\npassword = \"${{file:{}}}\"", missing.display()),
            "no-such-secret",
        ),
        (
            "[database]\npassword = \"${vault:db}\"".to_string(),
            "${env:NAME} or ${file:PATH}",
        ),
    ];
    for (toml, named) in cases {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &toml).unwrap();
        for cmd in ["check-config", "serve"] {
            let (code, out) = run(
                &[
                    cmd,
                    "--config",
                    path.to_str().unwrap(),
                    "--database-url",
                    "postgres://u@h/db",
                ],
                &[],
            );
            assert_eq!(code, 2, "{cmd} {toml}: {out}");
            assert!(
                out.contains("`database.password`") && out.contains(named),
                "{cmd} {toml}: {out}"
            );
        }
    }
}
