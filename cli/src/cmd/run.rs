//! `bale run` and `bale create`: docker's flags turned into [`CreateOptions`], then the
//! container started attached (this process supervises it and exits with its code), detached,
//! or not at all (`create`).
//!
//! Exit codes are docker's: the command's own, or 125 when bale could not create or start the
//! container, 126 when the command cannot be executed, 127 when it is not found.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_container::{Attach, Containers, CreateOptions, MountKind, MountSpec, RestartPolicy};

use super::Globals;

/// Flags shared by `run` and `create`.
#[derive(clap::Args, Debug)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Automatically remove the container and its anonymous volumes when it exits
    #[arg(long)]
    rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables (NAME=value, or NAME to take it from bale's environment)
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Bind mount a volume (HOST-DIR:CONTAINER-DIR[:ro], VOLUME:CONTAINER-DIR, or CONTAINER-DIR
    /// for an anonymous volume)
    #[arg(short, long, value_name = "VOLUME")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=...,target=...,
    /// readonly)
    #[arg(long, value_name = "MOUNT")]
    mount: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Connect a container to a network: host (the default) or none
    #[arg(long, alias = "net", default_value = "host")]
    network: String,
    /// Restart policy to apply when a container exits (no, on-failure[:max-retries], always,
    /// unless-stopped)
    #[arg(long, default_value = "no")]
    restart: String,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    cidfile: Option<String>,
    /// Set meta data on a container
    #[arg(short, long, value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// Signal to stop the container
    #[arg(long)]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    stop_timeout: Option<i64>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The image to create the container from
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The command and its arguments (replace the image's CMD)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

/// Create and run a new container from an image.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    flags: CreateFlags,
}

/// Create a new container.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    flags: CreateFlags,
}

fn parse_env_entry(e: &str, out: &mut Vec<String>) {
    if e.contains('=') {
        out.push(e.to_string());
    } else if let Ok(v) = std::env::var(e) {
        out.push(format!("{e}={v}"));
    }
}

fn parse_bool(v: &str, what: &str) -> anyhow::Result<bool> {
    match v {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => bail!("invalid value for {what}: {v}"),
    }
}

/// `-v HOST:CTR[:ro]`, `-v NAME:CTR`, `-v /CTR`.
fn parse_volume(v: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, dest, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => bail!("invalid volume specification: '{v}'"),
    };
    if !dest.starts_with('/') {
        bail!(
            "invalid volume specification: '{v}': invalid mount config: mount path must be absolute"
        );
    }
    let mut rw = true;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            // SELinux labels and propagation modes have no meaning here.
            "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
            | "nocopy" => {}
            _ => bail!("invalid volume specification: '{v}': invalid mode: {o}"),
        }
    }
    let (kind, source, name) = if source.is_empty() {
        (MountKind::Volume, String::new(), String::new())
    } else if source.starts_with('/') || source.starts_with('.') {
        let p = if source.starts_with('.') {
            std::env::current_dir()?.join(source)
        } else {
            source.into()
        };
        // As docker's -v: a missing host directory is created.
        if !p.exists() {
            fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        }
        (MountKind::Bind, p.display().to_string(), String::new())
    } else {
        (MountKind::Volume, String::new(), source.to_string())
    };
    Ok(MountSpec {
        kind,
        name,
        source,
        destination: dest.to_string(),
        rw,
        anonymous: false,
        tmpfs_size: None,
    })
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=N]`.
fn parse_mount(v: &str) -> anyhow::Result<MountSpec> {
    let mut kind = MountKind::Volume;
    let mut source = String::new();
    let mut target = String::new();
    let mut rw = true;
    let mut size = None;
    for field in v.split(',') {
        let (k, val) = field.split_once('=').unwrap_or((field, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                kind = match val {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    _ => bail!(
                        "invalid argument \"{v}\" for \"--mount\" flag: unsupported mount type \"{val}\""
                    ),
                }
            }
            "source" | "src" => source = val.to_string(),
            "target" | "destination" | "dst" => target = val.to_string(),
            "readonly" | "ro" => rw = !parse_bool(val, k)?,
            "tmpfs-size" => {
                size = Some(
                    val.parse::<u64>()
                        .with_context(|| format!("invalid tmpfs-size {val:?}"))?,
                )
            }
            "bind-propagation" | "volume-nocopy" | "tmpfs-mode" | "consistency" => {}
            _ => bail!(
                "invalid argument \"{v}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"
            ),
        }
    }
    if target.is_empty() {
        bail!("invalid argument \"{v}\" for \"--mount\" flag: target is required");
    }
    let (source, name) = match kind {
        MountKind::Bind => {
            if source.is_empty() {
                bail!(
                    "invalid argument \"{v}\" for \"--mount\" flag: source is required when specifying bind mount"
                );
            }
            let p = Path::new(&source);
            let p = if p.is_relative() {
                std::env::current_dir()?.join(p)
            } else {
                p.to_path_buf()
            };
            if !p.exists() {
                bail!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    p.display()
                );
            }
            (p.display().to_string(), String::new())
        }
        MountKind::Volume => (String::new(), source),
        MountKind::Tmpfs => (String::new(), String::new()),
    };
    Ok(MountSpec {
        kind,
        name,
        source,
        destination: target,
        rw,
        anonymous: false,
        tmpfs_size: size,
    })
}

fn create_options(f: &CreateFlags) -> anyhow::Result<CreateOptions> {
    let mut o = CreateOptions::new(f.image.clone());
    o.name = f.name.clone();
    o.cmd = (!f.command.is_empty()).then(|| f.command.clone());
    o.entrypoint = f.entrypoint.clone();
    for file in &f.env_file {
        let text = fs::read_to_string(file).with_context(|| format!("open {file}"))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            parse_env_entry(line, &mut o.env);
        }
    }
    for e in &f.env {
        parse_env_entry(e, &mut o.env);
    }
    o.workdir = f.workdir.clone();
    o.user = f.user.clone();
    o.hostname = f.hostname.clone();
    for h in &f.add_host {
        let (name, ip) = h
            .split_once(':')
            .or_else(|| h.split_once('='))
            .with_context(|| format!("invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""))?;
        o.extra_hosts.push((name.to_string(), ip.to_string()));
    }
    for v in &f.volume {
        o.mounts.push(parse_volume(v)?);
    }
    for m in &f.mount {
        o.mounts.push(parse_mount(m)?);
    }
    o.read_only = f.read_only;
    o.network = f.network.clone();
    o.restart = RestartPolicy::parse(&f.restart)?;
    if f.rm && !matches!(o.restart.name.as_str(), "" | "no") {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    o.auto_remove = f.rm;
    o.tty = f.tty;
    o.open_stdin = f.interactive;
    o.stop_signal = f.stop_signal.clone();
    o.stop_timeout = f.stop_timeout;
    let mut labels = BTreeMap::new();
    for l in &f.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    o.labels = labels;
    Ok(o)
}

fn create(
    f: &CreateFlags,
    containers: &Containers<'_>,
) -> anyhow::Result<bale_container::Container> {
    if let Some(cid) = &f.cidfile
        && Path::new(cid).exists()
    {
        bail!(
            "container ID file found, make sure the other container isn't running or delete {cid}"
        );
    }
    let opts = create_options(f)?;
    let c = containers.create(&opts)?;
    if let Some(cid) = &f.cidfile {
        fs::write(cid, &c.id).with_context(|| format!("writing the container ID file {cid}"))?;
    }
    Ok(c)
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("bale: {e:#}");
    eprintln!("See 'bale run --help'.");
    ExitCode::from(125)
}

/// Runs `bale run`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = match globals.store() {
        Ok(s) => s,
        Err(e) => return Ok(fail(e)),
    };
    let containers = Containers::open(&store)?;
    let c = match create(&args.flags, &containers) {
        Ok(c) => c,
        Err(e) => return Ok(fail(e)),
    };
    if args.detach {
        return match containers.start(&c, Attach::Detached) {
            Ok(_) => {
                println!("{}", c.id);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("bale: Error response from daemon: {e}");
                let code = containers
                    .load(&c.id)
                    .map(|c| c.state.exit_code)
                    .ok()
                    .filter(|c| matches!(c, 126 | 127))
                    .unwrap_or(125);
                Ok(ExitCode::from(code as u8))
            }
        };
    }
    let stdin = args.flags.interactive;
    match containers.start(&c, Attach::Foreground { stdin }) {
        Ok(Some(outcome)) => {
            if let Some(err) = &outcome.error {
                eprintln!("bale: Error response from daemon: {err}");
            }
            Ok(ExitCode::from(outcome.exit_code.clamp(0, 255) as u8))
        }
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(e) => Ok(fail(e.into())),
    }
}

/// Runs `bale create`.
pub fn run_create(args: CreateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = create(&args.flags, &containers)?;
    println!("{}", c.id);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs_parse_as_docker() {
        let m = parse_volume("/data").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert!(m.name.is_empty());
        let m = parse_volume("cache:/var/cache:ro").unwrap();
        assert_eq!(
            (m.kind, m.name.as_str(), m.rw),
            (MountKind::Volume, "cache", false)
        );
        let d = tempfile::tempdir().unwrap();
        let spec = format!("{}:/mnt", d.path().display());
        let m = parse_volume(&spec).unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert!(m.rw);
        assert!(parse_volume("a:b:c:d").is_err());
        assert!(parse_volume("/x:rel").is_err());
        assert!(parse_volume("/x:/y:bogus").is_err());
    }

    #[test]
    fn mount_specs_parse_as_docker() {
        let m = parse_mount("type=tmpfs,target=/run,tmpfs-size=1024").unwrap();
        assert_eq!((m.kind, m.tmpfs_size), (MountKind::Tmpfs, Some(1024)));
        let m = parse_mount("type=volume,source=v,target=/v,readonly").unwrap();
        assert_eq!((m.name.as_str(), m.rw), ("v", false));
        assert!(parse_mount("type=bind,source=/nonexistent/x,target=/x").is_err());
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("type=tmpfs").is_err());
    }
}
