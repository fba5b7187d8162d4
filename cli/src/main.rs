//! The `bale` binary: turns arguments into library calls and results into text, nothing else.

mod cmd;
mod format;
/// Build outputs (`-o/--output`), used by the build command.
#[allow(dead_code)]
mod output;
/// Build progress renderers (`--progress`), used by the build command.
#[allow(dead_code)]
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// A daemonless Dockerfile build engine and image manager.
#[derive(Parser, Debug)]
#[command(name = "bale", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    globals: cmd::Globals,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Inspect bale's internals
    #[command(subcommand)]
    Debug(cmd::debug::DebugCommand),
    /// Show the history of an image
    History(cmd::history::Args),
    /// Manage images
    Image(cmd::image::Args),
    /// List images
    Images(cmd::images::Args),
    /// Import the contents from a tarball to create a filesystem image
    Import(cmd::import::Args),
    /// Display detailed information on images
    Inspect(cmd::inspect::Args),
    /// Load images from a tar archive or STDIN
    Load(cmd::load::Args),
    /// Log in to a registry
    Login(cmd::login::Args),
    /// Log out from a registry
    Logout(cmd::logout::Args),
    /// Parse a Dockerfile and print its syntax tree
    Parse(cmd::parse::ParseArgs),
    /// Download an image from a registry
    Pull(cmd::pull::Args),
    /// Upload an image to a registry
    Push(cmd::push::Args),
    /// Remove one or more images
    Rmi(cmd::rmi::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(cmd::save::Args),
    /// Search Docker Hub (or the registry TERM names) for images
    Search(cmd::search::Args),
    /// Manage the image store
    System(cmd::system::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(cmd::tag::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.globals;
    let result = match cli.command {
        Command::Debug(c) => cmd::debug::run(c).map(|()| ExitCode::SUCCESS),
        Command::History(args) => cmd::history::run(args, g),
        Command::Image(args) => cmd::image::run(args, g),
        Command::Images(args) => cmd::images::run(args, g),
        Command::Import(args) => cmd::import::run(args, g),
        Command::Inspect(args) => cmd::inspect::run(args, g),
        Command::Load(args) => cmd::load::run(args, g),
        Command::Login(args) => cmd::login::run(args, g),
        Command::Logout(args) => cmd::logout::run(args, g),
        Command::Parse(args) => cmd::parse::run(args),
        Command::Pull(args) => cmd::pull::run(args, g),
        Command::Push(args) => cmd::push::run(args, g),
        Command::Rmi(args) => cmd::rmi::run(args, g),
        Command::Save(args) => cmd::save::run(args, g),
        Command::Search(args) => cmd::search::run(args, g),
        Command::System(args) => cmd::system::run(args, g),
        Command::Tag(args) => cmd::tag::run(args, g),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
