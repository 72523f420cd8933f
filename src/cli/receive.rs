//! `baton receive`: prints messages as raw bodies or JSON lines and
//! acknowledges each once it is written out.

use super::{progress, summary, CliError, ConnArgs};
use crate::client::{FailoverClient, Received};
use base64::Engine;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Each body followed by a newline.
    Raw,
    /// One JSON object per message: id, destination, headers, body.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ack {
    Auto,
    Client,
    ClientIndividual,
}

impl Ack {
    fn as_str(self) -> &'static str {
        match self {
            Ack::Auto => "auto",
            Ack::Client => "client",
            Ack::ClientIndividual => "client-individual",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Destination, e.g. /queue/orders or /topic/prices.
    #[arg(long, short = 'd')]
    pub destination: String,
    /// Stop after this many messages (0 = until interrupted).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Acknowledgement mode; with client modes each message is
    /// acknowledged after it was written to standard output.
    #[arg(long, value_enum, default_value = "client-individual")]
    pub ack: Ack,
    #[arg(long, value_enum, default_value = "raw")]
    pub output: Output,
    /// Stop when no message arrived for this many seconds (0 = never).
    #[arg(long, default_value_t = 0.0)]
    pub idle_timeout: f64,
    /// Unacknowledged messages the broker may send ahead.
    #[arg(long, default_value_t = 100)]
    pub prefetch: usize,
    /// Only messages this JMS selector selects, e.g. "region = 'eu'".
    #[arg(long)]
    pub selector: Option<String>,
}

/// One message as a JSON line.
fn json_line(m: &Received) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = m
        .frame
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut line = serde_json::json!({
        "message_id": m.header("message-id"),
        "destination": m.header("destination"),
        "redelivered": m.redelivered(),
        "headers": headers,
    });
    match std::str::from_utf8(m.body()) {
        Ok(text) => line["body"] = text.into(),
        Err(_) => {
            line["body_base64"] = base64::engine::general_purpose::STANDARD
                .encode(m.body())
                .into()
        }
    }
    line
}

/// Runs until `--count`, the idle timeout or `stop`; returns the summary.
pub async fn run(args: &ReceiveArgs, stop: CancellationToken) -> Result<String, CliError> {
    if !(args.idle_timeout.is_finite() && args.idle_timeout >= 0.0) {
        return Err(CliError::Usage(format!(
            "--idle-timeout must be a number of seconds >= 0, got {}",
            args.idle_timeout
        )));
    }
    let mut client = FailoverClient::connect(&args.conn.url, args.conn.options()).await?;
    let prefetch = args.prefetch.max(1).to_string();
    let mut headers = vec![("activemq.prefetchSize", prefetch.as_str())];
    if let Some(s) = &args.selector {
        headers.push(("selector", s));
    }
    client
        .subscribe(
            &args.destination,
            "baton-receive",
            args.ack.as_str(),
            &headers,
        )
        .await?;
    let bar = progress((args.count > 0).then_some(args.count), "received");
    let idle = (args.idle_timeout > 0.0).then(|| Duration::from_secs_f64(args.idle_timeout));
    let start = Instant::now();
    let mut received = 0u64;
    let mut out = std::io::stdout();
    while args.count == 0 || received < args.count {
        let next = async {
            match idle {
                Some(t) => tokio::time::timeout(t, client.next_message()).await.ok(),
                None => Some(client.next_message().await),
            }
        };
        let m = tokio::select! {
            _ = stop.cancelled() => break,
            m = next => match m {
                None => break,
                Some(None) => return Err(CliError::Incomplete("the connection ended".into())),
                Some(Some(m)) => m,
            },
        };
        match args.output {
            Output::Raw => {
                out.write_all(m.body())?;
                out.write_all(b"\n")?;
            }
            Output::Json => {
                serde_json::to_writer(&mut out, &json_line(&m)).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        if args.ack != Ack::Auto {
            client.ack(&m, false).await?;
        }
        received += 1;
        bar.set_position(received);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let failovers = client.failovers();
    client.close().await?;
    let line = summary("received", received, elapsed, failovers);
    if args.count > 0 && received < args.count && !stop.is_cancelled() {
        return Err(CliError::Incomplete(format!(
            "{line}; expected {} (idle timeout)",
            args.count
        )));
    }
    Ok(line)
}
