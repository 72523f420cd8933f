//! `baton hash-password`, `baton new-token` and the `[auth]` checks at
//! start-up, through the real binary.

use crate::common;
use crate::common::users as setup;

use common::http::Http;
use common::{Baton, BIN};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run baton");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("baton exits")
}

#[test]
fn hash_password_reads_stdin_and_prints_an_argon2_hash() {
    let out = run(&["hash-password"], "correct horse\n");
    assert!(out.status.success(), "{out:?}");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(baton::auth::verify_password("correct horse", &hash));
    assert!(!baton::auth::verify_password("correct horse\n", &hash));
    let empty = run(&["hash-password"], "\n");
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));
}

fn config_with(dir: &std::path::Path, auth: &str) -> String {
    let path = dir.join("baton.toml");
    std::fs::write(&path, auth).unwrap();
    path.display().to_string()
}

#[test]
fn new_token_prints_a_token_its_config_accepts() {
    let out = run(&["new-token", "--user", "robot"], "");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().next().unwrap().trim().to_string();
    assert_eq!(token.len(), 64);
    let snippet: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n");
    let hash = baton::auth::hash_password("robot-pw").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let auth = format!("[[auth.users]]\nname = \"robot\"\npassword_hash = \"{hash}\"\n{snippet}\n");
    let path = config_with(dir.path(), &auth);
    let b = Baton::start_with(&["--config", &path]);
    assert_eq!(
        Http::bearer(&b.admin, &token).get("/api/v1/queues").status,
        200
    );
    Http::bearer(&b.admin, "0".repeat(64).as_str())
        .get("/api/v1/queues")
        .expect_error(401);
    assert_eq!(
        Http::basic(&b.admin, "robot", "robot-pw")
            .get("/api/v1/queues")
            .status,
        200
    );
    // Users are configured: nothing is generated.
    assert!(setup::generated_password(&b.logs.lock().unwrap()).is_none());
}

#[test]
fn bad_auth_config_exits_2_naming_the_key() {
    let hash = baton::auth::hash_password("x").unwrap();
    let cases = [
        ("[[auth.users]]\nname = \"a\"\npassword_hash = \"plain\"\n", "auth.users[0].password_hash"),
        (
            &format!("[[auth.users]]\nname = \"a\"\npassword_hash = \"{hash}\"\n[[auth.users]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"),
            "auth.users[1].name",
        ),
        ("[[auth.tokens]]\nuser = \"ghost\"\nsha256 = \"00\"\n", "auth.tokens[0].user"),
        (
            "[[auth.permissions]]\nrole = \"r\"\nuser = \"u\"\ndestinations = \">\"\nallow = [\"read\"]\n",
            "auth.permissions[0]",
        ),
        (
            "[[auth.permissions]]\nrole = \"r\"\ndestinations = \"/queue/a.>.b\"\nallow = [\"read\"]\n",
            "auth.permissions[0].destinations",
        ),
        (
            "[[auth.permissions]]\nrole = \"r\"\ndestinations = \">\"\nallow = [\"delete\"]\n",
            "auth.permissions",
        ),
        ("[auth]\nanonymous = \"sometimes\"\n", "auth.anonymous"),
        ("[[auth.users]]\nname = \"a\"\npassword = \"x\"\n", "auth.users"),
    ];
    for (auth, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = config_with(dir.path(), auth);
        let out = run(
            &[
                "serve",
                "--config",
                &path,
                "--admin-listen",
                "127.0.0.1:0",
                "--stomp-listen",
                "127.0.0.1:0",
                "--openwire-listen",
                "127.0.0.1:0",
            ],
            "",
        );
        assert_eq!(out.status.code(), Some(2), "{auth}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{auth}: expected {key} in: {err}");
    }
}
