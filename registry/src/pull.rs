//! Pulling an image from a registry into the store: resolve the tag (or digest) to a manifest,
//! pick the host platform out of a multi-platform index, download the config and the layers
//! that are missing (a few at a time, each verified against its digest while it streams into
//! the store's temporary area), and commit the manifest under the reference.
//!
//! Nothing is placed in the store until every blob has arrived and matched its digest: a pull
//! that fails (a blob that does not match, a registry that gives up) leaves the store exactly as
//! it was. A dropped download resumes, and `5xx` answers are retried (see [`Registry`]).
//!
//! Layers are stored as the registry serves them (compressed); the store decompresses lazily.

use crate::counting::Counting;
use std::io::Write;
use std::sync::Mutex;

use bale_image::store::TempBlob;
use bale_image::{Digest, Reference, Store};

use crate::api::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use crate::client::Registry;
use crate::error::{Error, Result};

/// Layers downloaded at the same time (docker's default `max-concurrent-downloads` is 3).
const PARALLEL_DOWNLOADS: usize = 3;

/// An `os/architecture[/variant]` platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v8`, `v7`, ... when it matters.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform bale runs on, in Go's names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: (architecture == "arm64").then(|| "v8".to_string()),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?.to_ascii_lowercase();
        let architecture = parts.next().filter(|p| !p.is_empty())?.to_ascii_lowercase();
        let variant = parts.next().map(str::to_ascii_lowercase);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && match (&self.variant, variant) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What happened to one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    /// The store already had it.
    AlreadyExists,
    /// It was downloaded and verified.
    PullComplete,
}

/// The result of [`pull`].
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The digest the reference resolved to (the index's, for a multi-platform image).
    pub digest: String,
    /// Each layer's digest and what happened to it, in manifest order.
    pub layers: Vec<(String, LayerStatus)>,
    /// Whether the reference already named this image and nothing was downloaded.
    pub up_to_date: bool,
}

#[derive(serde::Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(serde::Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

#[derive(serde::Deserialize)]
struct PlatformDoc {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    schema_version: u32,
    config: Option<BlobDoc>,
    #[serde(default)]
    layers: Vec<BlobDoc>,
}

#[derive(serde::Deserialize)]
struct BlobDoc {
    digest: String,
    size: u64,
}

fn invalid(url: String, message: impl Into<String>) -> Error {
    Error::Protocol {
        url,
        message: message.into(),
    }
}

fn store_digest(s: &str) -> Result<Digest> {
    s.parse::<Digest>().map_err(|e| Error::InvalidReference {
        reference: s.to_string(),
        reason: e.to_string(),
    })
}

/// Hears how a pull goes, layer by layer. Called from several download threads at once.
pub trait PullProgress: Sync {
    /// The manifest is known: these layers (digest, size) will be settled, in this order.
    fn layers(&self, _layers: &[(String, u64)]) {}
    /// `done` of `total` bytes of a layer have arrived.
    fn downloading(&self, _digest: &str, _done: u64, _total: u64) {}
    /// A layer is settled.
    fn layer(&self, digest: &str, status: LayerStatus);
}

impl<F: Fn(&str, LayerStatus) + Sync> PullProgress for F {
    fn layer(&self, digest: &str, status: LayerStatus) {
        self(digest, status)
    }
}

/// Pulls `reference` (tagged or by digest; its registry must be `registry`'s) into `store`,
/// choosing `platform` from a multi-platform index, and names the image `reference`.
/// `progress` hears about each layer as it downloads and as it is settled.
pub fn pull(
    store: &Store,
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    progress: &dyn PullProgress,
) -> Result<PullOutcome> {
    let repository = reference.path();
    let wanted = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let top = registry.get_manifest(repository, &wanted)?;
    let manifest = if top.media_type == OCI_INDEX || top.media_type == DOCKER_MANIFEST_LIST {
        let index: IndexDoc = serde_json::from_slice(&top.bytes).map_err(|source| Error::Json {
            what: format!("the index of {reference}"),
            source,
        })?;
        let chosen = index
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
            })
            .ok_or_else(|| {
                invalid(
                    reference.to_string(),
                    format!("no matching manifest for {platform} in the manifest list entries"),
                )
            })?;
        registry.get_manifest(repository, &chosen.digest)?
    } else {
        top.clone()
    };
    let doc: ManifestDoc =
        serde_json::from_slice(&manifest.bytes).map_err(|source| Error::Json {
            what: format!("the manifest of {reference}"),
            source,
        })?;
    if doc.schema_version != 2 {
        return Err(invalid(
            reference.to_string(),
            "schema 1 manifests are not supported; push the image again with a current client",
        ));
    }
    let config = doc
        .config
        .ok_or_else(|| invalid(reference.to_string(), "the manifest has no config"))?;

    progress.layers(
        &doc.layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect::<Vec<_>>(),
    );
    let lease = store.lease()?;
    // Downloaded and verified blobs wait here until every one has arrived.
    let arrived: Mutex<Vec<TempBlob<'_>>> = Mutex::new(Vec::new());
    let fetch = |blob: &BlobDoc| -> Result<bool> {
        let digest = store_digest(&blob.digest)?;
        if store.has_blob(&digest) {
            return Ok(false);
        }
        let reader = registry.get_blob(repository, &blob.digest, Some(blob.size))?;
        let mut reader = Counting::new(reader, blob.size, |done, total| {
            progress.downloading(&blob.digest, done, total)
        });
        let mut writer = lease.blob_writer()?;
        std::io::copy(&mut reader, &mut writer).map_err(|source| Error::Io {
            path: format!("blob {}", blob.digest).into(),
            source,
        })?;
        writer.flush().map_err(|source| Error::Io {
            path: format!("blob {}", blob.digest).into(),
            source,
        })?;
        let temp = writer.finish()?;
        temp.verify(Some(&digest), &format!("blob {}", blob.digest))?;
        arrived
            .lock()
            .map_err(|_| Error::Protocol {
                url: blob.digest.clone(),
                message: "a download thread panicked".into(),
            })?
            .push(temp);
        Ok(true)
    };
    fetch(&config)?;

    let statuses: Mutex<Vec<Option<LayerStatus>>> = Mutex::new(vec![None; doc.layers.len()]);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_DOWNLOADS.min(doc.layers.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(layer) = doc.layers.get(i) else {
                        break;
                    };
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    match fetch(layer) {
                        Ok(downloaded) => {
                            let status = if downloaded {
                                LayerStatus::PullComplete
                            } else {
                                LayerStatus::AlreadyExists
                            };
                            progress.layer(&layer.digest, status);
                            if let Ok(mut s) = statuses.lock() {
                                s[i] = Some(status);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    // Everything arrived and matched: synced first, so a late write error (a full disk)
    // surfaces before any blob is in place, then moved in.
    let mut arrived = arrived.into_inner().unwrap_or_default();
    for blob in &mut arrived {
        blob.sync()?;
    }
    for blob in arrived {
        blob.place()?;
    }
    let statuses = statuses.into_inner().unwrap_or_default();
    let layers: Vec<(String, LayerStatus)> = doc
        .layers
        .iter()
        .zip(statuses)
        .map(|(l, s)| (l.digest.clone(), s.unwrap_or(LayerStatus::AlreadyExists)))
        .collect();

    let manifest_digest = store_digest(&manifest.digest)?;
    let previous = store.index()?.lookup(reference);
    let names = if reference.digest().is_some() {
        Vec::new()
    } else {
        vec![reference.clone()]
    };
    lease.commit_manifest_bytes(&manifest.bytes, &names)?;
    let downloaded = layers.iter().any(|(_, s)| *s == LayerStatus::PullComplete);
    let up_to_date = !downloaded
        && (previous.as_ref() == Some(&manifest_digest)
            || (reference.digest().is_some() && store.has_blob(&manifest_digest)));
    Ok(PullOutcome {
        digest: top.digest,
        layers,
        up_to_date,
    })
}
