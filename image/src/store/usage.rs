//! Disk usage of the store, for `system df`: images (each blob counted once however many
//! images share it), and the other folders bale keeps in the store when they exist; clearing the
//! build cache folder for `system prune`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use super::{Image, Store};
use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// One image's share of the disk.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    /// The image.
    pub image: Image,
    /// Config and layers, as stored.
    pub size: u64,
    /// The part of `size` other images share.
    pub shared: u64,
}

/// What the store takes on disk.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Every image, with its sizes.
    pub images: Vec<ImageUsage>,
    /// Bytes of the configs and layers of all images, each blob counted once.
    pub images_size: u64,
    /// Build-cache entries (cached steps and cache mounts) and the bytes of its folder
    /// (`bale/cache`).
    pub build_cache: (usize, u64),
    /// Entries and bytes of the volumes folder (`bale/volumes`).
    pub volumes: (usize, u64),
}

impl Store {
    /// Measures the store.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.images()?;
        let mut users: HashMap<Digest, usize> = HashMap::new();
        let mut sizes: HashMap<Digest, u64> = HashMap::new();
        let blobs_of = |i: &Image| -> Vec<(Digest, u64)> {
            let mut v = vec![(i.id.clone(), i.manifest.config().size())];
            for l in i.manifest.layers() {
                if let Ok(d) = Digest::try_from(l.digest()) {
                    v.push((d, l.size()));
                }
            }
            v.sort();
            v.dedup();
            v
        };
        let mut seen_ids = HashSet::new();
        for i in &images {
            if !seen_ids.insert(i.id.clone()) {
                continue;
            }
            for (d, s) in blobs_of(i) {
                *users.entry(d.clone()).or_default() += 1;
                sizes.insert(d, s);
            }
        }
        let usage = images
            .into_iter()
            .map(|image| {
                let blobs = blobs_of(&image);
                let size = image.size();
                let shared = blobs
                    .iter()
                    .filter(|(d, _)| {
                        users.get(d).copied().unwrap_or(0) > 1 && *d != image.manifest_digest
                    })
                    .map(|(_, s)| s)
                    .sum();
                ImageUsage {
                    image,
                    size,
                    shared,
                }
            })
            .collect();
        Ok(DiskUsage {
            images: usage,
            images_size: sizes.values().sum(),
            build_cache: {
                // Entries are the cached steps and the cache mounts, as docker counts records;
                // the size is the whole folder.
                let dir = self.bale_dir().join("cache");
                let entries =
                    folder_usage(&dir.join("records")).0 + folder_usage(&dir.join("mounts")).0;
                (entries, folder_usage(&dir).1)
            },
            volumes: folder_usage(&self.bale_dir().join("volumes")),
        })
    }

    /// Empties the build cache folder (`bale/cache`), returning the names of the entries removed
    /// and the bytes they held. A store without the folder has nothing to clear. Runs under the
    /// collection lock so no build's lease overlaps it.
    pub fn clear_build_cache(&self) -> Result<(Vec<String>, u64)> {
        let dir = self.bale_dir().join("cache");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok((Vec::new(), 0));
        };
        let gate_path = self.bale_dir().join("gc-gate.lock");
        let gate = super::open_lock_file(&gate_path)?;
        gate.lock().at("locking", &gate_path)?;
        let lock_path = self.bale_dir().join("gc.lock");
        let lock = super::open_lock_file(&lock_path)?;
        lock.lock().at("locking", &lock_path)?;
        drop(gate);
        let mut names = Vec::new();
        let mut bytes = 0;
        for e in entries {
            let e = e.at("reading", &dir)?;
            let path = e.path();
            bytes += tree_size(&path);
            let is_dir = e.file_type().at("reading", &path)?.is_dir();
            if is_dir {
                fs::remove_dir_all(&path).at("removing build cache entry", &path)?;
            } else {
                fs::remove_file(&path).at("removing build cache entry", &path)?;
            }
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok((names, bytes))
    }
}

/// (top-level entries, total bytes) of a folder; zero when it does not exist.
fn folder_usage(dir: &Path) -> (usize, u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut count = 0;
    let mut bytes = 0;
    for e in entries.flatten() {
        count += 1;
        bytes += tree_size(&e.path());
    }
    (count, bytes)
}

pub(crate) fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|es| es.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}
