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
    /// Manage the image store
    System(cmd::system::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
