//! `baton send` and `baton receive`: command-line producers and consumers
//! on top of the failover client.

pub mod browse;
pub mod receive;
pub mod send;

use crate::client::{ClientError, ClientOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Why a command failed; `exit_code` follows the usual convention.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or its input is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Something failed while running (exit 1).
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Incomplete(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Client(ClientError::Url(_)) => 2,
            _ => 1,
        }
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// Broker URL: tcp://host:port, stomp://host:port, stomp+ssl://host:port or
    /// failover:(tcp://h1:61613,tcp://h2:61613)?options as in ActiveMQ.
    #[arg(long, env = "BATON_URL", default_value = "tcp://127.0.0.1:61613")]
    pub url: String,
    #[arg(long, env = "BATON_LOGIN")]
    pub login: Option<String>,
    #[arg(long, env = "BATON_PASSCODE", hide_env_values = true)]
    pub passcode: Option<String>,
    /// PEM CA file that signed the broker's certificate (stomp+ssl://);
    /// without it the public web roots are trusted.
    #[arg(long, env = "BATON_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for a broker with stomp.tls_client_ca.
    #[arg(long, env = "BATON_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "BATON_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ConnArgs {
    fn options(&self) -> ClientOptions {
        ClientOptions {
            login: self.login.clone(),
            passcode: self.passcode.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            ..ClientOptions::default()
        }
    }
}

/// `k=v` from `--header`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got '{s}'")),
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(total: Option<u64>, what: &'static str) -> indicatif::ProgressBar {
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = match total {
        Some(_) => "{bar:40} {pos}/{len} {msg} ({per_sec}, eta {eta})",
        None => "{spinner} {pos} {msg} ({per_sec})",
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

/// The final line: count, time, rate and failovers survived.
fn summary(verb: &str, count: u64, elapsed: Duration, failovers: u64) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let mut line = format!("{verb} {count} messages in {secs:.2} s ({rate:.0} msg/s)");
    if failovers > 0 {
        line.push_str(&format!(", {failovers} failover(s)"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() {
        assert_eq!(parse_header("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_header("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_header("=b").is_err());
        assert!(parse_header("ab").is_err());
    }

    #[test]
    fn summary_reads_well() {
        assert_eq!(
            summary("sent", 10, Duration::from_secs(2), 0),
            "sent 10 messages in 2.00 s (5 msg/s)"
        );
        assert_eq!(
            summary("received", 1, Duration::from_secs(1), 2),
            "received 1 messages in 1.00 s (1 msg/s), 2 failover(s)"
        );
    }
}
