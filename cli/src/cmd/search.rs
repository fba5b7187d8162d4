//! `bale search`: Docker Hub's search, or the catalog of the registry the term names, printed
//! as docker prints it: a table (NAME, DESCRIPTION, STARS, OFFICIAL) or a Go template.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_registry::search::{SearchResult, search};
use gotmpl::{Template, Value};

use super::Globals;

/// Docker's default table.
const DEFAULT_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
/// Descriptions are cut to this many characters unless `--no-trunc`.
const DESCRIPTION_WIDTH: usize = 45;

/// `bale search [OPTIONS] TERM`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Filter output based on conditions provided (stars=N, is-official=BOOL)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// What to search for; `HOST[:PORT]/TERM` searches that registry
    #[arg(value_name = "TERM")]
    pub term: String,
}

/// The filters docker's search accepts.
#[derive(Debug, Default)]
struct Filters {
    stars: Option<u64>,
    official: Option<bool>,
    automated: Option<bool>,
}

impl Filters {
    fn parse(specs: &[String]) -> anyhow::Result<Self> {
        let mut f = Filters::default();
        for spec in specs {
            let Some((key, value)) = spec.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            let bad = || anyhow::anyhow!("invalid filter '{key}={value}'");
            match key {
                "stars" => f.stars = Some(value.parse().map_err(|_| bad())?),
                "is-official" => f.official = Some(parse_bool(value).ok_or_else(bad)?),
                "is-automated" => f.automated = Some(parse_bool(value).ok_or_else(bad)?),
                _ => bail!("invalid filter '{key}'"),
            }
        }
        Ok(f)
    }

    fn keeps(&self, r: &SearchResult) -> bool {
        self.stars.is_none_or(|n| r.star_count >= n)
            && self.official.is_none_or(|o| r.is_official == o)
            && self.automated.is_none_or(|a| r.is_automated == a)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Runs `bale search`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if !(1..=100).contains(&args.limit) {
        bail!("limit {} is outside the range of [1, 100]", args.limit);
    }
    let filters = Filters::parse(&args.filter)?;
    let settings = globals.registry_settings()?;
    let results = search(&settings, &args.term, args.limit as u32)?;
    let format = args.format.as_deref().unwrap_or(DEFAULT_FORMAT);
    let rows: Vec<Value> = results
        .iter()
        .filter(|r| filters.keeps(r))
        .map(|r| row(r, !args.no_trunc))
        .collect();
    print!("{}", render(format, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// The fields docker's search formatter exposes, as the strings it renders.
fn row(r: &SearchResult, truncate: bool) -> Value {
    let mut description = r.description.replace(['\n', '\r'], " ");
    if truncate && description.chars().count() > DESCRIPTION_WIDTH {
        description = description
            .chars()
            .take(DESCRIPTION_WIDTH - 1)
            .chain(['…'])
            .collect();
    }
    let ok = |b: bool| if b { "[OK]" } else { "" };
    gotmpl::tmap! {
        "Name" => r.name.as_str(),
        "Description" => description.as_str(),
        "StarCount" => r.star_count.to_string(),
        "IsOfficial" => ok(r.is_official),
        "IsAutomated" => ok(r.is_automated),
    }
}

/// Renders `rows` with a Go template; a `table ` prefix adds the header row and aligns the
/// tab-separated cells as docker's tabwriter does.
fn render(format: &str, rows: &[Value]) -> anyhow::Result<String> {
    let (table, source) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, format),
    };
    // Docker's CLI accepts `\t` and `\n` written literally in a format.
    let source = source.replace("\\t", "\t").replace("\\n", "\n");
    let template = Template::new("search")
        .parse(&source)
        .with_context(|| format!("template parsing error in --format {format:?}"))?;
    let mut lines = Vec::new();
    if table {
        let header = gotmpl::tmap! {
            "Name" => "NAME",
            "Description" => "DESCRIPTION",
            "StarCount" => "STARS",
            "IsOfficial" => "OFFICIAL",
            "IsAutomated" => "AUTOMATED",
        };
        lines.push(template.execute_to_string(&header)?);
    }
    for row in rows {
        lines.push(
            template
                .execute_to_string(row)
                .with_context(|| format!("executing --format {format:?}"))?,
        );
    }
    let mut out = lines.join("\n");
    if !out.is_empty() || table {
        out.push('\n');
    }
    Ok(if table { align(&out) } else { out })
}

/// Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`, as docker's tables use: every
/// tab-terminated cell is padded to its column's widest cell plus 3, and at least 10; text
/// after a line's last tab is not aligned.
fn align(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let columns = lines.iter().map(|cells| cells.len()).max().unwrap_or(0);
    let mut widths = vec![MIN_WIDTH; columns];
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + PADDING);
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str, description: &str, stars: u64, official: bool) -> SearchResult {
        SearchResult {
            name: name.into(),
            description: description.into(),
            star_count: stars,
            is_official: official,
            is_automated: false,
        }
    }

    #[test]
    fn default_table() {
        let rows = [
            row(&hit("busybox", "Busybox base image.", 3400, true), true),
            row(
                &hit(
                    "someone/busybox-with-a-long-name",
                    "A description that goes on\nand on for well over forty-five characters",
                    7,
                    false,
                ),
                true,
            ),
        ];
        let out = render(DEFAULT_FORMAT, &rows).unwrap();
        let expected = "\
NAME                               DESCRIPTION                                     STARS     OFFICIAL
busybox                            Busybox base image.                             3400      [OK]
someone/busybox-with-a-long-name   A description that goes on and on for well o…   7         
";
        assert_eq!(out, expected);
    }

    #[test]
    fn custom_format_and_filters() {
        let rows = [row(&hit("a", "d\r", 1, false), false)];
        assert_eq!(
            render(
                "{{.Name}}:{{.StarCount}}:{{.IsOfficial}}:{{.Description}}",
                &rows
            )
            .unwrap(),
            "a:1::d \n"
        );
        let f = Filters::parse(&["stars=2".into(), "is-official=true".into()]).unwrap();
        assert!(!f.keeps(&hit("a", "", 1, true)));
        assert!(!f.keeps(&hit("a", "", 3, false)));
        assert!(f.keeps(&hit("a", "", 3, true)));
        assert!(Filters::parse(&["stars=x".into()]).is_err());
        assert!(Filters::parse(&["color=red".into()]).is_err());
    }
}
