//! Unit tests of loading and validating the configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_valid() {
    let c = load(None, env(&[]), &[]).unwrap();
    assert_eq!(c.database.url, "sqlite:./data/baton.db");
    assert_eq!(c.stomp.listen.to_string(), "127.0.0.1:61613");
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:8161");
    assert_eq!(c.broker.max_redeliveries, 6);
}

#[test]
fn file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(
        &path,
        "[database]\nurl = \"sqlite:file.db\"\ntable_prefix = \"f_\"\n[broker]\nmax_redeliveries = 2\n",
    )
    .unwrap();
    let c = load(
        Some(&path),
        env(&[
            ("BATON_DATABASE_TABLE_PREFIX", "e_"),
            ("BATON_BROKER_MAX_REDELIVERIES", "3"),
            ("PATH", "/x"),
        ]),
        &[("broker.max_redeliveries".into(), "4".into())],
    )
    .unwrap();
    assert_eq!(c.database.url, "sqlite:file.db");
    assert_eq!(c.database.table_prefix, "e_");
    assert_eq!(c.broker.max_redeliveries, 4);
}

#[test]
fn unknown_file_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(&path, "[stomp]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n").unwrap();
    let e = load(Some(&path), env(&[]), &[]).unwrap_err().to_string();
    assert!(e.contains("listn"), "{e}");
    assert!(e.contains("expected one of"), "{e}");
}

#[test]
fn bad_values_are_named() {
    let e = load(None, env(&[("BATON_STOMP_MAX_HEADERS", "many")]), &[]).unwrap_err();
    assert!(e.to_string().contains("stomp.max_headers"), "{e}");
    let e = load(None, env(&[]), &[("stomp.listen".into(), "nowhere".into())]).unwrap_err();
    assert!(e.to_string().contains("stomp.listen"), "{e}");
    let e = load(None, env(&[]), &[("log.format".into(), "xml".into())]).unwrap_err();
    assert!(
        e.to_string().contains("log.format") && e.to_string().contains("json"),
        "{e}"
    );
    let e = load(
        None,
        env(&[]),
        &[("database.url".into(), "redis://x".into())],
    )
    .unwrap_err();
    assert!(e.to_string().contains("database.url"), "{e}");
    let e = load(
        None,
        env(&[]),
        &[("database.table_prefix".into(), "a;drop".into())],
    )
    .unwrap_err();
    assert!(e.to_string().contains("database.table_prefix"), "{e}");
    let e = load(None, env(&[("BATON_NOPE", "1")]), &[]).unwrap_err();
    assert!(e.to_string().contains("BATON_NOPE"), "{e}");
    let e = load(
        None,
        env(&[("BATON_DATABASE_COMMIT_WAIT_US", "200000")]),
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("database.commit_wait_us") && e.to_string().contains("100000"),
        "{e}"
    );
    let ok = load(None, env(&[("BATON_DATABASE_COMMIT_WAIT_US", "300")]), &[]).expect("valid");
    assert_eq!(ok.database.commit_wait_us, 300);
}

#[test]
fn pipelined_commits_need_a_spare_pooled_connection() {
    let pipelined = |url: &str, pool: &str| {
        load(
            None,
            env(&[
                ("BATON_DATABASE_URL", url),
                ("BATON_DATABASE_PIPELINE", "2"),
                ("BATON_DATABASE_POOL_SIZE", pool),
            ]),
            &[],
        )
    };
    for url in [
        "postgres://postgres@127.0.0.1/baton",
        "mariadb://root@127.0.0.1/baton",
        "mysql://root@127.0.0.1/baton",
    ] {
        let ok = pipelined(url, "3").unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(ok.database.pipeline, 2);
        let e = pipelined(url, "2").unwrap_err().to_string();
        assert!(
            e.contains("database.pipeline") && e.contains("database.pool_size"),
            "{e}"
        );
    }
}

#[test]
fn client_and_test_variables_do_not_stop_serve() {
    let vars: Vec<(&str, &str)> = super::CLIENT_ENV
        .iter()
        .map(|v| (*v, "x"))
        .chain([("BATON_TEST_POSTGRES", "x"), ("BATON_FUZZ_SECONDS", "5")])
        .collect();
    let c = load(None, env(&vars), &[]).expect("ignored");
    assert_eq!(c.stomp.listen, Config::default().stomp.listen);
    // Each of them is a real client variable, so the list stays honest.
    let main = include_str!("../main.rs").to_string()
        + include_str!("../cli/mod.rs")
        + include_str!("../cli/browse.rs");
    for v in super::CLIENT_ENV {
        assert!(
            main.contains(&format!("\"{v}\"")),
            "{v} is not used by a command"
        );
    }
}

#[test]
fn docs_configuration_documents_every_key() {
    let page = include_str!("../../docs/configuration.md");
    for k in KEYS {
        let row = format!("| `{}` | `{}` | `--{}` |", k.name, k.env(), k.flag());
        assert!(
            page.contains(&row),
            "docs/configuration.md lacks the row for {}",
            k.name
        );
    }
}

#[test]
fn names_line_up() {
    let k = KEYS
        .iter()
        .find(|k| k.name == "database.table_prefix")
        .unwrap();
    assert_eq!(k.env(), "BATON_DATABASE_TABLE_PREFIX");
    assert_eq!(k.flag(), "database-table-prefix");
}

#[test]
fn websocket_listen_and_origins() {
    let c = load(None, env(&[]), &[]).unwrap();
    assert_eq!(
        c.websocket.listen.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:61614")
    );
    assert!(c.websocket.allowed_origins.is_empty());
    // Empty turns it off, from the environment or a flag.
    let c = load(None, env(&[("BATON_WEBSOCKET_LISTEN", "")]), &[]).unwrap();
    assert_eq!(c.websocket.listen, None);
    let c = load(None, env(&[]), &[("websocket.listen".into(), " ".into())]).unwrap();
    assert_eq!(c.websocket.listen, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(
        &path,
        "[websocket]\nlisten = \"0.0.0.0:15674\"\nallowed_origins = [\"https://app.example\", \"*\"]\n",
    )
    .unwrap();
    let c = load(Some(&path), env(&[]), &[]).unwrap();
    assert_eq!(c.websocket.listen.unwrap().port(), 15674);
    assert_eq!(c.websocket.allowed_origins, ["https://app.example", "*"]);
    let c = load(
        None,
        env(&[(
            "BATON_WEBSOCKET_ALLOWED_ORIGINS",
            "https://a.example, http://b.example:8080,",
        )]),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.websocket.allowed_origins,
        ["https://a.example", "http://b.example:8080"]
    );

    let e = load(None, env(&[("BATON_WEBSOCKET_LISTEN", "nowhere")]), &[]).unwrap_err();
    assert!(e.to_string().contains("websocket.listen"), "{e}");
    for bad in ["app.example", "https://app.example/path", "ftp://x", "null"] {
        let e = load(
            None,
            env(&[]),
            &[("websocket.allowed_origins".into(), format!("*,{bad}"))],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("websocket.allowed_origins[1]"), "{bad}: {e}");
    }
}
