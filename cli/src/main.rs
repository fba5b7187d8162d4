//! The `bale` binary: turns arguments into library calls and results into text, nothing else.

use std::process::ExitCode;

use clap::Parser;

/// A daemonless Dockerfile build engine and image manager.
#[derive(Parser, Debug)]
#[command(name = "bale", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
