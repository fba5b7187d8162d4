//! `bale container ...`: the container commands under their management-command names, as
//! docker's `docker container ls|run|rm|prune|...`, and `container prune`.

use std::process::ExitCode;
use std::time::SystemTime;

use bale_container::Containers;

use super::filter::{Filters, parse_timestamp};
use super::prune::confirm;
use super::units::human_size;
use super::{
    Globals, commit, cp, diff, exec, export, inspect, kill, logs, pause, ps, rename, rm, run,
    start, stop, top, wait,
};

/// Manage containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: ContainerCommand,
}

/// Remove all stopped containers.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (until=TIMESTAMP, label=KEY[=VALUE])
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Subcommand, Debug)]
enum ContainerCommand {
    /// Create a new image from a container's changes
    Commit(commit::Args),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::Args),
    /// Create a new container
    Create(run::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::Args),
    /// Execute a command in a running container
    Exec(exec::Args),
    /// Export a container's filesystem as a tar archive
    Export(export::Args),
    /// Display detailed information on one or more containers
    Inspect(inspect::Args),
    /// Kill one or more running containers
    Kill(kill::Args),
    /// Fetch the logs of a container
    Logs(logs::Args),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(ps::Args),
    /// Pause all processes within one or more containers
    Pause(pause::Args),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Rename a container
    Rename(rename::Args),
    /// Restart one or more containers
    Restart(stop::Args),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(rm::Args),
    /// Create and run a new container from an image
    Run(run::Args),
    /// Start one or more stopped containers
    Start(start::Args),
    /// Stop one or more running containers
    Stop(stop::Args),
    /// Display the running processes of a container
    Top(top::Args),
    /// Unpause all processes within one or more containers
    Unpause(pause::Args),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::Args),
}

/// Runs `bale container ...`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    match args.command {
        ContainerCommand::Commit(a) => commit::run(a, globals),
        ContainerCommand::Cp(a) => cp::run(a, globals),
        ContainerCommand::Create(a) => run::run_create(a, globals),
        ContainerCommand::Diff(a) => diff::run(a, globals),
        ContainerCommand::Exec(a) => exec::run(a, globals),
        ContainerCommand::Export(a) => export::run(a, globals),
        ContainerCommand::Inspect(a) => inspect::run_container(a, globals),
        ContainerCommand::Kill(a) => kill::run(a, globals),
        ContainerCommand::Logs(a) => logs::run(a, globals),
        ContainerCommand::Ls(a) => ps::run(a, globals),
        ContainerCommand::Pause(a) => pause::run(a, globals),
        ContainerCommand::Prune(a) => prune(a, globals),
        ContainerCommand::Rename(a) => rename::run(a, globals),
        ContainerCommand::Restart(a) => stop::run_restart(a, globals),
        ContainerCommand::Rm(a) => rm::run(a, globals),
        ContainerCommand::Run(a) => run::run(a, globals),
        ContainerCommand::Start(a) => start::run(a, globals),
        ContainerCommand::Stop(a) => stop::run(a, globals),
        ContainerCommand::Top(a) => top::run(a, globals),
        ContainerCommand::Unpause(a) => pause::run_unpause(a, globals),
        ContainerCommand::Wait(a) => wait::run(a, globals),
    }
}

/// `container prune`: every stopped container goes (with its anonymous volumes kept, as
/// docker keeps them), `Deleted Containers:` and `Total reclaimed space:`.
fn prune(args: PruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until", "label"])?;
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(ExitCode::SUCCESS);
    }
    let store = globals.store()?;
    let reclaimed = prune_stopped(&store, &filters)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

/// Removes every stopped container that `filters` (`until=`, `label=`) select, prints docker's
/// `Deleted Containers:` block when any went, and returns the space their changes took. Used
/// by `container prune` and `system prune`.
pub fn prune_stopped(store: &bale_image::Store, filters: &Filters) -> anyhow::Result<u64> {
    let now = SystemTime::now();
    let mut until = Vec::new();
    for u in filters.get("until") {
        until.push(parse_timestamp(u, now)?);
    }
    let containers = Containers::open(store)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for c in containers.list()? {
        let created = bale_image::time::parse_rfc3339(&c.config.created);
        if c.state.is_running()
            || !filters.labels_match("label", Some(&c.config.labels))
            || until.iter().any(|u| created.is_none_or(|t| t >= *u))
        {
            continue;
        }
        let size = bale_container::rootfs_size_of(&c);
        match containers.remove(&c, false) {
            Ok(()) => {
                reclaimed += size;
                deleted.push(c.id);
            }
            // Started or removed meanwhile.
            Err(_) => continue,
        }
    }
    bale_container::prune_rootfs_caches(store)?;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    Ok(reclaimed)
}
