//! `bale system check` and `bale system df`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::SystemTime;

use super::Globals;
use super::units::{human_duration, human_size};

/// Manage the image store.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: SystemCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SystemCommand {
    /// Verify every blob's digest and every image's manifest, config and layers
    Check,
    /// Show disk usage of the store
    Df(DfArgs),
}

#[derive(clap::Args, Debug)]
struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

/// Runs `bale system ...`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    match args.command {
        SystemCommand::Check => {
            let report = store.check()?;
            for p in &report.problems {
                println!("{p}");
            }
            if report.problems.is_empty() {
                println!(
                    "store {} is consistent: {} blobs, {} images checked",
                    store.root().display(),
                    report.blobs,
                    report.images
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "Error: store {} has {} problem(s)",
                    store.root().display(),
                    report.problems.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
        SystemCommand::Df(df) => {
            let usage = store.disk_usage()?;
            let ids: HashSet<_> = usage.images.iter().map(|u| &u.image.id).collect();
            let with_pct = |size: u64| {
                if size > 0 {
                    format!("{} (100%)", human_size(size))
                } else {
                    human_size(0)
                }
            };
            let rows = vec![
                vec![
                    "TYPE".to_string(),
                    "TOTAL".into(),
                    "ACTIVE".into(),
                    "SIZE".into(),
                    "RECLAIMABLE".into(),
                ],
                vec![
                    "Images".into(),
                    ids.len().to_string(),
                    "0".into(),
                    human_size(usage.images_size),
                    with_pct(usage.images_size),
                ],
                vec![
                    "Containers".into(),
                    "0".into(),
                    "0".into(),
                    "0B".into(),
                    "0B".into(),
                ],
                vec![
                    "Local Volumes".into(),
                    usage.volumes.0.to_string(),
                    "0".into(),
                    human_size(usage.volumes.1),
                    with_pct(usage.volumes.1),
                ],
                vec![
                    "Build Cache".into(),
                    usage.build_cache.0.to_string(),
                    "0".into(),
                    human_size(usage.build_cache.1),
                    human_size(usage.build_cache.1),
                ],
            ];
            if !df.verbose {
                print!("{}", table(&rows));
                return Ok(ExitCode::SUCCESS);
            }
            println!("Images space usage:\n");
            let mut img_rows = vec![
                [
                    "REPOSITORY",
                    "TAG",
                    "IMAGE ID",
                    "CREATED",
                    "SIZE",
                    "SHARED SIZE",
                    "UNIQUE SIZE",
                    "CONTAINERS",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for u in &usage.images {
                let created = store
                    .config(&u.image)
                    .ok()
                    .and_then(|(_, c)| c.created)
                    .and_then(|c| bale_image::time::parse_rfc3339(&c))
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .map_or_else(
                        || "N/A".to_string(),
                        |d| format!("{} ago", human_duration(d)),
                    );
                let mut names: Vec<(String, String)> = u
                    .image
                    .names
                    .iter()
                    .map(|n| {
                        (
                            n.familiar_repository(),
                            n.tag().unwrap_or("<none>").to_string(),
                        )
                    })
                    .collect();
                if names.is_empty() {
                    names.push(("<none>".into(), "<none>".into()));
                }
                for (repo, tag) in names {
                    img_rows.push(vec![
                        repo,
                        tag,
                        u.image.id.short().to_string(),
                        created.clone(),
                        human_size(u.size),
                        human_size(u.shared),
                        human_size(u.size - u.shared),
                        "0".into(),
                    ]);
                }
            }
            print!("{}", table(&img_rows));
            println!("\nContainers space usage:\n");
            print!(
                "{}",
                table(&[[
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "LOCAL VOLUMES",
                    "SIZE",
                    "CREATED",
                    "STATUS",
                    "NAMES"
                ]
                .map(String::from)
                .to_vec()])
            );
            println!("\nLocal Volumes space usage:\n");
            print!(
                "{}",
                table(&[["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()])
            );
            println!("\nBuild cache usage: {}", human_size(usage.build_cache.1));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Columns padded as docker's tabwriter does (minimum width 10, padding 3).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
