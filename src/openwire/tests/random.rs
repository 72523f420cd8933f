//! Seeded random values of every structure: encode → decode gives them back.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::command::*;
use super::super::map::{PrimitiveMap, Value};
use super::super::message::{Message, MessageKind};
use super::super::types::*;
use super::super::wireformat::WireFormatInfo;
use super::{decode_as, encoded};

struct Gen(StdRng);

impl Gen {
    fn int<T>(&mut self) -> T
    where
        rand::distr::StandardUniform: rand::distr::Distribution<T>,
    {
        self.0.random()
    }

    fn coin(&mut self) -> bool {
        self.0.random_bool(0.5)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    /// Strings with NUL, non-BMP characters, 2- and 3-byte characters.
    fn string(&mut self) -> String {
        const CHARS: [char; 8] = ['a', 'Z', ':', '\0', 'é', '日', '😀', '\u{10ffff}'];
        let n = self.below(12);
        (0..n).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.coin().then(|| f(self))
    }

    fn bytes(&mut self) -> Bytes {
        let n = self.below(20);
        (0..n).map(|_| self.int::<u8>()).collect()
    }

    fn producer(&mut self) -> ProducerId {
        ProducerId {
            connection_id: self.string(),
            value: self.int(),
            session_id: self.int(),
        }
    }

    fn consumer(&mut self) -> ConsumerId {
        ConsumerId {
            connection_id: self.string(),
            session_id: self.int(),
            value: self.int(),
        }
    }

    fn destination(&mut self) -> Destination {
        let kind = DestinationKind::ALL[self.below(4)];
        Destination::new(kind, self.string())
    }

    fn message_id(&mut self) -> MessageId {
        MessageId {
            text_view: self.opt(Self::string),
            producer_id: self.producer(),
            producer_sequence_id: self.int(),
            broker_sequence_id: self.int(),
        }
    }

    fn transaction(&mut self) -> TransactionId {
        if self.coin() {
            TransactionId::Local(LocalTransactionId {
                value: self.int(),
                connection_id: ConnectionId::new(self.string()),
            })
        } else {
            TransactionId::Xa(XaTransactionId {
                format_id: self.int(),
                global_transaction_id: self.opt(Self::bytes),
                branch_qualifier: self.opt(Self::bytes),
            })
        }
    }

    fn brokers(&mut self) -> Option<Vec<BrokerId>> {
        self.opt(|g| {
            (0..g.below(3))
                .map(|_| BrokerId { value: g.string() })
                .collect()
        })
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 12 } else { 14 }) {
            0 => Value::Null,
            1 => Value::Boolean(self.coin()),
            2 => Value::Byte(self.int()),
            3 => Value::Char(self.int()),
            4 => Value::Short(self.int()),
            5 => Value::Int(self.int()),
            6 => Value::Long(self.int()),
            // Finite values only: NaN is not equal to itself.
            7 => Value::Float(self.int::<i16>() as f32 / 7.0),
            8 => Value::Double(self.int::<i32>() as f64 / 3.0),
            9 => Value::String(self.string()),
            10 => Value::Bytes(self.bytes()),
            11 => Value::String(self.string().repeat(1000)),
            12 => Value::Map(self.map(depth + 1)),
            _ => Value::List((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
        }
    }

    fn map(&mut self, depth: usize) -> PrimitiveMap {
        let mut m = PrimitiveMap::new();
        for _ in 0..self.below(6) {
            let v = self.value(depth);
            m.insert(self.string(), v);
        }
        m
    }

    fn message(&mut self) -> Message {
        let mut m = Message {
            kind: MessageKind::ALL[self.below(6)],
            command_id: self.int(),
            response_required: self.coin(),
            producer_id: self.producer(),
            destination: self.destination(),
            transaction_id: self.opt(Self::transaction),
            original_destination: self.opt(Self::destination),
            message_id: self.message_id(),
            original_transaction_id: self.opt(Self::transaction),
            group_id: self.opt(Self::string),
            group_sequence: self.int(),
            correlation_id: self.opt(Self::string),
            persistent: self.coin(),
            expiration: self.int(),
            priority: self.int(),
            reply_to: self.opt(Self::destination),
            timestamp: self.int(),
            jms_type: self.opt(Self::string),
            content: self.opt(Self::bytes),
            marshalled_properties: None,
            data_structure: None,
            target_consumer_id: self.opt(Self::consumer),
            compressed: self.coin(),
            redelivery_counter: self.int(),
            broker_path: self.brokers(),
            arrival: self.int(),
            user_id: self.opt(Self::string),
            received_by_df_bridge: self.coin(),
            droppable: self.coin(),
            cluster: self.brokers(),
            broker_in_time: self.int(),
            broker_out_time: self.int(),
            jmsx_group_first_for_consumer: self.coin(),
        };
        let props = self.map(0);
        m.set_properties(&props).unwrap();
        if self.coin() {
            m.data_structure = Some(Box::new(DestinationInfo {
                command_id: self.int(),
                connection_id: ConnectionId::new(self.string()),
                destination: self.destination(),
                operation_type: self.int(),
                timeout: self.int(),
                ..Default::default()
            }));
        }
        m
    }

    fn command(&mut self) -> (Command, Role) {
        let id = self.int();
        let rr = self.coin();
        match self.below(10) {
            0 => {
                let mut wfi = WireFormatInfo::baton(self.below(1 << 30));
                wfi.version = self.int();
                for _ in 0..self.below(20) {
                    let v = self.value(0);
                    wfi.properties.insert(self.string(), v);
                }
                (wfi.into(), Role::Broker)
            }
            1 => (
                ConsumerInfo {
                    command_id: id,
                    response_required: rr,
                    consumer_id: self.consumer(),
                    browser: self.coin(),
                    destination: self.destination(),
                    prefetch_size: self.int(),
                    maximum_pending_message_limit: self.int(),
                    dispatch_async: self.coin(),
                    selector: self.opt(Self::string),
                    client_id: self.opt(Self::string),
                    subscription_name: self.opt(Self::string),
                    no_local: self.coin(),
                    exclusive: self.coin(),
                    retroactive: self.coin(),
                    priority: self.int(),
                    broker_path: self.brokers(),
                    additional_predicate: None,
                    network_subscription: self.coin(),
                    optimized_acknowledge: self.coin(),
                    no_range_acks: self.coin(),
                    network_consumer_path: self.opt(|g| vec![g.consumer(); g.below(3)]),
                }
                .into(),
                Role::Broker,
            ),
            2 => (
                ConnectionInfo {
                    command_id: id,
                    response_required: rr,
                    connection_id: ConnectionId::new(self.string()),
                    client_id: self.opt(Self::string),
                    password: self.opt(Self::string),
                    user_name: self.opt(Self::string),
                    broker_path: self.brokers(),
                    broker_master_connector: self.coin(),
                    manageable: self.coin(),
                    client_master: self.coin(),
                    fault_tolerant: self.coin(),
                    failover_reconnect: self.coin(),
                    client_ip: self.opt(Self::string),
                }
                .into(),
                Role::Broker,
            ),
            3 => (
                MessageAck {
                    command_id: id,
                    response_required: rr,
                    destination: self.opt(Self::destination),
                    transaction_id: self.opt(Self::transaction),
                    consumer_id: self.consumer(),
                    ack_type: self.int(),
                    first_message_id: self.opt(Self::message_id),
                    last_message_id: self.opt(Self::message_id),
                    message_count: self.int(),
                    poison_cause: self.opt(|g| {
                        Throwable::new(
                            ExceptionClass::ALL[g.below(ExceptionClass::ALL.len())],
                            g.string(),
                        )
                    }),
                }
                .into(),
                Role::Broker,
            ),
            4 => {
                let mut m = self.message();
                m.command_id = id;
                (m.into(), Role::Broker)
            }
            5 => (
                MessageDispatch {
                    command_id: id,
                    response_required: rr,
                    consumer_id: self.consumer(),
                    destination: self.opt(Self::destination),
                    message: self.opt(|g| Box::new(g.message())),
                    redelivery_counter: self.int(),
                }
                .into(),
                Role::Client,
            ),
            6 => (
                TransactionInfo {
                    command_id: id,
                    response_required: rr,
                    connection_id: ConnectionId::new(self.string()),
                    transaction_id: self.transaction(),
                    transaction_type: self.int(),
                }
                .into(),
                Role::Broker,
            ),
            7 => (
                RemoveInfo {
                    command_id: id,
                    response_required: rr,
                    object_id: match self.below(4) {
                        0 => RemovedObject::Connection(ConnectionId::new(self.string())),
                        1 => RemovedObject::Session(self.consumer().session()),
                        2 => RemovedObject::Consumer(self.consumer()),
                        _ => RemovedObject::Producer(self.producer()),
                    },
                    last_delivered_sequence_id: self.int(),
                }
                .into(),
                Role::Broker,
            ),
            8 => (
                ExceptionResponse::new(
                    self.int(),
                    ExceptionClass::ALL[self.below(ExceptionClass::ALL.len())],
                    self.string(),
                )
                .into(),
                Role::Client,
            ),
            _ => (
                MessagePull {
                    command_id: id,
                    response_required: rr,
                    consumer_id: self.consumer(),
                    destination: self.opt(Self::destination),
                    timeout: self.int(),
                    correlation_id: self.opt(Self::string),
                    message_id: self.opt(Self::message_id),
                }
                .into(),
                Role::Broker,
            ),
        }
    }
}

#[test]
fn random_commands_survive_encode_and_decode() {
    let mut g = Gen(StdRng::seed_from_u64(0x0bad_cafe));
    for i in 0..2000 {
        let (command, role) = g.command();
        let bytes = encoded(command.clone());
        assert_eq!(decode_as(role, &bytes), command, "case {i}");
    }
}

#[test]
fn random_maps_survive_encode_and_decode() {
    let mut g = Gen(StdRng::seed_from_u64(7));
    for i in 0..2000 {
        let map = g.map(0);
        let bytes = map.to_bytes().unwrap();
        assert_eq!(PrimitiveMap::decode(&bytes).unwrap(), map, "case {i}");
    }
}
