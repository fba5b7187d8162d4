//! Image summaries: what listing an image needs (ID, creation time, size, labels), kept in one
//! small file (`bale/meta/summaries.json`) keyed by manifest digest, so `images` over thousands
//! of images reads the index and that file instead of every manifest and config.
//!
//! A manifest never changes, so neither does its summary: an entry is never stale, only
//! missing (computed then from the blobs and written back) or left over (dropped on the next
//! write). The file is a cache: losing a concurrent writer's additions only costs a later
//! recomputation, and a damaged file is recomputed whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Store, is_manifest};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

/// What listing and filtering an image needs from its manifest and config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    /// The image ID (config digest).
    pub id: Digest,
    /// The config's `created`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Sum of the layers' (uncompressed) sizes: docker's image size.
    pub size: u64,
    /// The config's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// An image as a listing shows it.
#[derive(Debug, Clone)]
pub struct ListedImage {
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// Every name pointing at it, sorted; empty for a dangling image.
    pub names: Vec<Reference>,
    /// Its summary.
    pub summary: ImageSummary,
}

impl Store {
    fn summaries_path(&self) -> std::path::PathBuf {
        self.bale_dir().join("meta/summaries.json")
    }

    /// Every image in the index with its summary, reading blobs only for images not
    /// summarised before.
    pub fn list_images(&self) -> Result<Vec<ListedImage>> {
        let index = self.index()?;
        let path = self.summaries_path();
        // A damaged cache is rebuilt rather than reported: it holds nothing that is not in
        // the blobs.
        let mut cache: BTreeMap<Digest, ImageSummary> = super::read_limited(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let mut changed = false;
        let mut out = Vec::new();
        for entry in index.entries() {
            if !is_manifest(&entry.descriptor) {
                continue;
            }
            let summary = match cache.get(&entry.digest) {
                Some(s) => s.clone(),
                None => {
                    let image = match self.image_from_entry(entry.clone()) {
                        Ok(i) => i,
                        // Removed, and perhaps collected, since the index was read.
                        Err(Error::MissingBlob { .. })
                            if self.index()?.entry(&entry.digest).is_none() =>
                        {
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let (_, config) = self.config(&image)?;
                    let s = ImageSummary {
                        id: image.id.clone(),
                        created: config.created.clone(),
                        size: image.manifest.layers().iter().map(|l| l.size()).sum(),
                        labels: config.config.and_then(|c| c.labels),
                    };
                    cache.insert(entry.digest.clone(), s.clone());
                    changed = true;
                    s
                }
            };
            out.push(ListedImage {
                manifest_digest: entry.digest,
                names: entry.names,
                summary,
            });
        }
        if changed || cache.len() != out.len() {
            cache.retain(|d, _| out.iter().any(|l| &l.manifest_digest == d));
            let bytes = serde_json::to_vec(&cache).expect("summaries encode");
            // Only a cache: a store the user may read but not write still lists, just slower.
            let _ = self.write_atomic(&path, &bytes);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::image as small_image;
    use crate::{Reference, Store};

    #[test]
    fn summaries_are_cached_and_follow_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let name = Reference::parse_tagged("a:1").unwrap();
        let image = small_image(&store, b"one", &["a:1"]);
        let listed = store.list_images().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].summary.id, image.id);
        assert_eq!(listed[0].names, vec![name.clone()]);
        assert!(listed[0].summary.size > 0);
        assert!(dir.path().join("bale/meta/summaries.json").is_file());
        // Names come from the index, not the cache.
        store.untag(&name).unwrap();
        let listed = store.list_images().unwrap();
        assert!(listed[0].names.is_empty());
        store.remove_image(&image.manifest_digest).unwrap();
        assert!(store.list_images().unwrap().is_empty());
        // A damaged cache is rebuilt.
        small_image(&store, b"two", &["a:1"]);
        std::fs::write(dir.path().join("bale/meta/summaries.json"), b"{oops").unwrap();
        assert_eq!(store.list_images().unwrap().len(), 1);
    }
}
