//! A broker with `[auth]` users from a config file, and an admin HTTP
//! client for each of them: the set-up of the tests that need users (admin
//! API, dashboard, limits, policies, scheduled delivery, the CLI).

#![allow(dead_code)]
use crate::common::http::Http;
use crate::common::Baton;
use std::io::Write;

pub const TOKEN: &str = "test-token-for-ops";

/// CONNECT headers of user `ops` (anonymous STOMP gets nothing here:
/// the config has permission entries but none for role `anonymous`).
pub const OPS_LOGIN: &[(&str, &str)] = &[("login", "ops"), ("passcode", "ops-secret")];

pub struct Setup {
    pub b: Baton,
    /// Admin on everything.
    pub ops: Http,
    /// read + write on /queue/orders.>
    pub app: Http,
    /// Bearer token acting as ops.
    pub token: Http,
    pub anon: Http,
    _dir: tempfile::TempDir,
}

/// Writes the `[auth]` config and starts a broker with it.
pub fn start(extra: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baton.toml");
    let hash = |pw: &str| baton::auth::hash_password(pw).expect("hash");
    let config = format!(
        r#"
[[auth.users]]
name = "ops"
password_hash = "{}"
roles = ["ops"]

[[auth.users]]
name = "app"
password_hash = "{}"
roles = ["producers"]

[[auth.tokens]]
user = "ops"
sha256 = "{}"

[[auth.permissions]]
role = "ops"
destinations = ">"
allow = ["admin"]

[[auth.permissions]]
role = "producers"
destinations = "/queue/orders.>"
allow = ["read", "write"]
"#,
        hash("ops-secret"),
        hash("app-secret"),
        baton::auth::sha256_hex(TOKEN)
    );
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("write config");
    let mut args = vec!["--config", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let b = Baton::start_with(&args);
    let addr = b.admin.clone();
    Setup {
        ops: Http::basic(&addr, "ops", "ops-secret"),
        app: Http::basic(&addr, "app", "app-secret"),
        token: Http::bearer(&addr, TOKEN),
        anon: Http::anonymous(&addr),
        b,
        _dir: dir,
    }
}

/// The generated admin password a node logged (JSON log lines).
pub fn generated_password(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        v["fields"]["password"].as_str().map(str::to_string)
    })
}
