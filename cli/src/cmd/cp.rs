//! `bale cp`: files between a container and the host, with docker's archive semantics.

use std::process::ExitCode;

use anyhow::bail;
use bale_container::{Containers, CopyDirection};

use super::Globals;

/// Copy files/folders between a container and the local filesystem.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy (bale prints none)
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or a host path (or - for a tar on STDIN)
    #[arg(value_name = "SRC")]
    src: String,
    /// CONTAINER:DEST_PATH or a host path (or - for a tar on STDOUT)
    #[arg(value_name = "DEST")]
    dest: String,
}

/// `CONTAINER:PATH` split, when the argument names a container (a path with `/` before the
/// first `:` is a host path, as docker reads it).
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// Runs `bale cp`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let (name, direction) = match (split(&args.src), split(&args.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, p)), None) => (
            c,
            CopyDirection::FromContainer {
                src: if p.is_empty() { "/".into() } else { p.into() },
                dest: args.dest.clone(),
            },
        ),
        (None, Some((c, p))) => (
            c,
            CopyDirection::ToContainer {
                src: args.src.clone(),
                dest: if p.is_empty() { "/".into() } else { p.into() },
            },
        ),
    };
    let c = containers.get(name)?;
    containers.copy(&c, &direction, args.follow_link, args.archive)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_host_paths() {
        assert_eq!(split("web:/etc/passwd"), Some(("web", "/etc/passwd")));
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("./x:y"), None);
        assert_eq!(split("file.txt"), None);
        assert_eq!(split("a/b:c"), None);
    }
}
