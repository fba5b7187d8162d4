//! `bale inspect` / `bale image inspect`: docker's image inspect JSON (an array, 4-space
//! indented, fields in docker's order with docker's nulls), or `--format` run over the same
//! structure.

use std::collections::BTreeMap;
use std::process::ExitCode;

use bale_container::{Container, Containers, MountKind};
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
    /// Return JSON for specified type: image or container (both are tried, images first, when
    /// not given)
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Display total file sizes (accepted for docker compatibility; images always show theirs)
    #[arg(short, long)]
    size: bool,
    /// Images or containers to inspect, by name or ID
    #[arg(value_name = "NAME|ID", required = true)]
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

/// One object `inspect` prints: an image in docker's field order, or a container.
#[derive(Serialize)]
#[serde(untagged)]
enum Found {
    Image(Box<Inspect>),
    Container(Box<ContainerInspect>),
}

/// docker's `ContainerJSON`, top-level fields in docker's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerInspect {
    id: String,
    created: String,
    path: String,
    args: Vec<String>,
    state: Value,
    image: String,
    log_path: std::path::PathBuf,
    name: String,
    restart_count: u32,
    driver: &'static str,
    platform: &'static str,
    host_config: Value,
    graph_driver: Value,
    mounts: Vec<Value>,
    config: Value,
    network_settings: Value,
}

/// docker's `ContainerJSON` for a container.
fn container_json(containers: &Containers<'_>, c: &Container) -> anyhow::Result<ContainerInspect> {
    let cfg = &c.config;
    let st = &c.state;
    let lower = containers.lower_dir(c).unwrap_or_default();
    let zero = |s: &str| {
        if s.is_empty() {
            ZERO_TIME.to_string()
        } else {
            rfc3339_nano(s)
        }
    };
    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MountKind::Bind => "bind",
                MountKind::Volume => "volume",
                MountKind::Tmpfs => "tmpfs",
            };
            let mut v = serde_json::json!({
                "Type": kind,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": if m.kind == MountKind::Bind && !m.rw { "ro" } else { "" },
                "RW": m.rw,
                "Propagation": if m.kind == MountKind::Bind { "rprivate" } else { "" },
            });
            if m.kind == MountKind::Volume {
                v["Name"] = Value::String(m.name.clone());
                v["Driver"] = Value::String("local".into());
            }
            v
        })
        .collect();
    let binds: Vec<String> = cfg
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .map(|m| {
            format!(
                "{}:{}{}",
                m.source,
                m.destination,
                if m.rw { "" } else { ":ro" }
            )
        })
        .collect();
    let volumes: BTreeMap<String, Value> = cfg.image_config.volumes.clone().unwrap_or_default();
    Ok(ContainerInspect {
        id: c.id.clone(),
        created: rfc3339_nano(&cfg.created),
        path: cfg.path.clone(),
        args: cfg.args.clone(),
        state: serde_json::json!({
            "Status": st.status.as_str(),
            "Running": st.is_running(),
            "Paused": st.status == bale_container::Status::Paused,
            "Restarting": st.status == bale_container::Status::Restarting,
            "OOMKilled": false,
            "Dead": st.status == bale_container::Status::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": zero(&st.started_at),
            "FinishedAt": zero(&st.finished_at),
        }),
        image: cfg.image_id.clone(),
        log_path: c.log_path(),
        name: format!("/{}", cfg.name),
        restart_count: st.restart_count,
        driver: "overlay",
        platform: "linux",
        host_config: serde_json::json!({
            "Binds": if binds.is_empty() { Value::Null } else { serde_json::json!(binds) },
            "NetworkMode": cfg.network,
            "RestartPolicy": {
                "Name": if cfg.restart_policy.name.is_empty() { "no" } else { cfg.restart_policy.name.as_str() },
                "MaximumRetryCount": cfg.restart_policy.maximum_retry_count,
            },
            "AutoRemove": cfg.auto_remove,
            "ExtraHosts": if cfg.extra_hosts.is_empty() {
                Value::Null
            } else {
                serde_json::json!(cfg.extra_hosts.iter().map(|(h, ip)| format!("{h}:{ip}")).collect::<Vec<_>>())
            },
            "ReadonlyRootfs": cfg.read_only,
        }),
        graph_driver: serde_json::json!({
            "Data": {
                "LowerDir": lower,
                "UpperDir": c.upper_dir(),
                "WorkDir": c.work_dir(),
                "MergedDir": c.rootfs_dir(),
            },
            "Name": "overlay",
        }),
        mounts,
        config: serde_json::json!({
            "Hostname": cfg.hostname,
            "Domainname": "",
            "User": cfg.user,
            "AttachStdin": cfg.open_stdin,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "StdinOnce": cfg.open_stdin,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": cfg.image,
            "Volumes": if volumes.is_empty() { Value::Null } else { serde_json::json!(volumes) },
            "WorkingDir": if cfg.working_dir == "/" { "" } else { cfg.working_dir.as_str() },
            "Entrypoint": cfg.entrypoint,
            "OnBuild": Value::Null,
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
        }),
        network_settings: serde_json::json!({
            "Networks": { cfg.network.clone(): {} },
        }),
    })
}

/// Runs `bale container inspect`: `bale inspect --type container`.
pub fn run_container(mut args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    args.kind = Some("container".into());
    run(args, globals)
}

/// Runs `bale inspect`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let (images, containers_too) = match args.kind.as_deref() {
        None => (true, true),
        Some("image") => (true, false),
        Some("container") => (false, true),
        Some(kind) => {
            anyhow::bail!("\"{kind}\" is not a valid value for --type: use image or container")
        }
    };
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(format::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))?),
    };
    let mut found: Vec<Found> = Vec::new();
    let mut failed = false;
    for name in &args.images {
        let image = if images {
            match store.resolve(name) {
                Ok(image) => Some(Ok(image)),
                Err(e) if e.is_not_found() => None,
                Err(e) => Some(Err(e)),
            }
        } else {
            None
        };
        match image {
            Some(Ok(image)) => {
                found.push(Found::Image(Box::new(build(&store, &image)?)));
                continue;
            }
            Some(Err(e)) => {
                eprintln!("Error: {e}");
                failed = true;
                continue;
            }
            None => {}
        }
        if containers_too {
            match containers.get(name) {
                Ok(c) => {
                    found.push(Found::Container(Box::new(container_json(&containers, &c)?)));
                    continue;
                }
                Err(bale_container::Error::NoSuchContainer(_)) => {}
                Err(e) => {
                    eprintln!("Error: {e}");
                    failed = true;
                    continue;
                }
            }
        }
        if images {
            eprintln!("Error: No such image: {name}");
        } else {
            eprintln!("Error: No such container: {name}");
        }
        failed = true;
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
