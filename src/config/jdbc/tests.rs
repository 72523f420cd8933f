//! Unit tests of JDBC URL translation and credential merging.

use super::*;

fn db(url: &str, user: Option<&str>, password: Option<&str>) -> DatabaseConfig {
    DatabaseConfig {
        url: url.into(),
        username: user.map(str::to_string),
        password: password.map(str::to_string),
        ..DatabaseConfig::default()
    }
}

#[test]
fn mysql_drops_jdbc_only_parameters() {
    let t = translate("jdbc:mysql://db.example:3306/activemq?relaxAutoCommit=true").unwrap();
    assert_eq!(t.url, "mysql://db.example:3306/activemq");
    assert_eq!(t.user, None);
    assert_eq!(t.password, None);
    assert_eq!(t.dropped.len(), 1);
    assert!(
        t.dropped[0].contains("relaxAutoCommit=true"),
        "{:?}",
        t.dropped
    );
}

#[test]
fn mysql_without_port_and_with_credentials_in_parameters() {
    let t = translate("jdbc:mysql://localhost/activemq?user=amq&password=s%40cret&useSSL=false")
        .unwrap();
    assert_eq!(t.url, "mysql://localhost/activemq?ssl-mode=disabled");
    assert_eq!(t.user.as_deref(), Some("amq"));
    assert_eq!(t.password.as_deref(), Some("s@cret"));
    assert!(t.dropped.is_empty());
}

#[test]
fn mysql_ssl_modes_map_to_sqlx_names() {
    for (jdbc, sqlx) in [
        ("VERIFY_IDENTITY", "verify_identity"),
        ("VERIFY_CA", "verify_ca"),
        ("REQUIRED", "required"),
        ("PREFERRED", "preferred"),
        ("DISABLED", "disabled"),
    ] {
        let t = translate(&format!("jdbc:mysql://h/d?sslMode={jdbc}")).unwrap();
        assert_eq!(t.url, format!("mysql://h/d?ssl-mode={sqlx}"));
    }
    let t = translate("jdbc:mariadb://h:3307/d?sslMode=verify-full").unwrap();
    assert_eq!(t.url, "mariadb://h:3307/d?ssl-mode=verify_identity");
}

#[test]
fn postgres_forms() {
    let t = translate("jdbc:postgresql://pg.example/activemq").unwrap();
    assert_eq!(t.url, "postgres://pg.example/activemq");
    let t = translate("jdbc:postgresql://[::1]:5740/accounting?ssl=true").unwrap();
    assert_eq!(
        t.url,
        "postgres://[::1]:5740/accounting?sslmode=verify-full"
    );
    let t = translate("jdbc:postgresql:activemq").unwrap();
    assert_eq!(t.url, "postgres://localhost/activemq");
    let t = translate(
        "jdbc:postgresql://h/db?sslmode=require&ssl=true&ApplicationName=amq&currentSchema=s1&prepareThreshold=3",
    )
    .unwrap();
    assert_eq!(
        t.url,
        "postgres://h/db?sslmode=require&application_name=amq&options%5Bsearch_path%5D=s1"
    );
    assert_eq!(t.dropped.len(), 2, "{:?}", t.dropped);
}

#[test]
fn passwords_never_appear_in_notes_or_errors() {
    let t = translate("jdbc:postgresql://h/db?sslpassword=topsecret&password=hunter2").unwrap();
    assert_eq!(t.password.as_deref(), Some("hunter2"));
    let all = t.dropped.join(" ");
    assert!(all.contains("sslpassword"), "{all}");
    assert!(
        !all.contains("topsecret") && !all.contains("hunter2"),
        "{all}"
    );
    let e = translate("jdbc:oracle:thin:scott/tiger@host:1521:orcl").unwrap_err();
    assert!(!e.contains("tiger"), "{e}");
    assert!(e.contains("jdbc:oracle:"), "{e}");
}

#[test]
fn unsupported_jdbc_urls_are_explained() {
    let e = translate("jdbc:derby:activemq-data;create=true").unwrap_err();
    assert!(e.contains("Derby") && e.contains("sqlite"), "{e}");
    let e = translate("jdbc:mysql://a:3306,b:3306/db").unwrap_err();
    assert!(e.contains("several hosts"), "{e}");
    let e = translate("jdbc:mysql:replication://a,b/db").unwrap_err();
    assert!(e.contains("jdbc:mysql:replication:"), "{e}");
    let e = translate("jdbc:nothing").unwrap_err();
    assert!(e.contains("jdbc:<database>"), "{e}");
    assert!(translate("jdbc:sqlite:/tmp/x.db").unwrap().url == "sqlite:/tmp/x.db");
}

#[test]
fn keys_fill_in_credentials_percent_encoded() {
    let (url, notes) = resolve(&db(
        "jdbc:mysql://localhost:3306/activemq?relaxAutoCommit=true",
        Some("amq user"),
        Some("p@ss:w/rd%41"),
    ))
    .unwrap();
    assert_eq!(
        url,
        "mysql://amq%20user:p%40ss%3Aw%2Frd%2541@localhost:3306/activemq"
    );
    assert_eq!(notes.len(), 1);
    assert!(!notes[0].contains("p@ss"));
    let (url, _) = resolve(&db("postgres://h/db", None, Some("pw"))).unwrap();
    assert_eq!(url, "postgres://:pw@h/db");
}

#[test]
fn native_urls_without_keys_are_untouched() {
    for u in [
        "postgres://postgres@127.0.0.1:5432/x",
        "mysql://root:pw@h/db?x=a@b",
        "sqlite:./data/baton.db",
    ] {
        assert_eq!(resolve(&db(u, None, None)).unwrap().0, u);
    }
}

#[test]
fn conflicting_credentials_are_errors() {
    let e = resolve(&db("postgres://u:pw@h/db", None, Some("other")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("database.password") && e.contains("one place"),
        "{e}"
    );
    assert!(!e.contains("other"), "{e}");
    let e = resolve(&db("jdbc:postgresql://h/db?password=x", None, Some("y"))).unwrap_err();
    assert!(e.to_string().contains("database.password"), "{e}");
    let e = resolve(&db("postgres://h/db?password=x", None, Some("y"))).unwrap_err();
    assert!(e.to_string().contains("database.password"), "{e}");
    let e = resolve(&db("mysql://a@h/db", Some("b"), None)).unwrap_err();
    assert!(e.to_string().contains("database.username"), "{e}");
    let (url, _) = resolve(&db("mysql://a@h/db", Some("a"), Some("pw"))).unwrap();
    assert_eq!(url, "mysql://a:pw@h/db");
    let e = resolve(&db("sqlite:x.db", None, Some("pw"))).unwrap_err();
    assert!(e.to_string().contains("SQLite"), "{e}");
}

#[test]
fn load_translates_and_keeps_notes() {
    let flags = [
        (
            "database.url".to_string(),
            "jdbc:postgresql://127.0.0.1/x?tcpKeepAlive=true".to_string(),
        ),
        ("database.username".to_string(), "amq".to_string()),
    ];
    let c = super::super::load(
        None,
        [("BATON_DATABASE_PASSWORD".to_string(), "pw".to_string())],
        &flags,
    )
    .unwrap();
    assert_eq!(c.database.url, "postgres://amq:pw@127.0.0.1/x");
    assert_eq!(c.notes.len(), 1);
    assert!(c.notes[0].contains("tcpKeepAlive"));
    assert_eq!(
        c.election.effective_mode(&c.database.url),
        super::super::ElectionMode::Session
    );
}
