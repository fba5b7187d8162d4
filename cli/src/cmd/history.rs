//! `bale history` / `bale image history`: the config's history, newest first, each entry that
//! made a layer given that layer's size, with docker's columns and truncation.

use std::process::ExitCode;
use std::time::SystemTime;

use super::Globals;
use super::images::since;
use super::units::human_size_with_precision;
use crate::format::{Format, row};

/// Show the history of an image.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go
    /// template ({{.ID}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}},
    /// {{.Comment}})
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// The image, by name or ID
    #[arg(value_name = "IMAGE")]
    image: String,
}

const DEFAULT: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// RFC 3339 to the second, as Go's `time.RFC3339` prints a Unix time in UTC.
fn rfc3339_seconds(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |t| {
            let s = bale_image::time::rfc3339(t);
            format!("{}Z", &s[..19])
        },
    )
}

/// Runs `bale history`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let image = store.resolve(&args.image)?;
    let (_, config) = store.config(&image)?;
    let layers = image.manifest.layers();
    let mut entries = Vec::new();
    let mut layer = 0;
    for h in &config.history {
        let size = if h.empty_layer {
            0
        } else {
            let Some(l) = layers.get(layer) else {
                anyhow::bail!(
                    "image {}: too many non-empty layers in History section",
                    image.display_name()
                );
            };
            layer += 1;
            l.size()
        };
        entries.push((h, size));
    }
    entries.reverse();
    // As docker: -q replaces only the table format; an explicit template wins over it.
    let format = if args.quiet && matches!(args.format.as_deref(), None | Some("table")) {
        Format::parse(Some("{{.ID}}"), DEFAULT)?
    } else {
        Format::parse(args.format.as_deref(), DEFAULT)?
    };
    let mut rows = Vec::new();
    for (i, (h, size)) in entries.into_iter().enumerate() {
        let id = if i > 0 {
            "<missing>".to_string()
        } else if args.no_trunc {
            image.id.to_string()
        } else {
            image.id.short().to_string()
        };
        let created = h
            .created
            .as_deref()
            .and_then(bale_image::time::parse_rfc3339);
        let created_by = h.created_by.clone().unwrap_or_default().replace('\t', " ");
        rows.push(row(&[
            ("ID", id),
            (
                "CreatedSince",
                if args.human {
                    since(created)
                } else {
                    rfc3339_seconds(created)
                },
            ),
            ("CreatedAt", rfc3339_seconds(created)),
            (
                "CreatedBy",
                if args.no_trunc {
                    created_by
                } else {
                    ellipsis(&created_by, 45)
                },
            ),
            (
                "Size",
                if args.human {
                    human_size_with_precision(size, 3)
                } else {
                    size.to_string()
                },
            ),
            ("Comment", h.comment.clone().unwrap_or_default()),
        ]));
    }
    print!("{}", format.render(HEADERS, &rows)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_cuts_to_the_width_with_a_final_mark() {
        let long = "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789 in / ";
        let cut = ellipsis(long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
        assert!(long.starts_with(cut.trim_end_matches('…')));
        assert_eq!(ellipsis("short", 45), "short");
    }
}
