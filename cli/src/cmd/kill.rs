//! `bale kill`: a signal (`SIGKILL` by default) to running containers.

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;
use super::batch::each;

/// Kill one or more running containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers to kill
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

/// Runs `bale kill`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let sig = bale_container::parse_signal(&args.signal)?;
    Ok(each(&containers, &args.containers, |c| {
        containers.kill(c, sig)?;
        Ok(())
    }))
}
