//! `bale image ...`: the image commands under their management-command names, as docker's
//! `docker image ls|inspect|rm|tag|history|prune`.

use std::process::ExitCode;

use super::{Globals, history, images, inspect, prune, rmi, tag};

/// Manage images.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ImageCommand {
    /// Show the history of an image
    History(history::Args),
    /// Display detailed information on one or more images
    Inspect(inspect::Args),
    /// List images
    #[command(visible_alias = "list")]
    Ls(images::Args),
    /// Remove unused images
    Prune(prune::Args),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(rmi::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::Args),
}

/// Runs `bale image ...`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    match args.command {
        ImageCommand::History(a) => history::run(a, globals),
        ImageCommand::Inspect(a) => inspect::run(a, globals),
        ImageCommand::Ls(a) => images::run(a, globals),
        ImageCommand::Prune(a) => prune::run_image(a, globals),
        ImageCommand::Rm(a) => rmi::run(a, globals),
        ImageCommand::Tag(a) => tag::run(a, globals),
    }
}
