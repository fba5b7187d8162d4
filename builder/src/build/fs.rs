//! A stage's filesystem: its layers, the rootfs directory materialised from them only when
//! something must run in it (extracted once, then kept up to date by applying later layers),
//! and questions about a path answered from the layers alone when there is no rootfs.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use bale_image::Store;
use bale_image::store::CachedLayer;

use super::error::{BuildError, BuildResult};
use crate::extract::{ExtractOptions, extract_layer};
use crate::snapshot::Snapshot;

/// Opens a layer blob for reading as a plain tar, decompressing it when it was stored
/// compressed (as pulled).
pub fn open_layer(store: &Store, layer: &CachedLayer) -> BuildResult<Box<dyn Read>> {
    let f = store.open_blob(&layer.digest)?;
    let (reader, _) =
        bale_image::compress::decompress(std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| BuildError::new(format!("reading layer {}: {e}", layer.digest)))?;
    Ok(reader)
}

/// The layer blob, rewound, when it is stored uncompressed: its headers can then be read with
/// the contents seeked over (`tar::Archive::entries_with_seek`). `None` for a compressed blob,
/// which [`open_layer`] reads.
pub fn seekable_layer(store: &Store, layer: &CachedLayer) -> BuildResult<Option<fs::File>> {
    let mut file = store.open_blob(&layer.digest)?;
    let mut head = [0u8; 512];
    let n = file.read(&mut head).map_err(|e| layer_error(layer, e))?;
    if bale_image::compress::Compression::detect(&head[..n])
        != bale_image::compress::Compression::None
    {
        return Ok(None);
    }
    std::io::Seek::rewind(&mut file).map_err(|e| layer_error(layer, e))?;
    Ok(Some(file))
}

/// Extracts `layers` in order into `dir`.
pub fn extract_all(store: &Store, layers: &[CachedLayer], dir: &Path) -> BuildResult<()> {
    for l in layers {
        extract_layer(open_layer(store, l)?, dir, &ExtractOptions::default())
            .map_err(|e| BuildError::new(format!("extracting layer {}: {e}", l.digest)))?;
    }
    Ok(())
}

/// A stage's materialised rootfs.
pub struct Rootfs {
    /// The directory.
    pub dir: PathBuf,
    /// How many of the stage's layers it holds.
    pub applied: usize,
    /// An index of it as it is now, when one was taken since the last change (saves the walk
    /// before a RUN that follows a RUN).
    pub snapshot: Option<Snapshot>,
    /// Where it goes when dropped, to be removed off the build's critical path.
    trash: PathBuf,
    /// The layers it holds exactly, bottom first.
    chain: Vec<CachedLayer>,
    /// Whether its files are exactly `chain`'s: false from the start of a RUN until the RUN's
    /// layer is recorded, and for good after a failed one.
    clean: bool,
    /// Where it is offered to later builds when dropped clean (`None`: removed instead).
    keep_in: Option<PathBuf>,
    /// Set when its files may differ from `chain` in a way nothing records (see
    /// [`Rootfs::taint`]): it is then never offered to a later build.
    tainted: std::sync::atomic::AtomicBool,
}

impl Rootfs {
    /// Materialises `layers` into a new directory in the store's temporary area. With
    /// `reuse`, a tree an earlier build left (see [`super::reuse`]) is taken when one shares
    /// layers with `layers`, and this one is left for later builds in turn.
    pub fn create(store: &Store, layers: &[CachedLayer], reuse: bool) -> BuildResult<Rootfs> {
        let claimed = if reuse {
            super::reuse::claim(store, layers)
        } else {
            None
        };
        let (dir, applied) = match claimed {
            Some(c) => c,
            None => {
                let dir = store.temp_path("rootfs")?;
                fs::create_dir(&dir)
                    .map_err(|e| BuildError::new(format!("creating {}: {e}", dir.display())))?;
                (dir, 0)
            }
        };
        let mut r = Rootfs {
            dir,
            applied,
            snapshot: None,
            trash: trash_dir(store),
            chain: layers[..applied].to_vec(),
            clean: true,
            keep_in: reuse.then(|| super::reuse::kept_dir(store)),
            tainted: std::sync::atomic::AtomicBool::new(false),
        };
        r.update(store, layers)?;
        Ok(r)
    }

    /// Applies the layers it does not hold yet.
    pub fn update(&mut self, store: &Store, layers: &[CachedLayer]) -> BuildResult<()> {
        if self.applied < layers.len() {
            let clean = std::mem::replace(&mut self.clean, false);
            extract_all(store, &layers[self.applied..], &self.dir)?;
            self.chain.extend_from_slice(&layers[self.applied..]);
            self.applied = layers.len();
            self.snapshot = None;
            self.clean = clean;
        }
        Ok(())
    }

    /// Its files may now differ from its layers in a way no layer records: a RUN left a socket,
    /// a file named like a whiteout, or changed the root directory itself; or it was handed to a
    /// RUN as a mount source, which a privileged command could write through. It is removed
    /// when dropped, never kept.
    pub fn taint(&self) {
        self.tainted
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A RUN is about to change the files: until [`Rootfs::ran`], they match no layer list.
    pub fn running(&mut self) {
        self.clean = false;
    }

    /// The RUN that ran in it succeeded and its changes (if any) are the last of `layers`.
    pub fn ran(&mut self, layers: &[CachedLayer]) {
        self.applied = layers.len();
        self.chain = layers.to_vec();
        self.clean = true;
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if self.clean
            && !self.tainted.load(std::sync::atomic::Ordering::Relaxed)
            && !self.chain.is_empty()
            && let Some(kept) = &self.keep_in
            && super::reuse::keep(kept, &self.trash, &self.dir, &self.chain)
        {
            return;
        }
        // Removing tens of thousands of files can take longer than the build did on a busy
        // disk: the tree is moved aside and removed by [`empty_trash`] in the background.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let aside = self.trash.join(format!("{}-{n}", std::process::id()));
        let moved =
            fs::create_dir_all(&self.trash).is_ok() && fs::rename(&self.dir, &aside).is_ok();
        if !moved {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Where dropped rootfs trees wait to be removed (`ROOT/bale/trash`).
pub fn trash_dir(store: &Store) -> PathBuf {
    store.root().join("bale").join("trash")
}

/// Removes what waits in the trash in a detached process of its own group (so it neither
/// delays the build's exit nor dies with a Ctrl-C meant for the next command); whatever it
/// leaves, a later build's call removes.
pub fn empty_trash(store: &Store) {
    use std::os::unix::process::CommandExt;
    let trash = trash_dir(store);
    let Ok(entries) = fs::read_dir(&trash) else {
        return;
    };
    let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    if paths.is_empty() {
        return;
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg("--")
        .args(&paths)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if spawned.is_err() {
        for p in paths {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// What an entry of a stage's filesystem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
    /// A hard link to this other path of the same layer.
    Hardlink(String),
    /// A device, fifo or socket.
    Other,
}

/// One entry of a stage's filesystem, as its layers' tar headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Its type.
    pub kind: IndexKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds.
    pub mtime: i64,
    /// The layer (index into the stage's layers) that last wrote it.
    pub layer: usize,
    /// Whether its header carries extended attributes.
    pub xattrs: bool,
}

/// Whether a tar entry carries extended attributes (`SCHILY.xattr.*` PAX records).
pub fn has_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> bool {
    entry.pax_extensions().ok().flatten().is_some_and(|exts| {
        exts.flatten()
            .any(|e| e.key_bytes().starts_with(b"SCHILY.xattr."))
    })
}

/// The owner PAX `uid`/`gid` records give, which win over the header's (ids too large for it).
fn pax_owner<R: Read>(entry: &mut tar::Entry<'_, R>) -> (Option<u32>, Option<u32>) {
    let (mut uid, mut gid) = (None, None);
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for e in exts.flatten() {
            let value = e.value().ok().and_then(|v| v.parse::<u32>().ok());
            match e.key_bytes() {
                b"uid" => uid = value,
                b"gid" => gid = value,
                _ => {}
            }
        }
    }
    (uid, gid)
}

/// Every path of a stage's filesystem read from its layers' tar headers alone (contents are
/// skipped, and seeked over in uncompressed layers), whiteouts and opaque directories applied:
/// what a COPY needs to know about its destination without a rootfs.
#[derive(Debug, Clone, Default)]
pub struct LayerIndex {
    entries: std::collections::BTreeMap<String, IndexEntry>,
}

fn clean_entry(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_start_matches("./").trim_start_matches('/');
    s.trim_end_matches('/').to_string()
}

fn layer_error(layer: &CachedLayer, e: impl std::fmt::Display) -> BuildError {
    BuildError::new(format!("reading layer {}: {e}", layer.digest))
}

impl LayerIndex {
    /// Reads the headers of `layers`, bottom first.
    pub fn build(store: &Store, layers: &[CachedLayer]) -> BuildResult<LayerIndex> {
        let mut index = LayerIndex::default();
        for (i, layer) in layers.iter().enumerate() {
            index.add(store, layer, i)?;
        }
        Ok(index)
    }

    fn remove_below(&mut self, dir: &str, older_than: Option<usize>) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, e)| older_than.is_none_or(|l| e.layer < l))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    fn add(&mut self, store: &Store, layer: &CachedLayer, i: usize) -> BuildResult<()> {
        match seekable_layer(store, layer)? {
            None => {
                let mut archive = tar::Archive::new(open_layer(store, layer)?);
                let entries = archive.entries().map_err(|e| layer_error(layer, e))?;
                for entry in entries {
                    let mut entry = entry.map_err(|e| layer_error(layer, e))?;
                    self.apply(&mut entry, i);
                }
            }
            Some(file) => {
                let mut archive = tar::Archive::new(file);
                let entries = archive
                    .entries_with_seek()
                    .map_err(|e| layer_error(layer, e))?;
                for entry in entries {
                    let mut entry = entry.map_err(|e| layer_error(layer, e))?;
                    self.apply(&mut entry, i);
                }
            }
        }
        Ok(())
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, i: usize) {
        let name = clean_entry(&entry.path_bytes());
        let (dir, base) = match name.rfind('/') {
            Some(p) => (&name[..p], &name[p + 1..]),
            None => ("", name.as_str()),
        };
        if base == ".wh..wh..opq" {
            let dir = dir.to_string();
            self.remove_below(&dir, Some(i));
            return;
        }
        if let Some(gone) = base.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                gone.to_string()
            } else {
                format!("{dir}/{gone}")
            };
            self.entries.remove(&gone);
            self.remove_below(&gone, None);
            return;
        }
        let h = entry.header();
        let t = h.entry_type();
        let link = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let kind = if t.is_dir() {
            IndexKind::Dir
        } else if t.is_symlink() {
            IndexKind::Symlink(link())
        } else if t.is_hard_link() {
            IndexKind::Hardlink(clean_entry(link().as_bytes()))
        } else if t.is_file() || t == tar::EntryType::Continuous {
            IndexKind::File
        } else {
            IndexKind::Other
        };
        if kind != IndexKind::Dir {
            // A non-directory replaces whatever tree was at its path.
            self.remove_below(&name, None);
        }
        let xattrs = has_xattrs(entry);
        let (pax_uid, pax_gid) = pax_owner(entry);
        let h = entry.header();
        // An empty numeric field (some writers leave them blank) reads as 0, as tar does.
        let num = |r: std::io::Result<u64>| r.unwrap_or(0);
        self.entries.insert(
            name,
            IndexEntry {
                kind,
                mode: num(h.mode().map(u64::from)) as u32 & 0o7777,
                uid: pax_uid.unwrap_or(num(h.uid()) as u32),
                gid: pax_gid.unwrap_or(num(h.gid()) as u32),
                mtime: num(h.mtime()) as i64,
                layer: i,
                xattrs,
            },
        );
    }

    /// The entry at `path` (absolute or relative to the image root), symlinks not followed.
    pub fn get(&self, path: &str) -> Option<&IndexEntry> {
        self.entries.get(&clean_entry(path.as_bytes()))
    }

    /// Every entry, by path in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &IndexEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether any entry lies below directory `dir` (which may itself have no entry: a tar
    /// that names `a/b` alone makes `a` implicitly).
    pub fn has_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The content of the regular file at `path`, read from the layer that last wrote it.
    pub fn read_file(
        &self,
        store: &Store,
        layers: &[CachedLayer],
        path: &str,
    ) -> BuildResult<Option<Vec<u8>>> {
        let mut target = clean_entry(path.as_bytes());
        let Some(mut e) = self.entries.get(&target) else {
            return Ok(None);
        };
        if let IndexKind::Hardlink(to) = &e.kind {
            target = to.clone();
            match self.entries.get(&target) {
                Some(t) => e = t,
                None => return Ok(None),
            }
        }
        if e.kind != IndexKind::File {
            return Ok(None);
        }
        let layer = &layers[e.layer];
        let mut archive = tar::Archive::new(open_layer(store, layer)?);
        for entry in archive.entries().map_err(|e| layer_error(layer, e))? {
            let mut entry = entry.map_err(|e| layer_error(layer, e))?;
            if clean_entry(&entry.path_bytes()) == target {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| layer_error(layer, e))?;
                return Ok(Some(buf));
            }
        }
        Ok(None)
    }
}

/// The text of `/etc/passwd` and `/etc/group` of a stage: from its rootfs when it is up to
/// date, else from its layers.
pub fn user_files(
    store: &Store,
    layers: &[CachedLayer],
    rootfs: Option<&Path>,
) -> BuildResult<(Option<String>, Option<String>)> {
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    if let Some(dir) = rootfs {
        let read = |name: &str| fs::read(dir.join(name)).ok().map(text);
        return Ok((read("etc/passwd"), read("etc/group")));
    }
    let index = LayerIndex::build(store, layers)?;
    Ok((
        index.read_file(store, layers, "etc/passwd")?.map(text),
        index.read_file(store, layers, "etc/group")?.map(text),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A layer of (path, content or `None` for a directory, mode, mtime) entries, owned by root;
    /// a content of `-> TARGET` makes a symlink.
    pub(crate) fn layer_with(
        store: &Store,
        entries: &[(&str, Option<&str>, u32, u64)],
    ) -> CachedLayer {
        let lease = store.lease().unwrap();
        let mut w = lease.blob_writer().unwrap();
        {
            let mut t = tar::Builder::new(&mut w);
            for (name, content, mode, mtime) in entries {
                let mut h = tar::Header::new_ustar();
                let link = content.and_then(|c| c.strip_prefix("-> "));
                h.set_entry_type(match (content, link) {
                    (_, Some(_)) => tar::EntryType::Symlink,
                    (Some(_), None) => tar::EntryType::Regular,
                    (None, _) => tar::EntryType::Directory,
                });
                if let Some(l) = link {
                    h.set_link_name(l).unwrap();
                }
                let content = if link.is_some() { None } else { *content };
                h.set_size(content.map_or(0, |c| c.len() as u64));
                h.set_mode(*mode);
                h.set_mtime(*mtime);
                h.set_uid(0);
                h.set_gid(0);
                h.set_path(name).unwrap();
                h.set_cksum();
                t.append(&h, content.unwrap_or("").as_bytes()).unwrap();
            }
            t.finish().unwrap();
        }
        let (d, size) = w.commit(None).unwrap();
        CachedLayer {
            digest: d.clone(),
            size,
            media_type: bale_image::manifest::LAYER_TAR.into(),
            diff_id: d,
        }
    }

    fn layer(store: &Store, entries: &[(&str, Option<&str>)]) -> CachedLayer {
        let entries: Vec<(&str, Option<&str>, u32, u64)> = entries
            .iter()
            .map(|(n, c)| (*n, *c, if c.is_some() { 0o644 } else { 0o755 }, 0))
            .collect();
        layer_with(store, &entries)
    }

    #[test]
    fn whiteouts_and_opaque_directories_apply() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let l0 = layer(
            &store,
            &[
                ("etc/", None),
                ("etc/passwd", Some("root:x:0:0::/root:/bin/sh\n")),
                ("app/", None),
                ("app/a", Some("a")),
                ("app/b", Some("b")),
                ("gone/", None),
                ("gone/x", Some("x")),
            ],
        );
        let l1 = layer(
            &store,
            &[
                ("app/", None),
                ("app/.wh..wh..opq", Some("")),
                ("app/c", Some("c")),
                (".wh.gone", Some("")),
            ],
        );
        let layers = vec![l0, l1];
        let index = LayerIndex::build(&store, &layers).unwrap();
        assert_eq!(index.get("/app").unwrap().kind, IndexKind::Dir);
        assert!(index.get("app/a").is_none());
        assert_eq!(index.get("app/c").unwrap().layer, 1);
        assert!(index.get("gone").is_none() && index.get("gone/x").is_none());
        assert_eq!(
            index
                .read_file(&store, &layers, "/etc/passwd")
                .unwrap()
                .unwrap(),
            b"root:x:0:0::/root:/bin/sh\n"
        );
        let (passwd, group) = user_files(&store, &layers, None).unwrap();
        assert!(passwd.unwrap().starts_with("root:"));
        assert!(group.is_none());
    }
}
