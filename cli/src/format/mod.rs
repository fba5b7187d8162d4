//! `--format` as the docker CLI reads it: `table` (aligned columns with a header row derived
//! from the template's fields), `table TEMPLATE`, `json` (one object per line), or a plain Go
//! template, executed by `gotmpl` with docker's extra template functions (`json`, `join`,
//! `split`, `title`, `lower`, `upper`, `pad`, `truncate`).

mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::anyhow;
use gotmpl::{Template, TemplateError, Value};

pub use table::tabwrite;

/// A parsed `--format` value.
pub enum Format {
    /// Aligned columns with a header row: the template and its source (the header row is the
    /// same source run with docker's header functions).
    Table(Template, String),
    /// Each row as one JSON object on its own line.
    Json,
    /// A Go template executed once per row, each output followed by a newline.
    Raw(Template),
}

impl Format {
    /// Parses `--format`: `default` is the command's table template (without the `table`
    /// prefix), used for an absent or bare `table` format.
    pub fn parse(format: Option<&str>, default: &str) -> anyhow::Result<Format> {
        let format = format.unwrap_or("table");
        // docker trims spaces and turns the two-character escapes into tabs and newlines.
        let unescape = |s: &str| {
            s.trim_matches(' ')
                .replace("\\t", "\t")
                .replace("\\n", "\n")
        };
        if format == "json" {
            return Ok(Format::Json);
        }
        match format.strip_prefix("table") {
            Some(rest) if rest.trim().is_empty() => {
                Ok(Format::Table(parse(default)?, default.to_string()))
            }
            Some(rest) if rest.starts_with(char::is_whitespace) => {
                let source = unescape(rest);
                Ok(Format::Table(parse(&source)?, source))
            }
            _ => Ok(Format::Raw(parse(&unescape(format))?)),
        }
    }

    /// Renders `rows`; `headers` maps each field to its column title (used for the header
    /// row of a table).
    pub fn render(&self, headers: &[(&str, &str)], rows: &[Value]) -> anyhow::Result<String> {
        match self {
            Format::Json => {
                let mut out = String::new();
                for row in rows {
                    out.push_str(&to_json(row));
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Raw(t) => {
                let mut out = String::new();
                for row in rows {
                    out.push_str(&execute(t, row)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(t, source) => {
                let header: BTreeMap<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(Arc::from(*v))))
                    .collect();
                let mut text = execute(&header_template(source)?, &Value::from(header))?;
                text.push('\n');
                for row in rows {
                    text.push_str(&execute(t, row)?);
                    text.push('\n');
                }
                Ok(tabwrite(&text))
            }
        }
    }
}

/// Parses a template with docker's functions.
pub fn parse(source: &str) -> anyhow::Result<Template> {
    let mut t = Template::new("");
    for (name, f) in functions() {
        t = t.func(name, f);
    }
    t.parse(source)
        .map_err(|e| anyhow!("template parsing error: {e}"))
}

/// Executes `t` on `data`, with docker's error prefix.
pub fn execute(t: &Template, data: &Value) -> anyhow::Result<String> {
    t.execute_to_string(data)
        .map_err(|e| anyhow!("template parsing error: {e}"))
}

/// The template source parsed with docker's header functions, which pass the column title
/// through unchanged (`{{upper .Tag}}` heads its column `TAG`, and `{{json .ID}}` heads it
/// `IMAGE ID` without quotes).
fn header_template(source: &str) -> anyhow::Result<Template> {
    let mut h = Template::new("");
    for name in [
        "json", "title", "lower", "upper", "split", "join", "truncate", "pad",
    ] {
        h = h.func(name, |args: &[Value]| Ok(first(args)));
    }
    h.parse(source)
        .map_err(|e| anyhow!("template parsing error: {e}"))
}

fn first(args: &[Value]) -> Value {
    args.first().cloned().unwrap_or(Value::Nil)
}

type Func = fn(&[Value]) -> Result<Value, TemplateError>;

/// docker's `templates.go` basic functions.
fn functions() -> Vec<(&'static str, Func)> {
    fn s(v: &Value) -> String {
        match v {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        }
    }
    fn arg<'a>(name: &str, args: &'a [Value], i: usize) -> Result<&'a Value, TemplateError> {
        args.get(i).ok_or_else(|| {
            TemplateError::Exec(format!("wrong number of args for {name}: want {}", i + 1))
        })
    }
    fn int(name: &str, v: &Value) -> Result<usize, TemplateError> {
        match v {
            Value::Int(n) if *n >= 0 => Ok(*n as usize),
            Value::Uint(n) => Ok(*n as usize),
            _ => Err(TemplateError::Exec(format!(
                "{name}: expected a non-negative integer, got {v}"
            ))),
        }
    }
    fn string(v: String) -> Result<Value, TemplateError> {
        Ok(Value::String(Arc::from(v)))
    }
    vec![
        ("json", |a| string(to_json(arg("json", a, 0)?))),
        ("lower", |a| string(s(arg("lower", a, 0)?).to_lowercase())),
        ("upper", |a| string(s(arg("upper", a, 0)?).to_uppercase())),
        ("title", |a| string(title(&s(arg("title", a, 0)?)))),
        ("split", |a| {
            let text = s(arg("split", a, 0)?);
            let sep = s(arg("split", a, 1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars()
                    .map(|c| Value::String(Arc::from(c.to_string())))
                    .collect()
            } else {
                text.split(sep.as_str())
                    .map(|p| Value::String(Arc::from(p)))
                    .collect()
            };
            Ok(Value::List(Arc::from(parts)))
        }),
        ("join", |a| {
            let sep = s(arg("join", a, 1)?);
            match arg("join", a, 0)? {
                Value::List(items) => string(items.iter().map(s).collect::<Vec<_>>().join(&sep)),
                Value::Nil => string(String::new()),
                other => Err(TemplateError::Exec(format!(
                    "join: expected a list of strings, got {}",
                    other.type_name()
                ))),
            }
        }),
        ("pad", |a| {
            let text = s(arg("pad", a, 0)?);
            let before = int("pad", arg("pad", a, 1)?)?;
            let after = int("pad", arg("pad", a, 2)?)?;
            string(format!("{}{text}{}", " ".repeat(before), " ".repeat(after)))
        }),
        ("truncate", |a| {
            let text = s(arg("truncate", a, 0)?);
            let n = int("truncate", arg("truncate", a, 1)?)?;
            // Go slices bytes; stop at the last character boundary at or before `n`.
            if text.len() <= n {
                return string(text);
            }
            let mut end = n;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            string(text[..end].to_string())
        }),
    ]
}

/// Go's `strings.Title`: the first letter of each space-separated word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// docker's struct field order for the objects `json` prints (Go marshals struct fields in
/// declaration order, maps in key order). A map whose keys all appear here is printed in this
/// order; any other map (labels, environment, ports) in key order.
const FIELD_ORDER: &[&str] = &[
    // image inspect
    "Id",
    "RepoTags",
    "RepoDigests",
    "Parent",
    "Comment",
    "Created",
    "DockerVersion",
    "Author",
    "Config",
    "Architecture",
    "Variant",
    "Os",
    "OsVersion",
    "Size",
    "GraphDriver",
    "RootFS",
    "Metadata",
    // container config
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
    // healthcheck
    "Test",
    "Interval",
    "Timeout",
    "StartPeriod",
    "StartInterval",
    "Retries",
    // rootfs, metadata
    "Type",
    "Layers",
    "LastTagTime",
];

/// `v` as compact JSON, as Go's encoder writes it without HTML escaping.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match v {
        Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Uint(n) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(
            &serde_json::Number::from_f64(*f).map_or_else(|| "null".into(), |n| n.to_string()),
        ),
        Value::String(s) => out.push_str(&quote(s)),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let mut keys: Vec<&Arc<str>> = m.keys().collect();
            let rank = |k: &str| FIELD_ORDER.iter().position(|f| *f == k);
            if keys.iter().all(|k| rank(k).is_some()) {
                keys.sort_by_key(|k| rank(k));
            }
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quote(k));
                out.push(':');
                write_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// A serde value (e.g. inspect's JSON) as a template value.
pub fn from_serde(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_u64().map(Value::Uint))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        J::String(s) => Value::String(Arc::from(s.as_str())),
        J::Array(a) => Value::List(a.iter().map(from_serde).collect()),
        J::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), from_serde(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// A row of string cells as a template value.
pub fn row(cells: &[(&str, String)]) -> Value {
    Value::from(
        cells
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(Arc::from(v.as_str()))))
            .collect::<BTreeMap<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_row() -> Value {
        row(&[
            ("Repository", "busybox".into()),
            ("Tag", "latest".into()),
            ("ID", "0123456789ab".into()),
        ])
    }

    const HEADERS: &[(&str, &str)] = &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
    ];

    fn render(format: &str) -> String {
        Format::parse(Some(format), "{{.Repository}}\t{{.Tag}}")
            .unwrap()
            .render(HEADERS, &[image_row()])
            .unwrap()
    }

    #[test]
    fn bare_table_uses_the_default_columns() {
        assert_eq!(render("table"), "REPOSITORY   TAG\nbusybox      latest\n");
    }

    #[test]
    fn table_headers_come_from_field_names_even_through_functions() {
        assert_eq!(
            render("table {{.ID}}\\t{{upper .Tag}}\\t{{json .Repository}}"),
            "IMAGE ID       TAG       REPOSITORY\n0123456789ab   LATEST    \"busybox\"\n"
        );
    }

    #[test]
    fn raw_templates_keep_tabs_and_print_no_header() {
        assert_eq!(
            render("{{.Repository}}:{{.Tag}}\t{{.ID}}"),
            "busybox:latest\t0123456789ab\n"
        );
    }

    #[test]
    fn json_prints_one_object_per_row() {
        assert_eq!(
            render("json"),
            "{\"ID\":\"0123456789ab\",\"Repository\":\"busybox\",\"Tag\":\"latest\"}\n"
        );
    }

    #[test]
    fn docker_functions() {
        let data = from_serde(&serde_json::json!({
            "Cmd": ["sh", "-c", "echo <hi>"],
            "Name": "hello world",
            "Config": {"User": "u", "Hostname": "h", "Labels": {"z": "1", "a": "2"}}
        }));
        let run = |src: &str| execute(&parse(src).unwrap(), &data).unwrap();
        assert_eq!(run(r#"{{join .Cmd " "}}"#), "sh -c echo <hi>");
        assert_eq!(run("{{json .Cmd}}"), r#"["sh","-c","echo <hi>"]"#);
        assert_eq!(
            run("{{upper .Name}}|{{lower \"AbC\"}}|{{title .Name}}"),
            "HELLO WORLD|abc|Hello World"
        );
        assert_eq!(
            run(r#"{{range split .Name " "}}[{{.}}]{{end}}"#),
            "[hello][world]"
        );
        assert_eq!(
            run("{{truncate .Name 5}}|{{pad .Name 1 2}}|"),
            "hello| hello world  |"
        );
        assert_eq!(run(r#"{{index .Config.Labels "z"}}"#), "1");
        assert_eq!(run("{{println .Name}}"), "hello world\n");
        // Struct fields in docker's declaration order, map keys sorted.
        assert_eq!(
            run("{{json .Config}}"),
            r#"{"Hostname":"h","User":"u","Labels":{"a":"2","z":"1"}}"#
        );
    }

    #[test]
    fn template_errors_are_reported() {
        assert!(parse("{{.Foo").is_err());
        assert!(Format::parse(Some("table {{.Repository"), "").is_err());
    }
}
