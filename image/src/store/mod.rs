//! The content-addressed image store. Its root is an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/`) that skopeo and umoci read directly; bale's own files live under
//! `bale/` beside it:
//!
//! ```text
//! ROOT/oci-layout, ROOT/index.json, ROOT/blobs/sha256/<hex>
//! ROOT/bale/index.lock         exclusive while index.json (and metadata) is rewritten
//! ROOT/bale/gc.lock            shared by every writer of blobs (a Lease), exclusive for GC
//! ROOT/bale/gc-gate.lock       held by a waiting GC, so new leases queue behind it
//! ROOT/bale/meta/images/<manifest hex>.json    per-image metadata (added, last tag time)
//! ROOT/bale/meta/compressed/<diffID hex>.json  compressed forms of a layer seen on push/pull
//! ROOT/bale/cache/records/<key>.json           build-cache records (GC roots), see `cache`
//! ROOT/bale/trash/                             rootfs trees a build dropped, removed in the background
//! ROOT/bale/tmp/<owner>.lock + <owner>/        one process's temporary files
//! ```
//!
//! Hazards this module guards against:
//! - A reader never sees half a blob or half an index: everything is written to a temporary
//!   file in the same filesystem, fsynced, verified and renamed, and the directory fsynced.
//! - Garbage collection never removes a blob a concurrent writer has written but not yet
//!   referenced from the index: writers hold a [`Lease`] (a shared lock) from their first blob
//!   to their index update, and the collector needs the exclusive lock.
//! - A writer killed with `kill -9` leaves its temporary directory behind; the next
//!   [`Store::open`] removes it, knowing the owner is gone because the owner's lock file is no
//!   longer locked (flock locks die with their process, pids can be reused).

mod blob;
mod cache;
mod check;
mod gc;
mod index;
mod meta;
mod summary;
mod usage;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::{Descriptor, ImageManifest, MediaType};

pub use blob::{BlobWriter, TempBlob};
pub use cache::{CachePrune, CachePruned, CacheRecord, CachedLayer};
pub use check::{CheckReport, Problem};
pub use gc::GcReport;
pub use index::{ANNOTATION_ALIAS, ANNOTATION_REF_NAME, IndexEntry, StoreIndex};
pub use meta::{CompressedBlob, ImageMeta};
pub use summary::{ImageSummary, ListedImage};
pub use usage::{DiskUsage, ImageUsage};

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::{self, Reference};

/// The largest JSON document (manifest, config, index, metadata) the store reads into memory.
pub const MAX_JSON_SIZE: u64 = 16 << 20;

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// The default store root: `$BALE_ROOT`, else `$XDG_DATA_HOME/bale`, else
/// `~/.local/share/bale`. The `--root` flag, when given, wins over all of them.
pub fn default_root() -> Option<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(r) = nonempty("BALE_ROOT") {
        return Some(PathBuf::from(r));
    }
    if let Some(x) = nonempty("XDG_DATA_HOME") {
        return Some(PathBuf::from(x).join("bale"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".local/share/bale"))
}

/// An open image store. Cheap to share by reference; every method is safe against other
/// processes using the same root at the same time.
pub struct Store {
    root: PathBuf,
    temp: OnceLock<TempArea>,
}

/// An image in the store: one manifest, the names pointing at it, and its metadata.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the config's digest.
    pub id: Digest,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
    /// The manifest.
    pub manifest: ImageManifest,
    /// Every name (full, normalised, tagged) pointing at this image, sorted. Empty for a
    /// dangling image.
    pub names: Vec<Reference>,
    /// When the image came into the store and when it was last tagged.
    pub meta: ImageMeta,
}

impl Image {
    /// The layers' digests, bottom first.
    pub fn layer_digests(&self) -> Result<Vec<Digest>> {
        self.manifest
            .layers()
            .iter()
            .map(|l| Digest::try_from(l.digest()).map_err(Error::from))
            .collect()
    }

    /// Total size of config and layers as stored (what docker calls the image size).
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// A name for messages: the first familiar name, else the short ID.
    pub fn display_name(&self) -> String {
        self.names
            .first()
            .map_or_else(|| self.id.short().to_string(), Reference::familiar)
    }
}

impl Store {
    /// Opens the store at `root`, creating an empty one when there is none, and removes
    /// temporary files left by processes that died.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let store = Store {
            root,
            temp: OnceLock::new(),
        };
        for dir in [
            store.root.join("blobs/sha256"),
            store.bale_dir().join("meta/images"),
            store.bale_dir().join("meta/compressed"),
            store.temp_root(),
        ] {
            fs::create_dir_all(&dir).at("creating store directory", &dir)?;
        }
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            let _guard = store.index_lock()?;
            if !layout.exists() {
                store.write_atomic(&layout, OCI_LAYOUT)?;
            }
        }
        let index = store.index_path();
        if !index.exists() {
            let _guard = store.index_lock()?;
            if !index.exists() {
                store.write_atomic(&index, EMPTY_INDEX)?;
            }
        }
        store.remove_stale_temp()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob {
                digest: digest.clone(),
                what: "blob".to_string(),
            },
            _ => Error::io(format!("opening blob {}", path.display()), e),
        })
    }

    /// Reads a small blob (a manifest or config), refusing blobs over [`MAX_JSON_SIZE`] and
    /// verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let mut buf = Vec::new();
        self.open_blob(digest)?
            .take(MAX_JSON_SIZE + 1)
            .read_to_end(&mut buf)
            .at("reading blob", &path)?;
        if buf.len() as u64 > MAX_JSON_SIZE {
            return Err(Error::invalid(
                format!("blob {digest}"),
                format!("larger than the {MAX_JSON_SIZE}-byte limit for a JSON document"),
            ));
        }
        let actual = Digest::of(&buf);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", path.display()),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Reads the index as it is now, without locking: it is always replaced whole.
    pub fn index(&self) -> Result<StoreIndex> {
        let path = self.index_path();
        let bytes = read_limited(&path)?;
        StoreIndex::parse(&bytes)
            .map_err(|reason| Error::invalid(path.display().to_string(), reason))
    }

    /// Every image in the store, tagged or dangling, newest manifest entries last.
    pub fn images(&self) -> Result<Vec<Image>> {
        let index = self.index()?;
        let mut out = Vec::new();
        for entry in index.entries() {
            if !is_manifest(&entry.descriptor) {
                continue;
            }
            match self.image_from_entry(entry.clone()) {
                Ok(image) => out.push(image),
                // The index was read without a lock: an `rmi` and a collection may have removed
                // the image since. Only an image still listed is missing a blob.
                Err(Error::MissingBlob { .. }) if self.index()?.entry(&entry.digest).is_none() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The image a manifest digest names, with the names the index gives it now.
    pub fn image(&self, manifest: &Digest) -> Result<Image> {
        let index = self.index()?;
        let entry = index
            .entries()
            .into_iter()
            .find(|e| &e.digest == manifest)
            .ok_or_else(|| Error::NoSuchImage(manifest.to_string()))?;
        self.image_from_entry(entry)
    }

    fn image_from_entry(&self, entry: IndexEntry) -> Result<Image> {
        let bytes = self.read_blob(&entry.digest).map_err(|e| match e {
            Error::MissingBlob { digest, .. } => Error::MissingBlob {
                digest,
                what: format!("manifest of {}", entry.display_name()),
            },
            e => e,
        })?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(
                format!("manifest {} of {}", entry.digest, entry.display_name()),
                e.to_string(),
            )
        })?;
        let id = Digest::try_from(manifest.config().digest())?;
        let meta = self.meta(&entry.digest)?;
        Ok(Image {
            id,
            manifest_size: bytes.len() as u64,
            manifest_digest: entry.digest,
            manifest,
            names: entry.names,
            meta,
        })
    }

    /// Finds an image as docker does: a full `sha256:` ID or manifest digest, a name (`busybox`
    /// means `busybox:latest`), `name@sha256:...`, or a unique prefix of an image ID.
    pub fn resolve(&self, name_or_id: &str) -> Result<Image> {
        let images = self.images()?;
        if let Ok(d) = name_or_id.parse::<Digest>() {
            return images
                .into_iter()
                .find(|i| i.id == d || i.manifest_digest == d)
                .ok_or_else(|| Error::NoSuchImage(name_or_id.to_string()));
        }
        let parsed = Reference::parse(name_or_id);
        if let Ok(r) = &parsed {
            let r = r.clone().with_default_tag();
            if let Some(d) = r.digest() {
                let repo = r.repository();
                let found = images.iter().find(|i| {
                    &i.manifest_digest == d && i.names.iter().any(|n| n.repository() == repo)
                });
                let found = found.or_else(|| images.iter().find(|i| &i.manifest_digest == d));
                if let Some(i) = found {
                    return Ok(i.clone());
                }
            } else if let Some(i) = images.iter().find(|i| i.names.contains(&r)) {
                return Ok(i.clone());
            }
        }
        let prefix = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut matches: Vec<&Image> = images
                .iter()
                .filter(|i| i.id.hex().starts_with(prefix))
                .collect();
            matches.dedup_by(|a, b| a.id == b.id);
            match matches.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                _ => return Err(Error::AmbiguousId(name_or_id.to_string())),
            }
        }
        match parsed {
            Ok(r) => Err(Error::NoSuchImage(r.with_default_tag().familiar())),
            Err(reference::ReferenceError::Identifier(_)) => {
                Err(Error::NoSuchImage(name_or_id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The config of an image: its exact bytes and their parse.
    pub fn config(&self, image: &Image) -> Result<(Vec<u8>, ImageConfig)> {
        let bytes = self.read_blob(&image.id).map_err(|e| match e {
            Error::MissingBlob { digest, .. } => Error::MissingBlob {
                digest,
                what: format!("config of image {}", image.display_name()),
            },
            e => e,
        })?;
        let config = ImageConfig::from_slice(&bytes).map_err(|e| {
            Error::invalid(
                format!("config {} of image {}", image.id, image.display_name()),
                e.to_string(),
            )
        })?;
        Ok((bytes, config))
    }

    /// Changes the index under the exclusive lock: `edit` sees the index as it is now, and its
    /// changes are written atomically when it returns `Ok` (nothing is written on `Err`).
    /// Keep `edit` short: every other writer waits for it.
    pub fn update<T>(&self, edit: impl FnOnce(&mut StoreIndex) -> Result<T>) -> Result<T> {
        let _guard = self.index_lock()?;
        let mut index = self.index()?;
        let out = edit(&mut index)?;
        if index.is_dirty() {
            self.write_atomic(&self.index_path(), &index.to_bytes())?;
            for manifest in index.tagged() {
                self.touch_tag_time(manifest)?;
            }
        }
        Ok(out)
    }

    /// Points `reference` (a tag, not a digest) at `image`, moving it from any image that had
    /// it; that image stays as a dangling one when it has no other name. Returns the image the
    /// name moved from, when it moved.
    pub fn tag(&self, image: &Image, reference: &Reference) -> Result<Option<Digest>> {
        check_taggable(reference)?;
        let descriptor = self.descriptor_of(image)?;
        self.update(|ix| {
            if ix.entry(&image.manifest_digest).is_none() {
                return Err(Error::NoSuchImage(image.display_name()));
            }
            Ok(ix.set_tag(reference, &descriptor))
        })
    }

    /// Removes the name `reference`; the image it named stays (dangling when it had no other
    /// name). Returns that image's manifest digest.
    pub fn untag(&self, reference: &Reference) -> Result<Digest> {
        self.update(|ix| {
            ix.remove_tag(reference)
                .ok_or_else(|| Error::NoSuchImage(reference.familiar()))
        })
    }

    /// Removes an image and all its names from the index. Its blobs stay until [`Store::gc`].
    pub fn remove_image(&self, manifest: &Digest) -> Result<Vec<Reference>> {
        self.update(|ix| {
            if ix.entry(manifest).is_none() {
                return Err(Error::NoSuchImage(manifest.to_string()));
            }
            Ok(ix.remove_manifest(manifest))
        })
    }

    /// Starts writing blobs: holds off garbage collection until the lease is dropped.
    ///
    /// Take one lease per operation and hold it until the images are committed. Never call
    /// [`Store::gc`] or take a second lease while holding one: a collection waiting for the
    /// first would block the second, and so both.
    pub fn lease(&self) -> Result<Lease<'_>> {
        // Passing the gate first lets a waiting collection in: without it, a stream of
        // overlapping shared leases would keep the exclusive lock from ever being granted.
        let gate_path = self.bale_dir().join("gc-gate.lock");
        let gate = open_lock_file(&gate_path)?;
        gate.lock_shared().at("locking", &gate_path)?;
        let path = self.bale_dir().join("gc.lock");
        let file = open_lock_file(&path)?;
        file.lock_shared().at("locking", &path)?;
        drop(gate);
        Ok(Lease {
            store: self,
            _lock: file,
        })
    }

    fn descriptor_of(&self, image: &Image) -> Result<Descriptor> {
        Ok(Descriptor::new(
            image
                .manifest
                .media_type()
                .clone()
                .unwrap_or(MediaType::ImageManifest),
            image.manifest_size,
            oci_spec::image::Digest::from(&image.manifest_digest),
        ))
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub(crate) fn bale_dir(&self) -> PathBuf {
        self.root.join("bale")
    }

    fn temp_root(&self) -> PathBuf {
        self.bale_dir().join("tmp")
    }

    pub(crate) fn index_lock(&self) -> Result<LockGuard> {
        let path = self.bale_dir().join("index.lock");
        let file = open_lock_file(&path)?;
        file.lock().at("locking", &path)?;
        Ok(LockGuard(file))
    }

    /// This process's temporary directory inside the store (same filesystem as the blobs),
    /// created on first use and removed when the store is dropped.
    pub fn temp_dir(&self) -> Result<&Path> {
        if let Some(t) = self.temp.get() {
            return Ok(&t.dir);
        }
        let area = TempArea::create(&self.temp_root())?;
        Ok(&self.temp.get_or_init(|| area).dir)
    }

    /// A new unique path in [`Store::temp_dir`].
    pub fn temp_path(&self, what: &str) -> Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(self.temp_dir()?.join(format!("{what}-{n}")))
    }

    /// Writes `bytes` to `dest` atomically: temporary file, fsync, rename, directory fsync.
    pub(crate) fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = self.temp_path("file")?;
        let result = (|| {
            let mut f = File::create(&tmp).at("creating", &tmp)?;
            f.write_all(bytes)
                .ctx(|| format!("writing {} (for {})", tmp.display(), dest.display()))?;
            f.sync_all().at("syncing", &tmp)?;
            fs::rename(&tmp, dest)
                .ctx(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
            sync_dir(dest.parent().unwrap_or(Path::new(".")))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn remove_stale_temp(&self) -> Result<()> {
        let root = self.temp_root();
        let entries = fs::read_dir(&root).at("reading", &root)?;
        for entry in entries {
            let entry = entry.at("reading", &root)?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            // Locked, or unlinked meanwhile by its owner's exit or another cleaner: not ours.
            if file.try_lock().is_err() || !same_file(&file, &path) {
                continue;
            }
            // The owner is gone: its lock died with it. Remove the directory first, so a
            // directory never exists without its lock file.
            let dir = path.with_extension("");
            let gone = |r: io::Result<()>| match r {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            };
            gone(fs::remove_dir_all(&dir)).at("removing stale temporary files", &dir)?;
            gone(fs::remove_file(&path)).at("removing stale lock", &path)?;
        }
        Ok(())
    }
}

/// A holder of blobs not yet referenced by the index: while it lives, garbage collection waits,
/// so blobs written through it cannot vanish before the image that needs them is committed.
pub struct Lease<'s> {
    store: &'s Store,
    _lock: File,
}

impl<'s> Lease<'s> {
    /// The store.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// A writer for a new blob; see [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter<'s>> {
        BlobWriter::new(self.store)
    }

    /// Writes a small blob from memory, verifying it against `expected` when given.
    pub fn put_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if let Some(e) = expected
            && e != &digest
        {
            return Err(Error::DigestMismatch {
                what: "blob".to_string(),
                expected: e.clone(),
                actual: digest,
            });
        }
        if self.store.has_blob(&digest) {
            return Ok(digest);
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes)
            .ctx(|| format!("writing blob {digest}"))?;
        Ok(w.commit(Some(&digest))?.0)
    }

    /// Writes a manifest whose config and layers are already in the store, and adds the image
    /// under `names` (moving those names from other images), or as a dangling image when
    /// `names` is empty and the manifest is not in the index yet.
    pub fn commit_image(&self, manifest: &ImageManifest, names: &[Reference]) -> Result<Image> {
        let bytes = serde_json::to_vec(manifest).expect("a manifest always encodes");
        self.commit_manifest_bytes(&bytes, names)
    }

    /// [`Lease::commit_image`] for manifest bytes as they are (so their digest is kept).
    pub fn commit_manifest_bytes(&self, bytes: &[u8], names: &[Reference]) -> Result<Image> {
        let mut committed = self.commit_images(&[(bytes.to_vec(), names.to_vec())])?;
        Ok(committed.images.remove(0))
    }

    /// Commits several images in one index update, so either all get their names or none
    /// does. Each is (manifest bytes, names).
    pub fn commit_images(&self, images: &[(Vec<u8>, Vec<Reference>)]) -> Result<Committed> {
        let mut descriptors = Vec::new();
        for (bytes, names) in images {
            for n in names {
                check_taggable(n)?;
            }
            let manifest: ImageManifest = serde_json::from_slice(bytes)
                .map_err(|e| Error::invalid("image manifest", e.to_string()))?;
            let config = Digest::try_from(manifest.config().digest())?;
            let mut needed = vec![(config, "config".to_string())];
            for (i, l) in manifest.layers().iter().enumerate() {
                needed.push((Digest::try_from(l.digest())?, format!("layer {}", i + 1)));
            }
            for (d, what) in needed {
                if !self.store.has_blob(&d) {
                    return Err(Error::MissingBlob { digest: d, what });
                }
            }
            let digest = self.put_blob(bytes, None)?;
            descriptors.push(Descriptor::new(
                manifest
                    .media_type()
                    .clone()
                    .unwrap_or(MediaType::ImageManifest),
                bytes.len() as u64,
                oci_spec::image::Digest::from(&digest),
            ));
        }
        let moved = self.store.update(|ix| {
            let mut moved = Vec::new();
            for (descriptor, (_, names)) in descriptors.iter().zip(images) {
                if names.is_empty() {
                    ix.add_untagged(descriptor);
                }
                for n in names {
                    if let Some(previous) = ix.set_tag(n, descriptor) {
                        moved.push((n.clone(), previous));
                    }
                }
            }
            Ok(moved)
        })?;
        // Built from what was committed rather than read back: a concurrent `rmi` may already
        // have removed the image again, which is no failure of this commit.
        let mut out = Vec::new();
        for (d, (bytes, names)) in descriptors.iter().zip(images) {
            let digest = Digest::try_from(d.digest())?;
            self.store.ensure_meta(&digest)?;
            let manifest: ImageManifest = serde_json::from_slice(bytes)
                .map_err(|e| Error::invalid("image manifest", e.to_string()))?;
            let mut names = names.clone();
            names.sort();
            names.dedup();
            out.push(Image {
                id: Digest::try_from(manifest.config().digest())?,
                manifest_digest: digest.clone(),
                manifest_size: bytes.len() as u64,
                manifest,
                names,
                meta: self.store.meta(&digest)?,
            });
        }
        Ok(Committed { images: out, moved })
    }
}

/// A name must be a tag: a digest is what the content is, not a name that can point elsewhere.
fn check_taggable(reference: &Reference) -> Result<()> {
    if reference.tag().is_none() || reference.digest().is_some() {
        return Err(Error::invalid(
            reference.familiar(),
            "refusing to create a tag with a digest reference",
        ));
    }
    Ok(())
}

/// What [`Lease::commit_images`] did.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The images, in the order given.
    pub images: Vec<Image>,
    /// Every name that moved from another image, with the manifest digest it moved from.
    pub moved: Vec<(Reference, Digest)>,
}

/// An exclusive lock, released on drop.
pub(crate) struct LockGuard(#[allow(dead_code)] File);

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("opening lock file", path)
}

/// Whether a descriptor names an image manifest (not an index or something else).
fn is_manifest(d: &Descriptor) -> bool {
    !matches!(d.media_type(), MediaType::ImageIndex)
        && d.media_type().to_string() != crate::manifest::DOCKER_MANIFEST_LIST
}

/// Reads a JSON file of at most [`MAX_JSON_SIZE`] bytes.
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).at("opening", path)?;
    let mut buf = Vec::new();
    f.take(MAX_JSON_SIZE + 1)
        .read_to_end(&mut buf)
        .at("reading", path)?;
    if buf.len() as u64 > MAX_JSON_SIZE {
        return Err(Error::invalid(
            path.display().to_string(),
            format!("larger than the {MAX_JSON_SIZE}-byte limit for a JSON document"),
        ));
    }
    Ok(buf)
}

/// fsyncs a directory so a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("syncing directory", dir)
}

/// One process's temporary directory `<root>/<owner>/`, owned while `<root>/<owner>.lock` is
/// locked by this process.
struct TempArea {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl TempArea {
    fn create(root: &Path) -> Result<TempArea> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let owner = format!(
                "{}-{nanos}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let lock_path = root.join(format!("{owner}.lock"));
            let lock = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("creating {}", lock_path.display()), e)),
            };
            lock.lock().at("locking", &lock_path)?;
            // A cleaner may have taken the fresh, not yet locked file for a dead owner's and
            // removed it; only a lock on the file still at that path counts.
            if !same_file(&lock, &lock_path) {
                continue;
            }
            let dir = root.join(&owner);
            fs::create_dir(&dir).at("creating temporary directory", &dir)?;
            return Ok(TempArea {
                dir,
                lock_path,
                _lock: lock,
            });
        }
    }
}

impl Drop for TempArea {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
