//! `bale build`: docker's and buildx's flags turned into [`BuildOptions`], the build's events
//! rendered, and errors printed with the Dockerfile line and a caret.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use bale_builder::build::{BuildOptions, NamedContext, SecretSource, build};
use bale_image::Reference;
use bale_image::export::{Destination, OutputKind, OutputSpec};

use crate::progress::{Mode, renderer};

use super::Globals;

/// `bale build [OPTIONS] PATH | -`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name and optionally a tag in the "name:tag" format (repeatable)
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from STDIN)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Set build-time variables (KEY alone takes the value from the environment)
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet"). Use plain to show
    /// container output
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value = "auto",
        env = "BUILDKIT_PROGRESS",
        hide_possible_values = true
    )]
    progress: Mode,
    /// Output destination (format: "type=local,dest=path"; types: image, docker, oci, tar,
    /// local; "-o DIR" writes the rootfs into DIR, "-o -" a rootfs tar to STDOUT)
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    outputs: Vec<String>,
    /// Set the networking mode for the RUN instructions during build ("default", "none", "host")
    #[arg(long, value_name = "MODE", default_value = "default")]
    network: String,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or
    /// "id=mysecret,env=VAR")
    #[arg(long, value_name = "SPEC")]
    secret: Vec<String>,
    /// Set target platform for build (only the host platform is supported)
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// Additional build contexts (e.g., name=path or name=docker-image://ref)
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// Size of /dev/shm (e.g. 64m, 1g)
    #[arg(long = "shm-size", value_name = "BYTES")]
    shm_size: Option<String>,
    /// Ulimit options (e.g. nofile=1024:2048)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// Add a custom host-to-IP mapping (format: "host:ip")
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Build context: a directory, or "-" to read a Dockerfile or a context tar from STDIN
    #[arg(value_name = "PATH | -")]
    path: String,
}

/// docker's `RAMInBytes`: a number with an optional unit (b, k, m, g; binary multiples).
fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: f64 = num.parse().map_err(|_| {
        anyhow!("invalid size {s:?}: expected a number with an optional unit (b, k, m, g)")
    })?;
    let mul = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        _ => bail!("invalid size {s:?}: unknown unit {unit:?} (use b, k, m or g)"),
    };
    Ok((n * mul) as u64)
}

fn key_value(flag: &str, v: &str) -> anyhow::Result<(String, String)> {
    v.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow!("invalid {flag} {v:?}: expected KEY=VALUE"))
}

fn parse_secret(spec: &str) -> anyhow::Result<(String, SecretSource)> {
    let mut id = None;
    let mut source = None;
    let mut kind = "file".to_string();
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "id" => id = Some(v.to_string()),
            "src" | "source" => source = Some(v.to_string()),
            "env" => {
                kind = "env".to_string();
                source = Some(v.to_string());
            }
            "type" => kind = v.to_string(),
            _ => bail!("invalid --secret {spec:?}: unknown key {k:?} (use id, src, env or type)"),
        }
    }
    let id = id.ok_or_else(|| anyhow!("invalid --secret {spec:?}: id= is required"))?;
    let source = match (kind.as_str(), source) {
        ("file", Some(s)) => SecretSource::File(PathBuf::from(s)),
        ("file", None) => SecretSource::Env(id.clone()),
        ("env", s) => SecretSource::Env(s.unwrap_or_else(|| id.clone())),
        (other, _) => bail!("invalid --secret {spec:?}: unknown type {other:?} (use file or env)"),
    };
    Ok((id, source))
}

/// Reads STDIN for `bale build -`: a context tar (extracted into `dir`), or a Dockerfile.
fn stdin_context(dir: &Path) -> anyhow::Result<Option<String>> {
    let mut data = Vec::new();
    std::io::stdin().read_to_end(&mut data)?;
    let is_tar = data.len() > 262 && &data[257..262] == b"ustar";
    let compressed =
        bale_image::compress::Compression::detect(&data) != bale_image::compress::Compression::None;
    if is_tar || compressed {
        let (reader, _) = bale_image::compress::decompress(&data[..])?;
        let mut archive = tar::Archive::new(reader);
        archive
            .unpack(dir)
            .context("extracting the context tar read from STDIN")?;
        Ok(None)
    } else {
        Ok(Some(
            String::from_utf8(data).context("the Dockerfile on STDIN is not UTF-8")?,
        ))
    }
}

/// Runs `bale build`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.platform {
        let (os, arch) = bale_image::archive::host_platform();
        let host = format!("{os}/{arch}");
        let wanted = p.to_ascii_lowercase();
        if wanted != host && !wanted.starts_with(&format!("{host}/")) {
            bail!(
                "--platform {p} is not supported: bale builds only for the host platform ({host})"
            );
        }
    }
    let mut outputs = args
        .outputs
        .iter()
        .map(|o| o.parse::<OutputSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    crate::output::check(&outputs)?;
    let store = globals.store()?;
    let stdin_dir;
    let (context, stdin_dockerfile) = if args.path == "-" {
        stdin_dir = store.temp_path("stdin-context")?;
        std::fs::create_dir_all(&stdin_dir)?;
        if args.file.as_deref() == Some("-") {
            bail!("the context and the Dockerfile cannot both be read from STDIN");
        }
        let df = stdin_context(&stdin_dir)?;
        (stdin_dir.clone(), df)
    } else {
        (PathBuf::from(&args.path), None)
    };
    let (dockerfile, name, df_path) = match (&stdin_dockerfile, args.file.as_deref()) {
        (Some(text), _) => (text.clone(), "Dockerfile".to_string(), None),
        (None, Some("-")) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from STDIN")?;
            (text, "Dockerfile".to_string(), None)
        }
        (None, file) => {
            let path = match file {
                Some(f) => PathBuf::from(f),
                None => context.join("Dockerfile"),
            };
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "failed to read dockerfile: open {}: no such file or directory (name it with -f)",
                    path.display()
                )
            })?;
            let shown = file.map_or_else(|| "Dockerfile".to_string(), str::to_string);
            (text, shown, Some(path))
        }
    };

    let mut opts = BuildOptions::new(context, dockerfile);
    opts.dockerfile_name = name.clone();
    opts.dockerfile_path = df_path;
    for t in &args.tags {
        let r = Reference::parse_tagged(t).map_err(|e| anyhow!("invalid tag {t:?}: {e}"))?;
        opts.tags.push(r);
    }
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => {
                opts.build_args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    opts.build_args.insert(a.clone(), v);
                }
            }
        }
    }
    opts.target = args.target.clone();
    opts.no_cache = args.no_cache;
    opts.no_cache_filter = args.no_cache_filter.clone();
    opts.pull = args.pull;
    for l in &args.labels {
        let (k, v) = match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        };
        opts.labels.insert(k, v);
    }
    opts.network = match args.network.as_str() {
        "default" | "host" => bale_sandbox::Network::Host,
        "none" => bale_sandbox::Network::None,
        other => bail!("invalid --network {other:?}: use default, host or none"),
    };
    let mut secrets = BTreeMap::new();
    for s in &args.secret {
        let (id, src) = parse_secret(s)?;
        secrets.insert(id, src);
    }
    opts.secrets = secrets;
    for c in &args.build_contexts {
        let (k, v) = key_value("--build-context", c)?;
        let named = if let Some(r) = v.strip_prefix("docker-image://") {
            NamedContext::Image(r.to_string())
        } else if v.contains("://") {
            bail!(
                "--build-context {k}={v}: only local directories and docker-image:// references are supported"
            );
        } else {
            let p = PathBuf::from(&v);
            if !p.is_dir() {
                bail!("--build-context {k}={v}: {v} is not a directory");
            }
            NamedContext::Dir(std::fs::canonicalize(p)?)
        };
        opts.build_contexts.insert(k, named);
    }
    if let Some(s) = &args.shm_size {
        opts.shm_size = Some(parse_bytes(s)?);
    }
    for u in &args.ulimit {
        opts.ulimits
            .push(bale_sandbox::Ulimit::parse(u).map_err(|e| anyhow!("--ulimit: {e}"))?);
    }
    for h in &args.add_host {
        let (host, ip) = h
            .split_once('=')
            .or_else(|| h.split_once(':'))
            .ok_or_else(|| anyhow!("invalid --add-host {h:?}: expected HOST:IP"))?;
        opts.add_hosts.push((host.to_string(), ip.to_string()));
    }
    let epoch = opts
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .filter(|v| !v.is_empty());
    if let Some(e) = epoch {
        opts.source_date_epoch = Some(
            e.parse()
                .map_err(|_| anyhow!("invalid SOURCE_DATE_EPOCH {e:?}: expected Unix seconds"))?,
        );
    }
    opts.registry = globals.registry_settings()?;

    // As with buildx, -t names the image in the store only when an output keeps it there;
    // archives record the tags instead.
    if !outputs.is_empty() && !outputs.iter().any(OutputSpec::stores_image) {
        opts.tags.clear();
    }
    for o in &mut outputs {
        if matches!(o.kind, OutputKind::Oci | OutputKind::Docker) && o.names.is_empty() {
            o.names = args.tags.clone();
        }
    }
    let mode = if args.quiet {
        Mode::Quiet
    } else {
        args.progress
    };
    let renderer = renderer(mode, Box::new(std::io::stderr()));
    let result = build(&store, &opts, &*renderer);
    renderer.finish();
    match result {
        Ok(built) => {
            let unused = built.unused_build_args;
            if !unused.is_empty() && !args.quiet {
                eprintln!(
                    "[Warning] One or more build-args [{}] were not consumed",
                    unused.join(" ")
                );
            }
            if !built.warnings.is_empty() && !args.quiet {
                let n = built.warnings.len();
                eprintln!("\n {n} warning{} found:", if n == 1 { "" } else { "s" });
                for w in &built.warnings {
                    eprintln!(" - {w}");
                }
            }
            crate::output::export(&store, &built.image, &outputs)?;
            if let Some(f) = &args.iidfile {
                std::fs::write(f, built.image.id.to_string())
                    .with_context(|| format!("writing --iidfile {}", f.display()))?;
            }
            let stdout_taken = outputs
                .iter()
                .any(|o| o.stream() == Some(Destination::Stdout));
            if args.quiet && !stdout_taken {
                println!("{}", built.image.id);
            }
            std::io::stdout().flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if e.message.is_empty() {
                eprintln!("ERROR: the build was stopped");
            } else {
                eprint!("ERROR: {}", e.render(&name, &opts.dockerfile));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
