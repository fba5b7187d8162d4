//! Per-image metadata the OCI layout has no place for, each in its own small JSON file written
//! atomically under the index lock: when an image entered the store and when it was last tagged
//! (docker's `Metadata.LastTagTime`), and the compressed forms of each layer that a push or pull
//! has seen, so a later push of the same layer need not compress it again.

use std::io;

use serde::{Deserialize, Serialize};

use super::{Store, read_limited};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::time;

/// Metadata of one image (keyed by its manifest digest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageMeta {
    /// When the image entered this store, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<String>,
    /// When a name was last pointed at it, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// A compressed form of an uncompressed layer, as a registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompressedBlob {
    /// Media type, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`.
    pub media_type: String,
    /// Digest of the compressed bytes.
    pub digest: Digest,
    /// Size of the compressed bytes.
    pub size: u64,
    /// Registry repositories known to hold it (`host/path`), for cross-repository mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
}

impl Store {
    fn meta_path(&self, manifest: &Digest) -> std::path::PathBuf {
        self.bale_dir()
            .join("meta/images")
            .join(format!("{}.json", manifest.hex()))
    }

    fn compressed_path(&self, diff_id: &Digest) -> std::path::PathBuf {
        self.bale_dir()
            .join("meta/compressed")
            .join(format!("{}.json", diff_id.hex()))
    }

    /// The metadata of an image; empty when none was recorded.
    pub fn meta(&self, manifest: &Digest) -> Result<ImageMeta> {
        read_json_or_default(&self.meta_path(manifest))
    }

    /// Records that the image entered the store now, unless it was recorded before.
    pub(super) fn ensure_meta(&self, manifest: &Digest) -> Result<()> {
        let _guard = self.index_lock()?;
        let mut meta = self.meta(manifest)?;
        if meta.added.is_none() {
            meta.added = Some(time::now());
            self.write_atomic(
                &self.meta_path(manifest),
                &serde_json::to_vec(&meta).expect("encodes"),
            )?;
        }
        Ok(())
    }

    /// Called under the index lock after a name was pointed at `manifest`.
    pub(super) fn touch_tag_time(&self, manifest: &Digest) -> Result<()> {
        let mut meta = self.meta(manifest)?;
        let now = time::now();
        meta.added.get_or_insert_with(|| now.clone());
        meta.last_tag_time = Some(now);
        self.write_atomic(
            &self.meta_path(manifest),
            &serde_json::to_vec(&meta).expect("encodes"),
        )
    }

    /// The compressed forms of the layer `diff_id` seen so far.
    pub fn compressed_forms(&self, diff_id: &Digest) -> Result<Vec<CompressedBlob>> {
        read_json_or_default(&self.compressed_path(diff_id))
    }

    /// Remembers a compressed form of the layer `diff_id` (merging repositories when the same
    /// compressed digest is already known).
    pub fn remember_compressed(&self, diff_id: &Digest, blob: CompressedBlob) -> Result<()> {
        let _guard = self.index_lock()?;
        let mut forms = self.compressed_forms(diff_id)?;
        match forms.iter_mut().find(|f| f.digest == blob.digest) {
            Some(known) => {
                for r in blob.repositories {
                    if !known.repositories.contains(&r) {
                        known.repositories.push(r);
                    }
                }
            }
            None => forms.push(blob),
        }
        self.write_atomic(
            &self.compressed_path(diff_id),
            &serde_json::to_vec(&forms).expect("encodes"),
        )
    }
}

fn read_json_or_default<T: Default + serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T> {
    match read_limited(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(path.display().to_string(), e.to_string())),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(T::default())
        }
        Err(e) => Err(e),
    }
}
