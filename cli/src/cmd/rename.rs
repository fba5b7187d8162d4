//! `bale rename`: a container's new name.

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;

/// Rename a container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    new_name: String,
}

/// Runs `bale rename`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    containers.rename(&c, &args.new_name)?;
    Ok(ExitCode::SUCCESS)
}
