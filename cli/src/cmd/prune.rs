//! `bale image prune` and `bale system prune`: docker's confirmation prompt, the images they
//! remove (dangling ones, or with `-a` every image no container uses), `Deleted Images:` and
//! `Total reclaimed space:`.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use bale_image::Store;

use super::Globals;
use super::filter::{Filters, parse_timestamp};
use super::images::list;
use super::rmi::containers_using;
use super::units::human_size;

/// Remove unused images (and, for `system prune`, the build cache).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (until=TIMESTAMP, label=KEY[=VALUE], label!=KEY[=VALUE])
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Asks on stdout and reads the answer from stdin: only `y` or `Y` is yes.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}

/// Removes the images `image prune` would, returning the report lines and the bytes freed.
fn prune_images(store: &Store, all: bool, filters: &Filters) -> anyhow::Result<(Vec<String>, u64)> {
    let now = SystemTime::now();
    let mut until = Vec::new();
    for u in filters.get("until") {
        until.push(parse_timestamp(u, now)?);
    }
    let mut lines = Vec::new();
    for l in list(store)? {
        let labels = l.labels();
        if (!all && !l.image.names.is_empty())
            || !containers_using(store, &l.image.summary.id).is_empty()
            || !filters.labels_match("label", labels)
            || !filters.labels_match("label!", labels)
            || until.iter().any(|u| l.created.is_none_or(|c| c >= *u))
        {
            continue;
        }
        match store.remove_image(&l.image.manifest_digest) {
            Ok(names) => {
                for n in names {
                    lines.push(format!("untagged: {}", n.familiar()));
                }
                let deleted = format!("deleted: {}", l.image.summary.id);
                if !lines.contains(&deleted) {
                    lines.push(deleted);
                }
            }
            // Another process removed it meanwhile.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Collect even when no image went: blobs an `rmi --no-prune` left are reclaimed here.
    let reclaimed = store.gc(true)?.map_or(0, |r| r.reclaimed());
    // The extracted root filesystems of the images that went (bale's own cache, not counted).
    bale_container::prune_rootfs_caches(store)?;
    Ok((lines, reclaimed))
}

fn print_images(lines: &[String]) {
    if !lines.is_empty() {
        println!("Deleted Images:");
        for l in lines {
            println!("{l}");
        }
        println!();
    }
}

/// Runs `bale image prune`.
pub fn run_image(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until", "label", "label!"])?;
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    let store = globals.store()?;
    if !args.force && !confirm(warning)? {
        return Ok(ExitCode::SUCCESS);
    }
    let (lines, reclaimed) = prune_images(&store, args.all, &filters)?;
    print_images(&lines);
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

/// Runs `bale system prune`.
pub fn run_system(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until", "label", "label!"])?;
    let (images, cache) = if args.all {
        (
            "all images without at least one container associated to them",
            "all build cache",
        )
    } else {
        ("all dangling images", "unused build cache")
    };
    let store = globals.store()?;
    if !args.force
        && !confirm(&format!(
            "WARNING! This will remove:\n  - all stopped containers\n  - {images}\n  - {cache}\n"
        ))?
    {
        return Ok(ExitCode::SUCCESS);
    }
    // Containers first, as docker does: the images they held may then go too.
    let container_bytes = super::container::prune_stopped(&store, &filters)?;
    let (lines, image_bytes) = prune_images(&store, args.all, &filters)?;
    print_images(&lines);
    let (entries, cache_bytes) = store.clear_build_cache()?;
    // The layers only the cache records kept are garbage now.
    let cache_bytes = cache_bytes + store.gc(true)?.map_or(0, |r| r.reclaimed());
    if !entries.is_empty() {
        println!("Deleted build cache objects:");
        for e in &entries {
            println!("{e}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(container_bytes + image_bytes + cache_bytes)
    );
    Ok(ExitCode::SUCCESS)
}
