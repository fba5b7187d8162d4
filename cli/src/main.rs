//! The `bale` binary: turns arguments into library calls and results into text, nothing else.

mod cmd;

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
    /// Import the contents from a tarball to create a filesystem image
    Import(cmd::import::Args),
    /// Load images from a tar archive or STDIN
    Load(cmd::load::Args),
    /// Log in to a registry
    Login(cmd::login::Args),
    /// Log out from a registry
    Logout(cmd::logout::Args),
    /// Download an image from a registry
    Pull(cmd::pull::Args),
    /// Upload an image to a registry
    Push(cmd::push::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(cmd::save::Args),
    /// Search Docker Hub (or the registry TERM names) for images
    Search(cmd::search::Args),
    /// Manage the image store
    System(cmd::system::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(args) => cmd::import::run(args, &cli.globals),
        Command::Load(args) => cmd::load::run(args, &cli.globals),
        Command::Save(args) => cmd::save::run(args, &cli.globals),
        Command::Login(args) => cmd::login::run(args, &cli.globals),
        Command::Logout(args) => cmd::logout::run(args, &cli.globals),
        Command::Pull(args) => cmd::pull::run(args, &cli.globals),
        Command::Push(args) => cmd::push::run(args, &cli.globals),
        Command::Search(args) => cmd::search::run(args, &cli.globals),
        Command::System(args) => cmd::system::run(args, &cli.globals),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
