//! The overlayfs-less RUN diff: an index of a rootfs's metadata taken before a command, another
//! taken after, and the list of changes between them that becomes the layer.
//!
//! A non-directory changed if its inode, type or ctime changed (ctime moves on every content,
//! mode, owner, link-count or xattr change and cannot be set back from user space); mode, owner,
//! size and mtime are compared too, for file systems with coarse ctimes. A directory changed if
//! its type, mode, owner, mtime or xattrs changed. Directory ctimes are not compared: the sandbox
//! creates and removes mount targets (`/etc/resolv.conf`, `/proc`, ...) and restores their
//! parent's mtime, but it cannot restore a ctime.
//!
//! The diff follows what BuildKit's differ emits: every new or changed path, the parent
//! directories of every change (with their current metadata), a whiteout `.wh.NAME` for every
//! vanished path whose parent survives, and an opaque directory (its full content plus
//! `.wh..wh..opq`) for a directory that was removed and recreated (a new inode or birth time).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::Error;

/// The type of a file system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket (never put in a layer, as docker does).
    Socket,
}

impl Kind {
    pub(crate) fn of(ft: fs::FileType) -> Kind {
        if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else {
            Kind::File
        }
    }
}

/// What the index keeps of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Entry type.
    pub kind: Kind,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, i64),
    /// Inode number.
    pub ino: u64,
    /// Birth time (seconds, nanoseconds) where the file system records it: with the inode it
    /// tells a directory removed and recreated (ext4 reuses inode numbers at once).
    pub btime: Option<(i64, i64)>,
    /// Device of the file system holding it.
    pub dev: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Device number, for device nodes.
    pub rdev: u64,
    /// Target, for symlinks.
    pub link: Option<PathBuf>,
    /// A fingerprint of the extended attributes (names and values) for directories, 0 when they
    /// have none. Always 0 for other entries: an xattr change moves their ctime, and the layer
    /// writer reads the xattrs of the changed ones only, which saves a system call per file on
    /// every snapshot.
    pub xattrs: u64,
}

impl Meta {
    pub(crate) fn from_metadata(m: &fs::Metadata) -> Meta {
        Meta {
            kind: Kind::of(m.file_type()),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            btime: m.created().ok().and_then(|t| {
                let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
                Some((d.as_secs() as i64, i64::from(d.subsec_nanos())))
            }),
            dev: m.dev(),
            nlink: m.nlink(),
            rdev: m.rdev(),
            link: None,
            xattrs: 0,
        }
    }

    fn changed_from(&self, before: &Meta) -> bool {
        if self.kind != before.kind
            || self.mode != before.mode
            || self.uid != before.uid
            || self.gid != before.gid
            || self.mtime != before.mtime
            || self.xattrs != before.xattrs
        {
            return true;
        }
        if self.kind == Kind::Dir {
            return false;
        }
        self.ino != before.ino
            || self.btime != before.btime
            || self.ctime != before.ctime
            || self.size != before.size
            || self.rdev != before.rdev
            || self.link != before.link
    }
}

/// The metadata of every path under a root, keyed by the path relative to the root (no leading
/// `/`, the root itself excluded).
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    pub(crate) entries: HashMap<Vec<u8>, Meta>,
}

/// Shared state of the parallel walk: directories left to read and how many workers are busy.
struct Queue {
    dirs: Vec<Vec<u8>>,
    busy: usize,
    error: Option<Error>,
}

impl Snapshot {
    /// Walks `root` (without following symlinks or leaving it) on all cores and indexes it.
    pub fn take(root: &Path) -> Result<Snapshot, Error> {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 16);
        Snapshot::take_with_threads(root, threads)
    }

    /// [`Snapshot::take`] with a given number of walker threads.
    pub fn take_with_threads(root: &Path, threads: usize) -> Result<Snapshot, Error> {
        let root = root.to_path_buf();
        fs::symlink_metadata(&root).map_err(|e| Error::io(&root, e))?;
        let queue = Mutex::new(Queue {
            dirs: vec![Vec::new()],
            busy: 0,
            error: None,
        });
        let wake = Condvar::new();
        let parts: Vec<Vec<(Vec<u8>, Meta)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.max(1))
                .map(|_| s.spawn(|| walk_worker(&root, &queue, &wake)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let queue = queue.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = queue.error {
            return Err(e);
        }
        let mut entries = HashMap::with_capacity(parts.iter().map(Vec::len).sum());
        for part in parts {
            entries.extend(part);
        }
        wait_for_clock_tick();
        Ok(Snapshot { root, entries })
    }

    /// The root this snapshot indexes.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the root was empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The metadata of a relative path.
    pub fn get(&self, path: &[u8]) -> Option<&Meta> {
        self.entries.get(path)
    }
}

/// HAZARD: file times come from a coarse clock (one tick is up to 10 ms). A file changed in the
/// same tick as the snapshot read it would keep the same ctime, and its change would be missed.
/// Waiting for the next tick before returning means any later change gets a later ctime.
fn wait_for_clock_tick() {
    let now = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write to.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        (ts.tv_sec, ts.tv_nsec)
    };
    let start = now();
    while now() <= start {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

fn walk_worker(root: &Path, queue: &Mutex<Queue>, wake: &Condvar) -> Vec<(Vec<u8>, Meta)> {
    let mut out = Vec::new();
    loop {
        let dir = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if q.error.is_some() {
                    return out;
                }
                if let Some(d) = q.dirs.pop() {
                    q.busy += 1;
                    break d;
                }
                if q.busy == 0 {
                    wake.notify_all();
                    return out;
                }
                q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let mut found = Vec::new();
        let res = read_dir_into(root, &dir, &mut out, &mut found);
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        q.busy -= 1;
        if let Err(e) = res {
            q.error.get_or_insert(e);
        }
        q.dirs.extend(found);
        wake.notify_all();
    }
}

fn join_rel(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        p.extend_from_slice(dir);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

pub(crate) fn host_path(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

fn read_dir_into(
    root: &Path,
    dir: &[u8],
    out: &mut Vec<(Vec<u8>, Meta)>,
    subdirs: &mut Vec<Vec<u8>>,
) -> Result<(), Error> {
    let host = host_path(root, dir);
    let rd = fs::read_dir(&host).map_err(|e| Error::io(&host, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(&host, e))?;
        let rel = join_rel(dir, entry.file_name().as_bytes());
        let path = entry.path();
        let m = entry.metadata().map_err(|e| Error::io(&path, e))?;
        let mut meta = Meta::from_metadata(&m);
        match meta.kind {
            Kind::Symlink => {
                meta.link = Some(fs::read_link(&path).map_err(|e| Error::io(&path, e))?);
            }
            Kind::Dir => {
                meta.xattrs = xattr_fingerprint(&path)?;
                subdirs.push(rel.clone());
            }
            _ => {}
        }
        out.push((rel, meta));
    }
    Ok(())
}

fn xattr_fingerprint(path: &Path) -> Result<u64, Error> {
    let mut names: Vec<_> = xattr::list(path).map_err(|e| Error::io(path, e))?.collect();
    if names.is_empty() {
        return Ok(0);
    }
    names.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in names {
        name.hash(&mut h);
        xattr::get(path, &name)
            .map_err(|e| Error::io(path, e))?
            .hash(&mut h);
    }
    Ok(h.finish() | 1)
}

/// One change of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The path as it is now (new, modified, or a parent of a change).
    Entry(Meta),
    /// The path vanished: a `.wh.NAME` entry.
    Whiteout,
    /// The directory hides everything below it in lower layers: a `.wh..wh..opq` entry.
    Opaque,
}

/// The changes between two snapshots of one root, sorted by path (bytewise, as umoci's
/// `tar_generate` sorts), ready to be written as a layer.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// (relative path, change). For `Whiteout` the path is the vanished one; for `Opaque` the
    /// directory's. A directory's own `Entry` comes before its `Opaque` marker.
    pub changes: Vec<(Vec<u8>, Change)>,
}

fn parent(path: &[u8]) -> Option<&[u8]> {
    path.iter().rposition(|&b| b == b'/').map(|i| &path[..i])
}

/// Computes the changes from `before` to `after` (two snapshots of the same root).
pub fn diff(before: &Snapshot, after: &Snapshot) -> Diff {
    let mut entries: BTreeSet<&[u8]> = BTreeSet::new();
    let mut opaque: HashSet<&[u8]> = HashSet::new();
    for (path, now) in &after.entries {
        match before.entries.get(path) {
            None => {
                entries.insert(path);
            }
            Some(was)
                if now.kind == Kind::Dir
                    && was.kind == Kind::Dir
                    && (now.ino != was.ino || now.btime != was.btime) =>
            {
                opaque.insert(path);
                entries.insert(path);
            }
            Some(was) if now.changed_from(was) => {
                entries.insert(path);
            }
            Some(_) => {}
        }
    }
    // Everything below an opaque directory is part of the layer, changed or not.
    if !opaque.is_empty() {
        for path in after.entries.keys() {
            let mut p = parent(path);
            while let Some(dir) = p {
                if opaque.contains(dir) {
                    entries.insert(path);
                    break;
                }
                p = parent(dir);
            }
        }
    }
    // A vanished path needs a whiteout unless an ancestor vanished too, became something other
    // than a directory, or is opaque: then the ancestor's own change hides it already.
    let hidden_by_ancestor = |path: &[u8]| {
        let mut p = parent(path);
        while let Some(dir) = p {
            match after.entries.get(dir) {
                Some(m) if m.kind == Kind::Dir && !opaque.contains(dir) => {}
                _ => return true,
            }
            if before.entries.get(dir).is_some_and(|b| b.kind != Kind::Dir) {
                return true;
            }
            p = parent(dir);
        }
        false
    };
    let whiteouts: BTreeSet<&[u8]> = before
        .entries
        .keys()
        .filter(|p| !after.entries.contains_key(*p))
        .map(Vec::as_slice)
        .filter(|p| !hidden_by_ancestor(p))
        .collect();
    // A path that became a non-directory where a directory was: the new entry replaces it; its
    // old children are hidden (handled above). Parents of every change are included.
    let mut parents: BTreeSet<&[u8]> = BTreeSet::new();
    for path in entries.iter().chain(whiteouts.iter()) {
        let mut p = parent(path);
        while let Some(dir) = p {
            if entries.contains(dir) || !parents.insert(dir) {
                break;
            }
            p = parent(dir);
        }
    }
    entries.extend(parents);

    let mut changes: Vec<(Vec<u8>, Change)> = Vec::with_capacity(entries.len() + whiteouts.len());
    for path in entries {
        if let Some(meta) = after.entries.get(path)
            && meta.kind != Kind::Socket
        {
            changes.push((path.to_vec(), Change::Entry(meta.clone())));
            if opaque.contains(path) {
                changes.push((path.to_vec(), Change::Opaque));
            }
        }
    }
    for path in whiteouts {
        changes.push((path.to_vec(), Change::Whiteout));
    }
    changes.sort_by_cached_key(|(p, c)| tar_name(p, c));
    Diff { changes }
}

/// Every entry of `snapshot` as a change: the layer of a whole root filesystem (`export`).
pub fn full(snapshot: &Snapshot) -> Diff {
    let mut changes: Vec<(Vec<u8>, Change)> = snapshot
        .entries
        .iter()
        .filter(|(_, m)| m.kind != Kind::Socket)
        .map(|(p, m)| (p.clone(), Change::Entry(m.clone())))
        .collect();
    changes.sort_by_cached_key(|(p, c)| tar_name(p, c));
    Diff { changes }
}

/// The xattr overlayfs sets on an upper directory that hides the lower directories' content.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Whether `meta` is how overlayfs records a deleted path in an upper directory: a character
/// device with device number 0/0.
pub fn is_overlay_whiteout(meta: &Meta) -> bool {
    meta.kind == Kind::CharDevice && meta.rdev == 0
}

/// The changes an overlayfs upper directory records over its lower directories, as the same
/// [`Diff`] a RUN snapshot gives: every entry of `upper` is new or changed (overlayfs copies up
/// a file's parents with it), a whiteout device becomes a [`Change::Whiteout`], and a directory
/// marked opaque gets a [`Change::Opaque`] after its own entry.
pub fn diff_overlay_upper(upper: &Snapshot) -> Result<Diff, Error> {
    let mut changes: Vec<(Vec<u8>, Change)> = Vec::with_capacity(upper.entries.len());
    for (path, meta) in &upper.entries {
        if is_overlay_whiteout(meta) {
            changes.push((path.clone(), Change::Whiteout));
            continue;
        }
        if meta.kind == Kind::Socket {
            continue;
        }
        changes.push((path.clone(), Change::Entry(meta.clone())));
        if meta.kind == Kind::Dir {
            let host = host_path(&upper.root, path);
            let opaque = xattr::get(&host, OVERLAY_OPAQUE_XATTR)
                .map_err(|e| Error::io(&host, e))?
                .is_some_and(|v| v == b"y");
            if opaque {
                changes.push((path.clone(), Change::Opaque));
            }
        }
    }
    changes.sort_by_cached_key(|(p, c)| tar_name(p, c));
    Ok(Diff { changes })
}

/// The name a change has in the tar (without a directory's trailing `/`), the sort key.
pub(crate) fn tar_name(path: &[u8], change: &Change) -> Vec<u8> {
    match change {
        Change::Entry(_) => path.to_vec(),
        Change::Whiteout => {
            let (dir, name) = match parent(path) {
                Some(d) => (d, &path[d.len() + 1..]),
                None => (&b""[..], path),
            };
            let mut n = join_rel(dir, b".wh.");
            n.extend_from_slice(name);
            n
        }
        Change::Opaque => join_rel(path, b".wh..wh..opq"),
    }
}
