//! Unit tests of the OpenWire codec on byte strings: the golden frames of
//! OPENWIRE.md Appendix A, Baton's own frames, round trips, every error
//! path, oversized frames, the codec, and a seeded random round trip.

mod golden;
mod random;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::codec::{CodecError, OpenWireCodec};
use super::command::*;
use super::error::{BodyError, FrameError};
use super::frame::{self, Limits, Options, Oversized, Parsed};
use super::map::{PrimitiveMap, Value};
use super::message::{Message, MessageKind};
use super::types::*;
use super::wireformat::{self, negotiate, NegotiationError, WireFormatInfo};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn opts(role: Role) -> Options {
    Options {
        role,
        limits: Limits::default(),
        stack_trace_enabled: false,
    }
}

/// Decodes a whole frame; asserts it was consumed to the last byte.
fn decode_as(role: Role, bytes: &[u8]) -> Command {
    match frame::parse(bytes, &opts(role)) {
        Ok(Some((Parsed::Command(c), n))) => {
            assert_eq!(n, bytes.len(), "frame not consumed whole");
            c
        }
        other => panic!("expected a command, got {other:?}"),
    }
}

fn decode_err(role: Role, bytes: &[u8]) -> FrameError {
    match frame::parse(bytes, &opts(role)) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn encoded(c: impl Into<Command>) -> Vec<u8> {
    frame::to_bytes(&c.into()).expect("encode").to_vec()
}

const CONN: &str = "ID:vm-45925-1796511810564-1:1";

fn conn_id() -> ConnectionId {
    ConnectionId::new(CONN)
}

fn producer(session: i64, value: i64) -> ProducerId {
    ProducerId {
        connection_id: CONN.into(),
        value,
        session_id: session,
    }
}

fn consumer(session: i64, value: i64) -> ConsumerId {
    ConsumerId {
        connection_id: CONN.into(),
        session_id: session,
        value,
    }
}

/// (name, hex, role that receives it) for every golden frame.
fn goldens() -> Vec<(&'static str, &'static str, Role)> {
    use golden::*;
    use Role::{Broker as C2B, Client as B2C};
    vec![
        ("A.1", A_1, C2B),
        ("A.2", A_2, B2C),
        ("A.3", A_3, B2C),
        ("A.4", A_4, C2B),
        ("A.5a", A_5A, B2C),
        ("A.5b", A_5B, B2C),
        ("A.5c", A_5C, C2B),
        ("A.10", A_10, C2B),
        ("A.11", A_11, C2B),
        ("A.12", A_12, C2B),
        ("A.13", A_13, C2B),
        ("A.6", A_6, C2B),
        ("A.14", A_14, B2C),
        ("A.7", A_7, C2B),
        ("A.15", A_15, C2B),
        ("A.16", A_16, C2B),
        ("A.17", A_17, B2C),
        ("A.18", A_18, C2B),
        ("A.19", A_19, B2C),
        ("A.20", A_20, C2B),
        ("A.21", A_21, C2B),
        ("A.22", A_22, C2B),
        ("A.23", A_23, C2B),
        ("A.24", A_24, C2B),
        ("A.25", A_25, C2B),
        ("A.8", A_8, B2C),
        ("A.9", A_9, C2B),
    ]
}

#[test]
fn every_golden_frame_decodes_whole_and_reencodes_to_the_same_bytes() {
    for (name, h, role) in goldens() {
        let bytes = hex(h);
        let command = decode_as(role, &bytes);
        assert_eq!(
            encoded(command.clone()),
            bytes,
            "{name} re-encoded differently"
        );
        // Every prefix is incomplete, never an error or a panic.
        for cut in 0..bytes.len() {
            assert_eq!(
                frame::parse(&bytes[..cut], &opts(role)),
                Ok(None),
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn broker_to_client_goldens_are_refused_by_a_broker() {
    for (name, h, role) in goldens() {
        let bytes = hex(h);
        let code = bytes[4];
        if role == Role::Client && !Role::Broker.accepts(code) {
            assert_eq!(
                decode_err(Role::Broker, &bytes),
                FrameError::UnexpectedType {
                    code,
                    field: "frame type"
                },
                "{name}"
            );
        }
    }
}

#[test]
fn golden_wire_format_info_of_the_client() {
    let Command::WireFormatInfo(wfi) = decode_as(Role::Broker, &hex(golden::A_1)) else {
        panic!("not a WireFormatInfo")
    };
    assert_eq!(wfi.version, 12);
    assert_eq!(wfi.properties.len(), 13);
    let p = &wfi.properties;
    assert_eq!(p.get("TightEncodingEnabled"), Some(&Value::Boolean(true)));
    assert_eq!(p.get("CacheSize"), Some(&Value::Int(1024)));
    assert_eq!(p.get("MaxFrameSize"), Some(&Value::Long(i64::MAX)));
    assert_eq!(
        p.get("MaxInactivityDurationInitalDelay"),
        Some(&Value::Long(10_000))
    );
    assert_eq!(
        p.get("ProviderVersion"),
        Some(&Value::String("5.17.2".into()))
    );

    let n = negotiate(&WireFormatInfo::baton(104_857_600), &wfi).unwrap();
    assert_eq!(
        n,
        wireformat::Negotiated {
            version: 12,
            max_frame_size: 104_857_600,
            stack_trace_enabled: false,
            tcp_no_delay_enabled: true,
            max_inactivity_duration: 30_000,
            initial_delay: 10_000,
        }
    );
    assert_eq!(n.keep_alive_interval_ms(), Some(10_000));
}

#[test]
fn golden_connection_session_producer_consumer() {
    let Command::ConnectionInfo(ci) = decode_as(Role::Broker, &hex(golden::A_4)) else {
        panic!()
    };
    assert_eq!(
        *ci,
        ConnectionInfo {
            command_id: 1,
            response_required: true,
            connection_id: conn_id(),
            client_id: Some("cid-1".into()),
            manageable: true,
            client_master: true,
            fault_tolerant: true,
            ..Default::default()
        }
    );

    let Command::SessionInfo(si) = decode_as(Role::Broker, &hex(golden::A_11)) else {
        panic!()
    };
    assert_eq!(si.command_id, 3);
    assert!(!si.response_required);
    assert_eq!(si.session_id.to_string(), format!("{CONN}:1"));

    let Command::ProducerInfo(pi) = decode_as(Role::Broker, &hex(golden::A_12)) else {
        panic!()
    };
    assert_eq!(pi.producer_id, producer(1, 1));
    assert_eq!(pi.destination, Some(Destination::queue("TEST.Q")));
    assert!(pi.response_required);

    let Command::ConsumerInfo(adv) = decode_as(Role::Broker, &hex(golden::A_10)) else {
        panic!()
    };
    assert_eq!(adv.consumer_id, consumer(-1, 1));
    assert_eq!(adv.consumer_id.session().value, -1);
    assert_eq!(adv.destination.kind, DestinationKind::Topic);
    assert_eq!(
        adv.destination.members(),
        vec![
            Destination::topic("ActiveMQ.Advisory.TempQueue"),
            Destination::topic("ActiveMQ.Advisory.TempTopic")
        ]
    );
    assert_eq!(adv.prefetch_size, 1000);
    assert!(adv.no_local && adv.dispatch_async);

    let Command::ConsumerInfo(ci) = decode_as(Role::Broker, &hex(golden::A_13)) else {
        panic!()
    };
    assert_eq!(
        *ci,
        ConsumerInfo {
            command_id: 7,
            response_required: true,
            consumer_id: consumer(1, 1),
            destination: Destination::queue("TEST.Q"),
            prefetch_size: 1000,
            dispatch_async: true,
            client_id: Some("cid-1".into()),
            ..Default::default()
        }
    );
}

/// A.6 field by field, as annotated in the brief.
fn golden_text_message() -> Message {
    let Command::Message(m) = decode_as(Role::Broker, &hex(golden::A_6)) else {
        panic!()
    };
    *m
}

#[test]
fn golden_text_message_fields_body_and_properties() {
    let m = golden_text_message();
    assert_eq!(m.kind, MessageKind::Text);
    assert_eq!((m.command_id, m.response_required), (5, true));
    assert_eq!(m.producer_id, producer(1, 1));
    assert_eq!(m.destination, Destination::queue("TEST.Q"));
    assert_eq!(m.transaction_id, None);
    assert_eq!(m.message_id.producer_id, producer(1, 1));
    assert_eq!(m.message_id.producer_sequence_id, 1);
    assert_eq!(m.message_id.broker_sequence_id, 0);
    assert_eq!(m.message_id.to_string(), format!("{CONN}:1:1:1"));
    assert_eq!(m.group_id.as_deref(), Some("g1"));
    assert_eq!(m.correlation_id.as_deref(), Some("corr-1"));
    assert!(m.persistent);
    assert_eq!(m.expiration, 0);
    assert_eq!(m.priority, 4);
    assert_eq!(m.reply_to, Some(Destination::queue("REPLY.Q")));
    assert_eq!(m.timestamp, 0x1a24872c697);
    assert_eq!(m.jms_type.as_deref(), Some("typ"));
    assert_eq!(m.content.as_ref().map(Bytes::len), Some(20));
    assert_eq!(m.text(1 << 20).unwrap().as_deref(), Some("hello é\0😀"));
    let props = m.properties().unwrap();
    assert_eq!(
        props,
        PrimitiveMap(vec![
            ("b".into(), Value::Boolean(true)),
            ("color".into(), Value::String("red".into())),
            ("d".into(), Value::Double(1.5)),
            ("l".into(), Value::Long(1 << 40)),
            ("n".into(), Value::Int(7)),
        ])
    );
    // Re-encoding the decoded map gives the captured bytes.
    assert_eq!(
        props.to_bytes().unwrap(),
        m.marshalled_properties.clone().unwrap()
    );
    assert!(!m.compressed && m.data_structure.is_none());
    assert_eq!(m.redelivery_counter, 0);

    // set_text writes the same body the Java client wrote.
    let mut again = m.clone();
    again.set_text(Some("hello é\0😀")).unwrap();
    assert_eq!(again.content, m.content);
}

#[test]
fn golden_dispatch_ack_bytes_and_map_messages() {
    let Command::MessageDispatch(d) = decode_as(Role::Client, &hex(golden::A_14)) else {
        panic!()
    };
    assert_eq!(d.consumer_id, consumer(1, 1));
    let m = d.message.as_deref().unwrap();
    assert_eq!(m.message_id.broker_sequence_id, 5);
    assert_eq!(m.text(1024).unwrap().as_deref(), Some("hello é\0😀"));
    assert!(m.jmsx_group_first_for_consumer);
    assert!(m.broker_in_time > 0 && m.broker_out_time > 0);

    let Command::MessageAck(ack) = decode_as(Role::Broker, &hex(golden::A_7)) else {
        panic!()
    };
    assert_eq!(ack.ack_type, ack_type::STANDARD);
    assert_eq!(ack.message_count, 1);
    assert_eq!(ack.first_message_id, ack.last_message_id);
    assert_eq!(ack.last_message_id.as_ref().unwrap().broker_sequence_id, 5);

    let Command::Message(b) = decode_as(Role::Broker, &hex(golden::A_24)) else {
        panic!()
    };
    assert_eq!(b.kind, MessageKind::Bytes);
    assert!(!b.persistent && !b.response_required);
    assert_eq!(
        b.uncompressed_content(16).unwrap().as_deref(),
        Some(&[1u8, 2, 3][..])
    );

    let Command::Message(map) = decode_as(Role::Broker, &hex(golden::A_25)) else {
        panic!()
    };
    assert_eq!(map.kind, MessageKind::Map);
    assert_eq!(
        map.map_body(1024).unwrap(),
        PrimitiveMap(vec![
            ("i".into(), Value::Int(3)),
            ("k".into(), Value::String("v".into()))
        ])
    );
}

#[test]
fn golden_transactions_pull_temp_destinations_and_removal() {
    let Command::TransactionInfo(tx) = decode_as(Role::Broker, &hex(golden::A_15)) else {
        panic!()
    };
    assert_eq!(tx.transaction_type, transaction_type::BEGIN);
    let TransactionId::Local(local) = &tx.transaction_id else {
        panic!()
    };
    assert_eq!(local.to_string(), format!("TX:{CONN}:1"));

    let Command::MessagePull(pull) = decode_as(Role::Broker, &hex(golden::A_16)) else {
        panic!()
    };
    assert_eq!(pull.timeout, -1);
    assert_eq!(pull.consumer_id, consumer(1, 4));
    assert_eq!(pull.destination, Some(Destination::queue("TEST.P")));

    let Command::DestinationInfo(di) = decode_as(Role::Broker, &hex(golden::A_18)) else {
        panic!()
    };
    assert_eq!(di.operation_type, destination_operation::ADD);
    assert_eq!(
        di.destination,
        Destination::new(DestinationKind::TempQueue, format!("{CONN}:1"))
    );
    assert_eq!(di.destination.to_string(), format!("temp-queue://{CONN}:1"));

    let Command::MessageDispatch(adv) = decode_as(Role::Client, &hex(golden::A_19)) else {
        panic!()
    };
    let m = adv.message.as_deref().unwrap();
    assert_eq!(m.kind, MessageKind::Message);
    assert_eq!(m.jms_type.as_deref(), Some("Advisory"));
    assert_eq!(m.data_structure.as_deref(), Some(&*di));
    assert_eq!(
        m.properties().unwrap().get("originBrokerName"),
        Some(&Value::String("ref".into()))
    );

    let Command::RemoveSubscriptionInfo(rs) = decode_as(Role::Broker, &hex(golden::A_20)) else {
        panic!()
    };
    assert_eq!(rs.subscription_name.as_deref(), Some("dur1"));
    assert_eq!(rs.client_id.as_deref(), Some("cid-1"));

    let Command::RemoveInfo(r) = decode_as(Role::Broker, &hex(golden::A_21)) else {
        panic!()
    };
    assert_eq!(r.object_id, RemovedObject::Consumer(consumer(1, 1)));
    assert_eq!(r.last_delivered_sequence_id, 6);

    let Command::RemoveInfo(r) = decode_as(Role::Broker, &hex(golden::A_22)) else {
        panic!()
    };
    assert_eq!(
        r.object_id,
        RemovedObject::Connection(ConnectionId::new("ID:vm-45925-1796511810564-1:2"))
    );
    assert_eq!(r.last_delivered_sequence_id, last_delivered::UNSET);
    assert!(r.response_required);

    let c = decode_as(Role::Broker, &hex(golden::A_23));
    assert_eq!(c.name(), "ShutdownInfo");
    assert_eq!((c.command_id(), c.response_required()), (8, false));

    let Command::ConnectionControl(cc) = decode_as(Role::Broker, &hex(golden::A_5C)) else {
        panic!()
    };
    assert!(cc.fault_tolerant && !cc.close);
}

#[test]
fn frames_baton_builds_match_the_golden_bytes() {
    assert_eq!(encoded(Response::new(1)), hex(golden::A_5A));
    assert_eq!(encoded(KeepAliveInfo::default()), hex(golden::A_9));
    assert_eq!(
        encoded(MessageDispatch::null(consumer(1, 4))),
        hex(golden::A_17)
    );
    assert_eq!(
        encoded(ExceptionResponse::new(
            1,
            ExceptionClass::InvalidClientId,
            "Broker: ref - Client: cid-1 already connected from tcp://127.0.0.1:53462"
        )),
        hex(golden::A_8)
    );
    assert_eq!(
        encoded(BrokerInfo {
            broker_id: BrokerId {
                value: "ID:vm-45287-1796511806612-0:1".into()
            },
            broker_url: Some("tcp://localhost:61617".into()),
            broker_name: Some("ref".into()),
            ..Default::default()
        }),
        hex(golden::A_3)
    );
    assert_eq!(
        encoded(ConnectionControl {
            connected_brokers: Some(String::new()),
            reconnect_to: Some(String::new()),
            ..Default::default()
        }),
        hex(golden::A_5B)
    );
    // The broker's WireFormatInfo of A.2, built property by property.
    let a2 = WireFormatInfo {
        version: 12,
        properties: PrimitiveMap(
            [
                ("StackTraceEnabled", Value::Boolean(true)),
                ("PlatformDetails", Value::String("Java".into())),
                ("CacheEnabled", Value::Boolean(false)),
                ("TcpNoDelayEnabled", Value::Boolean(true)),
                ("SizePrefixDisabled", Value::Boolean(false)),
                ("CacheSize", Value::Int(1024)),
                ("ProviderName", Value::String("ActiveMQ".into())),
                ("TightEncodingEnabled", Value::Boolean(false)),
                ("MaxFrameSize", Value::Long(i64::MAX)),
                ("MaxInactivityDuration", Value::Long(30_000)),
                ("MaxInactivityDurationInitalDelay", Value::Long(10_000)),
                ("MaxFrameSizeEnabled", Value::Boolean(true)),
                ("ProviderVersion", Value::String("5.17.2".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        ),
    };
    assert_eq!(encoded(a2), hex(golden::A_2));
}

#[test]
fn batons_wire_format_info() {
    let ours = WireFormatInfo::baton(104_857_600);
    let bytes = encoded(ours.clone());
    let Command::WireFormatInfo(back) = decode_as(Role::Client, &bytes) else {
        panic!()
    };
    assert_eq!(back, ours);
    let p = &back.properties;
    for (k, v) in [
        ("TightEncodingEnabled", Value::Boolean(false)),
        ("CacheEnabled", Value::Boolean(false)),
        ("SizePrefixDisabled", Value::Boolean(false)),
        ("StackTraceEnabled", Value::Boolean(false)),
        ("TcpNoDelayEnabled", Value::Boolean(true)),
        ("MaxInactivityDuration", Value::Long(30_000)),
        ("MaxInactivityDurationInitalDelay", Value::Long(10_000)),
        ("MaxFrameSize", Value::Long(104_857_600)),
        ("CacheSize", Value::Int(0)),
        ("ProviderName", Value::String("Baton".into())),
    ] {
        assert_eq!(p.get(k), Some(&v), "{k}");
    }
    assert_eq!(back.version, 12);
    // The client's view of Baton's WireFormatInfo, negotiated against its own.
    let Command::WireFormatInfo(client) = decode_as(Role::Broker, &hex(golden::A_1)) else {
        panic!()
    };
    let n = negotiate(&client, &ours).unwrap();
    assert!(!n.stack_trace_enabled);
    assert_eq!(n.max_frame_size, 104_857_600);
}

#[test]
fn client_wire_format_info_turns_inactivity_monitoring_off() {
    let ours = WireFormatInfo::client(1000);
    let bytes = encoded(ours.clone());
    let Command::WireFormatInfo(back) = decode_as(Role::Broker, &bytes) else {
        panic!()
    };
    assert_eq!(back, ours);
    assert_eq!(back.version, 12);
    assert_eq!(
        back.properties.get("MaxInactivityDuration"),
        Some(&Value::Long(0))
    );
    assert_eq!(
        back.properties.get("TightEncodingEnabled"),
        Some(&Value::Boolean(false))
    );
    assert_eq!(
        back.properties.get("CacheEnabled"),
        Some(&Value::Boolean(false))
    );
    // Against Baton's own and against ActiveMQ 5.17's (golden A_2).
    let n = negotiate(&ours, &WireFormatInfo::baton(104_857_600)).unwrap();
    assert_eq!(
        (n.max_inactivity_duration, n.keep_alive_interval_ms()),
        (0, None)
    );
    assert_eq!(n.max_frame_size, 1000);
    let Command::WireFormatInfo(amq) = decode_as(Role::Client, &hex(golden::A_2)) else {
        panic!()
    };
    let n = negotiate(&ours, &amq).unwrap();
    assert_eq!((n.version, n.max_inactivity_duration), (12, 0));
    assert!(!n.stack_trace_enabled);
}

#[test]
fn set_base_numbers_every_command_but_wire_format_info() {
    for (mut c, role) in sample_commands() {
        let before = c.clone();
        c.set_base(41, true);
        if matches!(before, Command::WireFormatInfo(_)) {
            assert_eq!(c, before);
            continue;
        }
        assert_eq!(
            (c.command_id(), c.response_required()),
            (41, true),
            "{}",
            c.name()
        );
        assert_eq!(decode_as(role, &encoded(c.clone())), c, "{}", c.name());
    }
}

#[test]
fn negotiation_rules() {
    let ours = WireFormatInfo::baton(1000);
    let mut peer = WireFormatInfo::baton(0);
    peer.version = 9;
    assert_eq!(
        negotiate(&ours, &peer),
        Err(NegotiationError::UnsupportedVersion(9))
    );
    peer.version = 10;
    // java_min: a peer MaxFrameSize of 0 means "no preference".
    assert_eq!(negotiate(&ours, &peer).unwrap().max_frame_size, 1000);
    assert_eq!(negotiate(&ours, &peer).unwrap().version, 10);
    // Math.min for inactivity: 0 from the peer turns monitoring off.
    peer.properties
        .insert("MaxInactivityDuration", Value::Long(0));
    let n = negotiate(&ours, &peer).unwrap();
    assert_eq!(n.max_inactivity_duration, 0);
    assert_eq!(n.keep_alive_interval_ms(), None);
    // An Integer where Java casts to Long is refused.
    peer.properties
        .insert("MaxInactivityDuration", Value::Int(30_000));
    assert_eq!(
        negotiate(&ours, &peer),
        Err(NegotiationError::PropertyType {
            key: "MaxInactivityDuration",
            expected: "long"
        })
    );
    // Missing keys read as false / 0.
    let bare = WireFormatInfo {
        version: 12,
        properties: PrimitiveMap::new(),
    };
    let n = negotiate(&ours, &bare).unwrap();
    assert!(!n.tcp_no_delay_enabled);
    assert_eq!(n.max_inactivity_duration, 0);
    // Options Baton does not implement, if both sides wanted them.
    let mut tight = WireFormatInfo::baton(1000);
    tight
        .properties
        .insert("TightEncodingEnabled", Value::Boolean(true));
    assert_eq!(
        negotiate(&tight, &tight),
        Err(NegotiationError::Unsupported("tight encoding"))
    );
}

/// One value of every command type, with non-default fields.
fn sample_commands() -> Vec<(Command, Role)> {
    let msg = |kind| {
        let mut m = Message {
            kind,
            command_id: 9,
            response_required: true,
            producer_id: producer(2, 3),
            destination: Destination::topic("T.>"),
            transaction_id: Some(TransactionId::Local(LocalTransactionId {
                value: 4,
                connection_id: conn_id(),
            })),
            message_id: MessageId {
                text_view: None,
                producer_id: producer(2, 3),
                producer_sequence_id: 11,
                broker_sequence_id: 12,
            },
            group_id: Some("g".into()),
            group_sequence: -1,
            persistent: true,
            priority: 9,
            reply_to: Some(Destination::new(DestinationKind::TempTopic, "x")),
            broker_path: Some(vec![BrokerId { value: "b".into() }]),
            redelivery_counter: 3,
            ..Default::default()
        };
        m.set_text(Some("ü\u{10401}")).unwrap();
        m
    };
    let xa = TransactionId::Xa(XaTransactionId {
        format_id: 7,
        global_transaction_id: Some(Bytes::from_static(b"g")),
        branch_qualifier: None,
    });
    let mut out: Vec<(Command, Role)> = vec![
        (WireFormatInfo::baton(5).into(), Role::Broker),
        (
            BrokerInfo {
                broker_id: BrokerId { value: "B".into() },
                peer_broker_infos: Some(vec![BrokerInfo::default()]),
                master_broker: true,
                connection_id: 5,
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
        (
            ConnectionInfo {
                command_id: 1,
                connection_id: conn_id(),
                user_name: Some("u".into()),
                password: Some("p".into()),
                broker_path: Some(vec![]),
                failover_reconnect: true,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            SessionInfo {
                session_id: consumer(-1, 0).session(),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            ConsumerInfo {
                consumer_id: consumer(1, 2),
                browser: true,
                destination: Destination::queue("Q"),
                selector: Some("a > 1".into()),
                subscription_name: Some("s".into()),
                priority: -3,
                network_consumer_path: Some(vec![consumer(3, 4)]),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            ProducerInfo {
                producer_id: producer(1, 1),
                window_size: 1024,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            TransactionInfo {
                connection_id: conn_id(),
                transaction_id: xa.clone(),
                transaction_type: transaction_type::PREPARE,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            DestinationInfo {
                connection_id: conn_id(),
                destination: Destination::new(DestinationKind::TempQueue, "t"),
                operation_type: destination_operation::REMOVE,
                timeout: -5,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            RemoveSubscriptionInfo {
                connection_id: conn_id(),
                subscription_name: Some("d".into()),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (ShutdownInfo::default().into(), Role::Client),
        (
            KeepAliveInfo {
                command_id: 3,
                response_required: true,
            }
            .into(),
            Role::Broker,
        ),
        (Response::new(-7).into(), Role::Client),
        (
            RemoveInfo {
                object_id: RemovedObject::Producer(producer(1, 2)),
                last_delivered_sequence_id: last_delivered::UNKNOWN,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            RemoveInfo {
                object_id: RemovedObject::Session(producer(1, 2).session()),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            ControlCommand {
                command: Some("x".into()),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (FlushCommand::default().into(), Role::Broker),
        (
            ConnectionError::new(ExceptionClass::Security, "no", Some(conn_id())).into(),
            Role::Client,
        ),
        (
            ConsumerControl {
                consumer_id: Some(consumer(1, 1)),
                prefetch: 10,
                start: true,
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            ConnectionControl {
                token: Some(Bytes::from_static(&[0, 1])),
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
        (
            ProducerAck {
                producer_id: Some(producer(1, 1)),
                size: 3,
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
        (
            MessagePull {
                consumer_id: consumer(1, 1),
                timeout: 500,
                message_id: Some(msg(MessageKind::Text).message_id),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            MessageDispatch {
                consumer_id: consumer(1, 1),
                destination: Some(Destination::queue("Q")),
                message: Some(Box::new(msg(MessageKind::Text))),
                redelivery_counter: 3,
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
        (
            MessageAck {
                consumer_id: consumer(1, 1),
                ack_type: ack_type::POISON,
                last_message_id: Some(msg(MessageKind::Text).message_id),
                message_count: 2,
                poison_cause: Some(Throwable::new(ExceptionClass::JmsException, "bad")),
                ..Default::default()
            }
            .into(),
            Role::Broker,
        ),
        (
            ExceptionResponse::new(4, ExceptionClass::ResourceAllocation, "frame too large").into(),
            Role::Client,
        ),
        (
            DataArrayResponse {
                correlation_id: 2,
                data: Some(vec![xa]),
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
        (
            IntegerResponse {
                correlation_id: 2,
                result: -1,
                ..Default::default()
            }
            .into(),
            Role::Client,
        ),
    ];
    for kind in MessageKind::ALL {
        out.push((msg(kind).into(), Role::Broker));
    }
    let mut advisory = msg(MessageKind::Message);
    advisory.data_structure = Some(Box::new(DestinationInfo {
        connection_id: conn_id(),
        destination: Destination::new(DestinationKind::TempQueue, "t"),
        ..Default::default()
    }));
    out.push((advisory.into(), Role::Client));
    out
}

#[test]
fn every_command_type_round_trips() {
    let commands = sample_commands();
    let mut codes: Vec<u8> = commands.iter().map(|(c, _)| c.type_code()).collect();
    codes.sort_unstable();
    codes.dedup();
    let all: Vec<u8> = (0..=255u8)
        .filter(|&c| Role::Broker.accepts(c) || Role::Client.accepts(c))
        .collect();
    assert_eq!(codes, all, "a command type has no sample");
    for (command, role) in commands {
        let bytes = encoded(command.clone());
        let back = decode_as(role, &bytes);
        assert_eq!(back, command, "{} changed", command.name());
        assert_eq!(encoded(back), bytes);
    }
}

/// A.11 (SessionInfo) with its connection-id string length replaced.
fn session_info_with_string_len(len: u16) -> Vec<u8> {
    let mut b = hex(golden::A_11);
    // prefix 4, type 1, commandId 4, rr 1, present 1, type 1, present 1.
    b[13..15].copy_from_slice(&len.to_be_bytes());
    b
}

#[test]
fn error_paths() {
    use FrameError::*;
    // Unknown or refused type codes, at the top and nested.
    for code in [0u8, 13, 29, 32, 40, 60, 90, 91, 92, 100, 120, 200] {
        let frame = [0, 0, 0, 6, code, 0, 0, 0, 0, 0];
        assert_eq!(
            decode_err(Role::Broker, &frame),
            UnexpectedType {
                code,
                field: "frame type"
            },
            "code {code}"
        );
    }
    let mut nested = hex(golden::A_13);
    nested[62] = 120; // destination's type byte: a ConnectionId
    assert_eq!(
        decode_err(Role::Broker, &nested),
        UnexpectedType {
            code: 120,
            field: "ConsumerInfo.destination"
        }
    );
    // Bad magic.
    let mut wfi = hex(golden::A_1);
    wfi[5] = b'a';
    assert!(matches!(decode_err(Role::Broker, &wfi), BadMagic(_)));
    // A string length past the end of the frame.
    assert_eq!(
        decode_err(Role::Broker, &session_info_with_string_len(256)),
        Truncated {
            field: "SessionId.connection_id",
            needed: 256,
            remaining: 29 + 8
        }
    );
    // ... and one shorter than written leaves bytes that do not parse.
    assert!(matches!(
        decode_err(Role::Broker, &session_info_with_string_len(0x1c)),
        TrailingBytes { code: 4, .. }
    ));
    // Invalid modified UTF-8.
    let mut bad_utf = hex(golden::A_11);
    bad_utf[15] = 0xff;
    assert_eq!(
        decode_err(Role::Broker, &bad_utf),
        InvalidString {
            field: "SessionId.connection_id"
        }
    );
    // Negative counts: object array (ConnectionInfo.brokerPath) and byte
    // array (ConnectionControl.token).
    let mut ci = encoded(ConnectionInfo {
        connection_id: ConnectionId::new("c"),
        broker_path: Some(vec![]),
        ..Default::default()
    });
    // broker_path, five booleans, client_ip.
    let at = ci.len() - 9;
    assert_eq!(&ci[at..at + 3], &[1, 0, 0]);
    ci[at + 1..at + 3].copy_from_slice(&(-1i16).to_be_bytes());
    assert_eq!(
        decode_err(Role::Broker, &ci),
        NegativeLength {
            field: "ConnectionInfo.broker_path",
            len: -1
        }
    );
    let mut cc = encoded(ConnectionControl {
        token: Some(Bytes::new()),
        ..Default::default()
    });
    let at = cc.len() - 4;
    cc[at..].copy_from_slice(&(-2i32).to_be_bytes());
    assert_eq!(
        decode_err(Role::Broker, &cc),
        NegativeLength {
            field: "ConnectionControl.token",
            len: -2
        }
    );
    // A huge count is checked against the bytes left, before allocating.
    let at = cc.len() - 4;
    cc[at..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(decode_err(Role::Broker, &cc), Truncated { .. }));
    // Null where a value is required.
    let mut si = hex(golden::A_11);
    si[10] = 0;
    assert_eq!(
        decode_err(Role::Broker, &si),
        Null {
            field: "SessionInfo.session_id"
        }
    );
    // Trailing bytes after the body.
    let mut long = hex(golden::A_9);
    long.push(0);
    long[3] += 1;
    assert_eq!(
        decode_err(Role::Broker, &long),
        TrailingBytes {
            code: 10,
            consumed: 6,
            size: 7
        }
    );
    // Sizes.
    assert_eq!(
        decode_err(Role::Broker, &[0xff, 0xff, 0xff, 0xfe]),
        NegativeSize(-2)
    );
    assert_eq!(decode_err(Role::Broker, &[0, 0, 0, 0]), EmptyFrame);
    let handshake = Options::broker_handshake();
    assert_eq!(
        frame::parse(&[0, 1, 0, 1], &handshake),
        Err(FrameTooLarge {
            size: 65537,
            limit: 65536
        })
    );
    // A ConsumerInfo with an additionalPredicate.
    let mut pred = encoded(ConsumerInfo {
        consumer_id: consumer(1, 1),
        destination: Destination::queue("Q"),
        ..Default::default()
    });
    // additional_predicate, three booleans, network_consumer_path.
    let at = pred.len() - 5;
    assert_eq!(pred[at], 0);
    pred[at] = 1;
    pred.insert(at + 1, 91);
    pred[3] += 1;
    assert_eq!(
        decode_err(Role::Broker, &pred),
        UnexpectedType {
            code: 91,
            field: "ConsumerInfo.additional_predicate"
        }
    );
}

/// A BrokerInfo whose peer list nests `depth` BrokerInfos.
fn nested_broker_info(depth: usize) -> BrokerInfo {
    let mut info = BrokerInfo::default();
    for _ in 0..depth {
        info = BrokerInfo {
            peer_broker_infos: Some(vec![info]),
            ..Default::default()
        };
    }
    info
}

#[test]
fn nesting_is_capped() {
    // The top-level BrokerId is at depth 1; 7 nested peers put the last
    // one's BrokerId at depth 8.
    let ok = encoded(nested_broker_info(7));
    decode_as(Role::Client, &ok);
    let deep = encoded(nested_broker_info(8));
    assert_eq!(
        decode_err(Role::Client, &deep),
        FrameError::TooDeep {
            field: "BrokerInfo.broker_id",
            limit: 8
        }
    );
    // Maps in maps too.
    let mut value = Value::Int(1);
    for _ in 0..8 {
        value = Value::Map(PrimitiveMap(vec![("k".into(), value)]));
    }
    let bytes = PrimitiveMap(vec![("k".into(), value)]).to_bytes().unwrap();
    assert!(matches!(
        PrimitiveMap::decode(&bytes),
        Err(FrameError::TooDeep { .. })
    ));
}

#[test]
fn wire_format_info_properties_are_capped() {
    let mut wfi = WireFormatInfo::baton(1000);
    for i in 0..(64 - 13) {
        wfi.properties.insert(format!("x{i}"), Value::Null);
    }
    decode_as(Role::Broker, &encoded(wfi.clone()));
    wfi.properties.insert("one too many", Value::Null);
    assert_eq!(
        decode_err(Role::Broker, &encoded(wfi)),
        FrameError::TooManyEntries {
            field: "WireFormatInfo.properties",
            count: 65,
            limit: 64
        }
    );
}

/// An ExceptionResponse with stack traces: `frames` frames per Throwable
/// and a cause chain of `causes` Throwables below the first.
fn exception_with_stack_traces(causes: usize, frames: i16) -> Vec<u8> {
    let mut body = BytesMut::new();
    body.put_u8(31);
    body.put_i32(0);
    body.put_u8(0);
    body.put_i32(1);
    for _ in 0..=causes {
        body.put_u8(1);
        for s in ["java.lang.Exception", "boom"] {
            body.put_u8(1);
            body.put_u16(s.len() as u16);
            body.put_slice(s.as_bytes());
        }
        body.put_i16(frames);
        for _ in 0..frames {
            body.put_slice(&[1, 0, 1, b'C', 1, 0, 1, b'm', 0]);
            body.put_i32(42);
        }
    }
    body.put_u8(0); // the last one has no cause
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn stack_traces_when_negotiated_and_the_cause_chain_cap() {
    let with = Options {
        stack_trace_enabled: true,
        ..opts(Role::Client)
    };
    let ok = exception_with_stack_traces(4, 3);
    let Ok(Some((Parsed::Command(Command::ExceptionResponse(e)), n))) = frame::parse(&ok, &with)
    else {
        panic!()
    };
    assert_eq!(n, ok.len());
    let t = e.exception.as_ref().unwrap();
    assert_eq!(t.class_name(), "java.lang.Exception");
    assert_eq!(t.message(), Some("boom"));
    assert_eq!(t.listed_class(), None);
    assert_eq!(
        frame::parse(&exception_with_stack_traces(5, 1), &with),
        Err(FrameError::CauseChainTooLong {
            field: "ExceptionResponse.exception",
            limit: 4
        })
    );
    let mut negative = exception_with_stack_traces(0, 0);
    let at = negative.len() - 3;
    negative[at..at + 2].copy_from_slice(&(-1i16).to_be_bytes());
    assert!(matches!(
        frame::parse(&negative, &with),
        Err(FrameError::NegativeLength { .. })
    ));
    // Without stack traces negotiated the same bytes do not parse.
    assert!(frame::parse(&ok, &opts(Role::Client)).is_err());
}

fn oversized_message(size: usize) -> Vec<u8> {
    let mut frame = (size as u32).to_be_bytes().to_vec();
    frame.push(28);
    frame.extend_from_slice(&77i32.to_be_bytes());
    frame.push(1);
    frame.resize(4 + size, 0xab);
    frame
}

#[test]
fn oversized_frames_are_reported_and_skipped() {
    let limits = Limits::new(100);
    let o = Options {
        limits,
        ..opts(Role::Broker)
    };
    let big = oversized_message(150);
    assert_eq!(frame::parse(&big[..9], &o), Ok(None));
    let expected = Oversized {
        type_code: 28,
        command_id: 77,
        response_required: true,
        size: 150,
        producer_id: None,
        header_len: 10,
        remaining: 144,
    };
    assert_eq!(
        frame::parse(&big[..10], &o),
        Ok(Some((Parsed::Oversized(expected.clone()), 10)))
    );
    // Above the hard limit (2 × max): invalid at once.
    assert_eq!(
        frame::parse(&oversized_message(201)[..4], &o),
        Err(FrameError::FrameTooLarge {
            size: 201,
            limit: 200
        })
    );
    // The codec reports it, drops the rest as it streams in, and goes on.
    let mut stream = big.clone();
    stream.extend_from_slice(&hex(golden::A_9));
    let mut codec = OpenWireCodec::new(o);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in stream.chunks(7) {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            items.push(item);
        }
        assert!(buf.len() <= 16, "oversized frame buffered: {}", buf.len());
    }
    assert_eq!(
        items,
        vec![
            Parsed::Oversized(expected),
            Parsed::Command(KeepAliveInfo::default().into())
        ]
    );
    assert!(buf.is_empty() && !codec.is_skipping());
}

/// An oversized asynchronous message names its producer (for the
/// ProducerAck of a producer with a window), also when its bytes arrive a
/// few at a time; the rest is skipped.
#[test]
fn oversized_async_messages_name_their_producer() {
    let o = Options {
        limits: Limits::new(100),
        ..opts(Role::Broker)
    };
    let mut big = 150u32.to_be_bytes().to_vec();
    big.push(28);
    big.extend_from_slice(&5i32.to_be_bytes());
    big.push(0); // no response required
    big.extend_from_slice(&[1, 123, 1, 0, 5]); // ProducerId, connectionId "ID:c1"
    big.extend_from_slice(b"ID:c1");
    big.extend_from_slice(&7i64.to_be_bytes()); // value
    big.extend_from_slice(&2i64.to_be_bytes()); // session id
    big.resize(4 + 150, 0xab);
    let producer = ProducerId {
        connection_id: "ID:c1".to_string(),
        value: 7,
        session_id: 2,
    };
    let expected = Oversized {
        type_code: 28,
        command_id: 5,
        response_required: false,
        size: 150,
        producer_id: Some(producer),
        header_len: 10 + 26,
        remaining: 154 - 36,
    };
    assert_eq!(frame::parse(&big[..20], &o), Ok(None), "waits for the id");
    assert_eq!(
        frame::parse(&big, &o),
        Ok(Some((Parsed::Oversized(expected.clone()), 36)))
    );
    let mut stream = big.clone();
    stream.extend_from_slice(&hex(golden::A_9));
    let mut codec = OpenWireCodec::new(o);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in stream.chunks(3) {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            items.push(item);
        }
    }
    assert_eq!(
        items,
        vec![
            Parsed::Oversized(expected),
            Parsed::Command(KeepAliveInfo::default().into())
        ]
    );
    // A producer id that does not parse: reported without one.
    let mut garbage = oversized_message(150);
    garbage[9] = 0;
    match frame::parse(&garbage, &o) {
        Ok(Some((Parsed::Oversized(x), 10))) => assert_eq!(x.producer_id, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn codec_chunked_equals_whole_and_eof_mid_frame_is_an_error() {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for (_, h, role) in goldens() {
        if role == Role::Broker {
            let b = hex(h);
            expected.push(decode_as(Role::Broker, &b));
            stream.extend_from_slice(&b);
        }
    }
    for chunk in [1, 3, 64, stream.len()] {
        let mut codec = OpenWireCodec::new(opts(Role::Broker));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            buf.extend_from_slice(c);
            while let Some(Parsed::Command(cmd)) = codec.decode(&mut buf).unwrap() {
                got.push(cmd);
            }
        }
        assert_eq!(got, expected, "chunk {chunk}");
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }
    let mut codec = OpenWireCodec::new(opts(Role::Broker));
    let mut buf = BytesMut::from(&hex(golden::A_4)[..20]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(CodecError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
    ));
    // An error from the frame parser comes out typed.
    let mut buf = BytesMut::from(&[0u8, 0, 0, 1, 29][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(CodecError::Frame(FrameError::UnexpectedType {
            code: 29,
            ..
        }))
    ));
}

#[test]
fn bodies_compressed_and_not() {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let zlib = |data: &[u8]| {
        let mut e = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    };
    let mut text = Message {
        kind: MessageKind::Text,
        ..Default::default()
    };
    let s = "a\0b 😀 ".repeat(100);
    text.set_text(Some(&s)).unwrap();
    let plain = text.content.clone().unwrap();
    text.content = Some(zlib(&plain));
    text.compressed = true;
    assert_eq!(text.text(1 << 20).unwrap().as_deref(), Some(s.as_str()));
    assert_eq!(text.text(100), Err(BodyError::TooLarge { limit: 100 }));
    text.set_text(None).unwrap();
    assert_eq!(text.text(10).unwrap(), None);

    let raw: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
    let mut content = (raw.len() as i32).to_be_bytes().to_vec();
    content.extend_from_slice(&zlib(&raw));
    let mut bytes = Message {
        kind: MessageKind::Bytes,
        compressed: true,
        content: Some(content.clone().into()),
        ..Default::default()
    };
    assert_eq!(bytes.uncompressed_content(5000).unwrap().unwrap(), raw);
    assert_eq!(
        bytes.uncompressed_content(4999),
        Err(BodyError::TooLarge { limit: 4999 })
    );
    // The real 5.17 client deflates its whole buffer: the prefix is the
    // body's length and the rest of the stream is cut off.
    content[..4].copy_from_slice(&256i32.to_be_bytes());
    bytes.content = Some(content.clone().into());
    assert_eq!(
        bytes.uncompressed_content(1 << 20).unwrap().unwrap(),
        raw[..256]
    );
    content[..4].copy_from_slice(&6000i32.to_be_bytes());
    bytes.content = Some(content.into());
    assert!(matches!(
        bytes.uncompressed_content(1 << 20),
        Err(BodyError::Compression(_))
    ));
    bytes.content = Some(Bytes::from_static(b"\0\0\0\x05garbage"));
    assert!(matches!(
        bytes.uncompressed_content(1 << 20),
        Err(BodyError::Compression(_))
    ));

    let map = PrimitiveMap(vec![
        ("big".into(), Value::String("é".repeat(10_000))),
        (
            "nested".into(),
            Value::List(vec![
                Value::Char(0xd83d),
                Value::Bytes(Bytes::from_static(b"x")),
            ]),
        ),
    ]);
    let mut m = Message {
        kind: MessageKind::Map,
        ..Default::default()
    };
    m.set_map_body(&map).unwrap();
    let encoded_map = m.content.clone().unwrap();
    // 10 000 characters go out as BIG_STRING (tag 13) as Java writes them.
    assert_eq!(encoded_map[4 + 2 + 3], 13);
    assert_eq!(m.map_body(1 << 20).unwrap(), map);
    m.content = Some(zlib(&encoded_map));
    m.compressed = true;
    assert_eq!(m.map_body(1 << 20).unwrap(), map);
    // An unknown tag in a property map.
    let props = Message {
        marshalled_properties: Some(Bytes::from_static(&[0, 0, 0, 1, 0, 1, b'k', 14])),
        ..Default::default()
    };
    assert_eq!(
        props.properties(),
        Err(BodyError::Malformed(FrameError::UnknownTag {
            field: "map",
            tag: 14
        }))
    );
}

#[test]
fn destinations_and_ids_in_their_string_forms() {
    let d = Destination::parse("queue://A, topic://B ,C,,A", DestinationKind::Queue);
    assert_eq!(d.kind, DestinationKind::Queue);
    assert!(d.is_composite() && !d.is_wildcard());
    assert_eq!(
        d.members(),
        vec![
            Destination::queue("A"),
            Destination::topic("B"),
            Destination::queue("C"),
        ]
    );
    assert_eq!(
        Destination::parse("temp-topic://x", DestinationKind::Queue).kind,
        DestinationKind::TempTopic
    );
    assert!(Destination::topic("A.*").is_wildcard());
    assert!(DestinationKind::TempQueue.is_temporary() && !DestinationKind::TempQueue.is_topic());
    assert_eq!(Destination::topic("A,B").qualified_name(), "A,B");

    let p: ProducerId = "ID:host-1-2-3:4:5:6".parse().unwrap();
    assert_eq!(
        p,
        ProducerId {
            connection_id: "ID:host-1-2-3:4".into(),
            session_id: 5,
            value: 6
        }
    );
    assert_eq!(p.to_string(), "ID:host-1-2-3:4:5:6");
    let c: ConsumerId = "c:-1:1".parse().unwrap();
    assert_eq!((c.session_id, c.value), (-1, 1));
    let m: MessageId = "ID:h-1:1:1:1:7".parse().unwrap();
    assert_eq!(m.producer_sequence_id, 7);
    assert_eq!(m.to_string(), "ID:h-1:1:1:1:7");
    assert!("nocolon".parse::<ProducerId>().is_err());
    assert!("a:b:x".parse::<MessageId>().is_err());
    let with_view = MessageId {
        text_view: Some("abc".into()),
        ..m.clone()
    };
    assert_eq!(with_view.to_string(), "ID:abc");

    for class in ExceptionClass::ALL {
        let t = Throwable::new(class, "m");
        assert!(["javax.jms.", "java.", "org.apache.activemq."]
            .iter()
            .any(|p| t.class_name().starts_with(p)));
        assert_eq!(t.listed_class(), Some(class));
    }
}

#[tokio::test]
async fn framed_write_then_read_over_a_duplex() {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};

    let (client, server) = tokio::io::duplex(64);
    let mut writer = FramedWrite::new(client, OpenWireCodec::new(opts(Role::Client)));
    let mut reader = FramedRead::new(server, OpenWireCodec::new(opts(Role::Client)));
    let commands: Vec<Command> = sample_commands()
        .into_iter()
        .filter(|(_, role)| *role == Role::Client)
        .map(|(c, _)| c)
        .collect();
    let expected = commands.clone();
    let send = tokio::spawn(async move {
        for c in commands {
            writer.send(c).await.unwrap();
        }
        writer.close().await.unwrap();
    });
    let mut received = Vec::new();
    while let Some(item) = reader.next().await {
        match item.unwrap() {
            Parsed::Command(c) => received.push(c),
            other => panic!("{other:?}"),
        }
    }
    send.await.unwrap();
    assert_eq!(received, expected);
}

#[test]
fn lone_surrogates_from_java_become_replacement_characters() {
    use super::wire::decode_modified_utf8;
    let decode = |b: &[u8]| decode_modified_utf8(b, "test");
    // U+1F600 as Java writes it: two surrogates, three bytes each.
    let pair = [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
    assert_eq!(decode(&pair).unwrap(), "\u{1F600}");
    assert_eq!(
        decode(b"a\xED\xA0\x80b").unwrap(),
        "a\u{FFFD}b",
        "lone high"
    );
    assert_eq!(decode(b"a\xED\xB0\x80").unwrap(), "a\u{FFFD}", "lone low");
    let swapped = [0xED, 0xB8, 0x80, 0xED, 0xA0, 0xBD];
    assert_eq!(
        decode(&swapped).unwrap(),
        "\u{FFFD}\u{FFFD}",
        "low before high"
    );
    let high_then_pair = [0xED, 0xA0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
    assert_eq!(decode(&high_then_pair).unwrap(), "\u{FFFD}\u{1F600}");
    assert_eq!(decode(b"\xC0\x80").unwrap(), "\0", "Java's NUL");
    assert!(decode(b"a\xFFb").is_err(), "not UTF-8 at all");
    assert!(decode(b"a\xED\xA0").is_err(), "a truncated surrogate");
}
