//! `load`: docker archives (docker 25 and later: `blobs/sha256/` plus `manifest.json`; older:
//! `<id>/layer.tar` and `<id>.json`, layers possibly gzip-compressed), OCI image layouts and OCI
//! archives (layers possibly gzip or zstd compressed), the whole stream plain or compressed, and
//! the same layouts as directories ([`load_dir`]).
//!
//! A tar stream may hold its members in any order, so every member is first spilled to the
//! store's temporary area (never held in memory) and hashed on the way. Only when every image
//! in the archive has been verified (each blob against the digest that names it, each layer's
//! uncompressed content against the config's diffID) are the blobs moved into place and all
//! names set in one index update. A failed load therefore leaves no blob and no name behind.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use oci_spec::image::{Descriptor, ImageManifest};
use serde::Deserialize;
use serde_json::Value;

use crate::archive::{host_platform, is_compressed_layer, normalize, symlink_target};
use crate::compress::{Compression, decompress};
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::manifest;
use crate::reference::Reference;
use crate::store::{Image, Lease, MAX_JSON_SIZE, Store, TempBlob};

/// One image a load added.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The image as committed.
    pub image: Image,
    /// The names it was given (empty: only its ID is known).
    pub names: Vec<Reference>,
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The images, in archive order.
    pub images: Vec<LoadedImage>,
    /// Names that moved from another image: (name, the image ID they left).
    pub moved: Vec<(Reference, Digest)>,
}

/// Loads every image of the archive read from `input`.
pub fn load(store: &Store, input: impl Read) -> Result<Loaded> {
    let lease = store.lease()?;
    let (reader, kind) = decompress(input).ctx(|| "reading the archive".to_string())?;
    let mut members = Members::read(&lease, reader, kind)?;
    let plans = if members.has("index.json") {
        members.plan_oci(&lease)?
    } else if members.has("manifest.json") {
        members.plan_docker(&lease)?
    } else {
        return Err(Error::invalid(
            "archive",
            "it has neither manifest.json (docker archive) nor index.json (OCI layout): not an image archive",
        ));
    };
    if plans.is_empty() {
        return Err(Error::invalid("archive", "it holds no image"));
    }
    // Everything is verified: move the blobs into place, then name every image at once.
    members.place_all()?;
    let commits: Vec<(Vec<u8>, Vec<Reference>)> =
        plans.into_iter().map(|p| (p.manifest, p.names)).collect();
    let committed = lease.commit_images(&commits)?;
    let mut moved_ids = Vec::new();
    for (name, old_manifest) in committed.moved {
        let id = store
            .read_blob(&old_manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageManifest>(&b).ok())
            .and_then(|m| Digest::try_from(m.config().digest()).ok())
            .unwrap_or(old_manifest);
        moved_ids.push((name, id));
    }
    Ok(Loaded {
        images: committed
            .images
            .into_iter()
            .zip(commits)
            .map(|(image, (_, names))| LoadedImage { image, names })
            .collect(),
        moved: moved_ids,
    })
}

/// Loads every image of an unpacked archive: an OCI layout directory (what `skopeo copy ...
/// oci:DIR` writes) or an extracted docker archive. The directory is read as a tar stream of
/// itself, so it gets exactly the checks an archive gets: a symlink pointing out of the
/// directory, a device file or a digest that does not match is refused, and a failed load
/// leaves nothing in the store.
pub fn load_dir(store: &Store, dir: &std::path::Path) -> Result<Loaded> {
    let meta = std::fs::metadata(dir).ctx(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(Error::invalid(dir.display().to_string(), "not a directory"));
    }
    let (reader, writer) = io::pipe().ctx(|| "creating a pipe".to_string())?;
    let source = dir.to_path_buf();
    let walker = std::thread::spawn(move || -> io::Result<()> {
        let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, writer));
        // Links are archived as links: the loader refuses those that point outside.
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_dir_all(".", &source)?;
        tar.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    });
    let loaded = load(store, io::BufReader::with_capacity(1 << 20, reader));
    let walked = walker
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the directory reader panicked")));
    match (loaded, walked) {
        // The loader stops reading at the first refusal; the walker then sees a closed pipe.
        // Any other walker error is the real cause of the loader's "truncated".
        (Err(_), Err(w)) if w.kind() != io::ErrorKind::BrokenPipe => {
            Err(Error::io(format!("reading {}", dir.display()), w))
        }
        (loaded, _) => loaded,
    }
}

/// An image ready to commit: its manifest bytes and names.
struct Plan {
    manifest: Vec<u8>,
    names: Vec<Reference>,
}

/// The archive's members, spilled to temporary files.
struct Members<'s> {
    files: HashMap<String, TempBlob<'s>>,
    links: HashMap<String, String>,
    /// Members checked and ready to place under their own digest.
    keep: Vec<String>,
    /// Decompressed layers checked and ready to place, by digest.
    verified: HashMap<Digest, TempBlob<'s>>,
    /// What each layer member uncompressed to: (digest, size).
    decompressed: HashMap<String, (Digest, u64)>,
}

impl<'s> Members<'s> {
    fn read(lease: &Lease<'s>, reader: impl Read, kind: Compression) -> Result<Members<'s>> {
        let mut members = Members {
            files: HashMap::new(),
            links: HashMap::new(),
            keep: Vec::new(),
            verified: HashMap::new(),
            decompressed: HashMap::new(),
        };
        let read_err = |e: io::Error| {
            Error::io(
                format!(
                    "reading the {} archive (truncated or not a tar archive?)",
                    kind.name()
                ),
                e,
            )
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if raw.starts_with('/') {
                return Err(member_err(
                    &raw,
                    "absolute paths do not belong in an image archive",
                ));
            }
            let Some(name) = normalize(&raw) else {
                return Err(member_err(
                    &raw,
                    "its path climbs out of the archive with `..`",
                ));
            };
            let entry_type = entry.header().entry_type();
            match entry_type {
                tar::EntryType::Directory => {}
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    // Refused before a byte is spilled: a hostile archive could otherwise fill
                    // the disk with a "manifest".
                    let size = entry.header().size().unwrap_or(0);
                    if is_metadata(&name) && size > MAX_JSON_SIZE {
                        return Err(member_err(
                            &raw,
                            &format!(
                                "it is {size} bytes, over the {} MiB limit for a JSON document",
                                MAX_JSON_SIZE >> 20
                            ),
                        ));
                    }
                    let mut w = lease.blob_writer()?;
                    io::copy(&mut entry, &mut w).map_err(|e| {
                        if e.kind() == io::ErrorKind::UnexpectedEof {
                            Error::invalid(
                                format!("archive member {raw:?}"),
                                "the archive ends inside it: it is truncated",
                            )
                        } else {
                            Error::io(format!("loading archive member {raw:?}"), e)
                        }
                    })?;
                    // A later member of the same name replaces an earlier one, as in tar.
                    members.links.remove(&name);
                    members.files.insert(name, w.finish()?);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let inside = if entry_type == tar::EntryType::Symlink {
                        if target.starts_with('/') {
                            None
                        } else {
                            symlink_target(&name, &target)
                        }
                    } else {
                        normalize(&target).filter(|_| !target.starts_with('/'))
                    };
                    let Some(inside) = inside else {
                        return Err(member_err(
                            &raw,
                            &format!("its link to {target:?} points outside the archive"),
                        ));
                    };
                    members.files.remove(&name);
                    members.links.insert(name, inside);
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let what = match entry_type {
                        tar::EntryType::Char => "a character device",
                        tar::EntryType::Block => "a block device",
                        _ => "a named pipe",
                    };
                    return Err(member_err(
                        &raw,
                        &format!(
                            "it is {what}; an image archive holds only files, directories and links"
                        ),
                    ));
                }
                // PAX and GNU extension headers are consumed by the tar reader itself;
                // anything else carries no image data.
                _ => {}
            }
        }
        Ok(members)
    }

    /// The file a name refers to, following links inside the archive.
    fn resolve(&self, name: &str) -> Option<&str> {
        let mut name = normalize(name)?;
        for _ in 0..16 {
            if self.files.contains_key(&name) {
                return self.files.get_key_value(&name).map(|(k, _)| k.as_str());
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    fn has(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    fn file(&self, name: &str, what: &str) -> Result<&TempBlob<'s>> {
        self.resolve(name)
            .and_then(|k| self.files.get(k))
            .ok_or_else(|| {
                Error::invalid(
                    format!("archive member {name:?} ({what})"),
                    "it is missing from the archive (truncated or incomplete archive?)",
                )
            })
    }

    fn json(&self, name: &str, what: &str) -> Result<Vec<u8>> {
        let blob = self.file(name, what)?;
        if blob.size() > MAX_JSON_SIZE {
            return Err(Error::invalid(
                format!("archive member {name:?} ({what})"),
                format!(
                    "it is {} bytes, over the {} MiB limit for a JSON document",
                    blob.size(),
                    MAX_JSON_SIZE >> 20
                ),
            ));
        }
        let mut buf = Vec::new();
        blob.open()?
            .read_to_end(&mut buf)
            .ctx(|| format!("reading archive member {name:?}"))?;
        Ok(buf)
    }

    /// Marks a member as a blob to store under its own digest.
    fn keep(&mut self, name: &str) {
        let key = self
            .resolve(name)
            .expect("checked by the caller")
            .to_string();
        if !self.keep.contains(&key) {
            self.keep.push(key);
        }
    }

    /// Moves every checked blob into the store.
    fn place_all(&mut self) -> Result<()> {
        let mut batch: Vec<TempBlob<'s>> = std::mem::take(&mut self.keep)
            .into_iter()
            .filter_map(|key| self.files.remove(&key))
            .collect();
        batch.extend(self.verified.drain().map(|(_, b)| b));
        // All synced before any is renamed: a failure leaves no blob of this load in place.
        for blob in &mut batch {
            blob.sync()?;
        }
        for blob in batch {
            blob.place()?;
        }
        Ok(())
    }

    /// A layer member as its uncompressed blob, verified against the config's `diff_id`.
    /// Returns the uncompressed size.
    fn layer(
        &mut self,
        lease: &Lease<'s>,
        name: &str,
        diff_id: &Digest,
        what: &str,
    ) -> Result<u64> {
        let key = self
            .file(name, what)
            .map(|_| self.resolve(name).expect("found").to_string())?;
        if let Some((d, size)) = self.decompressed.get(&key).cloned() {
            check_diff(&d, diff_id, name, what)?;
            return Ok(size);
        }
        let blob = &self.files[&key];
        let (mut reader, kind) =
            decompress(blob.open()?).ctx(|| format!("reading archive member {name:?}"))?;
        let (digest, size) = if kind == Compression::None {
            let out = (blob.digest().clone(), blob.size());
            self.keep(&key);
            out
        } else {
            let mut w = lease.blob_writer()?;
            io::copy(&mut reader, &mut w).map_err(|e| {
                Error::io(
                    format!("decompressing {} layer {name:?} ({what})", kind.name()),
                    e,
                )
            })?;
            let out = w.finish()?;
            let found = (out.digest().clone(), out.size());
            self.verified.entry(found.0.clone()).or_insert(out);
            found
        };
        self.decompressed.insert(key, (digest.clone(), size));
        check_diff(&digest, diff_id, name, what)?;
        Ok(size)
    }

    /// A docker archive: `manifest.json` lists each image's config and layer files.
    fn plan_docker(&mut self, lease: &Lease<'s>) -> Result<Vec<Plan>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            #[serde(default)]
            layers: Vec<String>,
        }
        let bytes = self.json("manifest.json", "docker archive manifest")?;
        let entries: Vec<Entry> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("archive member \"manifest.json\"", e.to_string()))?;
        let mut plans = Vec::new();
        for (n, entry) in entries.iter().enumerate() {
            let what = format!("config of image {}", n + 1);
            let config_bytes = self.json(&entry.config, &what)?;
            let config_digest = Digest::of(&config_bytes);
            if let Some(named) = digest_in_name(&entry.config)
                && named != config_digest
            {
                return Err(Error::DigestMismatch {
                    what: format!("archive member {:?} ({what})", entry.config),
                    expected: named,
                    actual: config_digest,
                });
            }
            let config = ImageConfig::from_slice(&config_bytes).map_err(|e| {
                Error::invalid(
                    format!("archive member {:?} ({what})", entry.config),
                    e.to_string(),
                )
            })?;
            let diff_ids = &config.rootfs.diff_ids;
            if diff_ids.len() != entry.layers.len() {
                return Err(Error::invalid(
                    format!("image {} of manifest.json", n + 1),
                    format!(
                        "it lists {} layers but its config has {} diff IDs",
                        entry.layers.len(),
                        diff_ids.len()
                    ),
                ));
            }
            self.keep(&entry.config);
            let mut layers = Vec::new();
            for (i, (path, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
                let what = format!("layer {} of image {}", i + 1, n + 1);
                let size = self.layer(lease, path, diff_id, &what)?;
                layers.push((diff_id.clone(), size));
            }
            let m = manifest::build((&config_digest, config_bytes.len() as u64), &layers);
            let mut names = Vec::new();
            for tag in entry.repo_tags.iter().flatten() {
                let r = Reference::parse_tagged(tag).map_err(|e| {
                    Error::invalid(
                        format!("RepoTags entry {tag:?} of manifest.json"),
                        e.to_string(),
                    )
                })?;
                // A digest is no name to give: only tags are kept.
                if r.digest().is_none() {
                    names.push(r);
                }
            }
            plans.push(Plan {
                manifest: serde_json::to_vec(&m).expect("encodes"),
                names,
            });
        }
        Ok(plans)
    }

    /// An OCI layout: `index.json` lists manifests (or indexes) by digest under `blobs/`.
    fn plan_oci(&mut self, lease: &Lease<'s>) -> Result<Vec<Plan>> {
        let bytes = self.json("index.json", "OCI index")?;
        let index: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("archive member \"index.json\"", e.to_string()))?;
        let descriptors: Vec<Descriptor> = index
            .get("manifests")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::invalid("archive member \"index.json\"", e.to_string()))?
            .unwrap_or_default();
        // docker 25+ archives carry familiar names in manifest.json as well.
        let repo_tags = self.docker_repo_tags();
        let mut plans: Vec<Plan> = Vec::new();
        for d in &descriptors {
            let manifest_desc = self.pick_manifest(d, 0)?;
            let names = names_of(d, &repo_tags, self, &manifest_desc);
            let manifest = self.oci_image(lease, &manifest_desc)?;
            match plans.iter_mut().find(|p| p.manifest == manifest) {
                Some(p) => p.names.extend(names),
                None => plans.push(Plan { manifest, names }),
            }
        }
        Ok(plans)
    }

    fn docker_repo_tags(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Ok(bytes) = self.json("manifest.json", "docker archive manifest") else {
            return out;
        };
        let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(&bytes) else {
            return out;
        };
        for e in entries {
            if let (Some(config), Some(tags)) = (
                e.get("Config").and_then(Value::as_str),
                e.get("RepoTags").and_then(Value::as_array),
            ) && let Some(d) = digest_in_name(config)
            {
                out.insert(
                    d.to_string(),
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                );
            }
        }
        out
    }

    /// A blob of the layout by descriptor, verified against its digest and size.
    fn blob(&self, d: &Descriptor, what: &str) -> Result<(String, Digest)> {
        let digest = Digest::try_from(d.digest())
            .map_err(|e| Error::invalid(format!("{what} descriptor"), e.to_string()))?;
        let name = format!("blobs/sha256/{}", digest.hex());
        let blob = self.file(&name, what)?;
        blob.verify(Some(&digest), &format!("archive member {name:?} ({what})"))?;
        if blob.size() != d.size() {
            return Err(Error::SizeMismatch {
                what: format!("archive member {name:?} ({what})"),
                expected: d.size(),
                actual: blob.size(),
            });
        }
        Ok((name, digest))
    }

    /// Follows image indexes down to the manifest for this platform.
    fn pick_manifest(&self, d: &Descriptor, depth: usize) -> Result<Descriptor> {
        let (name, _) = self.blob(d, "manifest")?;
        let bytes = self.json(&name, "manifest")?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("archive member {name:?}"), e.to_string()))?;
        let Some(children) = v.get("manifests") else {
            return Ok(d.clone());
        };
        if depth > 4 {
            return Err(Error::invalid(
                format!("archive member {name:?}"),
                "image indexes nest too deeply",
            ));
        }
        let children: Vec<Descriptor> = serde_json::from_value(children.clone())
            .map_err(|e| Error::invalid(format!("archive member {name:?}"), e.to_string()))?;
        let (os, arch) = host_platform();
        let pick = children
            .iter()
            .find(|c| {
                c.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == os && p.architecture().to_string() == arch
                })
            })
            .or(if children.len() == 1 {
                children.first()
            } else {
                None
            })
            .ok_or_else(|| {
                Error::invalid(
                    format!("image index {name:?}"),
                    format!("it has no manifest for {os}/{arch}"),
                )
            })?;
        self.pick_manifest(pick, depth + 1)
    }

    /// Verifies one OCI image and returns the manifest to store: the original bytes when every
    /// layer is already uncompressed, else a new manifest naming the uncompressed layers.
    fn oci_image(&mut self, lease: &Lease<'s>, d: &Descriptor) -> Result<Vec<u8>> {
        let (manifest_name, _) = self.blob(d, "manifest")?;
        let bytes = self.json(&manifest_name, "manifest")?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(format!("archive member {manifest_name:?}"), e.to_string())
        })?;
        let (config_name, config_digest) = self.blob(manifest.config(), "config")?;
        let config_bytes = self.json(&config_name, "config")?;
        let config = ImageConfig::from_slice(&config_bytes).map_err(|e| {
            Error::invalid(format!("archive member {config_name:?}"), e.to_string())
        })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::invalid(
                format!("manifest {manifest_name:?}"),
                format!(
                    "it lists {} layers but its config has {} diff IDs",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut rebuilt = false;
        let mut layers = Vec::new();
        for (i, (l, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            let what = format!("layer {} of {manifest_name}", i + 1);
            let (name, digest) = self.blob(l, &what)?;
            // A layer stored as it came keeps its digest; any other needs a new manifest.
            rebuilt |= &digest != diff_id || is_compressed_layer(l.media_type().as_ref());
            let size = self.layer(lease, &name, diff_id, &what)?;
            layers.push((diff_id.clone(), size));
        }
        self.keep(&config_name);
        if !rebuilt {
            self.keep(&manifest_name);
            return Ok(bytes);
        }
        let m = manifest::build((&config_digest, config_bytes.len() as u64), &layers);
        Ok(serde_json::to_vec(&m).expect("encodes"))
    }
}

/// The names an OCI index entry gives its image: containerd's full name annotation, else a
/// ref name that is a whole reference (not just a tag), else the docker archive's RepoTags.
fn names_of(
    d: &Descriptor,
    repo_tags: &BTreeMap<String, Vec<String>>,
    members: &Members<'_>,
    manifest: &Descriptor,
) -> Vec<Reference> {
    let annotations = d.annotations().clone().unwrap_or_default();
    if let Some(r) = annotations
        .get("io.containerd.image.name")
        .and_then(|n| Reference::parse_tagged(n).ok())
        .filter(|r| r.tag().is_some() && r.digest().is_none())
    {
        return vec![r];
    }
    if let Some(r) = annotations
        .get("org.opencontainers.image.ref.name")
        .filter(|n| n.contains(':') || n.contains('/'))
        .and_then(|n| Reference::parse_tagged(n).ok())
        .filter(|r| r.tag().is_some() && r.digest().is_none())
    {
        return vec![r];
    }
    let config = Digest::try_from(manifest.digest())
        .ok()
        .and_then(|md| {
            members
                .json(&format!("blobs/sha256/{}", md.hex()), "manifest")
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<ImageManifest>(&b).ok())
        .map(|m| m.config().digest().to_string());
    config
        .and_then(|c| repo_tags.get(&c))
        .map(|tags| {
            tags.iter()
                .filter_map(|t| Reference::parse_tagged(t).ok())
                .filter(|r| r.digest().is_none())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a member is one of the archive's JSON documents rather than a blob or layer.
fn is_metadata(name: &str) -> bool {
    matches!(
        name,
        "manifest.json" | "index.json" | "oci-layout" | "repositories"
    ) || (!name.contains('/') && name.ends_with(".json"))
        || name.ends_with("/json")
        || name.ends_with("/VERSION")
}

/// The digest a member's name carries: `blobs/sha256/<hex>`, `<hex>.json`, `<hex>/layer.tar`.
fn digest_in_name(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    Digest::from_hex(hex).ok()
}

fn check_diff(actual: &Digest, diff_id: &Digest, name: &str, what: &str) -> Result<()> {
    if actual != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{what} ({name:?}): uncompressed content vs the config's diff ID"),
            expected: diff_id.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}

fn member_err(name: &str, reason: &str) -> Error {
    Error::invalid(
        format!("archive member {name:?}"),
        format!("{reason}; refusing to load"),
    )
}
