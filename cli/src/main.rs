//! The `bale` binary: turns arguments into library calls and results into text, nothing else.

mod cmd;
mod format;
mod output;
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
    /// Build an image from a Dockerfile
    Build(Box<cmd::build::Args>),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(cmd::builder::BuilderCommand),
    /// Create a new image from a container's changes
    Commit(cmd::commit::Args),
    /// Manage containers
    Container(cmd::container::Args),
    /// Copy files/folders between a container and the local filesystem
    Cp(cmd::cp::Args),
    /// Create a new container
    Create(cmd::run::CreateArgs),
    /// Inspect bale's internals
    #[command(subcommand)]
    Debug(cmd::debug::DebugCommand),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(cmd::diff::Args),
    /// Execute a command in a running container
    Exec(cmd::exec::Args),
    /// Export a container's filesystem as a tar archive
    Export(cmd::export::Args),
    /// Show the history of an image
    History(cmd::history::Args),
    /// Manage images
    Image(cmd::image::Args),
    /// List images
    Images(cmd::images::Args),
    /// Import the contents from a tarball to create a filesystem image
    Import(cmd::import::Args),
    /// Display detailed information on images and containers
    Inspect(cmd::inspect::Args),
    /// Kill one or more running containers
    Kill(cmd::kill::Args),
    /// Load images from a tar archive or STDIN
    Load(cmd::load::Args),
    /// Log in to a registry
    Login(cmd::login::Args),
    /// Log out from a registry
    Logout(cmd::logout::Args),
    /// Fetch the logs of a container
    Logs(cmd::logs::Args),
    /// Parse a Dockerfile and print its syntax tree
    Parse(cmd::parse::ParseArgs),
    /// Pause all processes within one or more containers
    Pause(cmd::pause::Args),
    /// List containers
    Ps(cmd::ps::Args),
    /// Download an image from a registry
    Pull(cmd::pull::Args),
    /// Upload an image to a registry
    Push(cmd::push::Args),
    /// Rename a container
    Rename(cmd::rename::Args),
    /// Restart one or more containers
    Restart(cmd::stop::Args),
    /// Remove one or more containers
    Rm(cmd::rm::Args),
    /// Remove one or more images
    Rmi(cmd::rmi::Args),
    /// Create and run a new container from an image
    Run(cmd::run::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(cmd::save::Args),
    /// Search Docker Hub (or the registry TERM names) for images
    Search(cmd::search::Args),
    /// Start one or more stopped containers
    Start(cmd::start::Args),
    /// Stop one or more running containers
    Stop(cmd::stop::Args),
    /// Manage the image store
    System(cmd::system::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(cmd::tag::Args),
    /// Display the running processes of a container
    Top(cmd::top::Args),
    /// Unpause all processes within one or more containers
    Unpause(cmd::pause::Args),
    /// Block until one or more containers stop, then print their exit codes
    Wait(cmd::wait::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.globals;
    let result = match cli.command {
        Command::Build(args) => cmd::build::run(*args, g),
        Command::Builder(c) => cmd::builder::run(c, g),
        Command::Commit(args) => cmd::commit::run(args, g),
        Command::Container(args) => cmd::container::run(args, g),
        Command::Cp(args) => cmd::cp::run(args, g),
        Command::Create(args) => cmd::run::run_create(args, g),
        Command::Debug(c) => cmd::debug::run(c).map(|()| ExitCode::SUCCESS),
        Command::Diff(args) => cmd::diff::run(args, g),
        Command::Exec(args) => cmd::exec::run(args, g),
        Command::Export(args) => cmd::export::run(args, g),
        Command::History(args) => cmd::history::run(args, g),
        Command::Image(args) => cmd::image::run(args, g),
        Command::Images(args) => cmd::images::run(args, g),
        Command::Import(args) => cmd::import::run(args, g),
        Command::Inspect(args) => cmd::inspect::run(args, g),
        Command::Kill(args) => cmd::kill::run(args, g),
        Command::Load(args) => cmd::load::run(args, g),
        Command::Login(args) => cmd::login::run(args, g),
        Command::Logout(args) => cmd::logout::run(args, g),
        Command::Logs(args) => cmd::logs::run(args, g),
        Command::Parse(args) => cmd::parse::run(args),
        Command::Pause(args) => cmd::pause::run(args, g),
        Command::Ps(args) => cmd::ps::run(args, g),
        Command::Pull(args) => cmd::pull::run(args, g),
        Command::Push(args) => cmd::push::run(args, g),
        Command::Rename(args) => cmd::rename::run(args, g),
        Command::Restart(args) => cmd::stop::run_restart(args, g),
        Command::Rm(args) => cmd::rm::run(args, g),
        Command::Rmi(args) => cmd::rmi::run(args, g),
        Command::Run(args) => cmd::run::run(args, g),
        Command::Save(args) => cmd::save::run(args, g),
        Command::Search(args) => cmd::search::run(args, g),
        Command::Start(args) => cmd::start::run(args, g),
        Command::Stop(args) => cmd::stop::run(args, g),
        Command::System(args) => cmd::system::run(args, g),
        Command::Tag(args) => cmd::tag::run(args, g),
        Command::Top(args) => cmd::top::run(args, g),
        Command::Unpause(args) => cmd::pause::run_unpause(args, g),
        Command::Wait(args) => cmd::wait::run(args, g),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
