//! `bale inspect` / `bale image inspect`: docker's image inspect JSON (an array, 4-space
//! indented, fields in docker's order with docker's nulls), or `--format` run over the same
//! structure.

use std::collections::BTreeMap;
use std::process::ExitCode;

use bale_image::config::Healthcheck;
use bale_image::{Image, ImageConfig, Store};
use serde::Serialize;
use serde_json::Value;

use super::Globals;
use crate::format;

/// Display detailed information on one or more images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template: 'json', or a Go template ({{.Os}},
    /// {{json .Config}}, {{index .Config.Labels "key"}}, ...)
    #[arg(short, long, value_name = "FORMAT")]
    format: Option<String>,
    /// Return JSON for specified type (only "image" is known)
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Display total file sizes (accepted for docker compatibility; images always show theirs)
    #[arg(short, long)]
    size: bool,
    /// Images to inspect, by name or ID
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// docker's `ImageInspect`, with the fields docker 25+ prints.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    docker_version: String,
    author: String,
    config: InspectConfig,
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    variant: String,
    os: String,
    size: u64,
    #[serde(rename = "RootFS")]
    root_fs: InspectRootFs,
    metadata: Metadata,
}

/// docker's `container.Config` as image inspect shows it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    hostname: String,
    domainname: String,
    user: String,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exposed_ports: Option<BTreeMap<String, Value>>,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_escaped: Option<bool>,
    image: String,
    volumes: Option<BTreeMap<String, Value>>,
    working_dir: String,
    entrypoint: Option<Vec<String>>,
    on_build: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shell: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectRootFs {
    #[serde(rename = "Type")]
    kind: String,
    layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    last_tag_time: String,
}

/// Go's zero `time.Time`, which docker prints for an image never tagged.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Go's `RFC3339Nano`: the fraction without trailing zeros, none when whole.
fn rfc3339_nano(s: &str) -> String {
    match bale_image::time::parse_rfc3339(s) {
        Some(t) => {
            let full = bale_image::time::rfc3339(t);
            let (head, frac) = full.split_once('.').unwrap_or((&full, "Z"));
            let frac = frac.trim_end_matches('Z').trim_end_matches('0');
            if frac.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{frac}Z")
            }
        }
        None => s.to_string(),
    }
}

fn build(store: &Store, image: &Image) -> anyhow::Result<Inspect> {
    let (_, config): (_, ImageConfig) = store.config(image)?;
    let cc = config.config.clone().unwrap_or_default();
    let extra_str = |map: &BTreeMap<String, Value>, k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let extra_bool = |k: &str| cc.extra.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut tags: Vec<String> = image.names.iter().map(|n| n.familiar()).collect();
    tags.sort();
    let mut repos: Vec<String> = image
        .names
        .iter()
        .map(|n| format!("{}@{}", n.familiar_repository(), image.manifest_digest))
        .collect();
    repos.sort();
    repos.dedup();
    Ok(Inspect {
        id: image.id.to_string(),
        repo_tags: tags,
        repo_digests: repos,
        parent: extra_str(&config.extra, "parent"),
        comment: extra_str(&config.extra, "comment"),
        created: config
            .created
            .as_deref()
            .map_or_else(String::new, rfc3339_nano),
        docker_version: extra_str(&config.extra, "docker_version"),
        author: config.author.clone().unwrap_or_default(),
        config: InspectConfig {
            hostname: extra_str(&cc.extra, "Hostname"),
            domainname: extra_str(&cc.extra, "Domainname"),
            user: cc.user.unwrap_or_default(),
            attach_stdin: extra_bool("AttachStdin"),
            attach_stdout: extra_bool("AttachStdout"),
            attach_stderr: extra_bool("AttachStderr"),
            exposed_ports: cc.exposed_ports,
            tty: extra_bool("Tty"),
            open_stdin: extra_bool("OpenStdin"),
            stdin_once: extra_bool("StdinOnce"),
            env: cc.env,
            cmd: cc.cmd,
            healthcheck: cc.healthcheck,
            args_escaped: cc.args_escaped.filter(|b| *b),
            image: extra_str(&cc.extra, "Image"),
            volumes: cc.volumes,
            working_dir: cc.working_dir.unwrap_or_default(),
            entrypoint: cc.entrypoint,
            on_build: cc.on_build,
            labels: cc.labels,
            stop_signal: cc.stop_signal.filter(|s| !s.is_empty()),
            shell: cc.shell.filter(|s| !s.is_empty()),
        },
        architecture: config.architecture.clone(),
        variant: config.variant.clone().unwrap_or_default(),
        os: config.os.clone(),
        size: image.manifest.layers().iter().map(|l| l.size()).sum(),
        root_fs: InspectRootFs {
            kind: config.rootfs.kind.clone(),
            layers: config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| d.to_string())
                .collect(),
        },
        metadata: Metadata {
            last_tag_time: image
                .meta
                .last_tag_time
                .as_deref()
                .map_or_else(|| ZERO_TIME.to_string(), rfc3339_nano),
        },
    })
}

/// JSON as the docker daemon encodes it (`<`, `>` and `&` escaped) and the CLI indents it.
fn docker_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value.serialize(&mut ser)?;
    // These characters appear only inside strings, so a plain replacement is exact.
    Ok(String::from_utf8(buf)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// Runs `bale inspect`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if let Some(kind) = args.kind.as_deref()
        && kind != "image"
    {
        anyhow::bail!("\"{kind}\" is not a valid value for --type: bale inspects images only");
    }
    let store = globals.store()?;
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(format::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))?),
    };
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match store.resolve(name) {
            Ok(image) => found.push(build(&store, &image)?),
            Err(e) if e.is_not_found() => {
                eprintln!("Error: No such image: {name}");
                failed = true;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    match template {
        None => {
            // docker prints the array even when some names were not found, `[]` when none were.
            if found.is_empty() {
                println!("[]");
            } else {
                println!("{}", docker_json(&found)?);
            }
        }
        Some(t) => {
            for item in &found {
                let value = format::from_serde(&serde_json::to_value(item)?);
                println!("{}", format::execute(&t, &value)?);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
