//! `baton bench`: a load generator speaking STOMP to any broker (Baton or
//! the ActiveMQ baseline), reporting throughput and latency.

use crate::client::{Client, ClientError};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// STOMP address of the broker.
    #[arg(long, default_value = "127.0.0.1:61613")]
    pub addr: String,
    #[arg(long, default_value = "/queue/bench")]
    pub destination: String,
    /// Producers, each waiting for the RECEIPT of every message.
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    /// Consumers with client-individual acks, running during the sends.
    #[arg(long, default_value_t = 0)]
    pub consumers: usize,
    /// Messages in total over all producers.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Send with `persistent:true`.
    #[arg(long)]
    pub persistent: bool,
    /// Optional login for brokers that require one.
    #[arg(long)]
    pub login: Option<String>,
    #[arg(long)]
    pub passcode: Option<String>,
}

/// What one run measured.
#[derive(Debug)]
pub struct Report {
    pub sent: u64,
    pub received: u64,
    pub elapsed: Duration,
    pub send_latency: Histogram<u64>,
}

impl Report {
    pub fn print(&self, args: &BenchArgs) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let pct = |q: f64| self.send_latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "producers={} consumers={} persistent={} size={}B messages={}",
            args.producers, args.consumers, args.persistent, args.size, self.sent
        );
        println!(
            "elapsed {:.3} s, sent {:.0} msg/s, received {:.0} msg/s",
            secs,
            self.sent as f64 / secs,
            self.received as f64 / secs
        );
        println!(
            "send latency ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            pct(0.5),
            pct(0.99),
            pct(0.999),
            self.send_latency.max() as f64 / 1000.0
        );
    }
}

async fn connect(args: &BenchArgs) -> Result<Client, ClientError> {
    let mut headers = Vec::new();
    if let Some(l) = &args.login {
        headers.push(("login", l.as_str()));
    }
    if let Some(p) = &args.passcode {
        headers.push(("passcode", p.as_str()));
    }
    Client::connect_with(&args.addr, &headers).await
}

/// Runs the benchmark once.
pub async fn run(args: &BenchArgs) -> Result<Report, ClientError> {
    let producers = args.producers.max(1) as u64;
    let body = bytes::Bytes::from(vec![b'x'; args.size]);
    let received = Arc::new(AtomicU64::new(0));
    let done = CancellationToken::new();

    let mut consumers = Vec::new();
    for i in 0..args.consumers {
        let mut c = connect(args).await?;
        c.subscribe(
            &args.destination,
            &format!("bench-{i}"),
            "client-individual",
            &[],
        )
        .await?;
        let (received, done) = (received.clone(), done.clone());
        consumers.push(tokio::spawn(async move {
            loop {
                let m = tokio::select! {
                    _ = done.cancelled() => return Ok::<(), ClientError>(()),
                    m = c.next_message() => m?,
                };
                c.ack(&m, false).await?;
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let n = args.messages / producers + u64::from(p < args.messages % producers);
        let mut c = connect(args).await?;
        let (dest, body, persistent) = (args.destination.clone(), body.clone(), args.persistent);
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new(3).map_err(|e| ClientError::Unexpected(e.to_string()))?;
            let headers: &[(&str, &str)] = if persistent {
                &[("persistent", "true")]
            } else {
                &[]
            };
            for _ in 0..n {
                let t = Instant::now();
                c.send(&dest, body.clone(), headers).await?;
                let _ = hist.record(t.elapsed().as_micros() as u64);
            }
            c.disconnect().await?;
            Ok::<_, ClientError>(hist)
        }));
    }
    let mut send_latency =
        Histogram::<u64>::new(3).map_err(|e| ClientError::Unexpected(e.to_string()))?;
    for t in tasks {
        let h = t
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))??;
        let _ = send_latency.add(h);
    }
    if args.consumers > 0 {
        while received.load(Ordering::Relaxed) < args.messages {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let elapsed = start.elapsed();
    done.cancel();
    for c in consumers {
        let _ = c.await;
    }
    Ok(Report {
        sent: args.messages,
        received: received.load(Ordering::Relaxed),
        elapsed,
        send_latency,
    })
}
