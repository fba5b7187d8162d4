//! What the container commands that take several names share: each name is acted on in turn,
//! printed on success, and its error printed as docker's daemon words it; the command fails if
//! any did.

use std::process::ExitCode;

use bale_container::{Container, Containers};

/// Runs `op` on each container named, printing the name as given when it succeeds.
pub fn each(
    containers: &Containers<'_>,
    names: &[String],
    mut op: impl FnMut(&Container) -> anyhow::Result<()>,
) -> ExitCode {
    let mut failed = false;
    for name in names {
        let result = containers
            .get(name)
            .map_err(anyhow::Error::from)
            .and_then(|c| op(&c));
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
