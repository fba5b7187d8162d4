//! Images: the content-addressed store, image references, and the OCI and docker image formats.
//! It knows nothing of Dockerfiles; the build engine and the CLI use it.
//!
//! - [`Store`]: an OCI image layout on disk (skopeo and umoci read it directly) with atomic,
//!   verified blob writes, an index rewritten under a lock, names, and garbage collection.
//! - [`Reference`]: docker's reference grammar, normalisation and familiar form.
//! - [`Digest`]: sha256 digests and hashing readers and writers.
//! - [`ImageConfig`]: docker's image config, keeping every field.
//! - [`archive`]: `save` (docker archive and OCI layout in one tar), `load` (docker archives old
//!   and new, OCI layouts and archives, any compression) and `import` (a rootfs tarball).
//! - [`compress`]: compression told by magic bytes, streamed decompression.
//! - [`extract`]: a layer tar into a directory, whiteouts applied, nothing written outside it.
//! - [`flatten`]: an image's layers merged into one tar of its final root filesystem.
//! - [`export`]: `build --output` specs (buildx's grammar) and the exporters: OCI layout tar,
//!   docker archive, rootfs tar, rootfs directory.
//! - [`manifest`]: OCI manifests for uncompressed layers, media types.
//!
//! Rules every user of the store follows:
//! - Blobs are written only through a [`Lease`] ([`Lease::blob_writer`], [`Lease::put_blob`]) and
//!   become images through [`Lease::commit_image`] / [`Lease::commit_images`]; a blob no image
//!   reaches is garbage once the lease is gone.
//! - Names change only through [`Store::tag`], [`Store::untag`], [`Store::remove_image`] or, for
//!   several changes that must be atomic, [`Store::update`].
//! - [`Store::gc`] runs only from `rmi` and `prune`, never while the caller holds a lease.
//! - Layers are stored uncompressed: a layer's digest is its diffID. Compressed forms seen by a
//!   push or pull are remembered with [`Store::remember_compressed`].
//!
//! Writing an image: take a [`Lease`] (it holds off garbage collection), write each blob
//! through a [`BlobWriter`] (hashed while written, verified, renamed into place), then commit a
//! manifest with the names it should have:
//!
//! ```
//! use std::io::Write;
//! use bale_image::{ImageConfig, Reference, Store, manifest};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path()).unwrap();
//! let lease = store.lease().unwrap();
//!
//! // A layer: any tar stream, written without holding it in memory.
//! let mut layer = lease.blob_writer().unwrap();
//! let mut tar = tar::Builder::new(&mut layer);
//! let mut header = tar::Header::new_gnu();
//! header.set_size(5);
//! header.set_mode(0o644);
//! header.set_cksum();
//! tar.append_data(&mut header, "hello.txt", &b"hello"[..]).unwrap();
//! tar.finish().unwrap();
//! drop(tar);
//! let (diff_id, layer_size) = layer.commit(None).unwrap();
//!
//! let mut config = ImageConfig::default();
//! config.architecture = "amd64".into();
//! config.os = "linux".into();
//! config.rootfs.diff_ids.push(diff_id.clone());
//! let config_bytes = config.to_vec();
//! let config_digest = lease.put_blob(&config_bytes, None).unwrap();
//!
//! let m = manifest::build(
//!     (&config_digest, config_bytes.len() as u64),
//!     &[(diff_id, layer_size)],
//! );
//! let name = Reference::parse_tagged("hello:1.0").unwrap();
//! let image = lease.commit_image(&m, &[name.clone()]).unwrap();
//! drop(lease);
//!
//! assert_eq!(name.to_string(), "docker.io/library/hello:1.0");
//! assert_eq!(image.id, config_digest);
//! assert_eq!(store.resolve("hello:1.0").unwrap().id, image.id);
//! assert_eq!(store.resolve(&image.id.hex()[..12]).unwrap().names, vec![name.clone()]);
//!
//! // Untagging its only name leaves the image dangling; removing it and collecting garbage
//! // frees its blobs.
//! store.untag(&name).unwrap();
//! assert!(store.resolve("hello:1.0").unwrap_err().is_not_found());
//! store.remove_image(&image.manifest_digest).unwrap();
//! let report = store.gc(true).unwrap().unwrap();
//! assert_eq!(report.removed.len(), 3);
//! ```

pub mod archive;
pub mod compress;
pub mod config;
pub mod digest;
pub mod error;
pub mod export;
pub mod extract;
pub mod flatten;
pub mod manifest;
pub mod reference;
pub mod store;
pub mod time;

pub use config::ImageConfig;
pub use digest::{Digest, HashingReader, HashingWriter};
pub use error::{Error, Result};
pub use reference::{Reference, ReferenceError};
pub use store::{
    BlobWriter, Committed, GcReport, Image, ImageMeta, ImageSummary, Lease, ListedImage, Store,
    StoreIndex, default_root,
};
