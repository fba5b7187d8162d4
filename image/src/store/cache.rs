//! The build cache's records: what one build step produced, under the step's cache key.
//!
//! ```text
//! ROOT/bale/cache/records/<key hex>.json   one record per cached step (its layer, its time)
//! ROOT/bale/cache/...                       other build-cache folders the builder keeps
//!                                           (cache mounts, context hashes, last-build notes)
//! ```
//!
//! The store knows nothing of how keys are made: the builder computes them. What the store owns
//! is that a record's layer is a garbage-collection root ([`Store::gc`] keeps every blob a record
//! names, so `rmi` and `prune` never collect a cached layer), that records are written
//! atomically, and pruning them. A record's file modification time is when it was last used.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// A layer a build step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// The blob's digest (for an uncompressed layer, the diffID too).
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
    /// The uncompressed digest.
    pub diff_id: Digest,
}

/// What one build step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The layer, or `None` when the step changed no file.
    pub layer: Option<CachedLayer>,
    /// When the step first ran, RFC 3339: the history entry's time on later builds.
    pub created: String,
    /// The step as the build showed it (`[build 2/4] RUN make`), for `builder prune`'s list.
    pub description: String,
}

/// Which records [`Store::prune_build_cache`] removes.
#[derive(Debug, Clone, Default)]
pub struct CachePrune {
    /// Every record (and every other build-cache folder); otherwise only records whose layer
    /// no image in the store uses.
    pub all: bool,
    /// Only records last used before this time.
    pub until: Option<SystemTime>,
}

/// What [`Store::prune_build_cache`] removed.
#[derive(Debug, Clone, Default)]
pub struct CachePruned {
    /// The keys of the records removed, and the other entries removed, sorted.
    pub removed: Vec<String>,
    /// Bytes the removed records' layers and entries held (layers are reclaimed by the
    /// collection that follows).
    pub bytes: u64,
}

fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Store {
    /// The build cache's folder (`bale/cache`); the builder keeps its own subfolders there.
    pub fn build_cache_dir(&self) -> PathBuf {
        self.bale_dir().join("cache")
    }

    fn records_dir(&self) -> PathBuf {
        self.build_cache_dir().join("records")
    }

    /// The record under `key` (64 hex digits), if there is one whose layer is still in the
    /// store. Marks it used.
    pub fn cache_record(&self, key: &str) -> Result<Option<CacheRecord>> {
        if !valid_key(key) {
            return Err(Error::invalid(
                format!("cache key {key:?}"),
                "expected 64 hex digits",
            ));
        }
        let path = self.records_dir().join(format!("{key}.json"));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        // A damaged record is a miss: the step runs again and rewrites it.
        let Ok(record) = serde_json::from_slice::<CacheRecord>(&bytes) else {
            return Ok(None);
        };
        if let Some(l) = &record.layer
            && !self.has_blob(&l.digest)
        {
            return Ok(None);
        }
        let _ = fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Ok(Some(record))
    }

    /// Writes the record under `key`, atomically (not synced: losing one is a cache miss).
    /// Call it while holding the lease that wrote
    /// the record's layer: from then on the record keeps the layer alive.
    pub fn put_cache_record(&self, key: &str, record: &CacheRecord) -> Result<()> {
        if !valid_key(key) {
            return Err(Error::invalid(
                format!("cache key {key:?}"),
                "expected 64 hex digits",
            ));
        }
        let dir = self.records_dir();
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let bytes = serde_json::to_vec(record).expect("a cache record always encodes");
        // Atomic but not synced: a record lost in a crash is only a cache miss, and a build
        // writes one per instruction, where an fsync each would cost more than the build.
        let tmp = self.temp_path("record")?;
        fs::write(&tmp, &bytes).at("writing", &tmp)?;
        let dest = dir.join(format!("{key}.json"));
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(
                format!("renaming {} to {}", tmp.display(), dest.display()),
                e,
            )
        })
    }

    /// Every record, with its key and when it was last used. Unreadable records are skipped.
    pub fn cache_records(&self) -> Result<Vec<(String, CacheRecord, SystemTime)>> {
        let dir = self.records_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.at("reading", &dir)?;
            let name = e.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if !valid_key(key) {
                continue;
            }
            let Ok(bytes) = fs::read(e.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<CacheRecord>(&bytes) else {
                continue;
            };
            let used = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((key.to_string(), record, used));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The layer blobs the cache records name: roots for garbage collection.
    pub(crate) fn cache_roots(&self) -> Result<Vec<Digest>> {
        Ok(self
            .cache_records()?
            .into_iter()
            .filter_map(|(_, r, _)| r.layer.map(|l| l.digest))
            .collect())
    }

    /// Removes build-cache records as `prune` says, under the collection lock (so no build is
    /// writing meanwhile). With `all` and no `until`, every other build-cache folder (cache
    /// mounts, context hashes) goes too. Run [`Store::gc`] afterwards to free the layers.
    pub fn prune_build_cache(&self, prune: &CachePrune) -> Result<CachePruned> {
        if prune.all && prune.until.is_none() {
            let (removed, bytes) = self.clear_build_cache()?;
            return Ok(CachePruned { removed, bytes });
        }
        let in_images: std::collections::HashSet<Digest> = if prune.all {
            Default::default()
        } else {
            let mut set = std::collections::HashSet::new();
            for i in self.images()? {
                set.extend(i.layer_digests()?);
            }
            set
        };
        let _lock = self.exclusive_gc_lock()?;
        let mut out = CachePruned::default();
        for (key, record, used) in self.cache_records()? {
            if prune.until.is_some_and(|u| used >= u) {
                continue;
            }
            if !prune.all
                && record
                    .layer
                    .as_ref()
                    .is_some_and(|l| in_images.contains(&l.digest))
            {
                continue;
            }
            let path = self.records_dir().join(format!("{key}.json"));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
            }
            out.bytes += record.layer.map_or(0, |l| l.size);
            out.removed.push(key);
        }
        // Root filesystems the builder kept for its next build are only there for speed.
        let kept = self.build_cache_dir().join("rootfs");
        if kept.exists() && prune.until.is_none() {
            out.bytes += super::usage::tree_size(&kept);
            fs::remove_dir_all(&kept).at("removing kept root filesystems", &kept)?;
        }
        Ok(out)
    }
}

impl Store {
    /// The collection lock, exclusively: no lease (no build, pull or load) is writing.
    fn exclusive_gc_lock(&self) -> Result<fs::File> {
        let gate_path = self.bale_dir().join("gc-gate.lock");
        let gate = super::open_lock_file(&gate_path)?;
        gate.lock().at("locking", &gate_path)?;
        let lock_path = self.bale_dir().join("gc.lock");
        let lock = super::open_lock_file(&lock_path)?;
        lock.lock().at("locking", &lock_path)?;
        drop(gate);
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(layer: Option<CachedLayer>) -> CacheRecord {
        CacheRecord {
            layer,
            created: "2024-01-01T00:00:00Z".into(),
            description: "[1/2] RUN true".into(),
        }
    }

    #[test]
    fn records_round_trip_and_keep_their_layer_from_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = "a".repeat(64);
        assert_eq!(store.cache_record(&key).unwrap(), None);
        let lease = store.lease().unwrap();
        let digest = lease.put_blob(b"layer bytes", None).unwrap();
        let layer = CachedLayer {
            digest: digest.clone(),
            size: 11,
            media_type: crate::manifest::LAYER_TAR.into(),
            diff_id: digest.clone(),
        };
        store
            .put_cache_record(&key, &record(Some(layer.clone())))
            .unwrap();
        drop(lease);
        assert_eq!(store.cache_record(&key).unwrap(), Some(record(Some(layer))));
        let report = store.gc(true).unwrap().unwrap();
        assert!(report.removed.is_empty(), "{report:?}");
        assert!(store.has_blob(&digest));

        // Pruning the record lets the next collection free the layer.
        let pruned = store.prune_build_cache(&CachePrune::default()).unwrap();
        assert_eq!(pruned.removed, vec![key.clone()]);
        assert_eq!(pruned.bytes, 11);
        store.gc(true).unwrap();
        assert!(!store.has_blob(&digest));
        assert_eq!(store.cache_record(&key).unwrap(), None);
    }

    #[test]
    fn a_record_whose_layer_is_gone_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = "b".repeat(64);
        let d = Digest::of(b"never written");
        let layer = CachedLayer {
            digest: d.clone(),
            size: 1,
            media_type: crate::manifest::LAYER_TAR.into(),
            diff_id: d,
        };
        store.put_cache_record(&key, &record(Some(layer))).unwrap();
        assert_eq!(store.cache_record(&key).unwrap(), None);
        assert!(store.cache_record("not-hex").is_err());
    }

    #[test]
    fn until_keeps_recently_used_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = "c".repeat(64);
        store.put_cache_record(&key, &record(None)).unwrap();
        let long_ago = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        let pruned = store
            .prune_build_cache(&CachePrune {
                all: true,
                until: Some(long_ago),
            })
            .unwrap();
        assert!(pruned.removed.is_empty());
        let pruned = store
            .prune_build_cache(&CachePrune {
                all: true,
                until: Some(SystemTime::now() + std::time::Duration::from_secs(60)),
            })
            .unwrap();
        assert_eq!(pruned.removed, vec![key]);
    }
}
