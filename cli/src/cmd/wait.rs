//! `bale wait`: blocks until containers stop, then prints their exit codes.

use std::process::ExitCode;
use std::time::Duration;

use bale_container::Containers;

use super::Globals;

/// Block until one or more containers stop, then print their exit codes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Containers to wait for
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

/// Runs `bale wait`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let mut failed = false;
    for name in &args.containers {
        let result = containers.get(name).and_then(|c| {
            while !containers.wait_stopped(&c, Duration::from_secs(3600))? {}
            Ok(containers.load(&c.id)?.state.exit_code)
        });
        match result {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
