//! A stage's filesystem: its layers, the rootfs directory materialised from them only when
//! something must run in it (extracted once, then kept up to date by applying later layers),
//! and questions about a path answered from the layers alone when there is no rootfs.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use bale_image::Store;
use bale_image::store::CachedLayer;

use super::error::{BuildError, BuildResult};
use crate::extract::{ExtractOptions, extract_layer};
use crate::snapshot::Snapshot;

/// Opens a layer blob for reading as a plain tar, decompressing it when it was stored
/// compressed (as pulled).
pub fn open_layer(store: &Store, layer: &CachedLayer) -> BuildResult<Box<dyn Read>> {
    let f = store.open_blob(&layer.digest)?;
    let (reader, _) =
        bale_image::compress::decompress(std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| BuildError::new(format!("reading layer {}: {e}", layer.digest)))?;
    Ok(reader)
}

/// Extracts `layers` in order into `dir`.
pub fn extract_all(store: &Store, layers: &[CachedLayer], dir: &Path) -> BuildResult<()> {
    for l in layers {
        extract_layer(open_layer(store, l)?, dir, &ExtractOptions::default())
            .map_err(|e| BuildError::new(format!("extracting layer {}: {e}", l.digest)))?;
    }
    Ok(())
}

/// A stage's materialised rootfs.
pub struct Rootfs {
    /// The directory.
    pub dir: PathBuf,
    /// How many of the stage's layers it holds.
    pub applied: usize,
    /// An index of it as it is now, when one was taken since the last change (saves the walk
    /// before a RUN that follows a RUN).
    pub snapshot: Option<Snapshot>,
}

impl Rootfs {
    /// Materialises `layers` into a new directory in the store's temporary area.
    pub fn create(store: &Store, layers: &[CachedLayer]) -> BuildResult<Rootfs> {
        let dir = store.temp_path("rootfs")?;
        fs::create_dir(&dir)
            .map_err(|e| BuildError::new(format!("creating {}: {e}", dir.display())))?;
        let mut r = Rootfs {
            dir,
            applied: 0,
            snapshot: None,
        };
        r.update(store, layers)?;
        Ok(r)
    }

    /// Applies the layers it does not hold yet.
    pub fn update(&mut self, store: &Store, layers: &[CachedLayer]) -> BuildResult<()> {
        if self.applied < layers.len() {
            extract_all(store, &layers[self.applied..], &self.dir)?;
            self.applied = layers.len();
            self.snapshot = None;
        }
        Ok(())
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What the layers say about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No layer has it (or a whiteout removed it).
    Missing,
    /// A directory.
    Dir,
    /// Anything else; a regular file's content when it was asked for.
    Other(Option<Vec<u8>>),
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Looks `path` (absolute in the image) up in `layers` without extracting them: the topmost
/// layer that has it, or a whiteout of it or of a parent, or an opaque parent, decides. With
/// `content`, a regular file's bytes are returned. Symlinks on the way are not followed.
pub fn find_in_layers(
    store: &Store,
    layers: &[CachedLayer],
    path: &str,
    content: bool,
) -> BuildResult<Found> {
    let target = clean(path);
    if target.is_empty() {
        return Ok(Found::Dir);
    }
    let parents: Vec<String> = {
        let mut v = Vec::new();
        let mut p = target.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            v.push(p.to_string());
        }
        v
    };
    for layer in layers.iter().rev() {
        let mut archive = tar::Archive::new(open_layer(store, layer)?);
        let mut opaque_below = false;
        let entries = archive
            .entries()
            .map_err(|e| BuildError::new(format!("reading layer {}: {e}", layer.digest)))?;
        for entry in entries {
            let mut entry = entry
                .map_err(|e| BuildError::new(format!("reading layer {}: {e}", layer.digest)))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = clean(&raw);
            let (dir, base) = match name.rfind('/') {
                Some(i) => (&name[..i], &name[i + 1..]),
                None => ("", name.as_str()),
            };
            if base == ".wh..wh..opq" {
                if dir == target || parents.iter().any(|p| p == dir) {
                    opaque_below = true;
                }
                continue;
            }
            if let Some(gone) = base.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    gone.to_string()
                } else {
                    format!("{dir}/{gone}")
                };
                if gone == target || parents.contains(&gone) {
                    return Ok(Found::Missing);
                }
                continue;
            }
            if name == target {
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    return Ok(Found::Dir);
                }
                if content && kind.is_file() {
                    let mut buf = Vec::new();
                    entry.read_to_end(&mut buf).map_err(|e| {
                        BuildError::new(format!("reading layer {}: {e}", layer.digest))
                    })?;
                    return Ok(Found::Other(Some(buf)));
                }
                return Ok(Found::Other(None));
            }
        }
        if opaque_below {
            return Ok(Found::Missing);
        }
    }
    Ok(Found::Missing)
}

/// The text of `/etc/passwd` and `/etc/group` of a stage: from its rootfs when there is one,
/// else from its layers.
pub fn user_files(
    store: &Store,
    layers: &[CachedLayer],
    rootfs: Option<&Path>,
) -> BuildResult<(Option<String>, Option<String>)> {
    let read = |name: &str| -> BuildResult<Option<String>> {
        if let Some(dir) = rootfs {
            return Ok(fs::read(dir.join(name))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
        Ok(match find_in_layers(store, layers, name, true)? {
            Found::Other(Some(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        })
    };
    Ok((read("etc/passwd")?, read("etc/group")?))
}
