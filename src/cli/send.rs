//! `baton send`: sends one body `--count` times, pipelined, and waits for
//! every confirmation.

use super::{progress, summary, CliError, ConnArgs};
use crate::client::FailoverClient;
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Destination, e.g. /queue/orders or /topic/prices.
    #[arg(long, short = 'd')]
    pub destination: String,
    /// The body; read from --file or standard input when absent (or `-`).
    pub body: Option<String>,
    /// Read the body from this file.
    #[arg(long, conflicts_with = "body")]
    pub file: Option<PathBuf>,
    /// How many messages to send.
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    /// Persistent messages (stored before they are confirmed).
    #[arg(long)]
    pub persistent: bool,
    /// Extra header NAME=VALUE (repeatable).
    #[arg(long = "header", short = 'H', value_parser = super::parse_header)]
    pub headers: Vec<(String, String)>,
    /// Messages per second (0 = as fast as confirmations allow).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Replace `{n}` in the body and header values by the message number
    /// (1-based).
    #[arg(long)]
    pub numbered: bool,
    /// Sends on the wire awaiting confirmation.
    #[arg(long, default_value_t = 100)]
    pub in_flight: usize,
}

fn read_body(args: &SendArgs) -> Result<Bytes, CliError> {
    if let Some(path) = &args.file {
        return std::fs::read(path)
            .map(Bytes::from)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())));
    }
    match args.body.as_deref() {
        Some(b) if b != "-" => Ok(Bytes::from(b.to_string())),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        }
    }
}

/// Runs the command; returns the summary line.
pub async fn run(args: &SendArgs) -> Result<String, CliError> {
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(CliError::Usage(format!(
            "--rate must be a number of messages per second >= 0, got {}",
            args.rate
        )));
    }
    let body = read_body(args)?;
    let mut options = args.conn.options();
    options.max_in_flight = args.in_flight.max(1);
    let client = FailoverClient::connect(&args.conn.url, options).await?;
    let bar = progress(Some(args.count), "sent");
    let start = Instant::now();
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let mut confirms = FuturesOrdered::new();
    let mut confirmed = 0u64;
    for n in 1..=args.count {
        if let Some(every) = interval {
            tokio::time::sleep_until((start + every.mul_f64((n - 1) as f64)).into()).await;
        }
        let number = n.to_string();
        let fill = |s: &str| {
            if args.numbered {
                s.replace("{n}", &number)
            } else {
                s.to_string()
            }
        };
        let mut headers: Vec<(String, String)> = args
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), fill(v)))
            .collect();
        if args.persistent {
            headers.push(("persistent".into(), "true".into()));
        }
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let payload = if args.numbered {
            Bytes::from(fill(&String::from_utf8_lossy(&body)))
        } else {
            body.clone()
        };
        confirms.push_back(
            client
                .send_async(&args.destination, payload, &refs)
                .await?
                .wait(),
        );
        while confirms.len() >= args.in_flight.max(1) {
            if let Some(r) = confirms.next().await {
                r?;
                confirmed += 1;
                bar.set_position(confirmed);
            }
        }
    }
    while let Some(r) = confirms.next().await {
        r?;
        confirmed += 1;
        bar.set_position(confirmed);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let failovers = client.failovers();
    client.close().await?;
    Ok(summary("sent", confirmed, elapsed, failovers))
}
