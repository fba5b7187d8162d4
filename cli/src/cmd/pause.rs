//! `bale pause` and `bale unpause`: every process of a container stopped and resumed.

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;
use super::batch::each;

/// Pause (or unpause) all processes within one or more containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Containers to pause or unpause
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

/// Runs `bale pause`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    Ok(each(&containers, &args.containers, |c| {
        containers.pause(c)?;
        Ok(())
    }))
}

/// Runs `bale unpause`.
pub fn run_unpause(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    Ok(each(&containers, &args.containers, |c| {
        containers.unpause(c)?;
        Ok(())
    }))
}
