//! `classroom`: pier's demo app, one binary with a subcommand per process type.
//!
//! Students answer the teacher's question on a public web page (`web`); answers are stored by an
//! internal JSON service (`answers`); a background `worker` tallies them and a scheduled
//! `report` job prints a daily summary. This file only parses the command line, builds the
//! runtime and maps errors to exit codes (2 for configuration errors, 1 for anything else).

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Prints one plain line to stdout (pier captures and timestamps it); a closed stdout is ignored
/// rather than turned into a panic.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::write_line(&mut ::std::io::stdout().lock(), format_args!($($arg)*))
    };
}

mod answers;
mod client;
mod metrics;
mod page;
mod report;
mod serve;
mod timefmt;
mod web;
mod worker;

#[derive(Parser)]
#[command(
    version,
    about = "pier's demo app: students answer the teacher's question"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The public web app on 127.0.0.1:$PORT (talks to $ANSWERS_URL).
    Web,
    /// The internal answers JSON API on 127.0.0.1:$PORT.
    Answers,
    /// Tallies answers every $WORKER_INTERVAL seconds (metrics on $METRICS_PORT if set).
    Worker,
    /// Prints the daily report once and exits (a scheduled job).
    Report,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(cli.command)),
        Err(error) => Err(anyhow::Error::new(error).context("cannot start the tokio runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            write_line(
                &mut std::io::stderr().lock(),
                format_args!("classroom: {error:#}"),
            );
            if error.is::<ConfigError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Web => web::run().await,
        Command::Answers => answers::run().await,
        Command::Worker => worker::run().await,
        Command::Report => report::run().await,
    }
}

/// A missing or invalid environment variable: the process cannot start (exit code 2).
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Writes one line, ignoring errors: logging must never take the process down.
pub fn write_line(out: &mut impl Write, args: fmt::Arguments<'_>) {
    let _ = writeln!(out, "{args}");
}
