//! The `pier` binary: the command-line interface and the daemon's wiring, nothing else.
//! Subsystems live in their crates; this crate parses arguments, starts them with their
//! inputs, and maps every failure to an exit code scripts can trust (see [`exit`]).

mod allocator;
mod cli;
mod client;
mod commands;
mod console;
mod daemon;
mod exit;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The shim runs before anything else: no runtime, no logging, no argument parsing.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == pier_supervisor::shim::SUBCOMMAND)
    {
        let command = args
            .iter()
            .skip(2)
            .skip_while(|a| *a != "--")
            .skip(1)
            .cloned();
        let code = pier_supervisor::shim::run(&command.collect::<Vec<_>>());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let cli = cli::Cli::parse();
    exit::report(commands::dispatch(cli))
}
