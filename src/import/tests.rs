//! Unit tests of the ActiveMQ XML translator: the reference configuration,
//! lockers, connectors, placeholders and what cannot be translated. Every
//! output is loaded with the real configuration loader.

use super::*;
use crate::config::{self, Config, ElectionMode};

const REFERENCE: &str = include_str!("../../tests/fixtures/activemq-jdbc-mysql.xml");

/// Loads `toml` exactly as `baton serve --config` would (no environment).
fn load(toml: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(&path, toml).unwrap();
    config::load(Some(&path), Vec::new(), &[])
        .unwrap_or_else(|e| panic!("generated TOML rejected: {e}\n{toml}"))
}

fn broker_xml(adapter: &str, connectors: &str, beans: &str) -> String {
    format!(
        r#"<beans xmlns="http://www.springframework.org/schema/beans">
  <broker xmlns="http://activemq.apache.org/schema/core">
    <persistenceAdapter>{adapter}</persistenceAdapter>
    <transportConnectors>{connectors}</transportConnectors>
  </broker>
  {beans}
</beans>"#
    )
}

fn baton_default() -> crate::config::Config {
    crate::config::Config::default()
}

fn warned(t: &Translation, needle: &str) -> bool {
    t.warnings.iter().any(|w| w.contains(needle))
}

#[test]
fn reference_configuration_translates() {
    let t = translate(REFERENCE, "activemq.xml").unwrap();
    let c = load(&t.toml);
    assert_eq!(
        c.database.url,
        "mysql://activemq:activemq@localhost/activemq"
    );
    assert_eq!(c.database.username.as_deref(), Some("activemq"));
    // The OpenWire connector becomes Baton's OpenWire listener, with its
    // options; STOMP keeps its default.
    assert_eq!(c.openwire.listen, "0.0.0.0:61616");
    assert_eq!(c.openwire.max_frame_bytes, 104_857_600);
    assert_eq!(c.limits.max_connections, 1000);
    assert_eq!(c.stomp.listen, baton_default().stomp.listen);
    assert_eq!(
        c.election.effective_mode(&c.database.url),
        ElectionMode::Session
    );
    assert_eq!(c.database.table_prefix, "baton_");
    assert!(!warned(&t, "OpenWire"), "{:#?}", t.warnings);
    for needle in [
        "relaxAutoCommit=true",
        "<destinationPolicy>",
        "<systemUsage>",
        "<managementContext>",
        "<shutdownHooks>",
        "poolPreparedStatements",
        "brokerName=\"localhost\"",
        "dataDirectory=\"${activemq.data}\"",
        "PropertyPlaceholderConfigurer",
        "jetty.xml",
        "ACTIVEMQ_MSGS",
        "BATON_DATABASE_PASSWORD",
    ] {
        assert!(
            warned(&t, needle),
            "no warning about {needle}: {:#?}",
            t.warnings
        );
    }
    assert!(!warned(&t, "driverClassName"), "{:#?}", t.warnings);
    assert!(t.warnings.iter().all(|w| w.starts_with("activemq.xml:")));
    let rows: Vec<u32> = t
        .warnings
        .iter()
        .map(|w| w.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{rows:?}");
}

#[test]
fn lease_locker_statements_and_stomp_connectors() {
    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter dataSource="#pg" lockKeepAlivePeriod="2500" createTablesOnStartup="true">
             <locker><lease-database-locker lockAcquireSleepInterval="10000" leaseHolderId="broker-a" maxAllowableDiffFromDBTime="1000"/></locker>
             <statements><statements tablePrefix="AMQ_" binaryDataType="bytea"/></statements>
           </jdbcPersistenceAdapter>"##,
        r#"<transportConnector name="openwire" uri="tcp://0.0.0.0:61616"/>
           <transportConnector name="stomp" uri="stomp+nio://0.0.0.0:61614?transport.closeAsync=false&amp;wireFormat.maxDataLength=1048576&amp;maximumConnections=500"/>
           <transportConnector name="stomp2" uri="stomp://127.0.0.1:61615"/>
           <transportConnector name="stomp+ssl" uri="stomp+ssl://0.0.0.0:61617"/>
           <transportConnector name="openwire2" uri="nio://0.0.0.0:61619"/>
           <transportConnector name="ssl" uri="ssl://0.0.0.0:61618"/>
           <transportConnector name="amqp" uri="amqp://0.0.0.0:5672"/>"#,
        r#"<bean id="pg" class="org.postgresql.ds.PGPoolingDataSource">
             <property name="serverName" value="db.internal"/>
             <property name="databaseName" value="activemq"/>
             <property name="portNumber" value="5433"/>
             <property name="user" value="amq"/>
             <property name="password" value="s3cret!"/>
             <property name="dataSourceName" value="ds"/>
             <property name="maxConnections" value="20"/>
           </bean>"#,
    );
    let t = translate(&xml, "a.xml").unwrap();
    let c = load(&t.toml);
    assert_eq!(
        c.database.url,
        "postgres://amq:s3cret%21@db.internal:5433/activemq"
    );
    assert_eq!(c.database.pool_size, 20);
    assert_eq!(c.database.table_prefix, "AMQ_");
    assert_eq!(c.node_id.as_deref(), Some("broker-a"));
    assert_eq!(c.election.mode, ElectionMode::Lease);
    assert_eq!(c.election.lease_ms, 10_000);
    assert_eq!(c.election.renew_ms, 2500);
    assert_eq!(c.stomp.listen.to_string(), "0.0.0.0:61614");
    assert_eq!(c.openwire.listen, "0.0.0.0:61616");
    assert_eq!(c.stomp.max_body_bytes, 1_048_576);
    assert_eq!(c.limits.max_connections, 500);
    assert_eq!(c.limits.max_connections_per_address, 500);
    for needle in [
        "maxAllowableDiffFromDBTime",
        "binaryDataType",
        "transport.closeAsync=false",
        "one STOMP listener",
        "stomp+ssl://",
        "amqp://",
        "one OpenWire listener",
        "ssl://0.0.0.0:61618",
        "dataSourceName",
    ] {
        assert!(
            warned(&t, needle),
            "no warning about {needle}: {:#?}",
            t.warnings
        );
    }
    assert!(!warned(&t, "s3cret"), "{:#?}", t.warnings);
    assert!(!warned(&t, "suggesting"), "{:#?}", t.warnings);
}

#[test]
fn keep_alive_that_outlives_the_lease_is_not_copied() {
    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter dataSource="#ds" lockKeepAlivePeriod="30000">
             <locker><lease-database-locker lockAcquireSleepInterval="1000"/></locker>
           </jdbcPersistenceAdapter>"##,
        "",
        r#"<bean id="ds" class="org.apache.commons.dbcp.BasicDataSource">
             <property name="url" value="jdbc:mariadb://10.0.0.5:3306/amq"/>
             <property name="driverClassName" value="org.postgresql.Driver"/>
           </bean>"#,
    );
    let t = translate(&xml, "a.xml").unwrap();
    let c = load(&t.toml);
    assert_eq!(c.database.url, "mariadb://10.0.0.5:3306/amq");
    assert_eq!(c.election.lease_ms, 1000);
    assert!(c.election.renew_ms < 500, "{}", c.election.renew_ms);
    assert!(
        warned(&t, "lockKeepAlivePeriod=\"30000\""),
        "{:#?}",
        t.warnings
    );
    assert!(warned(&t, "driverClassName"), "{:#?}", t.warnings);
}

#[test]
fn placeholders_are_reported_not_copied() {
    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter dataSource="#ds"/>"##,
        r#"<transportConnector name="stomp" uri="stomp://${stomp.host}:61613"/>"#,
        r#"<bean id="ds" class="org.apache.commons.dbcp2.BasicDataSource">
             <property name="url" value="${db.url}"/>
             <property name="username" value="${db.user}"/>
             <property name="password" value="${db.password}"/>
           </bean>"#,
    );
    let t = translate(&xml, "a.xml").unwrap();
    for p in ["${db.url}", "${db.user}", "${db.password}", "${stomp.host}"] {
        assert!(warned(&t, p), "no warning about {p}: {:#?}", t.warnings);
        assert!(
            t.toml.lines().any(|l| l.starts_with("# ") && l.contains(p)),
            "{p} not shown commented out:\n{}",
            t.toml
        );
        assert!(
            !t.toml.lines().any(|l| !l.starts_with('#') && l.contains(p)),
            "{p} copied:\n{}",
            t.toml
        );
    }
    let c = load(&t.toml);
    assert_eq!(c.database.url, "sqlite:./data/baton.db");
}

#[test]
fn stores_baton_cannot_use_are_explained() {
    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter dataSource="#derby"/><kahaDB directory="x"/>"##,
        r#"<transportConnector uri="stomp://db-host.example:61613"/>"#,
        r#"<bean id="derby" class="org.apache.derby.jdbc.EmbeddedDataSource">
             <property name="databaseName" value="derbydb"/>
           </bean>"#,
    );
    let t = translate(&xml, "a.xml").unwrap();
    assert!(warned(&t, "Derby"), "{:#?}", t.warnings);
    assert!(warned(&t, "<kahaDB>"), "{:#?}", t.warnings);
    assert!(warned(&t, "needs IP:port"), "{:#?}", t.warnings);
    let c = load(&t.toml);
    assert_eq!(c.database.url, "sqlite:./data/baton.db");

    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter/><jdbcPersistenceAdapter dataSource="#missing"/>"##,
        r#"<transportConnector uri="stomp://localhost:61613"/>"#,
        "",
    );
    let t = translate(&xml, "a.xml").unwrap();
    assert!(warned(&t, "embedded Derby"), "{:#?}", t.warnings);
    assert!(
        warned(&t, "names no <bean id=\"missing\">"),
        "{:#?}",
        t.warnings
    );
    assert_eq!(load(&t.toml).stomp.listen.to_string(), "127.0.0.1:61613");
}

#[test]
fn bad_input_is_an_error() {
    let e = translate("<beans><broker>", "a.xml").unwrap_err();
    assert!(matches!(e, ImportError::Xml { .. }), "{e}");
    assert!(e.to_string().contains("a.xml"), "{e}");
    let e = translate("<beans><bean id=\"x\"/></beans>", "b.xml").unwrap_err();
    assert!(e.to_string().contains("no <broker>"), "{e}");
    let e = translate_file(
        Path::new("/nonexistent/activemq.xml"),
        &Placeholders::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn a_bare_broker_root_with_a_doctype_is_read() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE broker>
<broker xmlns="http://activemq.apache.org/schema/core" useJmx="false">
  <transportConnectors><transportConnector uri="stomp://[::1]:61613"/></transportConnectors>
</broker>"#;
    let t = translate(xml, "a.xml").unwrap();
    assert_eq!(load(&t.toml).stomp.listen.to_string(), "[::1]:61613");
    assert!(warned(&t, "useJmx"), "{:#?}", t.warnings);
}

/// Found by the import_activemq fuzz target: a DEL character in a
/// connector URI went into a TOML comment, which TOML forbids.
#[test]
fn control_characters_in_comments_are_escaped() {
    let xml = broker_xml(
        "",
        "<transportConnector uri=\"stomp+nio://0.0.0.0:61614?\u{7f}\r&#13;x=1\"/>",
        "",
    );
    let t = translate(&xml, "a\u{7f}.xml").unwrap();
    assert!(t.toml.contains("\\u{7f}"), "{}", t.toml);
    assert_eq!(load(&t.toml).stomp.listen.to_string(), "0.0.0.0:61614");
}

#[test]
fn nested_data_sources_are_read() {
    let xml = broker_xml(
        r#"<jdbcPersistenceAdapter><dataSource><bean class="com.zaxxer.hikari.HikariDataSource">
             <property name="jdbcUrl"><value>jdbc:mariadb://10.1.2.3/amq?useSsl=true</value></property>
             <property name="username" value="amq"/>
             <property name="maximumPoolSize" value="12"/>
           </bean></dataSource></jdbcPersistenceAdapter>"#,
        "",
        "",
    );
    let t = translate(&xml, "a.xml").unwrap();
    let c = load(&t.toml);
    assert_eq!(
        c.database.url,
        "mariadb://amq@10.1.2.3/amq?ssl-mode=required"
    );
    assert_eq!(c.database.pool_size, 12);
    assert!(!warned(&t, "<dataSource>"), "{:#?}", t.warnings);

    let xml = broker_xml(
        r#"<jdbcPersistenceAdapter><dataSource><ref bean="ds"/></dataSource></jdbcPersistenceAdapter>"#,
        "",
        r#"<bean name="ds" class="org.apache.tomcat.jdbc.pool.DataSource" p:url="jdbc:postgresql://h/amq" xmlns:p="http://www.springframework.org/schema/p"/>"#,
    );
    let t = translate(&xml, "a.xml").unwrap();
    assert_eq!(load(&t.toml).database.url, "postgres://h/amq");
    assert!(!warned(&t, "tomcat"), "{:#?}", t.warnings);
}

#[test]
fn placeholders_resolve_from_properties() {
    let props = properties::parse(
        "# credentials\n! also a comment\ndb.url = jdbc:postgresql://h/amq?x=1&y=2\n\
         db.user: amq\ndb.password=p<&>\"w\\u0021\nlong.value = a\\\n    b\nkey\\=with\\:seps value\n",
    );
    assert_eq!(props["db.url"], "jdbc:postgresql://h/amq?x=1&y=2");
    assert_eq!(props["db.user"], "amq");
    assert_eq!(props["db.password"], "p<&>\"w!");
    assert_eq!(props["long.value"], "ab");
    assert_eq!(props["key=with:seps"], "value");

    let mut values = Placeholders::default();
    for (k, v) in &props {
        values = values.with(k, v);
    }
    let xml = broker_xml(
        r##"<jdbcPersistenceAdapter dataSource="#ds" lockKeepAlivePeriod="${keep}"/>"##,
        "",
        r#"<bean id="ds" class="org.apache.commons.dbcp2.BasicDataSource">
             <property name="url" value="${db.url}"/>
             <property name="username" value="${db.user}"/>
             <property name="password" value="${db.password}"/>
           </bean>"#,
    );
    let t = translate_with(&xml, "a.xml", &values).unwrap();
    let c = load(&t.toml);
    assert_eq!(c.database.url, "postgres://amq:p%3C%26%3E%22w%21@h/amq");
    assert!(warned(&t, "x=1") && warned(&t, "y=2"), "{:#?}", t.warnings);
    assert!(
        warned(&t, "lockKeepAlivePeriod=\"${keep}\""),
        "{:#?}",
        t.warnings
    );
    assert!(!warned(&t, "${db."), "{:#?}", t.warnings);
}
