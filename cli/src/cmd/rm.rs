//! `bale rm` / `bale container rm`: removes containers (`-f` kills a running one first, `-v`
//! removes its anonymous volumes).

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;
use super::batch::each;

/// Remove one or more containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Containers to remove
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

/// Runs `bale rm`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let code = each(&containers, &args.containers, |c| {
        let now = containers.load(&c.id)?;
        if now.state.is_running() {
            if !args.force {
                anyhow::bail!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.config.name
                );
            }
            containers.kill(c, bale_container::parse_signal("KILL")?)?;
            if !containers.wait_stopped(c, std::time::Duration::from_secs(30))? {
                anyhow::bail!(
                    "could not kill container \"/{}\": it is still running after 30 seconds",
                    c.config.name
                );
            }
        }
        containers.remove(c, args.volumes)?;
        Ok(())
    });
    bale_container::prune_rootfs_caches(&store)?;
    Ok(code)
}
