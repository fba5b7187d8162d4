//! `bale builder prune`: removes build-cache records (docker's "dangling" ones, or with `-a`
//! all of them and the cache mounts), then collects the layers no image and no record keeps.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use bale_image::store::CachePrune;

use super::Globals;
use super::filter::{Filters, parse_timestamp};
use super::units::human_size;

/// `bale builder COMMAND`.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

/// `bale builder prune [-a] [-f] [--filter until=...]`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just the records no image uses
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (until=TIMESTAMP or DURATION: only cache last used before it)
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Runs `bale builder ...`.
pub fn run(command: BuilderCommand, globals: &Globals) -> anyhow::Result<ExitCode> {
    let BuilderCommand::Prune(args) = command;
    let filters = Filters::parse(&args.filter, &["until"])?;
    let mut until = None;
    for u in filters.get("until") {
        until = Some(parse_timestamp(u, SystemTime::now())?);
    }
    let store = globals.store()?;
    if !args.force {
        let what = if args.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        print!("WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let pruned = store.prune_build_cache(&CachePrune {
        all: args.all,
        until,
    })?;
    let collected = store.gc(true)?.map_or(0, |r| r.reclaimed());
    if !pruned.removed.is_empty() {
        println!("Deleted build cache objects:");
        for k in &pruned.removed {
            println!("{k}");
        }
        println!();
    }
    println!("Total:\t{}", human_size(pruned.bytes.max(collected)));
    Ok(ExitCode::SUCCESS)
}
