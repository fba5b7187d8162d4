//! COPY and ADD: from an instruction's sources to the layer it adds, straight from the sources
//! (the build context, another stage's rootfs, an image's rootfs, heredocs, URLs, local tar
//! archives) without materialising the destination rootfs (decision 5), and the content digest
//! that goes into the step's cache key (decision 4).
//!
//! A [`CopyPlan`] is made once per instruction: it resolves wildcards, follows the sources'
//! symlinks, walks directories (with `.dockerignore` and `--exclude` applied), decides where
//! each path lands with Docker's rules for directories and trailing slashes, resolves
//! `--chown` in the destination's `/etc/passwd` and `/etc/group`, and applies `--chmod`. It
//! reads no file contents. Then [`CopyPlan::content_digest`] hashes what the layer will hold
//! (names, types, modes, owners, link targets and content hashes, never modification times),
//! remembering file hashes across builds in the [`ContextHasher`](crate::context::ContextHasher),
//! and on a cache miss
//! [`CopyPlan::write_layer`] streams the sorted tar.
//!
//! The rules are BuildKit's (`dockerfile2llb`'s COPY and fsutil's copier):
//!
//! - a source directory copies its contents; a wildcard matching nothing copies nothing and is
//!   no error, a plain missing source is; a source symlink is followed (inside the source root),
//!   symlinks below a copied directory are copied as links;
//! - a destination ending in `/` (or `.`), or an existing directory, receives sources under
//!   their own names; otherwise a file source becomes the destination; relative destinations
//!   start at `WORKDIR`; symlinks in the destination are followed inside the image;
//! - missing parents of the destination are created `0755` (or with the `--chmod` mode, as
//!   BuildKit does since moby/buildkit#4945), owned by the `--chown` user (root without one);
//!   a directory copied into a new destination gets the same, and its source's modification
//!   time; existing directories keep their metadata;
//! - files and directories below get the source's metadata, with `--chmod` (octal or symbolic)
//!   and `--chown` applied; context files belong to root unless `--chown` says otherwise,
//!   files from a stage or an image keep their owners;
//! - heredocs are files `0644`, URLs are files `0600` with the `Last-Modified` time, both
//!   subject to `--chmod` and `--chown`;
//! - ADD extracts a local tar archive (plain, gzip, bzip2, xz, zstd, told by its bytes) into the
//!   destination directory, keeping the entries' owners and modes, hard links sharing their
//!   target's mode; entries that would land outside the destination (`..`, a symlink target
//!   leading out, a path through a symlink the archive made) are refused; a URL is only
//!   extracted with `--unpack`;
//! - ADD fetches a URL (file mode `0600`, time from `Last-Modified`, name from the URL path,
//!   else from `Content-Disposition`, else `__unnamed__`), checks `--checksum`, and when the
//!   checksum pins the content, fetches it only when the layer is written; git URLs are
//!   refused as unsupported;
//! - with `--parents`, each source keeps its path relative to the context (or to a `/./` pivot);
//! - with `--link` the destination is taken as empty, as BuildKit builds a linked layer on
//!   scratch: the layer then does not depend on what the image holds (owner names are still
//!   resolved in the image's files).
//!
//! Where the rules leave a choice bale is stricter than BuildKit, which would silently do
//! something surprising: a source that leaves the context (`../x`, a symlink pointing out) is
//! refused, and several sources need a destination that ends in `/` or is a directory.
//!
//! The layer a plan writes is applied to a stage's rootfs with [`crate::extract::extract_layer`],
//! like any other layer.
//!
//! Limits: names that are not UTF-8 are refused with an error; extended attributes are copied
//! into the layer but left out of the content digest; an ADD archive is not extracted through
//! a symlink the image has where the archive needs a directory (an error says so).
//!
//! ```
//! use bale_builder::context::ContextHasher;
//! use bale_builder::copy::{CopyPlan, CopyRequest, CopySource, EmptyDest, SourceRoot};
//! use bale_builder::dockerignore::Dockerignore;
//! use bale_builder::layer::LayerOptions;
//!
//! let ctx = tempfile::tempdir()?;
//! std::fs::create_dir(ctx.path().join("src"))?;
//! std::fs::write(ctx.path().join("src/main.rs"), "fn main() {}\n")?;
//! std::fs::write(ctx.path().join("src/notes.txt"), "not shipped\n")?;
//!
//! let mut req = CopyRequest::new(vec![CopySource::Path("src".into())], "app/");
//! req.workdir = "/srv".into();
//! req.exclude = vec!["*.txt".into()];
//! req.chown = Some("1000:1000".into());
//! let root = SourceRoot::context(ctx.path(), Dockerignore::default())?;
//! let plan = CopyPlan::new(&req, &root, &EmptyDest)?;
//! assert_eq!(plan.paths(), ["srv", "srv/app", "srv/app/main.rs"]);
//!
//! let cache = tempfile::tempdir()?;
//! let hasher = ContextHasher::open(&cache.path().join("hashes.json"));
//! let digest = plan.content_digest(&hasher, "COPY src app/")?;
//! assert!(digest.digest.starts_with("sha256:"));
//!
//! let mut tar = Vec::new();
//! let layer = plan.write_layer(&mut tar, &LayerOptions::default())?.expect("a layer");
//! assert_eq!(layer.size, tar.len() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod dest;
mod glob;
pub use glob::{BadPattern, path_match};
mod plan;
mod remote;
mod resolve;
#[cfg(test)]
mod tests;

pub use dest::{Dest, DestEntry, DestKind, EmptyDest, RootfsDest};
pub use plan::{CopyPlan, CopyRequest, CopySource, SourceKind, SourceRoot};
