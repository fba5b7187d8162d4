//! `bale ps` / `bale container ls`: containers with docker's columns, flags and filters
//! (running ones by default, newest first).

use std::process::ExitCode;
use std::time::SystemTime;

use bale_container::{Container, Containers, Status};

use super::Globals;
use super::filter::Filters;
use super::units::{human_duration, human_size_with_precision};
use crate::format::{Format, row};

/// List containers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided (status=, name=, ancestor=, id=, exited=,
    /// label=)
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go
    /// template ({{.ID}}, {{.Image}}, {{.Command}}, {{.CreatedAt}}, {{.RunningFor}},
    /// {{.Status}}, {{.State}}, {{.Names}}, {{.Size}}, {{.Labels}}, {{.Mounts}})
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "N")]
    last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

const DEFAULT: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const DEFAULT_SIZE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

fn ago(rfc: &str) -> Option<String> {
    let t = bale_image::time::parse_rfc3339(rfc)?;
    let d = SystemTime::now().duration_since(t).unwrap_or_default();
    Some(human_duration(d))
}

/// docker's STATUS column: `Created`, `Up 3 minutes`, `Up 3 minutes (Paused)`,
/// `Restarting (1) 2 seconds ago`, `Exited (0) 2 minutes ago`.
pub fn status_text(c: &Container) -> String {
    let s = &c.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", ago(&s.started_at).unwrap_or_default()),
        Status::Paused => format!("Up {} (Paused)", ago(&s.started_at).unwrap_or_default()),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            ago(&s.finished_at).unwrap_or_default()
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            ago(&s.finished_at).unwrap_or_default()
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the printable text a command is.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The size of what the container wrote, and with its image.
fn size_text(containers: &Containers<'_>, c: &Container) -> String {
    let rw = bale_container::rootfs_size_of(c);
    let virt = containers
        .store()
        .resolve(&c.config.image_id)
        .map(|i| i.size())
        .unwrap_or(0)
        + rw;
    format!(
        "{} (virtual {})",
        human_size_with_precision(rw, 3),
        human_size_with_precision(virt, 3)
    )
}

fn matches(containers: &Containers<'_>, c: &Container, filters: &Filters) -> anyhow::Result<bool> {
    for s in filters.get("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&s.as_str())
        {
            anyhow::bail!("invalid filter 'status={s}'");
        }
    }
    let status = filters.get("status");
    if !status.is_empty() && !status.iter().any(|s| s == c.state.status.as_str()) {
        return Ok(false);
    }
    let names = filters.get("name");
    if !names.is_empty() {
        let mut any = false;
        for n in names {
            let re = regex_lite(n);
            any |= re(&c.config.name);
        }
        if !any {
            return Ok(false);
        }
    }
    let ids = filters.get("id");
    if !ids.is_empty() && !ids.iter().any(|i| c.id.starts_with(i.as_str())) {
        return Ok(false);
    }
    let exited = filters.get("exited");
    if !exited.is_empty()
        && (c.state.status != Status::Exited
            || !exited
                .iter()
                .any(|e| e.parse::<i32>().ok() == Some(c.state.exit_code)))
    {
        return Ok(false);
    }
    let ancestors = filters.get("ancestor");
    if !ancestors.is_empty() {
        let mut any = false;
        for a in ancestors {
            any |= c.config.image == *a
                || containers
                    .store()
                    .resolve(a)
                    .is_ok_and(|i| i.id.to_string() == c.config.image_id);
        }
        if !any {
            return Ok(false);
        }
    }
    let labels = Some(c.config.labels.clone());
    if !filters.labels_match("label", labels.as_ref()) {
        return Ok(false);
    }
    Ok(true)
}

/// docker matches `name=` as a regular expression; names hold only `[a-zA-Z0-9_.-]`, so a
/// substring match with `^` and `$` anchors covers what people write.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        let (start, p) = match pattern.strip_prefix('^') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let (end, p) = match p.strip_suffix('$') {
            Some(p) => (true, p),
            None => (false, p),
        };
        match (start, end) {
            (true, true) => name == p,
            (true, false) => name.starts_with(p),
            (false, true) => name.ends_with(p),
            (false, false) => name.contains(p),
        }
    }
}

/// The template row of a container.
pub fn container_row(
    containers: &Containers<'_>,
    c: &Container,
    no_trunc: bool,
    with_size: bool,
) -> gotmpl::Value {
    let command = if no_trunc {
        go_quote(&c.command_line())
    } else {
        go_quote(&ellipsis(&c.command_line(), 20))
    };
    let created = bale_image::time::parse_rfc3339(&c.config.created);
    let labels: Vec<String> = c
        .config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mounts: Vec<String> = c
        .config
        .mounts
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.source.clone()
            } else if no_trunc {
                m.name.clone()
            } else {
                ellipsis(&m.name, 15)
            }
        })
        .collect();
    row(&[
        (
            "ID",
            if no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            },
        ),
        ("Image", c.config.image.clone()),
        ("Command", command),
        ("CreatedAt", super::images::created_at(created)),
        ("RunningFor", super::images::since(created)),
        ("Ports", String::new()),
        ("State", c.state.status.as_str().to_string()),
        ("Status", status_text(c)),
        (
            "Size",
            if with_size {
                size_text(containers, c)
            } else {
                String::new()
            },
        ),
        ("Names", c.config.name.clone()),
        ("Labels", labels.join(",")),
        ("Mounts", mounts.join(",")),
        ("Networks", c.config.network.clone()),
        (
            "LocalVolumes",
            c.config
                .mounts
                .iter()
                .filter(|m| m.kind == bale_container::MountKind::Volume)
                .count()
                .to_string(),
        ),
    ])
}

/// Runs `bale ps`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let filters = Filters::parse(
        &args.filter,
        &["status", "name", "ancestor", "id", "exited", "label"],
    )?;
    let mut list = containers.list()?;
    let last = if args.latest { Some(1) } else { args.last };
    let all = args.all || last.is_some() || !filters.get("status").is_empty();
    let mut kept = Vec::new();
    for c in list.drain(..) {
        if !all && !c.state.is_running() {
            continue;
        }
        if matches(&containers, &c, &filters)? {
            kept.push(c);
        }
    }
    if let Some(n) = last {
        kept.truncate(n);
    }
    let format = if args.quiet && matches!(args.format.as_deref(), None | Some("table")) {
        Format::parse(Some("{{.ID}}"), DEFAULT)?
    } else {
        Format::parse(
            args.format.as_deref(),
            if args.size { DEFAULT_SIZE } else { DEFAULT },
        )?
    };
    let with_size = args.size || args.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let rows: Vec<_> = kept
        .iter()
        .map(|c| container_row(&containers, c, args.no_trunc, with_size))
        .collect();
    print!("{}", format.render(HEADERS, &rows)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_cut_and_quoted_as_docker() {
        assert_eq!(
            go_quote(&ellipsis("sh -c 'exit 3'", 20)),
            "\"sh -c 'exit 3'\""
        );
        assert_eq!(
            go_quote(&ellipsis("sleep 1000000000000000000000", 20)),
            "\"sleep 1000000000000…\""
        );
    }

    #[test]
    fn name_filters_anchor() {
        assert!(regex_lite("web")("my-web-1"));
        assert!(regex_lite("^web")("web-1"));
        assert!(!regex_lite("^web$")("web-1"));
    }
}
