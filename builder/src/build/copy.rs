//! The executor's side of COPY and ADD, and of the other steps that write files without running
//! anything (WORKDIR's directories, a `--build-context` directory used as a base).
//!
//! COPY and ADD themselves are [`crate::copy`]'s: a [`CopyPlan`] says what the layer holds and
//! writes it straight from the sources. Here is decided where the sources are (the context, a
//! stage's or an image's files, a named context), what the destination image already holds (its
//! rootfs when one is up to date, else its layers' headers through a [`LayerIndex`]), and what
//! goes into the cache key: for the context, the plan's content digest (computed against an
//! empty destination, which the parent key already covers, so no rootfs or layer is read);
//! for another stage or an image, that stage's last key or the image's ID.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use bale_image::Store;
use bale_image::store::CachedLayer;
use bale_parser::instruction::{Copy, Source as CopySource};

use super::error::{BuildError, BuildResult};
use super::fs::{IndexKind, LayerIndex, user_files};
use super::plan::Source;
use super::stage::StageFs;
use super::{NamedContext, Shared};
use crate::context::PathChange;
use crate::copy::{
    CopyPlan, CopyRequest, Dest, DestEntry, DestKind, EmptyDest, RootfsDest, SourceRoot,
};
use crate::digest::LayerDigest;
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

/// A stage's filesystem as its layers' headers describe it, for planning a COPY without a
/// rootfs.
struct IndexDest<'a> {
    index: LayerIndex,
    store: &'a Store,
    layers: &'a [CachedLayer],
}

impl Dest for IndexDest<'_> {
    fn entry(&self, path: &str) -> Result<Option<DestEntry>, crate::Error> {
        Ok(self.index.get(path).map(|e| DestEntry {
            kind: match &e.kind {
                IndexKind::File | IndexKind::Hardlink(_) => DestKind::File,
                IndexKind::Dir => DestKind::Dir,
                IndexKind::Symlink(t) => DestKind::Symlink(t.clone()),
                IndexKind::Other => DestKind::Other,
            },
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
        }))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, crate::Error> {
        self.index
            .read_file(self.store, self.layers, path)
            .map_err(|e| crate::Error::Invalid(e.message))
    }
}

/// Where a COPY's sources are read from, materialising a stage or an image when needed.
fn source_root(sh: &Shared, c: &Copy) -> BuildResult<SourceRoot> {
    Ok(match c.from.as_ref().map(|f| (f, sh.source(&f.value))) {
        None => SourceRoot::context(&sh.context, sh.ignore.clone())?,
        Some((f, Source::Stage(i))) => {
            let Some(out) = sh.wait_stage(i) else {
                return Err(BuildError::new(""));
            };
            SourceRoot::stage(&sh.stage_dir(&out)?, &f.value)?
        }
        Some((f, Source::Image(r))) => {
            let img = sh.source_image(&r)?;
            SourceRoot::image(&sh.image_rootfs(&img)?.dir, &f.value)?
        }
        Some((f, Source::Context(name))) => match &sh.opts.build_contexts[&name] {
            NamedContext::Dir(d) => {
                SourceRoot::context(d, crate::dockerignore::Dockerignore::default())?
            }
            NamedContext::Image(r) => {
                let img = sh.image(r)?;
                SourceRoot::image(&sh.image_rootfs(&img)?.dir, &f.value)?
            }
        },
    })
}

fn request(sh: &Shared, c: &Copy, add: bool, workdir: &str) -> BuildResult<CopyRequest> {
    let mut req = CopyRequest::from_instruction(c, add, workdir)?;
    req.temp_dir = Some(sh.store.temp_dir()?.to_path_buf());
    Ok(req)
}

/// The content part of a COPY's cache key, and which source path changed since the last build.
pub fn content_key(
    sh: &Shared,
    c: &Copy,
    add: bool,
    note_id: &str,
    workdir: &str,
) -> BuildResult<(String, Option<String>)> {
    let from_other = match c.from.as_ref().map(|f| sh.source(&f.value)) {
        None => None,
        Some(Source::Stage(i)) => {
            let Some(out) = sh.wait_stage(i) else {
                return Err(BuildError::new(""));
            };
            Some(format!("stage:{}", out.key))
        }
        Some(Source::Image(r)) => Some(format!("image:{}", sh.source_image(&r)?.id)),
        Some(Source::Context(name)) => match &sh.opts.build_contexts[&name] {
            NamedContext::Image(r) => Some(format!("image:{}", sh.image(r)?.id)),
            NamedContext::Dir(_) => None,
        },
    };
    // Heredocs and URLs are in the plan's digest; a stage's or an image's files are what its
    // key or ID says, so they are not walked until the step runs.
    if let Some(k) = from_other
        && c.sources.iter().all(|s| matches!(s, CopySource::Path(_)))
    {
        return Ok((k, None));
    }
    let req = request(sh, c, add, workdir)?;
    let root = source_root(sh, c)?;
    let plan = CopyPlan::new(&req, &root, &EmptyDest)?;
    let d = plan.content_digest(&sh.hasher, note_id)?;
    Ok((d.digest, d.change.map(|c| describe_change(&plan, &root, c))))
}

/// A COPY's content change in the user's terms: the source file as the context (or the stage
/// or image) names it when there is one, else the path in the image.
fn describe_change(plan: &CopyPlan, root: &SourceRoot, change: PathChange) -> String {
    let (PathChange::Added(dest) | PathChange::Modified(dest) | PathChange::Removed(dest)) =
        &change;
    let source = plan
        .host_source(dest)
        .and_then(|p| p.strip_prefix(root.path()).ok())
        .map(|r| r.display().to_string());
    match (&change, source) {
        (PathChange::Added(_), Some(s)) => format!("{s} was added"),
        (PathChange::Modified(_), Some(s)) => format!("{s} changed"),
        (PathChange::Added(d), None) => format!("/{d} is new in the image"),
        (PathChange::Modified(d), None) => format!("/{d} changed"),
        (PathChange::Removed(d), _) => format!("/{d} is no longer copied (its source is gone)"),
    }
}

fn commit(digest: LayerDigest, writer: bale_image::BlobWriter) -> BuildResult<CachedLayer> {
    let expected: bale_image::Digest = digest
        .diff_id
        .parse()
        .map_err(|e| BuildError::new(format!("layer digest: {e}")))?;
    let (d, size) = writer.commit(Some(&expected))?;
    Ok(CachedLayer {
        digest: d.clone(),
        size,
        media_type: bale_image::manifest::LAYER_TAR.to_string(),
        diff_id: d,
    })
}

fn write_plan(sh: &Shared, plan: &CopyPlan) -> BuildResult<Option<CachedLayer>> {
    if plan.is_empty() {
        return Ok(None);
    }
    let writer = sh.lease.blob_writer()?;
    let mut writer = Some(writer);
    let digest = {
        let w = writer.as_mut().expect("set above");
        plan.write_layer(w, &sh.layer_opts)?
    };
    match digest {
        Some(d) => Ok(Some(commit(d, writer.take().expect("set above"))?)),
        None => Ok(None),
    }
}

/// Runs a COPY or ADD whose cache missed and returns its layer (`None` when it copies
/// nothing, as a wildcard matching nothing does).
pub fn copy_step(
    sh: &Shared,
    sfs: &mut StageFs,
    stage: usize,
    line: usize,
    c: &Copy,
    add: bool,
    workdir: &str,
) -> BuildResult<Option<CachedLayer>> {
    let req = request(sh, c, add, workdir)?;
    let root = source_root(sh, c)?;
    let plan = match sfs.current_rootfs() {
        Some(dir) => CopyPlan::new(&req, &root, &RootfsDest::new(dir))?,
        None if sfs.layers.is_empty() => CopyPlan::new(&req, &root, &EmptyDest)?,
        None => {
            let dest = IndexDest {
                index: LayerIndex::build(sh.store, &sfs.layers)?,
                store: sh.store,
                layers: &sfs.layers,
            };
            CopyPlan::new(&req, &root, &dest)?
        }
    };
    for w in plan.warnings() {
        sh.warn(stage, line, format!("{w} (line {line})"));
    }
    write_plan(sh, &plan)
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
    let req = CopyRequest {
        temp_dir: Some(sh.store.temp_dir()?.to_path_buf()),
        ..CopyRequest::new(vec![crate::copy::CopySource::Path(".".to_string())], "/")
    };
    let root = SourceRoot::context(dir, crate::dockerignore::Dockerignore::default())?;
    write_plan(sh, &CopyPlan::new(&req, &root, &EmptyDest)?)
}

fn commit_layer(sh: &Shared, entries: &[CopyEntry]) -> BuildResult<Option<CachedLayer>> {
    if entries.is_empty() {
        return Ok(None);
    }
    let writer = sh.lease.blob_writer()?;
    let (digest, writer) = write_copy_layer(entries, writer, &sh.layer_opts)?;
    commit(digest, writer).map(Some)
}
