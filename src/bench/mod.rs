//! `baton bench`: a load generator speaking STOMP (any STOMP broker:
//! Baton, ActiveMQ, RabbitMQ) or OpenWire (Baton, ActiveMQ), chosen with
//! `--protocol`. Producers send fixed-size bodies (with a confirmation per
//! message or without: a STOMP RECEIPT, an OpenWire Response), consumers
//! receive them with the chosen ack mode; the report gives throughput,
//! HdrHistogram percentiles of send → confirmation and send → receive, and
//! how many different messages arrived and how many twice, as a table or as
//! JSON.

mod conn;
mod consumer;
mod link;
mod openwire;
mod producer;
mod report;

pub use conn::ConnectOptions;
pub use report::{Percentiles, Report, Settings};

use crate::stomp::codec::CodecError;
use hdrhistogram::Histogram;
use link::Link;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Header carrying the send time (µs since the run's epoch) in each SEND.
pub(crate) const SENT_AT_HEADER: &str = "bench-sent-us";
/// Header carrying each message's run-wide number (a run tag in bits
/// 48–62, the producer in bits 32–47, its sequence below).
pub(crate) const ID_HEADER: &str = "bench-id";

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("OpenWire: {0}")]
    OpenWire(String),
    #[error("broker sent ERROR: {0}")]
    Refused(String),
    #[error("connection closed by the broker")]
    Closed,
    #[error("unexpected {0} frame")]
    Unexpected(String),
    #[error("invalid arguments: {0}")]
    Args(String),
    #[error("the run did not finish within --timeout {0} s")]
    Timeout(f64),
    #[error("latency histogram: {0}")]
    Histogram(String),
    #[error("a load generator task failed: {0}")]
    Task(String),
}

/// Which protocol the load generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Stomp,
    /// The ActiveMQ Java client's protocol.
    Openwire,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Stomp => "stomp",
            Protocol::Openwire => "openwire",
        }
    }

    /// The broker port when `--addr` is not given.
    pub fn default_addr(self) -> &'static str {
        match self {
            Protocol::Stomp => "127.0.0.1:61613",
            Protocol::Openwire => "127.0.0.1:61616",
        }
    }
}

/// How consumers acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AckMode {
    Auto,
    Client,
    ClientIndividual,
}

impl AckMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Protocol: STOMP, or OpenWire (the ActiveMQ Java client's:
    /// BytesMessages, a sync send with responseRequired per message unless
    /// --no-receipts, MessageAcks).
    #[arg(long, value_enum, default_value = "stomp")]
    pub protocol: Protocol,
    /// Address of the broker [default: 127.0.0.1:61613 for STOMP,
    /// 127.0.0.1:61616 for OpenWire].
    #[arg(long)]
    pub addr: Option<String>,
    /// Destination; a name starting with /topic/ (or topic:// with
    /// OpenWire) is a topic (every consumer gets every message), anything
    /// else a queue (/queue/x is queue x over OpenWire).
    #[arg(long, default_value = "/queue/bench")]
    pub destination: String,
    /// Producer connections.
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    /// Consumer connections, subscribed before the producers start.
    #[arg(long, default_value_t = 0)]
    pub consumers: usize,
    /// Messages in total over all producers (with --producers 0: messages
    /// to consume from what is already queued).
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Send for this many seconds instead of a message count.
    #[arg(long, conflicts_with = "messages")]
    pub duration: Option<f64>,
    /// Target rate in msg/s over all producers (default: as fast as
    /// possible). Latency is then measured from each message's scheduled
    /// send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Send with `persistent:true`.
    #[arg(long)]
    pub persistent: bool,
    /// Do not ask for a RECEIPT (OpenWire: a Response) per message (each
    /// producer still ends with a DISCONNECT receipt, or the Response to its
    /// connection's RemoveInfo).
    #[arg(long)]
    pub no_receipts: bool,
    /// Consumers' ack mode. OpenWire always acknowledges: INDIVIDUAL acks
    /// for client-individual, STANDARD acks per message otherwise.
    #[arg(long, value_enum, default_value = "client-individual")]
    pub ack: AckMode,
    /// Prefetch per consumer (sent as `activemq.prefetchSize` and
    /// `prefetch-count`; OpenWire: the ConsumerInfo's prefetchSize);
    /// default: the broker's (OpenWire: the Java client's, 1000 for a
    /// queue, 32766 for a topic).
    #[arg(long)]
    pub prefetch: Option<u32>,
    /// CONNECT `host` header (RabbitMQ: the virtual host, e.g. `/`); not
    /// used by OpenWire.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Optional login for brokers that require one.
    #[arg(long)]
    pub login: Option<String>,
    #[arg(long)]
    pub passcode: Option<String>,
    /// After the producers finish, wait at most this long (seconds) for the
    /// consumers to receive everything.
    #[arg(long, default_value_t = 60.0)]
    pub drain_timeout: f64,
    /// Give up (and fail) if the whole run takes longer (seconds).
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// Print the report as one line of JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Counters and the time reference shared by all tasks of one run.
pub(crate) struct Shared {
    epoch: Instant,
    received: AtomicU64,
}

impl Shared {
    pub(crate) fn micros_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

/// A histogram of microseconds up to one hour, 3 significant digits.
pub(crate) fn new_histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| BenchError::Histogram(e.to_string()))
}

fn positive_secs(name: &str, v: f64) -> Result<Duration, BenchError> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(BenchError::Args(format!(
            "{name} must be a positive number of seconds, got {v}"
        )))
    }
}

fn is_topic(destination: &str) -> bool {
    destination.starts_with("/topic/") || destination.starts_with("topic://")
}

impl BenchArgs {
    /// `--addr`, or the protocol's default port.
    pub fn addr(&self) -> String {
        self.addr
            .clone()
            .unwrap_or_else(|| self.protocol.default_addr().to_string())
    }
}

/// Checks the arguments before anything connects.
pub fn validate(args: &BenchArgs) -> Result<(), BenchError> {
    if args.producers == 0 && args.consumers == 0 {
        return Err(BenchError::Args(
            "nothing to do: --producers and --consumers are both 0".into(),
        ));
    }
    if args.producers == 0 && (args.duration.is_some() || args.rate.is_some()) {
        return Err(BenchError::Args(
            "--duration and --rate need at least one producer".into(),
        ));
    }
    if args.destination.is_empty() {
        return Err(BenchError::Args("--destination must not be empty".into()));
    }
    if let Some(d) = args.duration {
        positive_secs("--duration", d)?;
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(BenchError::Args(format!(
                "--rate must be a positive number of messages per second, got {r}"
            )));
        }
    }
    if args.prefetch == Some(0) {
        return Err(BenchError::Args("--prefetch must be at least 1".into()));
    }
    positive_secs("--drain-timeout", args.drain_timeout)?;
    positive_secs("--timeout", args.timeout)?;
    Ok(())
}

fn task_err(e: tokio::task::JoinError) -> BenchError {
    BenchError::Task(e.to_string())
}

/// Runs the benchmark once, within `--timeout`.
pub async fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    validate(args)?;
    let limit = positive_secs("--timeout", args.timeout)?;
    tokio::time::timeout(limit, run_inner(args))
        .await
        .map_err(|_| BenchError::Timeout(args.timeout))?
}

async fn run_inner(args: &BenchArgs) -> Result<Report, BenchError> {
    let addr = args.addr();
    let opts = ConnectOptions {
        addr: addr.clone(),
        host: args.host.clone(),
        login: args.login.clone(),
        passcode: args.passcode.clone(),
    };
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        received: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    // Dropped on any early return: the JoinSets abort what still runs.
    let _stop_guard = stop.clone().drop_guard();

    let before_consumers = Instant::now();
    let mut consumers = JoinSet::new();
    for i in 0..args.consumers {
        let c = Link::consumer(
            args.protocol,
            &opts,
            &args.destination,
            &format!("bench-{i}"),
            args.ack,
            args.prefetch,
        )
        .await?;
        consumers.spawn(consumer::run(
            c,
            args.ack,
            shared.clone(),
            stop.clone(),
            args.producers > 0,
        ));
    }
    let mut conns = Vec::with_capacity(args.producers);
    for _ in 0..args.producers {
        conns.push(Link::producer(args.protocol, &opts, &args.destination).await?);
    }
    // Tells this run's messages from another's in the same queue.
    let run_tag = u64::from(
        (std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()))
            & 0x7fff,
    ) << 48;

    let n = args.producers as u64;
    let body = bytes::Bytes::from(vec![b'x'; args.size]);
    // Consuming what is already queued starts with the first SUBSCRIBE.
    let start = if args.producers == 0 {
        before_consumers
    } else {
        Instant::now()
    };
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d));
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.producers as f64 / r));
    let mut producers = JoinSet::new();
    for (p, c) in conns.into_iter().enumerate() {
        let p = p as u64;
        let plan = producer::ProducerPlan {
            destination: args.destination.clone(),
            body: body.clone(),
            persistent: args.persistent,
            receipts: !args.no_receipts,
            count: match args.duration {
                Some(_) => None,
                None => Some(args.messages / n + u64::from(p < args.messages % n)),
            },
            deadline,
            interval,
            // Spread the paced producers evenly over one interval.
            start: start + interval.map_or(Duration::ZERO, |i| i.mul_f64(p as f64 / n as f64)),
            first_id: run_tag | ((p & 0xffff) << 32),
        };
        producers.spawn(producer::run(c, plan, shared.clone()));
    }

    let mut send_latency = new_histogram()?;
    let mut send_done = start;
    let mut sent = 0u64;
    while let Some(r) = producers.join_next().await {
        let r = r.map_err(task_err)??;
        sent += r.sent;
        send_done = send_done.max(r.finished);
        let _ = send_latency.add(&r.latency);
    }

    let kind_topic = is_topic(&args.destination);
    let expected = match (args.producers, args.consumers) {
        (_, 0) => 0,
        (0, _) => args.messages,
        _ if kind_topic => sent * args.consumers as u64,
        _ => sent,
    };
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout);
    let mut consumer_failed = None;
    while shared.received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        // A consumer that failed ends the wait at once.
        if let Ok(Some(r)) =
            tokio::time::timeout(Duration::from_millis(2), consumers.join_next()).await
        {
            consumer_failed = Some(r);
            break;
        }
    }
    let end = Instant::now();
    stop.cancel();
    let mut receive_latency = new_histogram()?;
    let mut received = 0u64;
    let mut last_receive = None::<Instant>;
    // A queue delivers each message once over all consumers, a topic once
    // to each consumer.
    let mut all_ids = HashSet::new();
    let (mut distinct, mut duplicates) = (0u64, 0u64);
    let mut collect = |r: Result<Result<consumer::ConsumerResult, BenchError>, _>| {
        let r = r.map_err(task_err)??;
        received += r.received;
        duplicates += r.repeated;
        if kind_topic {
            distinct += r.ids.len() as u64;
        } else {
            for id in r.ids {
                if all_ids.insert(id) {
                    distinct += 1;
                } else {
                    duplicates += 1;
                }
            }
        }
        last_receive = last_receive.max(r.last);
        let _ = receive_latency.add(&r.latency);
        Ok::<(), BenchError>(())
    };
    if let Some(r) = consumer_failed {
        collect(r)?;
    }
    while let Some(r) = consumers.join_next().await {
        collect(r)?;
    }

    let secs = |d: Duration| d.as_secs_f64();
    let per_s = |n: u64, d: f64| if d > 0.0 { n as f64 / d } else { 0.0 };
    let send_elapsed_s = if args.producers == 0 {
        0.0
    } else {
        secs(send_done - start)
    };
    let receive_elapsed_s = last_receive.map_or(0.0, |t| secs(t.saturating_duration_since(start)));
    Ok(Report {
        settings: Settings {
            protocol: args.protocol.as_str(),
            addr,
            destination: args.destination.clone(),
            kind: if kind_topic { "topic" } else { "queue" },
            producers: args.producers,
            consumers: args.consumers,
            size: args.size,
            persistent: args.persistent,
            receipts: !args.no_receipts,
            ack: args.ack.as_str(),
            rate: args.rate,
            messages: args.duration.is_none().then_some(args.messages),
            duration_s: args.duration,
        },
        sent,
        received,
        distinct,
        duplicates,
        expected,
        complete: received >= expected,
        elapsed_s: secs(end - start),
        send_elapsed_s,
        receive_elapsed_s,
        sent_per_s: per_s(sent, send_elapsed_s),
        received_per_s: per_s(received, receive_elapsed_s),
        send_latency_ms: Percentiles::from_micros(&send_latency),
        receive_latency_ms: Percentiles::from_micros(&receive_latency),
    })
}
