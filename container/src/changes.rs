//! What a container changed, and what it becomes: `diff` (docker's `A`, `C` and `D` lines),
//! `commit` (the changes as a new layer on the container's image) and `export` (the whole
//! root filesystem as one tar).
//!
//! The changes are read from the overlay's upper directory, through the same
//! [`bale_builder::snapshot::Diff`] and [`bale_builder::layer`] writer a RUN uses: a whiteout
//! device becomes a `.wh.` entry, an opaque directory a `.wh..wh..opq` marker, and overlayfs's
//! own `trusted.overlay.*` attributes never reach the layer. The upper directory can be read
//! while the container runs; `commit` pauses it first (`-p`, the default) so the layer is
//! consistent.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use bale_builder::layer::{LayerOptions, write_layer_from_diff};
use bale_builder::snapshot::{self, Snapshot};
use bale_image::config::{ContainerConfig as ImageRuntimeConfig, History};
use bale_image::{Digest, Image, Reference};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

use crate::model::{Container, Status};
use crate::{Containers, Error, Result, rootfs};

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// `C`: it existed in the image and was changed.
    Changed,
    /// `A`: it is new.
    Added,
    /// `D`: it was deleted.
    Deleted,
}

impl ChangeKind {
    /// docker's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Changed => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Absolute path inside the container.
    pub path: String,
    /// How it changed.
    pub kind: ChangeKind,
}

/// What `commit` makes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `--author`.
    pub author: Option<String>,
    /// `--message`.
    pub message: Option<String>,
    /// The new image's runtime config (start from [`Containers::commit_config`] and apply
    /// `--change`).
    pub config: ImageRuntimeConfig,
    /// Pause the container while its changes are read.
    pub pause: bool,
    /// Names for the new image (none leaves it dangling).
    pub names: Vec<Reference>,
}

fn rel_str(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path))
}

impl Containers<'_> {
    /// The container's changes to its image's file system, sorted by path.
    pub fn changes(&self, c: &Container) -> Result<Vec<Change>> {
        let lower = self.lower_dir(c)?;
        let upper = Snapshot::take(&c.upper_dir())?;
        let diff = snapshot::diff_overlay_upper(&upper)?;
        let in_lower =
            |p: &[u8]| fs::symlink_metadata(lower.join(std::ffi::OsStr::from_bytes(p))).is_ok();
        let mut out: Vec<Change> = Vec::new();
        for (path, change) in &diff.changes {
            match change {
                snapshot::Change::Entry(_) => out.push(Change {
                    path: rel_str(path),
                    kind: if in_lower(path) {
                        ChangeKind::Changed
                    } else {
                        ChangeKind::Added
                    },
                }),
                snapshot::Change::Whiteout => out.push(Change {
                    path: rel_str(path),
                    kind: ChangeKind::Deleted,
                }),
                snapshot::Change::Opaque => {
                    // Everything the image had below it is gone, unless recreated.
                    let dir = lower.join(std::ffi::OsStr::from_bytes(path));
                    if let Ok(entries) = fs::read_dir(&dir) {
                        for e in entries.flatten() {
                            let mut child = path.clone();
                            child.push(b'/');
                            child.extend_from_slice(e.file_name().as_encoded_bytes());
                            if upper.get(&child).is_none() {
                                out.push(Change {
                                    path: rel_str(&child),
                                    kind: ChangeKind::Deleted,
                                });
                            }
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.dedup();
        Ok(out)
    }

    /// The runtime config a commit of `c` starts from: the image's, with the container's
    /// command, entrypoint, environment, working directory, user and labels, as docker's
    /// commit takes them from the container.
    pub fn commit_config(&self, c: &Container) -> ImageRuntimeConfig {
        let mut cfg = c.config.image_config.clone();
        cfg.cmd = c.config.cmd.clone();
        cfg.entrypoint = c.config.entrypoint.clone();
        cfg.env = Some(c.config.env.clone()).filter(|e| !e.is_empty());
        if c.config.working_dir != "/" || cfg.working_dir.is_some() {
            cfg.working_dir = Some(c.config.working_dir.clone());
        }
        if !c.config.user.is_empty() || cfg.user.is_some() {
            cfg.user = Some(c.config.user.clone());
        }
        cfg.labels = Some(c.config.labels.clone()).filter(|l| !l.is_empty());
        cfg
    }

    /// Makes the container's changes a layer on its image and stores the new image.
    pub fn commit(&self, c: &Container, opts: &CommitOptions) -> Result<Image> {
        let store = self.store();
        let base = store.resolve(&c.config.image_id)?;
        let (_, mut config) = store.config(&base)?;
        let now = self.load(&c.id)?;
        let paused = opts.pause && now.state.status == Status::Running;
        if paused {
            self.pause(&now)?;
        }
        let layer = (|| {
            let upper = Snapshot::take(&c.upper_dir())?;
            let diff = snapshot::diff_overlay_upper(&upper)?;
            let lease = store.lease()?;
            let writer = lease.blob_writer()?;
            let (_, writer) =
                write_layer_from_diff(&diff, &upper, writer, &LayerOptions::from_env())?;
            let placed = writer.finish()?.place()?;
            Ok::<_, Error>((lease, placed))
        })();
        if paused {
            self.unpause(&now)?;
        }
        let (lease, (diff_id, size)) = layer?;

        let created = bale_image::time::now();
        config.created = Some(created.clone());
        config.author = opts.author.clone();
        config.config = Some(opts.config.clone());
        config.rootfs.diff_ids.push(diff_id.clone());
        config.history.push(History {
            created: Some(created),
            created_by: Some(c.command_line()),
            author: opts.author.clone(),
            comment: opts.message.clone().filter(|m| !m.is_empty()),
            ..History::default()
        });
        config
            .extra
            .insert("container".into(), serde_json::Value::String(c.id.clone()));
        if let Some(m) = &opts.message {
            config
                .extra
                .insert("comment".into(), serde_json::Value::String(m.clone()));
        } else {
            config.extra.remove("comment");
        }
        let config_bytes = config.to_vec();
        let config_digest: Digest = lease.put_blob(&config_bytes, None)?;
        let mut layers: Vec<Descriptor> = base.manifest.layers().to_vec();
        layers.push(Descriptor::new(
            MediaType::ImageLayer,
            size,
            oci_spec::image::Digest::from(&diff_id),
        ));
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                oci_spec::image::Digest::from(&config_digest),
            ))
            .layers(layers)
            .build()
            .map_err(|e| Error::Invalid(format!("building the manifest: {e}")))?;
        Ok(lease.commit_image(&manifest, &opts.names)?)
    }

    /// Writes the container's whole root filesystem (image and changes, without the mounts)
    /// as a tar to `out`. Mounts a read-only view in a private mount namespace of this
    /// process; call it while the process has one thread.
    pub fn export(&self, c: &Container, out: &mut (dyn Write + Send)) -> Result<()> {
        let lower = self.lower_dir(c)?;
        let view = c.dir.join(format!("view-{}", std::process::id()));
        rootfs::mount_merged_readonly(&c.upper_dir(), &lower, &view)?;
        let result = (|| {
            let snap = Snapshot::take(&view)?;
            let all = snapshot::full(&snap);
            write_layer_from_diff(&all, &snap, &mut *out, &LayerOptions::default())?;
            Ok(())
        })();
        rootfs::unmount(&view);
        let _ = fs::remove_dir(&view);
        result
    }

    /// Mounts the read-only merged view of `c` for reading paths in it (`cp` from a
    /// container); returns the directory and removes it on drop.
    pub(crate) fn merged_view(&self, c: &Container) -> Result<MergedView> {
        let lower = self.lower_dir(c)?;
        let view = c.dir.join(format!("view-{}", std::process::id()));
        rootfs::mount_merged_readonly(&c.upper_dir(), &lower, &view)?;
        Ok(MergedView { dir: view })
    }
}

/// A read-only merged view of a container, unmounted on drop.
pub(crate) struct MergedView {
    pub dir: std::path::PathBuf,
}

impl Drop for MergedView {
    fn drop(&mut self) {
        rootfs::unmount(&self.dir);
        let _ = fs::remove_dir(&self.dir);
    }
}

impl MergedView {
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_dockers() {
        assert_eq!(ChangeKind::Added.letter(), 'A');
        assert_eq!(ChangeKind::Changed.letter(), 'C');
        assert_eq!(ChangeKind::Deleted.letter(), 'D');
    }
}
