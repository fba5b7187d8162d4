//! `bale load`: images from a docker or OCI archive, plain or compressed.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_image::archive::load::{load, load_dir};

use super::Globals;

/// Load images from a tar archive or STDIN (docker archive, OCI layout or OCI archive;
/// plain, gzip, bzip2, xz or zstd), or from an OCI layout directory
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read from tar archive file (or an OCI layout directory), instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load progress output (bale prints none; the "Loaded image" lines stay, as
    /// in docker)
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `bale load`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let input: Box<dyn Read> = match &args.input {
        Some(path) if path.is_dir() => {
            let store = globals.store()?;
            let loaded = load_dir(&store, path)?;
            report(&loaded);
            return Ok(ExitCode::SUCCESS);
        }
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("opening {}", path.display()))?)
        }
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(io::stdin().lock())
        }
    };
    let store = globals.store()?;
    let loaded = load(&store, BufReader::with_capacity(1 << 20, input))?;
    report(&loaded);
    // Docker's --quiet silences only the progress bars; the result lines always print.
    let _ = args.quiet;
    Ok(ExitCode::SUCCESS)
}

/// Prints docker's lines for what a load did.
fn report(loaded: &bale_image::archive::load::Loaded) {
    for (name, old) in &loaded.moved {
        println!(
            "The image {} already exists, renaming the old one with ID {old} to empty string",
            name.familiar()
        );
    }
    for image in &loaded.images {
        if image.names.is_empty() {
            println!("Loaded image ID: {}", image.image.id);
        }
        for name in &image.names {
            println!("Loaded image: {}", name.familiar());
        }
    }
}
