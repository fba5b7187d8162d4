//! `bale export`: a container's whole root filesystem as one tar, to a file or stdout.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_container::Containers;

use super::Globals;

/// Export a container's filesystem as a tar archive.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Runs `bale export`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    match &args.output {
        Some(path) => {
            let tmp = format!("{path}.tmp{}", std::process::id());
            let file = std::fs::File::create(&tmp).with_context(|| format!("creating {tmp}"))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let result = containers
                .export(&c, &mut out)
                .map_err(anyhow::Error::from)
                .and_then(|()| out.flush().context("writing the archive"));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).with_context(|| format!("renaming into {path}"))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout());
            containers.export(&c, &mut out)?;
            out.flush().context("writing the archive")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
