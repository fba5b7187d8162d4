//! `bale commit`: a container's changes become a new layer on its image, with the container's
//! command, environment and working directory as the new image's config (and `--change`
//! instructions applied over it).

use std::process::ExitCode;

use bale_container::{CommitOptions, Containers};

use super::Globals;
use super::import::apply_change;

/// Create a new image from a container's changes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pause: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Name of the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// Runs `bale commit`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    let mut config = containers.commit_config(&c);
    for change in &args.changes {
        apply_change(&mut config, change)?;
    }
    let names = super::import::tag_names(args.reference.as_deref())?;
    let image = containers.commit(
        &c,
        &CommitOptions {
            author: args.author,
            message: args.message,
            config,
            pause: args.pause,
            names,
        },
    )?;
    println!("{}", image.id);
    Ok(ExitCode::SUCCESS)
}
