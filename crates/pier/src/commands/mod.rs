//! One module per CLI command. Client commands are thin: they validate their arguments, call
//! the daemon's control API, and print tables or JSON.

mod check;
mod down;
mod events;
mod init;
mod jobs;
mod logs;
mod maintenance;
mod metrics;
mod ps;
mod query;
mod releases;
mod restart;
mod route;
mod run;
mod scale;
mod stage;

use crate::cli::{Cli, Command};
use crate::client::Client;

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => crate::daemon::up(args),
        Command::Check { dir } => check::run(dir.as_deref()),
        Command::Init { dir, force } => init::run(dir.as_deref(), force),
        command => client_command(cli.target.api.as_deref(), cli.target.stage, command),
    }
}

fn client_command(
    api: Option<&str>,
    stage: Option<String>,
    command: Command,
) -> anyhow::Result<()> {
    // Validate arguments before anything touches the network.
    if let Some(name) = &stage {
        stage::check_name(name)?;
        if !stage_applies(&command) {
            return Err(crate::exit::Exit::invalid(
                "--stage applies to ps, logs, scale, restart, events, releases, rollback, config \
                 and run; `pier stage` manages the stages themselves",
            ));
        }
    }
    if let Command::Stage {
        name: Some(name), ..
    } = &command
    {
        stage::check_name(name)?;
    }
    if let Command::Scale { changes, .. } = &command {
        scale::parse_changes(changes)?;
    }
    if let Command::Config {
        command: Some(crate::cli::ConfigCommand::Set { pairs }),
        ..
    } = &command
    {
        releases::parse_pairs(pairs)?;
    }
    let client = match &command {
        // `pier deploy DIR` talks to the daemon of DIR.
        Command::Deploy { dir: Some(dir), .. } if api.is_none() => Client::for_dir(dir)?,
        _ => Client::new(api)?,
    }
    .with_stage(stage);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Ps { json } => ps::run(&client, json).await,
            Command::Logs {
                name,
                follow,
                lines,
                json,
            } => logs::run(&client, name, follow, lines, json).await,
            Command::Scale { changes, json } => scale::run(&client, &changes, json).await,
            Command::Restart { target } => restart::run(&client, target).await,
            Command::Events { name, lines, json } => events::run(&client, name, lines, json).await,
            Command::Down => down::run(&client).await,
            Command::Deploy { abort: true, .. } => releases::abort(&client).await,
            Command::Deploy {
                dir,
                dirty,
                description,
                canary,
                abort: false,
            } => {
                let canary = canary.as_deref().map(releases::parse_percent).transpose()?;
                releases::deploy(&client, dir.as_deref(), dirty, description, canary).await
            }
            Command::Promote => releases::promote(&client).await,
            Command::Releases { log, json } => releases::releases(&client, log, json).await,
            Command::Rollback { version } => releases::rollback(&client, version).await,
            Command::Config { command, json } => releases::config(&client, command, json).await,
            Command::Run { service, command } => {
                let code = run::run(&client, service, command).await?;
                if code != 0 {
                    return Err(crate::exit::Exit::silent(code));
                }
                Ok(())
            }
            Command::Stage { command, name, dir } => {
                stage::run(&client, command, name, dir.as_deref()).await
            }
            Command::Maintenance { switch } => maintenance::run(&client, switch).await,
            Command::Route { command } => route::run(&client, command).await,
            Command::Jobs { command, json } => jobs::run(&client, command, json).await,
            Command::Targets { json } => metrics::targets(&client, json).await,
            Command::Metrics { command } => metrics::run(&client, command).await,
            Command::Query {
                expr,
                at,
                range,
                step,
                end,
                json,
            } => {
                let args = query::QueryArgs {
                    expr,
                    at,
                    range,
                    step,
                    end,
                    json,
                };
                query::run(&client, args).await
            }
            Command::Up(_) | Command::Check { .. } | Command::Init { .. } => Ok(()),
        }
    })
}

/// The commands `--stage NAME` can act on: those a stage has its own data for.
fn stage_applies(command: &Command) -> bool {
    matches!(
        command,
        Command::Ps { .. }
            | Command::Logs { .. }
            | Command::Scale { .. }
            | Command::Restart { .. }
            | Command::Events { .. }
            | Command::Releases { .. }
            | Command::Rollback { .. }
            | Command::Config { .. }
            | Command::Run { .. }
    )
}
