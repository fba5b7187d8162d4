//! `bale save`: images to one tar that docker, podman and skopeo all load.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_image::archive::save::{SaveItem, save};
use bale_image::{Reference, Store};

use super::Globals;

/// The output buffer: it gathers the small tar headers; blob chunks (larger) bypass it.
const OUTPUT_BUFFER: usize = 64 << 10;

/// Save one or more images to a tar archive (streamed to STDOUT by default)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Images to save (name, name:tag, or ID); a name without tag saves every tag of it
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// Runs `bale save`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let store = globals.store()?;
    let items = select(&store, &args.images)?;
    match &args.output {
        None => {
            // Straight to the descriptor: stdout's own line buffering would look for newlines
            // in every chunk of the blobs and copy them once more.
            let stdout = std::os::fd::AsFd::as_fd(&io::stdout())
                .try_clone_to_owned()
                .context("opening stdout")?;
            let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, File::from(stdout));
            save(&store, &items, &mut out)?;
            out.flush().context("writing the archive to stdout")?;
        }
        Some(path) => {
            // Written beside the destination and renamed, so the file is whole or absent.
            let name = path
                .file_name()
                .with_context(|| format!("invalid output file {}", path.display()))?;
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".tmp-{}", std::process::id()));
            let temp = path.with_file_name(temp_name);
            let result = (|| -> anyhow::Result<()> {
                let file = File::create(&temp).with_context(|| {
                    format!("failed to save image: creating {}", temp.display())
                })?;
                let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, file);
                save(&store, &items, &mut out)?;
                // Not fsynced, as docker does not: the rename keeps a failed or concurrent
                // save from leaving half an archive under the name, and an fsync would make
                // every save wait for the disk.
                out.into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("writing {}", temp.display()))?;
                fs::rename(&temp, path).with_context(|| {
                    format!("renaming {} to {}", temp.display(), path.display())
                })?;
                Ok(())
            })();
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            result?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The images the arguments name, each once, with the names to record for it.
fn select(store: &Store, args: &[String]) -> anyhow::Result<Vec<SaveItem>> {
    let mut items: Vec<SaveItem> = Vec::new();
    let mut add = |item: SaveItem| match items.iter_mut().find(|i| i.image.id == item.image.id) {
        Some(known) => {
            for n in item.names {
                if !known.names.contains(&n) {
                    known.names.push(n);
                }
            }
        }
        None => items.push(item),
    };
    for arg in args {
        // A bare repository name saves every tag of that repository, as docker does.
        if let Ok(r) = Reference::parse(arg)
            && r.tag().is_none()
            && r.digest().is_none()
        {
            let repo = r.repository();
            let mut found = false;
            for image in store.images()? {
                let names: Vec<Reference> = image
                    .names
                    .iter()
                    .filter(|n| n.repository() == repo)
                    .cloned()
                    .collect();
                if !names.is_empty() {
                    found = true;
                    add(SaveItem { image, names });
                }
            }
            if found {
                continue;
            }
        }
        let image = store.resolve(arg)?;
        let names = Reference::parse_tagged(arg)
            .ok()
            .filter(|r| image.names.contains(r))
            .into_iter()
            .collect();
        add(SaveItem { image, names });
    }
    Ok(items)
}
