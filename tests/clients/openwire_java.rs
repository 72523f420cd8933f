//! The ActiveMQ Java client (Debian's `libactivemq-java`, unmodified)
//! against the real `baton` binary over OpenWire: the JMS scenarios of
//! `tests/common/jms_scenarios.rs`, the same code that checks them against
//! ActiveMQ 5.17 itself (tests/java_activemq_baseline.rs). Each scenario
//! starts its own broker, with one configured user and anonymous access.

use crate::common::jms_scenarios::{self as sc, Target};
use crate::common::Baton;
use std::io::Write;

const USER: (&str, &str) = ("jms", "jms-secret");

/// A broker with user `jms` and anonymous access, both allowed everything.
struct Broker {
    b: Baton,
    _dir: tempfile::TempDir,
}

fn broker() -> Broker {
    broker_with(&[])
}

/// [`broker`] with extra `serve` flags.
fn broker_with(extra: &[&str]) -> Broker {
    let hash = baton::auth::hash_password(USER.1).expect("hash");
    let config = format!(
        r#"
[auth]
anonymous = "allow"

# ActiveMQ's default: one dead-letter queue (ActiveMQ.DLQ) for everything.
[[broker.policy]]
destination = ">"
dead_letter_strategy = "shared"

[[auth.users]]
name = "{user}"
password_hash = "{hash}"
roles = ["app"]

[[auth.permissions]]
role = "app"
destinations = ">"
allow = ["read", "write", "admin"]

[[auth.permissions]]
role = "anonymous"
destinations = ">"
allow = ["read", "write"]
"#,
        user = USER.0,
    );
    broker_configured(&config, extra)
}

/// A broker started with the configuration file `config` and `extra` flags.
fn broker_configured(config: &str, extra: &[&str]) -> Broker {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baton.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("write config");
    let mut flags = vec!["--config", path.to_str().expect("utf-8 path")];
    flags.extend_from_slice(extra);
    let b = Baton::start_with(&flags);
    Broker { b, _dir: dir }
}

fn target(b: &Baton) -> Target {
    Target {
        url: b.openwire_url(),
        broker_name: Some("baton".to_string()),
        login: (USER.0.to_string(), USER.1.to_string()),
        stomp: Some(b.stomp.clone()),
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let broker = broker();
                sc::$name(&target(&broker.b));
            }
        )*
    };
}

scenarios!(
    connect_tcp_and_failover,
    wrong_password,
    duplicate_client_id,
    keepalive_idle,
    silent_client_dropped,
    close_cascades,
    bodies_round_trip,
    properties_and_headers,
    selectors,
    auto_ack,
    client_ack,
    recover,
    dups_ok_topic,
    individual_ack,
    prefetch_spread,
    prefetch_zero_pull,
    transactions,
    transaction_send_and_receive,
    transaction_beyond_prefetch,
    client_ack_beyond_prefetch,
    expiry_in_the_client_spares_earlier_messages,
    durable_subscriber,
    topic_fan_out,
    temp_queue_request_reply,
    temp_queue_deleted,
    message_groups,
    message_group_closed,
    exclusive_consumer,
    queue_browser,
    expiration,
    priority,
    anonymous_producer,
    composite_destination,
    simulated_failover,
    stomp_to_java,
    java_to_stomp,
    java_to_stomp_ack,
    non_bmp_text_between_java_and_stomp,
    virtual_topics,
    scheduled_delivery,
    producer_window,
);

/// §5.3 item 39 with a frame limit of 100 000 bytes.
#[test]
fn oversized_message() {
    const MAX: usize = 100_000;
    let max = MAX.to_string();
    let broker = broker_with(&["--openwire-max-frame-bytes", &max]);
    sc::oversized_message(&target(&broker.b), MAX);
}

/// The Java client over `ssl://` (and `failover:(ssl://…)`): the OpenWire
/// listener speaks TLS with the `stomp.tls_*` certificate, which the JVM
/// trusts through a truststore made with keytool from the test CA.
#[test]
fn tls() {
    use crate::common::certs::{arg, Ca};
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "test");
    let server = ca.server(pki.path(), "server");
    let (cert, key) = (arg(&server.cert), arg(&server.key));
    let broker = broker_with(&["--stomp-tls-cert", &cert, "--stomp-tls-key", &key]);
    let jvm = crate::common::java::truststore(&ca.pem, &pki.path().join("trust.p12"));
    let t = Target {
        url: format!("ssl://{}", broker.b.openwire()),
        ..target(&broker.b)
    };
    sc::tls(&t, &jvm);
}

/// `limits.max_temp_destinations_per_connection` and
/// `limits.max_transactions_per_connection` over OpenWire: one more is a
/// `ResourceAllocationException` naming the key; deleting a temporary
/// queue or committing frees the place.
#[test]
fn per_connection_limits_on_temporary_destinations_and_transactions() {
    use crate::common::java::{Jms, Msg};
    use serde_json::json;
    let broker = broker_with(&[
        "--limits-max-temp-destinations-per-connection",
        "2",
        "--limits-max-transactions-per-connection",
        "1",
    ]);
    let t = target(&broker.b);
    let mut j = Jms::start(&t.url);
    j.connect("c", None).expect("connect");
    j.session("s", "c", "auto");
    j.temp_queue("t1", "s");
    j.temp_queue("t2", "s");
    let third = j.call(json!({"op": "temp_queue", "name": "t3", "session": "s"}));
    let e = third.expect_err("a third temporary queue is over the limit");
    assert!(
        e.is("javax.jms.ResourceAllocationException")
            && e.text()
                .contains("limits.max_temp_destinations_per_connection"),
        "{}",
        e.text()
    );
    j.delete_temp("t1").expect("delete one");
    j.temp_queue("t3", "s");

    let q = "queue://per-connection-limits";
    j.session("tx1", "c", "transacted");
    j.session("tx2", "c", "transacted");
    j.producer("p1", "tx1", Some(q));
    j.producer("p2", "tx2", Some(q));
    j.send("p1", "tx1", None, &Msg::text("in tx1"), 1)
        .expect("the first transaction");
    let second = j
        .send("p2", "tx2", None, &Msg::text("in tx2"), 1)
        .and_then(|_| j.commit("tx2"));
    let e = second.expect_err("a second open transaction is over the limit");
    assert!(
        e.text().contains("limits.max_transactions_per_connection"),
        "{}",
        e.text()
    );
    j.commit("tx1").expect("commit the first");
    j.send("p2", "tx2", None, &Msg::text("in tx2 again"), 1)
        .expect("a place is free again");
    j.commit("tx2").expect("commit");
}

/// `limits.max_producers_per_connection`: the producer over the limit is
/// refused with a `ResourceAllocationException` naming the key; closing a
/// producer, or the session holding others, frees places; another
/// connection has places of its own.
#[test]
fn producers_per_connection_are_limited() {
    use crate::common::java::{Jms, Msg};
    use serde_json::json;
    let broker = broker_with(&["--limits-max-producers-per-connection", "2"]);
    let t = target(&broker.b);
    let q = "queue://producer-limit";
    let mut j = Jms::start(&t.url);
    j.connect("c", None).expect("connect");
    j.session("s1", "c", "auto");
    j.session("s2", "c", "auto");
    j.producer("p1", "s1", Some(q));
    j.producer("p2", "s2", Some(q));
    let refused = |j: &mut Jms, name: &str, session: &str| {
        let third = j.call(json!({"op": "producer", "name": name, "session": session, "dest": q}));
        let e = third.expect_err("a third producer is over the limit");
        assert!(
            e.is("javax.jms.ResourceAllocationException")
                && e.text().contains("limits.max_producers_per_connection"),
            "{}",
            e.text()
        );
    };
    refused(&mut j, "p3", "s1");
    j.send("p1", "s1", None, &Msg::text("the open ones still send"), 1)
        .expect("send");
    j.close("p1").expect("close a producer");
    j.producer("p3", "s1", Some(q));
    refused(&mut j, "p4", "s1");
    j.close("s2").expect("close the session holding p2");
    j.producer("p4", "s1", Some(q));
    j.send("p4", "s1", None, &Msg::text("from p4"), 1)
        .expect("send");

    let mut other = Jms::start(&t.url);
    other.connect("c", None).expect("connect");
    other.session("s", "c", "auto");
    other.producer("p1", "s", Some(q));
    other.producer("p2", "s", Some(q));
}

/// The admin API and the dashboard name an OpenWire connection's protocol,
/// version and client id.
#[test]
fn the_api_and_dashboard_show_openwire_connections() {
    use crate::common::http::Http;
    use crate::common::java::Jms;
    let broker = broker();
    let t = target(&broker.b);
    let mut j = Jms::start(&t.url);
    j.connect("c", Some("api-client")).expect("connect");
    let admin = Http::basic(&broker.b.admin, USER.0, USER.1);
    let conns = admin.get("/api/v1/connections").json();
    let ours: Vec<_> = conns
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["client_id"] == "api-client")
        .collect();
    assert_eq!(ours.len(), 1, "{conns}");
    assert_eq!(ours[0]["protocol"], "openwire", "{}", ours[0]);
    assert_eq!(ours[0]["protocol_version"], "12", "{}", ours[0]);
    let html = admin.get("/dashboard/connections").text();
    assert!(html.contains("openwire 12"), "{html}");
    assert!(html.contains("api-client"), "{html}");
}

/// The permission map over OpenWire: a consumer or a producer the map does
/// not allow is a `JMSSecurityException` naming user, permission and
/// destination; anonymous access switched off refuses a connection without
/// credentials.
#[test]
fn permissions_apply_to_consumers_and_producers() {
    use crate::common::java::{Jms, Msg};
    let reader = baton::auth::hash_password("reader-secret").expect("hash");
    let writer = baton::auth::hash_password("writer-secret").expect("hash");
    let config = format!(
        r#"
[auth]
anonymous = "deny"

[[auth.users]]
name = "reader"
password_hash = "{reader}"
roles = ["reader"]

[[auth.users]]
name = "writer"
password_hash = "{writer}"
roles = ["writer"]

[[auth.permissions]]
role = "reader"
destinations = ">"
allow = ["read"]

[[auth.permissions]]
role = "writer"
destinations = "/queue/allowed.>"
allow = ["write"]
"#
    );
    let broker = broker_configured(&config, &[]);
    let url = broker.b.openwire_url();
    let refused =
        |r: Result<Vec<String>, crate::common::java::JavaError>, what: &str, needle: &str| {
            let e = r.expect_err(what);
            assert!(
                e.is("javax.jms.JMSSecurityException") && e.text().contains(needle),
                "{what}: {}",
                e.text()
            );
        };

    let mut w = Jms::start_as(&url, Some(("writer", "writer-secret")));
    w.connect("c", None).expect("writer connects");
    w.session("s", "c", "auto");
    w.producer("p", "s", None);
    w.send(
        "p",
        "s",
        Some("queue://allowed.orders"),
        &Msg::text("ok"),
        1,
    )
    .expect("an allowed send");
    refused(
        w.send("p", "s", Some("queue://other"), &Msg::text("no"), 1),
        "a send outside the writer's destinations",
        "write",
    );
    let e = w
        .consumer("k", "s", "queue://allowed.orders", None, None, false)
        .expect_err("the writer may not read");
    assert!(e.is("javax.jms.JMSSecurityException"), "{}", e.text());

    let mut r = Jms::start_as(&url, Some(("reader", "reader-secret")));
    r.connect("c", None).expect("reader connects");
    r.session("s", "c", "auto");
    r.consumer("k", "s", "queue://allowed.orders", None, None, false)
        .expect("the reader may read");
    assert_eq!(r.receive("k", 5000).expect("the message").text(), "ok");
    r.producer("p", "s", None);
    refused(
        r.send(
            "p",
            "s",
            Some("queue://allowed.orders"),
            &Msg::text("no"),
            1,
        ),
        "the reader may not send",
        "write",
    );

    let mut anon = Jms::start(&url);
    let e = anon
        .connect("c", None)
        .expect_err("anonymous access is switched off");
    assert!(
        e.is("javax.jms.JMSSecurityException") || e.is("java.lang.SecurityException"),
        "{}",
        e.text()
    );
}

/// `limits.max_connections` over OpenWire: the connection over the limit
/// fails with an exception naming the key; the one open keeps working.
#[test]
fn a_connection_over_the_limit_is_refused_with_the_reason() {
    use crate::common::java::{Jms, Msg};
    let broker = broker_with(&[
        "--limits-max-connections",
        "1",
        "--limits-max-connections-per-address",
        "1",
    ]);
    let t = target(&broker.b);
    let mut first = Jms::start(&t.url);
    first.connect("c", None).expect("the first connection");
    let mut second = Jms::start(&t.url);
    let e = second
        .connect("c", None)
        .expect_err("a second connection is over the limit");
    assert!(e.text().contains("limits.max_connections"), "{}", e.text());
    first.session("s", "c", "auto");
    first.producer("p", "s", None);
    first
        .send("p", "s", Some("queue://still-works"), &Msg::text("x"), 1)
        .expect("the first connection still works");
}

/// The failover client comes back over a new socket while the broker still
/// holds its old one (the client's network died, the broker heard nothing):
/// the same ConnectionId replaces the stale connection at once, instead of
/// the client id being refused until the broker's inactivity check.
#[test]
fn a_failover_reconnect_replaces_the_stale_connection() {
    use crate::common::http::Http;
    use crate::common::java::{Jms, Msg};
    use crate::common::proxy::Proxy;
    let broker = broker();
    let proxy = Proxy::start(&broker.b.openwire());
    let url = format!(
        "failover:(tcp://{})?initialReconnectDelay=50&maxReconnectDelay=200",
        proxy.addr()
    );
    let mut j = Jms::start(&url);
    j.connect("c", Some("takeover")).expect("connect");
    j.session("s", "c", "auto");
    j.producer("p", "s", None);
    let q = "queue://takeover";
    j.send("p", "s", Some(q), &Msg::text("before"), 1)
        .expect("send before");
    proxy.abandon();
    j.send("p", "s", Some(q), &Msg::text("after"), 1)
        .expect("send after the reconnect");
    assert!(
        broker.b.log_contains("its stale connection is closed"),
        "the reconnect did not replace the stale connection:\n{}",
        broker.b.log_text()
    );
    let admin = Http::basic(&broker.b.admin, USER.0, USER.1);
    let conns = admin.get("/api/v1/connections").json();
    let holding: Vec<_> = conns
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["client_id"] == "takeover")
        .collect();
    assert_eq!(holding.len(), 1, "{conns}");
    j.consumer("k", "s", q, None, None, false)
        .expect("consumer");
    let got: Vec<String> = (0..2)
        .map(|_| j.receive("k", 5000).expect("a message").text().to_string())
        .collect();
    assert_eq!(got, ["before", "after"]);
}

/// A Java string may hold a lone UTF-16 surrogate, which Unicode text may
/// not: in JMSCorrelationID and a text body it arrives as U+FFFD, and the
/// connection carries on (it used to be closed, and a failover client
/// resent the message forever).
#[test]
fn a_lone_surrogate_from_java_arrives_as_a_replacement_character() {
    use crate::common::java::{Jms, Msg};
    use serde_json::json;
    let broker = broker();
    let t = target(&broker.b);
    let mut j = Jms::start(&t.url);
    j.connect("c", None).expect("connect");
    j.session("s", "c", "auto");
    j.producer("p", "s", None);
    let q = "queue://lone-surrogate";
    let msg = Msg::text("x@LONE@y").correlation_id("a@LONE@b");
    let seq = j.send_cmd_patched(
        json!({"op": "send", "producer": "p", "session": "s", "dest": q,
               "message": msg.0, "count": 1}),
        Some(("@LONE@", "\\ud800")),
    );
    j.wait(seq).expect("the send is answered");
    j.send("p", "s", Some(q), &Msg::text("next"), 1)
        .expect("the connection carries on");
    j.consumer("k", "s", q, None, None, false)
        .expect("consumer");
    let m = j.receive("k", 5000).expect("the message");
    assert_eq!(m.text(), "x\u{FFFD}y");
    assert_eq!(m.correlation_id.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(j.receive("k", 5000).expect("the next").text(), "next");
}
