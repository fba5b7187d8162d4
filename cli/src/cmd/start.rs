//! `bale start`: starts stopped containers, in the background or attached (`-a`).

use std::process::ExitCode;

use anyhow::bail;
use bale_container::{Attach, Containers};

use super::Globals;
use super::batch::each;

/// Start one or more stopped containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals (exit with the container's code)
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Containers to start
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

/// Runs `bale start`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = containers.get(&args.containers[0])?;
        let outcome = containers.start(
            &c,
            Attach::Foreground {
                stdin: args.interactive,
            },
        )?;
        let Some(outcome) = outcome else {
            return Ok(ExitCode::SUCCESS);
        };
        if let Some(err) = &outcome.error {
            eprintln!("Error response from daemon: {err}");
        }
        return Ok(ExitCode::from(outcome.exit_code.clamp(0, 255) as u8));
    }
    Ok(each(&containers, &args.containers, |c| {
        containers.start(c, Attach::Detached)?;
        Ok(())
    }))
}
