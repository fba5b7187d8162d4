//! Garbage collection: removes every blob no index entry reaches (through image indexes,
//! manifests, configs and layers) or build-cache record names, and the metadata of images no longer listed. It runs only
//! when asked (by `rmi` and `prune`), holding the GC lock exclusively (so no writer has blobs in
//! flight) and the index lock (so no name moves while it decides).

use std::collections::HashSet;
use std::fs::{self, File};

use serde_json::Value;

use super::Store;
use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The blobs removed, with their sizes.
    pub removed: Vec<(Digest, u64)>,
}

impl GcReport {
    /// Bytes freed.
    pub fn reclaimed(&self) -> u64 {
        self.removed.iter().map(|(_, s)| s).sum()
    }
}

impl Store {
    /// Collects garbage. With `wait`, waits for writers to finish; without, returns `None` at
    /// once when a writer holds a lease (its garbage is then left for a later collection).
    pub fn gc(&self, wait: bool) -> Result<Option<GcReport>> {
        let path = self.bale_dir().join("gc.lock");
        let lock = super::open_lock_file(&path)?;
        if wait {
            let gate_path = self.bale_dir().join("gc-gate.lock");
            let gate = super::open_lock_file(&gate_path)?;
            gate.lock().at("locking", &gate_path)?;
            lock.lock().at("locking", &path)?;
            drop(gate);
        } else if lock.try_lock().is_err() {
            return Ok(None);
        }
        let _guard = self.index_lock()?;
        let reachable = self.reachable()?;
        let mut report = GcReport::default();
        let blobs = self.root().join("blobs/sha256");
        for entry in fs::read_dir(&blobs).at("reading", &blobs)? {
            let entry = entry.at("reading", &blobs)?;
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                continue;
            };
            if reachable.contains(&digest) {
                continue;
            }
            let size = entry.metadata().map_or(0, |m| m.len());
            fs::remove_file(entry.path()).at("removing unreferenced blob", &entry.path())?;
            report.removed.push((digest, size));
        }
        if !report.removed.is_empty() {
            super::sync_dir(&blobs)?;
        }
        let listed: HashSet<Digest> = self
            .index()?
            .entries()
            .into_iter()
            .map(|e| e.digest)
            .collect();
        self.remove_meta_where(&self.bale_dir().join("meta/images"), |d| {
            !listed.contains(d)
        })?;
        self.remove_meta_where(&self.bale_dir().join("meta/compressed"), |d| {
            !self.has_blob(d)
        })?;
        Ok(Some(report))
    }

    /// Every blob reachable from the index. Missing or unreadable blobs are skipped here:
    /// reporting them is `system check`'s job.
    pub fn reachable(&self) -> Result<HashSet<Digest>> {
        let mut seen = HashSet::new();
        let mut todo: Vec<Digest> = self
            .index()?
            .entries()
            .into_iter()
            .map(|e| e.digest)
            .collect();
        // Layers the build cache records name are roots too: a cached step's layer outlives
        // the images built with it, until `builder prune` removes the record.
        todo.extend(self.cache_roots()?);
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let Ok(bytes) = self.read_blob(&d) else {
                continue;
            };
            todo.extend(children(&bytes));
        }
        Ok(seen)
    }

    fn remove_meta_where(
        &self,
        dir: &std::path::Path,
        gone: impl Fn(&Digest) -> bool,
    ) -> Result<()> {
        for entry in fs::read_dir(dir).at("reading", dir)? {
            let entry = entry.at("reading", dir)?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Ok(d) = Digest::from_hex(hex)
                && gone(&d)
            {
                fs::remove_file(entry.path()).at("removing stale metadata", &entry.path())?;
            }
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .at("syncing directory", dir)
    }
}

/// The blobs a manifest or index names: config, layers, child manifests.
pub(crate) fn children(bytes: &[u8]) -> Vec<Digest> {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |d: &Value| {
        if let Some(d) = d
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
        {
            out.push(d);
        }
    };
    if let Some(c) = v.get("config") {
        push(c);
    }
    for key in ["layers", "manifests"] {
        if let Some(list) = v.get(key).and_then(Value::as_array) {
            list.iter().for_each(&mut push);
        }
    }
    out
}
