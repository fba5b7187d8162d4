//! `bale logs`: a container's output as kept in the store, optionally followed.

use std::io::Write;
use std::process::ExitCode;

use bale_container::{Containers, LogOptions};

use super::Globals;

/// Fetch the logs of a container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Runs `bale logs`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => anyhow::bail!("invalid value for --tail: {n:?} (a number or \"all\")"),
        },
    };
    let opts = LogOptions {
        follow: args.follow,
        tail,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    containers.logs(&c, &opts, &mut |line| {
        let text = if args.timestamps {
            format!("{} {}", line.time, line.log)
        } else {
            line.log.clone()
        };
        if line.stream == "stderr" {
            let mut e = stderr.lock();
            e.write_all(text.as_bytes())?;
            e.flush()
        } else {
            let mut o = stdout.lock();
            o.write_all(text.as_bytes())?;
            o.flush()
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
