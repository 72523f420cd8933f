//! The `baton` command line.

use baton::bench::{self, BenchArgs};
use baton::config::{self, Config, LogFormat, KEYS};
use clap::{Arg, ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "baton",
    version,
    about = "A STOMP message broker with shared-database high availability"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a broker node.
    Serve(ServeArgs),
    /// Measure a broker's throughput and latency over STOMP.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file; environment (BATON_*) and flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

/// One flag per configuration key, generated from `config::KEYS`.
struct Overrides(Vec<(String, String)>);

impl FromArgMatches for Overrides {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Overrides(
            KEYS.iter()
                .filter_map(|k| {
                    m.get_one::<String>(k.name)
                        .map(|v| (k.name.to_string(), v.clone()))
                })
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Overrides::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for Overrides {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for k in KEYS {
            cmd = cmd.arg(
                Arg::new(k.name)
                    .long(k.flag())
                    .value_name("VALUE")
                    .help(format!("{} (env {})", k.help, k.env()))
                    .help_heading("Configuration"),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Overrides::augment_args(cmd)
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM. The handlers are installed before
/// this returns, so a signal arriving during start-up is not lost.
#[cfg(unix)]
fn stop_on_signals(token: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown requested; draining");
        token.cancel();
    });
    Ok(())
}

#[cfg(not(unix))]
fn stop_on_signals(token: CancellationToken) -> std::io::Result<()> {
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; draining");
        token.cancel();
    });
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve(args) => {
            let config =
                match config::load(args.config.as_deref(), std::env::vars(), &args.overrides.0) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("baton: {e}");
                        return ExitCode::from(2);
                    }
                };
            init_logging(&config);
            let shutdown = CancellationToken::new();
            if let Err(e) = stop_on_signals(shutdown.clone()) {
                eprintln!("baton: cannot install signal handlers: {e}");
                return ExitCode::from(1);
            }
            match baton::node::run(config, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "baton stopped");
                    eprintln!("baton: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Bench(args) => match bench::run(&args).await {
            Ok(report) => {
                if args.json {
                    println!("{}", report.json());
                } else {
                    print!("{}", report.table());
                }
                if report.complete {
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "baton bench: the consumers got {} of {} messages within --drain-timeout",
                        report.received, report.expected
                    );
                    ExitCode::from(3)
                }
            }
            Err(e) => {
                eprintln!("baton bench: {e}");
                ExitCode::from(1)
            }
        },
    }
}
