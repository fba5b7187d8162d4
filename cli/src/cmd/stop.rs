//! `bale stop` and `bale restart`: the container's stop signal, then `SIGKILL` after the
//! timeout; `restart` starts it again in the background.

use std::process::ExitCode;

use bale_container::{Attach, Containers};

use super::Globals;
use super::batch::each;

/// Stop one or more running containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container (its stop signal by default)
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container (its stop timeout, 10 by default)
    #[arg(short, long = "time", alias = "timeout")]
    time: Option<i64>,
    /// Containers to stop
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

fn stop(
    containers: &Containers<'_>,
    c: &bale_container::Container,
    args: &Args,
) -> anyhow::Result<()> {
    if let Some(sig) = &args.signal {
        let n = bale_container::parse_signal(sig)?;
        if containers.load(&c.id)?.state.is_running() {
            containers.kill(c, n)?;
            let wait = args.time.unwrap_or(c.config.stop_timeout).max(0) as u64;
            if containers.wait_stopped(c, std::time::Duration::from_secs(wait))? {
                return Ok(());
            }
        }
    }
    containers.stop(c, args.time)?;
    Ok(())
}

/// Runs `bale stop`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    Ok(each(&containers, &args.containers, |c| {
        stop(&containers, c, &args)
    }))
}

/// Runs `bale restart`.
pub fn run_restart(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    Ok(each(&containers, &args.containers, |c| {
        stop(&containers, c, &args)?;
        let c = containers.load(&c.id)?;
        containers.start(&c, Attach::Detached)?;
        Ok(())
    }))
}
