//! RUN: the command line (shell or exec form, heredocs as BuildKit turns them into a command),
//! its `--mount`s (cache, bind, tmpfs, secret), the sandbox, and the snapshot diff that becomes
//! its layer.
//!
//! Nothing a mount brings in reaches the layer: every mount lives in the sandbox's own mount
//! namespace, over a target the sandbox removes again when it had to create it, so the diff of
//! the rootfs sees none of it.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bale_image::config::ImageConfig;
use bale_image::store::CachedLayer;
use bale_parser::instruction::{
    CommandLine, Mount as MountFlag, MountType, Network, Run, Security, Sharing,
};
use bale_sandbox::{Mount, MountKind, Sandbox, SandboxSpec, Stream};

use super::config::shell_of;
use super::error::{BuildError, BuildResult};
use super::plan::Source;
use super::stage::{StageFs, chomp};
use super::{SecretSource, Shared};
use crate::dockerignore::Dockerignore;
use crate::layer::write_layer_from_diff;
use crate::progress::{self, Event};
use crate::snapshot::{Change, Snapshot, diff};

/// A RUN's command as it will be executed.
#[derive(Debug, Clone)]
pub struct Command {
    /// The argv.
    pub argv: Vec<String>,
    /// A heredoc with a `#!` line, run as a file: (file name, content), mounted under
    /// `/dev/pipes/`.
    pub script: Option<(String, String)>,
}

/// The command BuildKit runs for a RUN: shell form after the stage's SHELL; a lone heredoc's
/// body run by the shell (or, with a `#!` line, as a script file); other heredocs written back
/// after the command line for the shell to read.
pub fn command(run: &Run, config: &ImageConfig) -> BuildResult<Command> {
    let with_shell = |cmd: String| {
        let mut v = shell_of(config);
        v.push(cmd);
        v
    };
    match &run.command {
        CommandLine::Exec(words) => Ok(Command {
            argv: words.iter().map(|w| w.value.clone()).collect(),
            script: None,
        }),
        CommandLine::Shell(w) if run.heredocs.is_empty() => Ok(Command {
            argv: with_shell(w.value.clone()),
            script: None,
        }),
        CommandLine::Shell(w) => {
            let first = &run.heredocs[0];
            let lone = lone_heredoc(&w.value).is_some_and(|name| name == first.name);
            if lone {
                let data = if first.chomp {
                    chomp(&first.content)
                } else {
                    first.content.clone()
                };
                if data.starts_with("#!") {
                    let path = format!("/dev/pipes/{}", first.name);
                    return Ok(Command {
                        argv: vec![path],
                        script: Some((first.name.clone(), data)),
                    });
                }
                return Ok(Command {
                    argv: with_shell(data),
                    script: None,
                });
            }
            let mut full = w.value.clone();
            for h in &run.heredocs {
                full.push('\n');
                full.push_str(&h.content);
                full.push_str(&h.name);
            }
            Ok(Command {
                argv: with_shell(full),
                script: None,
            })
        }
    }
}

/// The delimiter when a command line is nothing but one heredoc opener (`<<EOF`, `<<-"EOF"`).
fn lone_heredoc(cmd: &str) -> Option<String> {
    let rest = cmd.trim().strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

fn mounts_of(run: &Run) -> BuildResult<Vec<MountFlag>> {
    run.mounts
        .iter()
        .map(|m| {
            m.mount.clone().ok_or_else(|| {
                BuildError::at(
                    m.raw.pos,
                    format!("--mount={}: values were not expanded", m.raw.value),
                )
            })
        })
        .collect()
}

/// The content digest of what a RUN's bind mounts bring from the context (part of its cache
/// key), and which path changed since the last build.
pub fn mount_content(
    sh: &Shared,
    run: &Run,
    note_id: &str,
) -> BuildResult<(Option<String>, Option<String>)> {
    let mut parts = Vec::new();
    let mut change = None;
    for (i, m) in mounts_of(run)?.iter().enumerate() {
        if m.kind != MountType::Bind {
            continue;
        }
        let src = m.source.clone().unwrap_or_else(|| ".".to_string());
        match m.from.as_deref().map(|f| sh.source(f)) {
            None => {
                let d = sh
                    .hasher
                    .hash(
                        &format!("{note_id}/mount{i}"),
                        &sh.context,
                        &[src.as_str()],
                        &sh.ignore,
                    )
                    .map_err(|e| BuildError::new(format!("--mount source {src}: {e}")))?;
                if change.is_none() {
                    change = d.change.map(|c| c.to_string());
                }
                parts.push(format!("context:{src}:{}", d.digest));
            }
            Some(Source::Stage(i)) => {
                let Some(out) = sh.wait_stage(i) else {
                    return Err(BuildError::new(""));
                };
                parts.push(format!("stage:{}:{src}", out.key));
            }
            Some(Source::Context(name)) => parts.push(format!("named:{name}:{src}")),
            Some(Source::Image(r)) => {
                let img = sh.source_image(&r)?;
                parts.push(format!("image:{}:{src}", img.id));
            }
        }
    }
    Ok(((!parts.is_empty()).then(|| parts.join("\n")), change))
}

/// The root directory's mode, owner and extended attributes: a layer never records them.
fn root_identity(dir: &Path) -> BuildResult<(u32, u32, u32, Vec<std::ffi::OsString>)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(dir)
        .map_err(|e| BuildError::new(format!("reading {}: {e}", dir.display())))?;
    let mut names: Vec<std::ffi::OsString> = xattr::list(dir)
        .map_err(|e| BuildError::new(format!("reading {}: {e}", dir.display())))?
        .collect();
    names.sort();
    Ok((m.mode(), m.uid(), m.gid(), names))
}

/// A change the RUN's layer cannot carry as it is: a socket (left out), or a file whose name
/// extraction would take for a whiteout.
fn unrecorded((path, change): &(Vec<u8>, Change)) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    name.starts_with(b".wh.")
        || matches!(change, Change::Entry(m) if m.kind == crate::snapshot::Kind::Socket)
}

/// Things that must live until the command has exited: cache-mount locks, temporary copies.
#[derive(Default)]
struct Held {
    locks: Vec<fs::File>,
    temp: Vec<PathBuf>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for t in &self.temp {
            let _ = fs::remove_dir_all(t).or_else(|_| fs::remove_file(t));
        }
    }
}

fn make_dir(path: &Path, mode: u32, uid: u32, gid: u32) -> BuildResult<()> {
    let io = |e: std::io::Error| BuildError::new(format!("creating {}: {e}", path.display()));
    fs::create_dir_all(path).map_err(io)?;
    chown(path, Some(uid), Some(gid)).map_err(io)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io)?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> BuildResult<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| BuildError::new(format!("copying {}: {e}", from.display())))?;
    if !status.success() {
        return Err(BuildError::new(format!(
            "copying {} for a writable mount failed",
            from.display()
        )));
    }
    Ok(())
}

/// Removes from `dir`, a copy of the context's `prefix` (`.` for its root), every entry
/// `ignore` leaves out of the context; an excluded directory stays only for what an exception
/// re-includes below it.
fn drop_ignored(dir: &Path, prefix: &str, ignore: &Dockerignore) -> BuildResult<()> {
    let io = |e: std::io::Error| BuildError::new(format!("filtering a --mount source: {e}"));
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let rel = if prefix == "." || prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        let excluded = ignore.is_excluded(&rel);
        if entry.file_type().map_err(io)?.is_dir() {
            if excluded && !ignore.may_reinclude_below() {
                fs::remove_dir_all(&path).map_err(io)?;
                continue;
            }
            drop_ignored(&path, &rel, ignore)?;
            if excluded && fs::read_dir(&path).map_err(io)?.next().is_none() {
                fs::remove_dir(&path).map_err(io)?;
            }
        } else if excluded {
            fs::remove_file(&path).map_err(io)?;
        }
    }
    Ok(())
}

/// The host path under `root` that `rel` names, refusing paths that leave it.
fn inside(root: &Path, rel: &str, what: &str) -> BuildResult<PathBuf> {
    let mut parts = Vec::new();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::new(format!(
                        "{what} {rel:?} is outside the build context"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    let p = root.join(parts.join("/"));
    if let Ok(real) = fs::canonicalize(&p)
        && let Ok(real_root) = fs::canonicalize(root)
        && !real.starts_with(&real_root)
    {
        return Err(BuildError::new(format!(
            "{what} {rel:?} is outside the build context (a symlink leads out of it)"
        )));
    }
    if fs::symlink_metadata(&p).is_err() {
        return Err(BuildError::new(format!("{what} {rel:?} not found")));
    }
    Ok(p)
}

/// Prepares the sandbox mounts of a RUN's `--mount`s; adds secret env variables to `env`.
fn prepare_mounts(
    sh: &Shared,
    run: &Run,
    workdir: &str,
    env: &mut Vec<String>,
    held: &mut Held,
) -> BuildResult<Vec<Mount>> {
    let mut out = Vec::new();
    for (spec, m) in run.mounts.iter().zip(mounts_of(run)?) {
        let at = |msg: String| BuildError::at(spec.raw.pos, msg);
        let target = |default: Option<String>| -> BuildResult<String> {
            let t = m.target.clone().or(default).ok_or_else(|| {
                at(format!(
                    "--mount={}: a target is required (target=/path)",
                    spec.raw.value
                ))
            })?;
            Ok(if t.starts_with('/') {
                t
            } else {
                super::config::join_workdir(workdir, &t)
            })
        };
        match m.kind {
            MountType::Cache => {
                let target = target(None)?;
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let hashed = {
                    use sha2::{Digest as _, Sha256};
                    hex::encode(Sha256::digest(id.as_bytes()))
                };
                let base = sh.store.build_cache_dir().join("mounts");
                let dir = base.join(&hashed);
                if !dir.exists() {
                    fs::create_dir_all(&base)
                        .map_err(|e| at(format!("creating {}: {e}", base.display())))?;
                    make_dir(
                        &dir,
                        m.mode.unwrap_or(0o755),
                        m.uid.unwrap_or(0),
                        m.gid.unwrap_or(0),
                    )?;
                }
                let lock_path = base.join(format!("{hashed}.lock"));
                let lock = fs::File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| at(format!("opening {}: {e}", lock_path.display())))?;
                let mut source = dir.clone();
                // Shared users hold the lock shared: a locked user waits for them all, and a
                // private one sees the cache as in use.
                match m.sharing.unwrap_or(Sharing::Shared) {
                    Sharing::Shared => {
                        lock.lock_shared()
                            .map_err(|e| at(format!("locking cache {id}: {e}")))?;
                        held.locks.push(lock);
                    }
                    Sharing::Locked => {
                        lock.lock()
                            .map_err(|e| at(format!("locking cache {id}: {e}")))?;
                        held.locks.push(lock);
                    }
                    Sharing::Private => {
                        if lock.try_lock().is_ok() {
                            held.locks.push(lock);
                        } else {
                            // Another build holds it: this one gets a fresh, empty cache.
                            let t = sh.store.temp_path("cache-mount")?;
                            make_dir(
                                &t,
                                m.mode.unwrap_or(0o755),
                                m.uid.unwrap_or(0),
                                m.gid.unwrap_or(0),
                            )?;
                            held.temp.push(t.clone());
                            source = t;
                        }
                    }
                }
                out.push(Mount {
                    target,
                    kind: MountKind::Bind {
                        source,
                        readonly: m.readonly,
                    },
                });
            }
            MountType::Tmpfs => out.push(Mount {
                target: target(None)?,
                kind: MountKind::Tmpfs {
                    size: m.size,
                    mode: None,
                },
            }),
            MountType::Bind => {
                let src = m.source.clone().unwrap_or_else(|| ".".to_string());
                let target = target(None)?;
                // A tree bound read-only into the command is exposed to it: it is not kept for
                // later builds (see `Rootfs::taint`).
                let exposed = |r: &super::fs::Rootfs| {
                    if m.readonly {
                        r.taint();
                    }
                    r.dir.clone()
                };
                let root = match m.from.as_deref().map(|f| sh.source(f)) {
                    None => sh.context.clone(),
                    Some(Source::Stage(i)) => {
                        let Some(o) = sh.wait_stage(i) else {
                            return Err(BuildError::new(""));
                        };
                        sh.stage_dir(&o)?;
                        let r = o.rootfs.lock().unwrap_or_else(|e| e.into_inner());
                        r.as_ref().map(exposed).unwrap_or_default()
                    }
                    Some(Source::Context(name)) => match &sh.opts.build_contexts[&name] {
                        super::NamedContext::Dir(d) => d.clone(),
                        super::NamedContext::Image(r) => {
                            let img = sh.image(r)?;
                            exposed(sh.image_rootfs(&img)?.as_ref())
                        }
                    },
                    Some(Source::Image(r)) => {
                        let img = sh.source_image(&r)?;
                        exposed(sh.image_rootfs(&img)?.as_ref())
                    }
                };
                let mut source =
                    inside(&root, &src, "--mount source").map_err(|e| e.or_at(spec.raw.pos))?;
                // The context a RUN sees is the one COPY sees: what .dockerignore leaves out is
                // not there, so an ignored context goes through a filtered copy.
                let filtered = m.from.is_none() && !sh.ignore.is_empty();
                if !m.readonly || filtered {
                    // Writes to a bind mount are thrown away, as BuildKit does: they go to a copy.
                    let t = sh.store.temp_path("bind-mount")?;
                    copy_tree(&source, &t)?;
                    held.temp.push(t.clone());
                    if filtered && t.is_dir() {
                        drop_ignored(&t, &crate::dockerignore::clean(&src), &sh.ignore)?;
                    }
                    source = t;
                }
                out.push(Mount {
                    target,
                    kind: MountKind::Bind {
                        source,
                        readonly: m.readonly,
                    },
                });
            }
            MountType::Secret => {
                let id = match (&m.id, &m.target) {
                    (Some(id), _) => id.clone(),
                    (None, Some(t)) => t.rsplit('/').next().unwrap_or(t).to_string(),
                    (None, None) => {
                        return Err(at(format!(
                            "--mount={}: a secret mount needs id= or target=",
                            spec.raw.value
                        )));
                    }
                };
                let Some(secret) = sh.opts.secrets.get(&id) else {
                    if m.required {
                        return Err(at(format!(
                            "secret {id} not found: pass it with --secret id={id},src=FILE"
                        )));
                    }
                    continue;
                };
                let value_file = match secret {
                    SecretSource::File(p) => p.clone(),
                    SecretSource::Env(var) => {
                        let value = std::env::var(var).map_err(|_| {
                            at(format!(
                                "secret {id}: environment variable {var} is not set"
                            ))
                        })?;
                        let t = sh.store.temp_path("secret")?;
                        fs::write(&t, value)
                            .map_err(|e| at(format!("writing secret {id}: {e}")))?;
                        held.temp.push(t.clone());
                        t
                    }
                };
                if let Some(var) = &m.env {
                    let value = fs::read_to_string(&value_file)
                        .map_err(|e| at(format!("reading secret {id}: {e}")))?;
                    env.push(format!("{var}={}", value.trim_end_matches('\n')));
                    if m.target.is_none() {
                        continue;
                    }
                }
                if fs::metadata(&value_file).is_err() {
                    return Err(at(format!(
                        "secret {id}: {} cannot be read",
                        value_file.display()
                    )));
                }
                out.push(Mount {
                    target: target(Some(format!("/run/secrets/{id}")))?,
                    kind: MountKind::Bind {
                        source: value_file,
                        readonly: true,
                    },
                });
            }
            MountType::Ssh => {
                return Err(at(
                    "RUN --mount=type=ssh is not supported: bale does not forward an SSH agent; use a secret mount instead"
                        .to_string(),
                ));
            }
        }
    }
    Ok(out)
}

/// Runs a RUN whose cache missed, with `run_env` (the stage scope's RUN environment), and
/// returns its layer (`None` when it changed nothing).
pub fn run_step(
    sh: &Shared,
    sfs: &mut StageFs,
    run: &Run,
    cmd: &Command,
    run_env: &[String],
    config: &ImageConfig,
    id: usize,
) -> BuildResult<Option<CachedLayer>> {
    if run.security == Some(Security::Insecure) {
        return Err(BuildError::new(
            "RUN --security=insecure needs the security.insecure entitlement, which bale does not grant",
        ));
    }
    let conf = config.config.clone().unwrap_or_default();
    let mut env = run_env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", bale_sandbox::DEFAULT_PATH));
    }
    let workdir = conf
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let mut held = Held::default();
    let mut mounts = prepare_mounts(sh, run, &workdir, &mut env, &mut held)?;
    if let Some((name, data)) = &cmd.script {
        let t = sh.store.temp_path("heredoc")?;
        fs::write(&t, data).map_err(|e| BuildError::new(format!("writing the heredoc: {e}")))?;
        fs::set_permissions(&t, fs::Permissions::from_mode(0o755))
            .map_err(|e| BuildError::new(format!("writing the heredoc: {e}")))?;
        held.temp.push(t.clone());
        mounts.push(Mount {
            target: format!("/dev/pipes/{name}"),
            kind: MountKind::Bind {
                source: t,
                readonly: true,
            },
        });
    }
    let rootfs = sfs.rootfs(sh)?;
    let before = match rootfs.snapshot.take() {
        Some(s) => s,
        None => Snapshot::take(&rootfs.dir)?,
    };
    let mut spec = SandboxSpec::new(&rootfs.dir, cmd.argv.clone());
    spec.env = env;
    spec.user = conf.user.clone().unwrap_or_default();
    spec.workdir = workdir;
    spec.network = match run.network {
        Some(Network::None) => bale_sandbox::Network::None,
        Some(Network::Host) => bale_sandbox::Network::Host,
        _ => sh.opts.network,
    };
    spec.extra_hosts = sh.opts.add_hosts.clone();
    spec.mounts = mounts;
    spec.ulimits = sh.opts.ulimits.clone();
    if let Some(s) = sh.opts.shm_size {
        spec.shm_size = s;
    }
    let started = Instant::now();
    let root_before = root_identity(&rootfs.dir)?;
    rootfs.running();
    let status = Sandbox::run_with_output(&spec, &mut |stream, line| {
        let mut data = line.to_vec();
        data.push(b'\n');
        sh.progress.event(Event::Output {
            id,
            stream: match stream {
                Stream::Stdout => progress::Stream::Stdout,
                Stream::Stderr => progress::Stream::Stderr,
            },
            elapsed: started.elapsed(),
            data,
        });
    })
    .map_err(|e| BuildError::new(e.to_string()))?;
    drop(held);
    if !status.success() {
        let shown = cmd.argv.join(" ");
        let code = status.code();
        return Err(BuildError::new(format!(
            "process \"{shown}\" did not complete successfully: exit code: {code}"
        )));
    }
    let after = Snapshot::take(&rootfs.dir)?;
    let changes = diff(&before, &after);
    if root_identity(&rootfs.dir)? != root_before || changes.changes.iter().any(unrecorded) {
        rootfs.taint();
    }
    let layer = if changes.changes.is_empty() {
        None
    } else {
        let writer = sh.lease.blob_writer()?;
        let (digest, writer) = write_layer_from_diff(&changes, &after, writer, &sh.layer_opts)?;
        let expected: bale_image::Digest = digest
            .diff_id
            .parse()
            .map_err(|e| BuildError::new(format!("layer digest: {e}")))?;
        let (d, size) = writer.commit(Some(&expected))?;
        Some(CachedLayer {
            digest: d.clone(),
            size,
            media_type: bale_image::manifest::LAYER_TAR.to_string(),
            diff_id: d,
        })
    };
    rootfs.snapshot = Some(after);
    Ok(layer)
}
