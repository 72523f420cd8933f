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
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("baton.toml");
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
