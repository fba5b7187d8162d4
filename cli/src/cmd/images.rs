//! `bale images` / `bale image ls`: the image list with docker's columns, flags, filters and
//! order (newest first, one row per repository and tag, `<none>` for dangling images).

use std::process::ExitCode;
use std::time::SystemTime;

use std::collections::BTreeMap;

use bale_image::{Digest, ListedImage, Reference, Store};

use super::Globals;
use super::filter::{Filters, parse_timestamp, path_match};
use super::units::{human_duration, human_size, human_size_with_precision};
use crate::format::{Format, row};

/// List images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all images (by default bale shows the same: it keeps no intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN,
    /// before=IMAGE, since=IMAGE, until=TIMESTAMP, label=KEY[=VALUE])
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go
    /// template ({{.Repository}}, {{.Tag}}, {{.Digest}}, {{.ID}}, {{.CreatedSince}},
    /// {{.CreatedAt}}, {{.Size}})
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only images matching this reference (a pattern, as with --filter reference=)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    repository: Option<String>,
}

const DEFAULT: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DEFAULT_DIGESTS: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// An image with what listing and filtering need.
pub struct Listed {
    /// The image's index entry and summary.
    pub image: ListedImage,
    /// When it was created, from the config.
    pub created: Option<SystemTime>,
}

impl Listed {
    /// The config's labels.
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.image.summary.labels.as_ref()
    }
}

/// Every image, newest first (docker's order), from the index and the store's summaries.
pub fn list(store: &Store) -> anyhow::Result<Vec<Listed>> {
    let mut out: Vec<Listed> = store
        .list_images()?
        .into_iter()
        .map(|image| Listed {
            created: image
                .summary
                .created
                .as_deref()
                .and_then(bale_image::time::parse_rfc3339),
            image,
        })
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.created));
    Ok(out)
}

/// "2 hours ago", or "N/A" for an image without a creation time.
pub fn since(created: Option<SystemTime>) -> String {
    created.map_or_else(
        || "N/A".to_string(),
        |t| {
            let d = SystemTime::now().duration_since(t).unwrap_or_default();
            format!("{} ago", human_duration(d))
        },
    )
}

/// Go's `time.Time.String()` in UTC: `2024-01-02 03:04:05 +0000 UTC`.
pub fn created_at(created: Option<SystemTime>) -> String {
    created.map_or_else(String::new, |t| {
        let s = bale_image::time::rfc3339(t);
        format!("{} {} +0000 UTC", &s[..10], &s[11..19])
    })
}

/// The short (12 hex) or full (`sha256:...`) image ID.
pub fn image_id(id: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.short().to_string()
    }
}

/// Runs `bale images`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let mut filters = Filters::parse(
        &args.filter,
        &[
            "dangling",
            "label",
            "label!",
            "before",
            "since",
            "until",
            "reference",
        ],
    )?;
    if let Some(r) = &args.repository {
        filters.add("reference", r);
    }
    let dangling = filters.dangling()?;
    let images = list(&store)?;
    let created_of = |name: &str| -> anyhow::Result<Option<SystemTime>> {
        let image = store.resolve(name)?;
        Ok(images
            .iter()
            .find(|l| l.image.summary.id == image.id)
            .and_then(|l| l.created))
    };
    let mut before = Vec::new();
    for b in filters.get("before") {
        before.push(created_of(b)?);
    }
    let mut after = Vec::new();
    for s in filters.get("since") {
        after.push(created_of(s)?);
    }
    let now = SystemTime::now();
    let mut until = Vec::new();
    for u in filters.get("until") {
        until.push(parse_timestamp(u, now)?);
    }
    let patterns = filters.get("reference");
    // As docker: -q replaces only the table format; an explicit template wins over it.
    let format = if args.quiet && matches!(args.format.as_deref(), None | Some("table")) {
        Format::parse(Some("{{.ID}}"), DEFAULT)?
    } else {
        Format::parse(
            args.format.as_deref(),
            if args.digests {
                DEFAULT_DIGESTS
            } else {
                DEFAULT
            },
        )?
    };
    // As docker: a template that names the digest shows it without --digests.
    let show_digests = args.digests
        || args
            .format
            .as_deref()
            .is_some_and(|f| f.contains("{{.Digest}}"));
    let mut rows = Vec::new();
    for l in &images {
        let is_dangling = l.image.names.is_empty();
        if dangling.is_some_and(|d| d != is_dangling)
            || !filters.labels_match("label", l.labels())
            || !filters.labels_match("label!", l.labels())
            || before
                .iter()
                .any(|b| !matches!((l.created, b), (Some(c), Some(b)) if c < *b))
            || after
                .iter()
                .any(|s| !matches!((l.created, s), (Some(c), Some(s)) if c > *s))
            || until.iter().any(|u| l.created.is_none_or(|c| c >= *u))
        {
            continue;
        }
        let mut names: Vec<&Reference> = Vec::new();
        for n in &l.image.names {
            let mut keep = patterns.is_empty();
            for p in patterns {
                keep |= path_match(p, &n.familiar())? || path_match(p, &n.familiar_repository())?;
            }
            if keep {
                names.push(n);
            }
        }
        names.sort_by_key(|n| n.familiar());
        if !patterns.is_empty() && names.is_empty() {
            continue;
        }
        let cells = |repo: String, tag: String, digest: String| {
            row(&[
                ("Repository", repo),
                ("Tag", tag),
                ("Digest", digest),
                ("ID", image_id(&l.image.summary.id, args.no_trunc)),
                ("CreatedSince", since(l.created)),
                ("CreatedAt", created_at(l.created)),
                ("Size", human_size_with_precision(l.image.summary.size, 3)),
                ("VirtualSize", human_size(l.image.summary.size)),
                ("Containers", "N/A".into()),
                ("SharedSize", "N/A".into()),
                ("UniqueSize", "N/A".into()),
            ])
        };
        if names.is_empty() {
            rows.push(cells("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for n in names {
            let digest = if show_digests {
                l.image.manifest_digest.to_string()
            } else {
                "<none>".to_string()
            };
            rows.push(cells(
                n.familiar_repository(),
                n.tag().unwrap_or("<none>").to_string(),
                digest,
            ));
        }
    }
    print!("{}", format.render(HEADERS, &rows)?);
    Ok(ExitCode::SUCCESS)
}
