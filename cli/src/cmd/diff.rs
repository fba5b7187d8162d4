//! `bale diff`: what a container changed in its image's file system, as docker's `A`, `C` and
//! `D` lines.

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;

/// Inspect changes to files or directories on a container's filesystem.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Runs `bale diff`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    for change in containers.changes(&c)? {
        println!("{} {}", change.kind.letter(), change.path);
    }
    Ok(ExitCode::SUCCESS)
}
