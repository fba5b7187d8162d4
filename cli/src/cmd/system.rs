//! `bale system check` and `bale system df`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::bail;

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
    /// Remove unused images and the build cache
    Prune(super::prune::Args),
}

#[derive(clap::Args, Debug)]
struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE' (with headers),
    /// 'json' (one object per line), or a Go template ({{.Type}}, {{.TotalCount}}, {{.Active}},
    /// {{.Size}}, {{.Reclaimable}})
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// Runs `bale system ...`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    match args.command {
        SystemCommand::Prune(prune) => super::prune::run_system(prune, globals),
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
            let containers = bale_container::Containers::open(&store)?;
            let listed = containers.list()?;
            let sizes: Vec<u64> = listed.iter().map(bale_container::rootfs_size_of).collect();
            let running = listed.iter().filter(|c| c.state.is_running()).count();
            let containers_size: u64 = sizes.iter().sum();
            let stopped_size: u64 = listed
                .iter()
                .zip(&sizes)
                .filter(|(c, _)| !c.state.is_running())
                .map(|(_, s)| s)
                .sum();
            let used_images: HashSet<&str> =
                listed.iter().map(|c| c.config.image_id.as_str()).collect();
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
                    ids.iter()
                        .filter(|id| used_images.contains(id.to_string().as_str()))
                        .count()
                        .to_string(),
                    human_size(usage.images_size),
                    with_pct(usage.images_size),
                ],
                vec![
                    "Containers".into(),
                    listed.len().to_string(),
                    running.to_string(),
                    human_size(containers_size),
                    match (stopped_size * 100).checked_div(containers_size) {
                        Some(pct) => format!("{} ({pct}%)", human_size(stopped_size)),
                        None => human_size(0),
                    },
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
            if let Some(format) = df.format.as_deref() {
                if df.verbose {
                    bail!("--format and --verbose cannot be combined: choose one");
                }
                print!("{}", render(format, &rows)?);
                return Ok(ExitCode::SUCCESS);
            }
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
                        listed
                            .iter()
                            .filter(|c| c.config.image_id == u.image.id.to_string())
                            .count()
                            .to_string(),
                    ]);
                }
            }
            print!("{}", table(&img_rows));
            println!("\nContainers space usage:\n");
            let mut container_rows = vec![
                [
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "LOCAL VOLUMES",
                    "SIZE",
                    "CREATED",
                    "STATUS",
                    "NAMES",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (c, size) in listed.iter().zip(&sizes) {
                let created = bale_image::time::parse_rfc3339(&c.config.created);
                container_rows.push(vec![
                    c.short_id().to_string(),
                    c.config.image.clone(),
                    super::ps::go_quote(&super::ps::ellipsis(&c.command_line(), 20)),
                    c.config
                        .mounts
                        .iter()
                        .filter(|m| m.kind == bale_container::MountKind::Volume)
                        .count()
                        .to_string(),
                    human_size(*size),
                    super::images::since(created),
                    super::ps::status_text(c),
                    c.config.name.clone(),
                ]);
            }
            print!("{}", table(&container_rows));
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

/// The summary rows (header first) through docker's `--format` rules.
fn render(format: &str, rows: &[Vec<String>]) -> anyhow::Result<String> {
    const FIELDS: [&str; 5] = ["Type", "TotalCount", "Active", "Size", "Reclaimable"];
    let value = |row: &[String]| {
        let map: std::collections::BTreeMap<String, gotmpl::Value> = FIELDS
            .iter()
            .zip(row)
            .map(|(k, v)| (k.to_string(), gotmpl::ToValue::to_value(v)))
            .collect();
        gotmpl::Value::from(map)
    };
    let format = format.replace("\\t", "\t").replace("\\n", "\n");
    match format.as_str() {
        "" | "table" => return Ok(table(rows)),
        "json" => {
            let mut out = String::new();
            for row in &rows[1..] {
                let object: std::collections::BTreeMap<&str, &String> =
                    FIELDS.iter().copied().zip(row).collect();
                out.push_str(&serde_json::to_string(&object)?);
                out.push('\n');
            }
            return Ok(out);
        }
        _ => {}
    }
    let (is_table, source) = match format.strip_prefix("table") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim_start())
        }
        _ => (false, format.as_str()),
    };
    let template = gotmpl::Template::new("df")
        .parse(source)
        .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
    let run = |row: &[String]| {
        template
            .execute_to_string(&value(row))
            .map_err(|e| anyhow::anyhow!("template: {e}"))
    };
    if !is_table {
        let mut out = String::new();
        for row in &rows[1..] {
            out.push_str(&run(row)?);
            out.push('\n');
        }
        return Ok(out);
    }
    let mut lines = Vec::new();
    for row in rows {
        lines.push(run(row)?.split('\t').map(String::from).collect());
    }
    Ok(table(&lines))
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
