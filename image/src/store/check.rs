//! `system check`: verifies every blob against its name, and every image from the index down
//! to its config and layers, and reports each problem precisely (which blob, which image,
//! expected and actual digest or size). It changes nothing.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::BufReader;

use oci_spec::image::{Descriptor, ImageManifest};
use serde_json::Value;

use super::{Store, read_limited};
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// One thing wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The image concerned (familiar name or manifest digest), when it is about an image.
    pub image: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.image {
            Some(i) => write!(f, "image {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What a check looked at and found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Blobs hashed.
    pub blobs: usize,
    /// Index entries followed.
    pub images: usize,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
}

impl Store {
    /// Checks the whole store. I/O errors on the store's own files are returned as errors;
    /// everything wrong with the content is in the report.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut corrupt = HashSet::new();
        let layout = self.root().join("oci-layout");
        match read_limited(&layout).map(|b| serde_json::from_slice::<Value>(&b)) {
            Ok(Ok(v)) if v.get("imageLayoutVersion").is_some() => {}
            Ok(_) => report.problems.push(general(format!(
                "{}: not a valid oci-layout file (no imageLayoutVersion)",
                layout.display()
            ))),
            Err(e) => report.problems.push(general(e.to_string())),
        }
        let blobs = self.root().join("blobs/sha256");
        let mut names: Vec<_> = fs::read_dir(&blobs)
            .at("reading", &blobs)?
            .collect::<std::io::Result<Vec<_>>>()
            .at("reading", &blobs)?;
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            let path = entry.path();
            let Some(expected) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                report.problems.push(general(format!(
                    "{}: not a blob (the name is not a sha256 digest)",
                    path.display()
                )));
                continue;
            };
            report.blobs += 1;
            let file = File::open(&path).at("opening blob", &path)?;
            let (actual, _) = Digest::of_reader(BufReader::with_capacity(1 << 20, file))
                .at("reading blob", &path)?;
            if actual != expected {
                report.problems.push(general(format!(
                    "blob {expected} is corrupt: its content hashes to {actual} ({})",
                    path.display()
                )));
                corrupt.insert(expected);
            }
        }
        let index = match self.index() {
            Ok(ix) => ix,
            Err(e) => {
                report.problems.push(general(e.to_string()));
                return Ok(report);
            }
        };
        for entry in index.entries() {
            report.images += 1;
            let who = entry.display_name();
            let mut p = |message: String| {
                report.problems.push(Problem {
                    image: Some(who.clone()),
                    message,
                })
            };
            self.check_node(&entry.descriptor, "manifest", &corrupt, &mut p, 0);
        }
        Ok(report)
    }

    fn check_node(
        &self,
        d: &Descriptor,
        what: &str,
        corrupt: &HashSet<Digest>,
        p: &mut dyn FnMut(String),
        depth: usize,
    ) -> Option<Vec<u8>> {
        let Ok(digest) = Digest::try_from(d.digest()) else {
            p(format!("{what} has an unsupported digest {}", d.digest()));
            return None;
        };
        let path = self.blob_path(&digest);
        let Ok(meta) = fs::metadata(&path) else {
            p(format!("{what} {digest} is missing ({})", path.display()));
            return None;
        };
        if meta.len() != d.size() {
            p(format!(
                "{what} {digest} has {} bytes, the descriptor says {}",
                meta.len(),
                d.size()
            ));
        }
        if corrupt.contains(&digest) {
            p(format!("{what} {digest} is corrupt (see above)"));
            return None;
        }
        let is_json = what != "layer";
        if !is_json {
            return None;
        }
        let Ok(bytes) = self.read_blob(&digest) else {
            p(format!("{what} {digest} cannot be read"));
            return None;
        };
        if what != "manifest" || depth > 8 {
            return Some(bytes);
        }
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                p(format!("manifest {digest} is not valid JSON: {e}"));
                return None;
            }
        };
        if value.get("manifests").is_some() {
            let children: Vec<Descriptor> = value
                .get("manifests")
                .cloned()
                .and_then(|m| serde_json::from_value(m).ok())
                .unwrap_or_default();
            for c in &children {
                self.check_node(c, "manifest", corrupt, p, depth + 1);
            }
            return Some(bytes);
        }
        let manifest: ImageManifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                p(format!("manifest {digest} is not an image manifest: {e}"));
                return None;
            }
        };
        let config_bytes = self.check_node(manifest.config(), "config", corrupt, p, depth + 1);
        for l in manifest.layers() {
            self.check_node(l, "layer", corrupt, p, depth + 1);
        }
        let Some(config_bytes) = config_bytes else {
            return Some(bytes);
        };
        let config = match ImageConfig::from_slice(&config_bytes) {
            Ok(c) => c,
            Err(e) => {
                p(format!(
                    "config {} is not a valid image config: {e}",
                    manifest.config().digest()
                ));
                return Some(bytes);
            }
        };
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers().len() {
            p(format!(
                "manifest {digest} lists {} layers but its config lists {} diff IDs",
                manifest.layers().len(),
                diff_ids.len()
            ));
        }
        for (i, (l, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            let uncompressed = l.media_type().to_string() == crate::manifest::LAYER_TAR
                || l.media_type().to_string() == "application/vnd.docker.image.rootfs.diff.tar";
            if uncompressed && l.digest().to_string() != diff_id.to_string() {
                p(format!(
                    "layer {} is {}, but the config's diff ID is {diff_id}",
                    i + 1,
                    l.digest()
                ));
            }
        }
        Some(bytes)
    }
}

fn general(message: String) -> Problem {
    Problem {
        image: None,
        message,
    }
}
