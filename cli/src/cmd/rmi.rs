//! `bale rmi` / `bale image rm`: untag and delete images with docker's rules (a name removes
//! that name, the image goes with its last name; an ID removes every name, but only with `-f`
//! when they span several repositories) and docker's `Untagged:` / `Deleted:` lines.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::bail;
use bale_image::{Digest, Image, Reference, Store};

use super::Globals;

/// Remove one or more images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (the image's blobs stay until `image prune`)
    #[arg(long)]
    no_prune: bool,
    /// Images to remove, by name, ID or unique ID prefix
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// A container that uses an image, which `rmi` refuses to remove from under it.
pub struct ContainerUse {
    /// The container's ID.
    pub id: String,
    /// Whether it is running (a running container's image cannot be removed even with `-f`).
    pub running: bool,
}

/// The containers using `image`: the one place `rmi` and `prune` learn of them. A store whose
/// containers cannot be read counts as having none (the image commands still work).
pub fn containers_using(store: &Store, image_id: &Digest) -> Vec<ContainerUse> {
    let id = image_id.to_string();
    bale_container::Containers::open(store)
        .and_then(|cs| cs.list())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.config.image_id == id)
        .map(|c| ContainerUse {
            running: c.state.is_running(),
            id: c.id,
        })
        .collect()
}

/// Whether `name` designates `image` itself (an ID, an ID prefix, or a `repo@digest`
/// reference, which the store keeps as no name of its own) rather than one of its tags; such a
/// removal takes every tag with it.
fn names_by_id(image: &Image, name: &str) -> bool {
    if Reference::parse(name).is_ok_and(|r| r.digest().is_some()) {
        return true;
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    !hex.is_empty()
        && (image.id.hex().starts_with(hex) || image.manifest_digest.hex() == hex)
        && !image.names.iter().any(|n| n.familiar() == name)
}

/// Removes `name` as docker's daemon does, returning the output lines.
fn remove(store: &Store, name: &str, force: bool) -> anyhow::Result<Vec<String>> {
    let image = store.resolve(name)?;
    let short = image.id.short().to_string();
    let users = containers_using(store, &image.id);
    let mut lines = Vec::new();
    if !names_by_id(&image, name) {
        let reference = Reference::parse_tagged(name)?;
        if let Some(c) = users.iter().find(|c| c.running || !force)
            && image.names.len() == 1
        {
            bail!(
                "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {short}",
                &c.id[..c.id.len().min(12)]
            );
        }
        let named = image
            .names
            .iter()
            .find(|n| n.familiar() == reference.familiar());
        if let Some(n) = named {
            store.untag(n)?;
            lines.push(format!("Untagged: {}", n.familiar()));
            if image.names.len() > 1 {
                return Ok(lines);
            }
        }
        if !users.is_empty() {
            // The image stays, dangling, for its containers.
            return Ok(lines);
        }
    } else {
        if let Some(c) = users.iter().find(|c| c.running || !force) {
            let (how, state) = if c.running {
                ("cannot be forced", "running")
            } else {
                ("must be forced", "stopped")
            };
            bail!(
                "conflict: unable to delete {short} ({how}) - image is being used by {state} container {}",
                &c.id[..c.id.len().min(12)]
            );
        }
        let repos: BTreeSet<String> = image.names.iter().map(|n| n.repository()).collect();
        if repos.len() > 1 && !force {
            bail!(
                "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
            );
        }
    }
    // Every manifest with this config is the same image to docker.
    for other in store.images()?.into_iter().filter(|i| i.id == image.id) {
        for n in store.remove_image(&other.manifest_digest)? {
            lines.push(format!("Untagged: {}", n.familiar()));
        }
    }
    lines.push(format!("Deleted: {}", image.id));
    Ok(lines)
}

/// Runs `bale rmi`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let mut failed = false;
    let mut deleted = false;
    for name in &args.images {
        match remove(&store, name, args.force) {
            Ok(lines) => {
                for l in &lines {
                    println!("{l}");
                }
                deleted |= lines.iter().any(|l| l.starts_with("Deleted:"));
            }
            Err(e) => {
                let text = format!("{e:#}");
                if text.starts_with("conflict: unable to remove repository reference") {
                    eprintln!("Error response from daemon: {text}");
                } else {
                    eprintln!("Error: {text}");
                }
                failed = true;
            }
        }
    }
    if deleted && !args.no_prune {
        store.gc(true)?;
    }
    if deleted {
        bale_container::prune_rootfs_caches(&store)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
