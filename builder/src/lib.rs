//! The build engine's parts that touch files: the snapshot and diff that turn a changed rootfs
//! into a tar layer ([`snapshot`], [`layer`]), the layer extractor that materialises a rootfs
//! ([`extract`]), and the build context: `.dockerignore` ([`dockerignore`]) and content hashing
//! for cache keys ([`context`]), COPY and ADD ([`copy`]), and the events a build reports
//! ([`progress`]).
//!
//! It knows nothing of the image store or of Dockerfile syntax: layers go to any `Write`, and
//! their digest (the diffID: layers are stored uncompressed) and size come back.
//!
//! ```
//! use bale_builder::layer::{LayerOptions, write_diff_layer};
//! use bale_builder::snapshot::Snapshot;
//!
//! let root = tempfile::tempdir()?;
//! let before = Snapshot::take(root.path())?;
//! std::fs::write(root.path().join("hello"), "hi\n")?;
//! let after = Snapshot::take(root.path())?;
//! let mut tar = Vec::new();
//! let layer = write_diff_layer(&before, &after, &mut tar, &LayerOptions::default())?;
//! assert!(layer.diff_id.starts_with("sha256:"));
//! assert_eq!(layer.size, tar.len() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//! A RUN is a snapshot, the sandbox, another snapshot and the layer of the difference:
//!
//! ```no_run
//! use bale_builder::layer::{LayerOptions, write_diff_layer};
//! use bale_builder::snapshot::Snapshot;
//! use bale_sandbox::{Sandbox, SandboxSpec};
//!
//! let rootfs = std::path::Path::new("/var/lib/bale/stage0");
//! let before = Snapshot::take(rootfs)?;
//! let status = Sandbox::run(&SandboxSpec::new(rootfs, ["/bin/sh", "-c", "apk add curl"]))?;
//! assert!(status.success());
//! let after = Snapshot::take(rootfs)?;
//! let layer = write_diff_layer(&before, &after, std::fs::File::create("layer.tar")?, &LayerOptions::from_env())?;
//! println!("{} ({} bytes)", layer.diff_id, layer.size);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod build;
pub mod context;
pub mod copy;
pub mod digest;
pub mod dockerignore;
mod error;
pub mod extract;
pub mod layer;
pub mod progress;
pub mod snapshot;
#[cfg(test)]
mod testutil;

pub use error::Error;
