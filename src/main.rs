//! The `baton` command line.

use baton::bench::{self, BenchArgs};
use baton::cli::browse::{self, BrowseArgs};
use baton::cli::receive::{self, ReceiveArgs};
use baton::cli::send::{self, SendArgs};
use baton::cli::CliError;
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
    /// Send messages (through failover URLs, confirmed by the broker).
    Send(SendArgs),
    /// Receive messages and print them (raw bodies or JSON lines).
    Receive(ReceiveArgs),
    /// List a queue's messages through the admin API, consuming nothing.
    Browse(BrowseArgs),
    /// Read a password from stdin and print its argon2 hash for
    /// `[[auth.users]] password_hash`.
    HashPassword,
    /// Print a new random bearer token and the `[[auth.tokens]]` entry that
    /// accepts it.
    NewToken {
        /// The user the token acts as.
        #[arg(long)]
        user: String,
    },
    /// Check a configuration (file, environment, flags) as `serve` would, without starting.
    CheckConfig(ServeArgs),
    /// Translate an ActiveMQ Classic activemq.xml into Baton TOML (stdout; warnings on stderr).
    ImportActivemq {
        /// The ActiveMQ XML configuration file.
        file: PathBuf,
        /// Java properties file with values for ${...} placeholders, e.g. conf/credentials.properties (repeatable).
        #[arg(long, value_name = "FILE")]
        properties: Vec<PathBuf>,
        /// A placeholder value (repeatable; wins over --properties).
        #[arg(short = 'D', value_name = "NAME=VALUE")]
        define: Vec<String>,
    },
}

/// Reads the password (first line of stdin) and prints its hash.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("baton hash-password: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("baton hash-password: the password on stdin is empty");
        return ExitCode::from(2);
    }
    match baton::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("baton hash-password: {e}");
            ExitCode::from(1)
        }
    }
}

fn new_token(user: &str) -> ExitCode {
    let token = baton::auth::random_hex(32);
    println!("{token}");
    println!();
    println!("# add to the configuration file (the token itself is not stored):");
    println!("[[auth.tokens]]");
    println!("user = {}", toml::Value::String(user.to_string()));
    println!("sha256 = \"{}\"", baton::auth::sha256_hex(&token));
    ExitCode::SUCCESS
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

/// Client commands log failovers and trouble on stderr (`RUST_LOG`
/// overrides the level).
fn init_cli_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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

/// Prints a command's summary (or error) on stderr and picks the exit code.
fn finish(command: &str, result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("baton {command}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
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
            for note in &config.notes {
                tracing::warn!("{note}");
            }
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
        Cmd::Browse(args) => {
            let result = tokio::task::spawn_blocking(move || browse::run(&args))
                .await
                .unwrap_or_else(|e| Err(CliError::Incomplete(format!("browse failed: {e}"))));
            finish("browse", result)
        }
        Cmd::Send(args) => {
            init_cli_logging();
            finish("send", send::run(&args).await)
        }
        Cmd::Receive(args) => {
            init_cli_logging();
            let stop = CancellationToken::new();
            if let Err(e) = stop_on_signals(stop.clone()) {
                eprintln!("baton: cannot install signal handlers: {e}");
                return ExitCode::from(1);
            }
            finish("receive", receive::run(&args, stop).await)
        }
        Cmd::HashPassword => hash_password(),
        Cmd::NewToken { user } => new_token(&user),
        Cmd::CheckConfig(args) => {
            match config::load(args.config.as_deref(), std::env::vars(), &args.overrides.0) {
                Ok(c) => {
                    c.notes.iter().for_each(|n| eprintln!("warning: {n}"));
                    println!("configuration OK");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("baton: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::ImportActivemq {
            file,
            properties,
            define,
        } => match baton::import::Placeholders::load(&properties, &define)
            .and_then(|p| baton::import::translate_file(&file, &p))
        {
            Ok(t) => {
                t.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
                print!("{}", t.toml);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("baton import-activemq: {e}");
                ExitCode::from(2)
            }
        },
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
