//! The executor's side of COPY and ADD, and of the other steps that write files without running
//! anything (WORKDIR's directory, a `--build-context` directory used as a base): the cache key's
//! content part, and the layer written straight from the sources, without a rootfs.
//!
//! Sources are the context (minus `.dockerignore` and `--exclude`), a stage's or an image's
//! files (`--from`), a named `--build-context`, or a heredoc. Docker's destination rules apply:
//! a destination ending in `/` (or several sources) is a directory the sources go into; a
//! directory source copies its content; missing parent directories are created.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bale_image::config::ImageConfig;
use bale_image::store::CachedLayer;
use bale_parser::instruction::{Copy, Source as CopySource};

use super::error::{BuildError, BuildResult};
use super::fs::{LayerIndex, user_files};
use super::plan::{Source, resolve_source};
use super::stage::{StageFs, chomp};
use super::{NamedContext, Shared};
use crate::dockerignore::Dockerignore;
use crate::layer::{CopyEntry, write_copy_layer};

/// The `created_by` of a COPY or ADD, without BuildKit's ` # buildkit` suffix.
pub fn history_text(c: &Copy, add: bool) -> String {
    let mut s = String::from(if add { "ADD" } else { "COPY" });
    for src in &c.sources {
        match src {
            CopySource::Path(w) => {
                s.push(' ');
                s.push_str(&w.value);
            }
            CopySource::Heredoc(h) => {
                s.push_str(" <<");
                s.push_str(&h.name);
            }
        }
    }
    s.push(' ');
    s.push_str(&c.dest.value);
    s
}

fn from_source(sh: &Shared, from: &str) -> Source {
    let names = sh
        .plan
        .stages
        .iter()
        .filter_map(|s| {
            s.stage
                .name
                .as_ref()
                .map(|n| (n.value.to_ascii_lowercase(), s.stage.index))
        })
        .collect();
    let contexts = sh
        .opts
        .build_contexts
        .keys()
        .map(|k| (k.clone(), ()))
        .collect();
    resolve_source(from, &names, sh.plan.stages.len(), &contexts)
}

fn paths(c: &Copy) -> Vec<&str> {
    c.sources
        .iter()
        .filter_map(|s| match s {
            CopySource::Path(w) => Some(w.value.as_str()),
            CopySource::Heredoc(_) => None,
        })
        .collect()
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The content part of a COPY's cache key, and which source path changed since the last build.
pub fn content_key(
    sh: &Shared,
    c: &Copy,
    add: bool,
    note_id: &str,
) -> BuildResult<(String, Option<String>)> {
    let srcs = paths(c);
    if let Some(u) = srcs.iter().find(|s| is_url(s)) {
        return Err(BuildError::new(format!(
            "{} {u}: sources from URLs and git are not supported by this build engine yet",
            if add { "ADD" } else { "COPY" }
        )));
    }
    let heredocs: Vec<String> = c
        .sources
        .iter()
        .filter_map(|s| match s {
            CopySource::Heredoc(h) => Some(format!("{}\0{}", h.name, h.content)),
            CopySource::Path(_) => None,
        })
        .collect();
    let mut key = heredocs.join("\0");
    let mut change = None;
    match c.from.as_ref().map(|f| from_source(sh, &f.value)) {
        None => {
            if !srcs.is_empty() {
                let ignore = sh.ignore.with_excludes(
                    &c.exclude
                        .iter()
                        .map(|w| w.value.clone())
                        .collect::<Vec<_>>(),
                )?;
                let expanded = expand_globs(&sh.context, &srcs, &ignore)?;
                let refs: Vec<&str> = expanded.iter().map(String::as_str).collect();
                let d = sh
                    .hasher
                    .hash(note_id, &sh.context, &refs, &ignore)
                    .map_err(|e| not_found(&sh.context, &srcs, e))?;
                change = d.change.map(|c| c.to_string());
                key.push_str(&d.digest);
            }
        }
        Some(Source::Stage(i)) => {
            let Some(out) = sh.wait_stage(i) else {
                return Err(BuildError::new(""));
            };
            key.push_str(&format!("stage:{}", out.key));
        }
        Some(Source::Image(r)) => {
            let img = sh.source_image(&r)?;
            key.push_str(&format!("image:{}", img.id));
        }
        Some(Source::Context(name)) => match &sh.opts.build_contexts[&name] {
            NamedContext::Dir(d) => {
                let ignore = Dockerignore::default();
                let d = sh
                    .hasher
                    .hash(&format!("{note_id}/{name}"), d, &srcs, &ignore)
                    .map_err(|e| not_found(d, &srcs, e))?;
                change = d.change.map(|c| format!("{name}: {c}"));
                key.push_str(&d.digest);
            }
            NamedContext::Image(r) => {
                let img = sh.image(r)?;
                key.push_str(&format!("image:{}", img.id));
            }
        },
    }
    Ok((key, change))
}

/// Turns a hashing error about a missing source into docker's message, with the closest name.
fn not_found(root: &Path, srcs: &[&str], e: crate::Error) -> BuildError {
    for s in srcs {
        if has_wildcard(s) {
            continue;
        }
        let rel = s.trim_start_matches('/');
        if inside(root, rel).is_ok_and(|p| fs::symlink_metadata(p).is_err()) {
            return missing(root, rel);
        }
    }
    BuildError::new(e.to_string())
}

fn missing(root: &Path, rel: &str) -> BuildError {
    let rel = rel.trim_end_matches('/');
    let (parent, name) = match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => ("", rel),
    };
    let names: Vec<String> = fs::read_dir(root.join(parent))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let hint = match bale_parser::instruction::suggest(name, &refs) {
        Some(s) if parent.is_empty() => format!(" (did you mean {s}?)"),
        Some(s) => format!(" (did you mean {parent}/{s}?)"),
        None => String::new(),
    };
    BuildError::new(format!("file not found in build context: {rel}{hint}"))
}

/// The host path under `root` for `rel`, refusing one that leaves it (`..`, or a symlink on
/// the way that points out).
fn inside(root: &Path, rel: &str) -> BuildResult<PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::new(format!(
                        "COPY source {rel:?} is outside the build context: sources must be inside it"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    let p = root.join(parts.join("/"));
    if let Some(parent) = p.parent()
        && let (Ok(real), Ok(real_root)) = (fs::canonicalize(parent), fs::canonicalize(root))
        && !real.starts_with(&real_root)
    {
        return Err(BuildError::new(format!(
            "COPY source {rel:?} is outside the build context: a symlink leads out of it"
        )));
    }
    Ok(p)
}

/// Shell-style match of one path component (`*`, `?`, `[...]`), as Go's `filepath.Match`.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') || chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' {
                        re.push_str("\\\\");
                    } else {
                        re.push(c);
                    }
                }
                re.push(']');
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(name))
}

/// Expands sources with wildcards into the context paths they match (sorted); others stay.
fn expand_globs(root: &Path, srcs: &[&str], ignore: &Dockerignore) -> BuildResult<Vec<String>> {
    let mut out = Vec::new();
    for s in srcs {
        let rel = s.trim_start_matches('/');
        if !has_wildcard(rel) {
            out.push(rel.to_string());
            continue;
        }
        let mut candidates = vec![String::new()];
        for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let mut next = Vec::new();
            for base in &candidates {
                if has_wildcard(comp) {
                    let dir = if base.is_empty() {
                        root.to_path_buf()
                    } else {
                        root.join(base)
                    };
                    let Ok(rd) = fs::read_dir(&dir) else { continue };
                    let mut names: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| glob_match(comp, n))
                        .collect();
                    names.sort();
                    for n in names {
                        next.push(if base.is_empty() {
                            n
                        } else {
                            format!("{base}/{n}")
                        });
                    }
                } else {
                    next.push(if base.is_empty() {
                        comp.to_string()
                    } else {
                        format!("{base}/{comp}")
                    });
                }
            }
            candidates = next;
        }
        candidates.retain(|c| !ignore.is_excluded(c) && fs::symlink_metadata(root.join(c)).is_ok());
        if candidates.is_empty() {
            return Err(BuildError::new(format!(
                "lstat {rel}: no source files were specified (nothing in the build context matches {rel})"
            )));
        }
        out.extend(candidates);
    }
    Ok(out)
}

/// Every path under `dir` (relative, sorted), minus what `ignore` excludes.
fn walk(
    root: &Path,
    rel: &str,
    ignore: &Dockerignore,
    out: &mut Vec<(String, PathBuf)>,
) -> BuildResult<()> {
    let host = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = fs::read_dir(&host)
        .map_err(|e| BuildError::new(format!("reading {}: {e}", host.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let child = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        let path = root.join(&child);
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| BuildError::new(format!("reading {}: {e}", path.display())))?;
        let excluded = ignore.is_excluded(&child);
        if !excluded {
            out.push((child.clone(), path));
        }
        if meta.is_dir() && (!excluded || ignore.may_reinclude_below()) {
            walk(root, &child, ignore, out)?;
        }
    }
    Ok(())
}

fn join(dest: &str, rel: &str) -> String {
    if rel.is_empty() {
        dest.to_string()
    } else {
        format!("{}/{rel}", dest.trim_end_matches('/'))
    }
}

/// Resolves `--chown` (names through the stage's `/etc/passwd` and `/etc/group`).
fn chown_ids(sh: &Shared, sfs: &StageFs, chown: Option<&str>) -> BuildResult<(u32, u32)> {
    let Some(spec) = chown.filter(|s| !s.is_empty()) else {
        return Ok((0, 0));
    };
    let numeric = |s: &str| s.parse::<u32>().ok();
    let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
    if let Some(uid) = numeric(u)
        && (g.is_empty() || numeric(g).is_some())
    {
        return Ok((
            uid,
            if g.is_empty() {
                uid
            } else {
                numeric(g).unwrap_or(uid)
            },
        ));
    }
    let (passwd, group) = user_files(sh.store, &sfs.layers, sfs.current_rootfs())?;
    let user = bale_sandbox::resolve_user(spec, passwd.as_deref(), group.as_deref())
        .map_err(|e| BuildError::new(format!("--chown={spec}: {e}")))?;
    Ok((user.uid, user.gid))
}

/// Which of `wanted` (absolute directories) the stage does not have yet.
fn missing_dirs(
    sh: &Shared,
    sfs: &StageFs,
    wanted: &BTreeSet<String>,
) -> BuildResult<BTreeSet<String>> {
    if let Some(r) = &sfs.rootfs
        && r.applied == sfs.layers.len()
    {
        return Ok(wanted
            .iter()
            .filter(|w| fs::symlink_metadata(r.dir.join(w.trim_start_matches('/'))).is_err())
            .cloned()
            .collect());
    }
    let index = LayerIndex::build(sh.store, &sfs.layers)?;
    Ok(wanted
        .iter()
        .filter(|w| index.get(w).is_none())
        .cloned()
        .collect())
}

fn parents_of(path: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut p = path.trim_end_matches('/');
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if p.is_empty() {
            break;
        }
        v.push(p.to_string());
    }
    v
}

fn commit_layer(sh: &Shared, entries: &[CopyEntry]) -> BuildResult<Option<CachedLayer>> {
    if entries.is_empty() {
        return Ok(None);
    }
    let writer = sh.lease.blob_writer()?;
    let (digest, writer) = write_copy_layer(entries, writer, &sh.layer_opts)?;
    let expected: bale_image::Digest = digest
        .diff_id
        .parse()
        .map_err(|e| BuildError::new(format!("layer digest: {e}")))?;
    let (d, size) = writer.commit(Some(&expected))?;
    Ok(Some(CachedLayer {
        digest: d.clone(),
        size,
        media_type: bale_image::manifest::LAYER_TAR.to_string(),
        diff_id: d,
    }))
}

/// Runs a COPY or ADD whose cache missed and returns its layer.
pub fn copy_step(
    sh: &Shared,
    sfs: &mut StageFs,
    c: &Copy,
    add: bool,
    _config: &ImageConfig,
    workdir: &str,
) -> BuildResult<Option<CachedLayer>> {
    let keyword = if add { "ADD" } else { "COPY" };
    let (uid, gid) = chown_ids(sh, sfs, c.chown.as_ref().map(|w| w.value.as_str()))?;
    let chmod = c.chmod.as_ref().and_then(|m| m.mode.clone());
    let srcs = paths(c);
    let multiple =
        srcs.len() + (c.sources.len() - srcs.len()) > 1 || srcs.iter().any(|s| has_wildcard(s));
    let dest_raw = c.dest.value.clone();
    let dest_is_dir =
        dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == "." || multiple;
    let dest = if dest_raw.starts_with('/') {
        super::config::join_workdir("/", &dest_raw)
    } else {
        super::config::join_workdir(workdir, &dest_raw)
    };
    if multiple && !dest_raw.ends_with('/') && !dest_raw.ends_with('.') {
        return Err(BuildError::new(format!(
            "When using {keyword} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let (root, ignore) = match c.from.as_ref().map(|f| from_source(sh, &f.value)) {
        None => (sh.context.clone(), sh.ignore.clone()),
        Some(Source::Stage(i)) => {
            let Some(out) = sh.wait_stage(i) else {
                return Err(BuildError::new(""));
            };
            (sh.stage_dir(&out)?, Dockerignore::default())
        }
        Some(Source::Image(r)) => {
            let img = sh.source_image(&r)?;
            (sh.image_rootfs(&img)?.dir.clone(), Dockerignore::default())
        }
        Some(Source::Context(name)) => match &sh.opts.build_contexts[&name] {
            NamedContext::Dir(d) => (d.clone(), Dockerignore::default()),
            NamedContext::Image(r) => {
                let img = sh.image(r)?;
                (sh.image_rootfs(&img)?.dir.clone(), Dockerignore::default())
            }
        },
    };
    let ignore = ignore.with_excludes(
        &c.exclude
            .iter()
            .map(|w| w.value.clone())
            .collect::<Vec<_>>(),
    )?;
    let mode_of = |meta: &fs::Metadata| -> Option<u32> {
        chmod
            .as_ref()
            .map(|m| m.apply(meta.mode() & 0o7777, meta.is_dir()))
    };
    let mut entries: Vec<CopyEntry> = Vec::new();
    let mut dirs_needed: BTreeSet<String> = BTreeSet::new();
    let mut held = Vec::new();
    for src in &c.sources {
        match src {
            CopySource::Heredoc(h) => {
                let data = if h.chomp {
                    chomp(&h.content)
                } else {
                    h.content.clone()
                };
                let t = sh.store.temp_path("heredoc")?;
                fs::write(&t, data)
                    .map_err(|e| BuildError::new(format!("writing heredoc: {e}")))?;
                let target = if dest_is_dir {
                    join(&dest, &h.name)
                } else {
                    dest.clone()
                };
                entries.push(CopyEntry {
                    source: Some(t.clone()),
                    dest: target.clone(),
                    uid,
                    gid,
                    mode: Some(chmod.as_ref().map_or(0o644, |m| m.apply(0o644, false))),
                });
                dirs_needed.extend(parents_of(&target));
                held.push(t);
            }
            CopySource::Path(_) => {}
        }
    }
    let expanded = if c.from.is_none() {
        expand_globs(&root, &srcs, &ignore)?
    } else {
        srcs.iter()
            .map(|s| s.trim_start_matches('/').to_string())
            .collect()
    };
    for rel in &expanded {
        let host = inside(&root, rel)?;
        let meta = match fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(_) if c.from.is_none() => return Err(missing(&root, rel)),
            Err(_) => {
                return Err(BuildError::new(format!(
                    "{keyword} --from={}: {rel} not found in the source's files",
                    c.from.as_ref().map_or("", |f| f.value.as_str())
                )));
            }
        };
        if meta.is_dir() {
            dirs_needed.insert(dest.clone());
            dirs_needed.extend(parents_of(&dest));
            // Walked from the source root, so ignore patterns see context-relative paths.
            let top = rel.trim_matches('/');
            let top = if top == "." { "" } else { top };
            let mut files = Vec::new();
            walk(&root, top, &ignore, &mut files)?;
            for (r, p) in files {
                let r = if top.is_empty() {
                    r
                } else {
                    r.strip_prefix(&format!("{top}/")).unwrap_or(&r).to_string()
                };
                let m = fs::symlink_metadata(&p)
                    .map_err(|e| BuildError::new(format!("reading {}: {e}", p.display())))?;
                entries.push(CopyEntry {
                    source: Some(p),
                    dest: join(&dest, &r),
                    uid,
                    gid,
                    mode: mode_of(&m),
                });
            }
        } else {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let target = if dest_is_dir {
                join(&dest, name)
            } else {
                dest.clone()
            };
            dirs_needed.extend(parents_of(&target));
            entries.push(CopyEntry {
                source: Some(host),
                dest: target,
                uid,
                gid,
                mode: mode_of(&meta),
            });
        }
    }
    dirs_needed.remove("/");
    dirs_needed.remove("");
    let missing = missing_dirs(sh, sfs, &dirs_needed)?;
    for d in missing {
        entries.push(CopyEntry {
            source: None,
            dest: d,
            uid,
            gid,
            mode: None,
        });
    }
    let layer = commit_layer(sh, &entries);
    for t in held {
        let _ = fs::remove_file(t);
    }
    layer
}

/// Creates the missing directories of a WORKDIR, owned by the current USER.
pub fn workdir_step(
    sh: &Shared,
    sfs: &mut StageFs,
    wd: &str,
    user: &str,
) -> BuildResult<Option<CachedLayer>> {
    if wd == "/" {
        return Ok(None);
    }
    let mut wanted: BTreeSet<String> = parents_of(wd).into_iter().collect();
    wanted.insert(wd.to_string());
    let missing = missing_dirs(sh, sfs, &wanted)?;
    if missing.is_empty() {
        return Ok(None);
    }
    let (uid, gid) = if user.is_empty() {
        (0, 0)
    } else {
        let (passwd, group) = user_files(sh.store, &sfs.layers, sfs.current_rootfs())?;
        let u = bale_sandbox::resolve_user(user, passwd.as_deref(), group.as_deref())
            .map_err(|e| BuildError::new(format!("WORKDIR {wd}: USER {user}: {e}")))?;
        (u.uid, u.gid)
    };
    let entries: Vec<CopyEntry> = missing
        .into_iter()
        .map(|d| CopyEntry {
            source: None,
            dest: d,
            uid,
            gid,
            mode: Some(0o755),
        })
        .collect();
    commit_layer(sh, &entries)
}

/// The layer of a `--build-context NAME=DIR` used as a FROM: every file of the directory.
pub fn directory_layer(sh: &Shared, dir: &Path) -> BuildResult<Option<CachedLayer>> {
    let mut files = Vec::new();
    walk(dir, "", &Dockerignore::default(), &mut files)?;
    let entries: Vec<CopyEntry> = files
        .into_iter()
        .map(|(rel, p)| CopyEntry {
            source: Some(p),
            dest: rel,
            uid: 0,
            gid: 0,
            mode: None,
        })
        .collect();
    commit_layer(sh, &entries)
}
