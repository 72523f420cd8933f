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
    let b = Baton::start_with(&["--config", path.to_str().expect("utf-8 path")]);
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
    durable_subscriber,
    topic_fan_out,
    temp_queue_request_reply,
    message_groups,
    exclusive_consumer,
    queue_browser,
    expiration,
    priority,
    anonymous_producer,
    composite_destination,
    simulated_failover,
    stomp_to_java,
);
