//! Flattening an image: its layers applied bottom to top, written as one tar of the final root
//! filesystem (`build --output type=tar`, and through extraction `type=local`).
//!
//! Nothing is extracted and no layer is held in memory. A first pass reads every layer's
//! headers and keeps a model of the final tree (one small node per surviving path), applying
//! the layer rules that extraction applies: `.wh.NAME` removes `NAME` and everything under it
//! from lower layers, `.wh..wh..opq` empties a directory of what lower layers put there, an
//! entry replaces whatever is at its path (a directory over a directory only updates its
//! metadata), parents missing from the layers are created (`0755`, owned by root), and
//! symlinks met in a parent path are followed inside the rootfs as `RESOLVE_IN_ROOT` would.
//! The second pass streams the layers again and copies each surviving entry's header and
//! content to the output, in layer order.
//!
//! Hard links need care: a link whose target was later replaced or removed still shares the
//! old content. The model remembers, for every link, the entry that holds its content; when
//! that entry does not survive, its content is written under the first surviving link's path
//! (at the content's place in the stream, so every later link finds it) and the other links
//! point there.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use tar::{EntryType, Header};

use crate::compress::{Compression, decompress};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::extract::{clean_entry_path, split_parent};
use crate::store::{Image, Store};

/// How many symlinks one path may pass through, as Linux allows.
const MAX_SYMLINKS: usize = 40;

/// Writes the final root filesystem of `image` to `out` as one tar: every surviving entry
/// with its mode, owner, times, link target and extended attributes, no whiteouts.
pub fn flatten(store: &Store, image: &Image, out: impl Write) -> Result<()> {
    let layers = image.layer_digests()?;
    let mut model = Model::default();
    for (i, digest) in layers.iter().enumerate() {
        let layer = Layer::open(store, digest, i, image)?;
        let index = i as u32;
        let scanned = (|| match layer.reader {
            // Headers only: an uncompressed layer seeks past contents.
            LayerReader::Plain(file) => {
                let mut archive = tar::Archive::new(file);
                model.scan(archive.entries_with_seek()?, index)
            }
            LayerReader::Compressed(r) => {
                let mut archive = tar::Archive::new(r);
                model.scan(archive.entries()?, index)
            }
        })();
        scanned.map_err(|e| e.named(&layer.what))?;
    }
    let plan = model.plan();

    let mut tar = tar::Builder::new(out);
    for dir in &plan.implicit_dirs {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, os(dir), io::empty())
            .ctx(|| "writing the flattened rootfs".to_string())?;
    }
    for (i, digest) in layers.iter().enumerate() {
        let layer = Layer::open(store, digest, i, image)?;
        let index = i as u32;
        let copied = (|| match layer.reader {
            LayerReader::Plain(file) => {
                let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
                copy(&mut tar, archive.entries()?, index, &plan)
            }
            LayerReader::Compressed(r) => {
                let mut archive = tar::Archive::new(r);
                copy(&mut tar, archive.entries()?, index, &plan)
            }
        })();
        copied.map_err(|e| e.named(&layer.what))?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .ctx(|| "finishing the flattened rootfs".to_string())?;
    Ok(())
}

fn os(path: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(path))
}

/// Why a pass over one layer failed, before the layer is named.
enum PassError {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for PassError {
    fn from(e: io::Error) -> Self {
        PassError::Io(e)
    }
}

impl PassError {
    fn named(self, what: &str) -> Error {
        match self {
            PassError::Io(e) => Error::io(format!("reading {what}"), e),
            PassError::Invalid(reason) => Error::invalid(what, reason),
        }
    }
}

/// One layer blob opened for a pass.
struct Layer {
    reader: LayerReader,
    what: String,
}

enum LayerReader {
    /// Uncompressed: contents can be skipped by seeking.
    Plain(std::fs::File),
    Compressed(Box<dyn Read>),
}

impl Layer {
    fn open(store: &Store, digest: &Digest, index: usize, image: &Image) -> Result<Layer> {
        let what = format!(
            "layer {} ({digest}) of image {}",
            index + 1,
            image.display_name()
        );
        let mut file = store.open_blob(digest).map_err(|e| match e {
            Error::MissingBlob { digest, .. } => Error::MissingBlob {
                digest,
                what: what.clone(),
            },
            e => e,
        })?;
        let mut head = [0u8; 6];
        let n = read_up_to(&mut file, &mut head).ctx(|| format!("reading {what}"))?;
        file.seek(SeekFrom::Start(0))
            .ctx(|| format!("reading {what}"))?;
        let reader = if Compression::detect(&head[..n]) == Compression::None {
            LayerReader::Plain(file)
        } else {
            let (r, _) = decompress(BufReader::with_capacity(1 << 20, file))
                .ctx(|| format!("reading {what}"))?;
            LayerReader::Compressed(r)
        };
        Ok(Layer { reader, what })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// An entry of a layer: the layer's place in the image and the entry's place in the layer, the
/// same on both passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct EntryId {
    layer: u32,
    ordinal: u32,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    Symlink(Vec<u8>),
    /// Anything else with content of its own: files, devices, fifos.
    File,
    /// A hard link, with the entry that holds its content.
    Hardlink(EntryId),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// The entry that made it; `None` for a parent directory no layer has an entry for.
    origin: Option<EntryId>,
    /// The layer that made it.
    layer: u32,
}

/// The final tree, one node per path.
#[derive(Debug, Default)]
struct Model {
    nodes: BTreeMap<Vec<u8>, Node>,
    /// The last parent resolved (as written, as resolved); cleared by any change that could
    /// make it wrong.
    parent_cache: Option<(Vec<u8>, Vec<u8>)>,
}

fn invalid(raw: &[u8], reason: &str) -> PassError {
    PassError::Invalid(format!(
        "entry {:?}: {reason}",
        String::from_utf8_lossy(raw)
    ))
}

/// An entry path without `./` prefixes and trailing `/`; absolute paths and `..` are refused.
fn clean(raw: &[u8]) -> std::result::Result<Vec<u8>, PassError> {
    clean_entry_path(raw).map_err(|reason| invalid(raw, reason))
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl Model {
    fn scan<R: Read>(
        &mut self,
        entries: tar::Entries<'_, R>,
        layer: u32,
    ) -> std::result::Result<(), PassError> {
        for (ordinal, entry) in entries.enumerate() {
            let entry = entry?;
            let id = EntryId {
                layer,
                ordinal: ordinal as u32,
            };
            self.apply(&entry, id)?;
        }
        Ok(())
    }

    /// Removes `path` and everything under it.
    fn remove_tree(&mut self, path: &[u8]) {
        self.parent_cache = None;
        self.nodes.remove(path);
        let prefix = join(path, b"");
        self.remove_under(&prefix, |_| true);
    }

    /// Removes the nodes whose path starts with `prefix` and that `doomed` picks.
    fn remove_under(&mut self, prefix: &[u8], doomed: impl Fn(&Node) -> bool) {
        self.parent_cache = None;
        let gone: Vec<Vec<u8>> = self
            .nodes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, n)| doomed(n))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.nodes.remove(&k);
        }
    }

    /// Where directory `parent` (as an entry names it) is in the tree: symlinks on the way are
    /// followed inside the rootfs, `..` stops at the root, and missing directories are made.
    fn resolve_parent(
        &mut self,
        raw: &[u8],
        parent: &[u8],
        layer: u32,
    ) -> std::result::Result<Vec<u8>, PassError> {
        if parent.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((asked, found)) = &self.parent_cache
            && asked == parent
        {
            return Ok(found.clone());
        }
        let mut resolved: Vec<u8> = Vec::new();
        let mut pending: std::collections::VecDeque<Vec<u8>> =
            parent.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
        let mut hops = 0;
        while let Some(c) = pending.pop_front() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    let (up, _) = split_parent(&resolved);
                    resolved.truncate(up.len());
                    continue;
                }
                _ => {}
            }
            let candidate = join(&resolved, &c);
            match self.nodes.get(&candidate).map(|n| n.kind.clone()) {
                Some(Kind::Dir) => resolved = candidate,
                Some(Kind::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(invalid(raw, "too many levels of symbolic links"));
                    }
                    if target.starts_with(b"/") {
                        resolved.clear();
                    }
                    for t in target.split(|&b| b == b'/').rev() {
                        pending.push_front(t.to_vec());
                    }
                }
                Some(_) => {
                    return Err(invalid(
                        raw,
                        &format!(
                            "{:?} is not a directory",
                            String::from_utf8_lossy(&candidate)
                        ),
                    ));
                }
                None => {
                    self.nodes.insert(
                        candidate.clone(),
                        Node {
                            kind: Kind::Dir,
                            origin: None,
                            layer,
                        },
                    );
                    resolved = candidate;
                }
            }
        }
        self.parent_cache = Some((parent.to_vec(), resolved.clone()));
        Ok(resolved)
    }

    fn apply<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        id: EntryId,
    ) -> std::result::Result<(), PassError> {
        let raw = entry.path_bytes().into_owned();
        let path = clean(&raw)?;
        if path.is_empty() {
            return Ok(());
        }
        let (parent, name) = split_parent(&path);
        let parent = self.resolve_parent(&raw, parent, id.layer)?;
        if name == b".wh..wh..opq" {
            self.remove_under(&join(&parent, b""), |n| n.layer < id.layer);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            // `.wh..wh.*` other than the opaque marker is AUFS bookkeeping, not a whiteout.
            if !hidden.starts_with(b".wh.") {
                self.remove_tree(&join(&parent, hidden));
            }
            return Ok(());
        }
        let full = join(&parent, name);
        let kind = match entry.header().entry_type() {
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink(
                entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid(&raw, "symlink without a target"))?
                    .into_owned(),
            ),
            EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid(&raw, "hard link without a target"))?
                    .into_owned();
                let target = clean(&target_raw)?;
                let (tparent, tname) = split_parent(&target);
                let tparent = self.resolve_parent(&raw, tparent, id.layer)?;
                let tfull = join(&tparent, tname);
                match self.nodes.get(&tfull) {
                    None => {
                        return Err(invalid(
                            &raw,
                            &format!(
                                "hard link to {:?}, which no layer up to this one has",
                                String::from_utf8_lossy(&target_raw)
                            ),
                        ));
                    }
                    Some(Node {
                        kind: Kind::Hardlink(content),
                        ..
                    }) => Kind::Hardlink(*content),
                    Some(Node {
                        origin: Some(origin),
                        kind: Kind::File | Kind::Symlink(_),
                        ..
                    }) => Kind::Hardlink(*origin),
                    Some(_) => return Err(invalid(&raw, "hard link to a directory")),
                }
            }
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::GNUSparse
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo => Kind::File,
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => return Ok(()),
            other => return Err(invalid(&raw, &format!("unsupported entry type {other:?}"))),
        };
        let keep_children = matches!(kind, Kind::Dir)
            && matches!(self.nodes.get(&full).map(|n| &n.kind), Some(Kind::Dir));
        if !keep_children && self.nodes.contains_key(&full) {
            self.remove_tree(&full);
        }
        if matches!(kind, Kind::Symlink(_)) {
            self.parent_cache = None;
        }
        self.nodes.insert(
            full,
            Node {
                kind,
                origin: Some(id),
                layer: id.layer,
            },
        );
        Ok(())
    }

    /// What the second pass writes for each entry.
    fn plan(self) -> Plan {
        let mut plan = Plan::default();
        let mut content_at: HashMap<EntryId, Vec<u8>> = HashMap::new();
        let mut links: BTreeMap<EntryId, Vec<(Vec<u8>, EntryId)>> = BTreeMap::new();
        for (path, node) in self.nodes {
            match (node.kind, node.origin) {
                (_, None) => plan.implicit_dirs.push(path),
                (Kind::Hardlink(content), Some(id)) => {
                    links.entry(content).or_default().push((path, id))
                }
                (kind, Some(id)) => {
                    if !matches!(kind, Kind::Dir) {
                        content_at.insert(id, path.clone());
                    }
                    plan.emit.insert(id, Emit::As(path));
                }
            }
        }
        for (content, group) in links {
            let target = match content_at.get(&content) {
                Some(p) => p.clone(),
                None => {
                    // The content's own path is gone: its first link takes the content, at the
                    // content's place in the stream.
                    let first = group[0].0.clone();
                    plan.emit.insert(content, Emit::As(first.clone()));
                    first
                }
            };
            for (path, id) in group {
                if path != target {
                    plan.emit.insert(
                        id,
                        Emit::LinkTo {
                            path,
                            target: target.clone(),
                        },
                    );
                }
            }
        }
        plan
    }
}

#[derive(Debug)]
enum Emit {
    /// The entry, under this path.
    As(Vec<u8>),
    /// A hard link at `path` to `target`, written where the entry was.
    LinkTo { path: Vec<u8>, target: Vec<u8> },
}

#[derive(Debug, Default)]
struct Plan {
    /// Parents no layer has an entry for, sorted.
    implicit_dirs: Vec<Vec<u8>>,
    emit: HashMap<EntryId, Emit>,
}

/// The second pass over one layer: copies what the plan keeps.
fn copy<W: Write, R: Read>(
    tar: &mut tar::Builder<W>,
    entries: tar::Entries<'_, R>,
    layer: u32,
    plan: &Plan,
) -> std::result::Result<(), PassError> {
    for (ordinal, entry) in entries.enumerate() {
        let mut entry = entry?;
        let id = EntryId {
            layer,
            ordinal: ordinal as u32,
        };
        if let Some(emit) = plan.emit.get(&id) {
            write_entry(tar, &mut entry, emit)?;
        }
    }
    Ok(())
}

fn write_entry<W: Write, R: Read>(
    tar: &mut tar::Builder<W>,
    entry: &mut tar::Entry<'_, R>,
    emit: &Emit,
) -> std::result::Result<(), PassError> {
    let src = entry.header().clone();
    // Empty numeric fields read as 0, as Go's archive/tar reads them.
    let mut uid = src.uid().unwrap_or(0);
    let mut gid = src.gid().unwrap_or(0);
    let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let number = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
            };
            match ext.key_bytes() {
                b"uid" => uid = number().unwrap_or(uid),
                b"gid" => gid = number().unwrap_or(gid),
                k if k.starts_with(b"SCHILY.xattr.") => {
                    if let Ok(k) = std::str::from_utf8(k) {
                        xattrs.push((k.to_string(), ext.value_bytes().to_vec()));
                    }
                }
                _ => {}
            }
        }
    }
    let mut h = Header::new_gnu();
    h.set_mode(src.mode()?);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(src.mtime().unwrap_or(0));
    if let Some(name) = src
        .username_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
    {
        h.set_username(name)?;
    }
    if let Some(name) = src
        .groupname_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
    {
        h.set_groupname(name)?;
    }
    h.set_size(0);
    let path = match emit {
        Emit::LinkTo { path, target } => {
            h.set_entry_type(EntryType::Link);
            tar.append_link(&mut h, os(path), os(target))?;
            return Ok(());
        }
        Emit::As(path) => path,
    };
    tar.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
    match src.entry_type() {
        EntryType::Directory => {
            h.set_entry_type(EntryType::Directory);
            tar.append_data(&mut h, os(path), io::empty())?;
        }
        EntryType::Symlink => {
            h.set_entry_type(EntryType::Symlink);
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            tar.append_link(&mut h, os(path), os(&target))?;
        }
        t @ (EntryType::Char | EntryType::Block | EntryType::Fifo) => {
            h.set_entry_type(t);
            h.set_device_major(src.device_major()?.unwrap_or(0))?;
            h.set_device_minor(src.device_minor()?.unwrap_or(0))?;
            tar.append_data(&mut h, os(path), io::empty())?;
        }
        EntryType::GNUSparse => {
            // The reader expands the holes, so the copy is a plain file of the real size.
            let size = src.as_gnu().map(|g| g.real_size()).transpose()?;
            h.set_entry_type(EntryType::Regular);
            h.set_size(size.unwrap_or(entry.size()));
            tar.append_data(&mut h, os(path), entry)?;
        }
        _ => {
            h.set_entry_type(EntryType::Regular);
            h.set_size(entry.size());
            tar.append_data(&mut h, os(path), entry)?;
        }
    }
    Ok(())
}
