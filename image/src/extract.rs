//! Extracting a layer tar into a rootfs, as the builder materialises a stage's rootfs from its
//! parent layers and as `build --output type=local` writes the final one: whiteouts remove lower
//! entries, an opaque marker empties a directory of what
//! lower layers put there, and an entry replaces whatever is at its path (a directory over a
//! directory only updates its metadata).
//!
//! Safety: an entry whose path is absolute or has a `..` component, or a hard link whose target
//! is, is refused. Every parent directory is opened with `openat2(RESOLVE_IN_ROOT)`, so a symlink
//! planted by an earlier entry (`a -> /`, then `a/etc/passwd`) resolves inside the rootfs, never
//! on the host. The final component is created without following symlinks.
//!
//! Ownership is applied when running as root (`lchown`), then modes (after the chown, which
//! clears setuid bits), then extended attributes (after the chown, which clears
//! `security.capability`), then times; directory times are set last, deepest first, because
//! creating entries inside a directory changes its mtime.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// A file system operation failed.
    #[error("{}: {}", path.display(), crate::error::io_message(source))]
    Io {
        /// The path it failed on.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// The layer tar is malformed or reading it failed.
    #[error("reading the layer: {}", crate::error::io_message(.0))]
    Read(io::Error),
    /// An entry would write outside the rootfs, or is of a kind that cannot be extracted.
    #[error("layer entry {path:?} refused: {reason}")]
    UnsafeEntry {
        /// The entry's path as stored in the tar.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The rootfs path cannot be used.
    #[error("{0}")]
    Invalid(String),
}

type Error = ExtractError;

impl ExtractError {
    fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        ExtractError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Settings of an extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Apply the entries' uid/gid (needs root); when false, files belong to the caller.
    pub same_owner: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        // SAFETY: geteuid has no preconditions.
        ExtractOptions {
            same_owner: unsafe { libc::geteuid() } == 0,
        }
    }
}

fn refuse(path: &[u8], reason: &str) -> Error {
    Error::UnsafeEntry {
        path: String::from_utf8_lossy(path).into_owned(),
        reason: reason.to_string(),
    }
}

/// Cleans an entry path: `./` prefixes and a trailing `/` go; absolute paths and `..` are refused.
fn clean_path(raw: &[u8]) -> Result<Vec<u8>, Error> {
    clean_entry_path(raw).map_err(|reason| refuse(raw, reason))
}

/// A layer entry's path without `./` prefixes and trailing `/`, or why it is refused (an
/// absolute path, or `..`). Shared by extraction and flattening, which must agree on names.
pub(crate) fn clean_entry_path(raw: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute paths are not allowed in a layer");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` would leave the rootfs"),
            c => parts.push(c),
        }
    }
    Ok(parts.join(&b'/'))
}

/// A path's parent and last component (the parent is empty at the top).
pub(crate) fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

/// The rootfs as an open directory, with parent resolution confined to it.
struct Root {
    fd: OwnedFd,
    /// Host paths of directories resolved since the last change that could invalidate them.
    cache: std::collections::HashMap<Vec<u8>, PathBuf>,
}

impl Root {
    fn open(root: &Path) -> Result<Root, Error> {
        let c = CString::new(root.as_os_str().as_bytes())
            .map_err(|_| Error::Invalid(format!("{}: path contains a NUL byte", root.display())))?;
        // SAFETY: `c` is a valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::io(root, io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just opened and is owned here.
        Ok(Root {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            cache: Default::default(),
        })
    }

    fn openat2(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        openat2(
            self.fd.as_fd(),
            rel,
            libc::O_PATH | libc::O_DIRECTORY,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        )
    }

    /// The host path of directory `rel` inside the root, created (0755) if missing.
    fn dir(&mut self, rel: &[u8]) -> Result<PathBuf, Error> {
        if let Some(p) = self.cache.get(rel) {
            return Ok(p.clone());
        }
        let fd = match self.openat2(rel) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !rel.is_empty() => {
                let (parent, name) = split_parent(rel);
                let parent_host = self.dir(parent)?;
                let p = parent_host.join(OsStr::from_bytes(name));
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&p)
                    .map_err(|e| Error::io(&p, e))?;
                self.openat2(rel).map_err(|e| Error::io(&p, e))?
            }
            Err(e) => return Err(Error::io(PathBuf::from(OsStr::from_bytes(rel)), e)),
        };
        let host = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|e| Error::io("/proc/self/fd", e))?;
        self.cache.insert(rel.to_vec(), host.clone());
        Ok(host)
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Opens `rel` (a relative path; empty for `root` itself) under the directory `root` without
/// following a symlink anywhere on the way, the last component included, and without leaving
/// `root` (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`). A symlink met on the way is
/// `ELOOP`. `flags` are `open(2)` flags; `O_CLOEXEC` is added.
pub fn open_beneath(root: BorrowedFd<'_>, rel: &[u8], flags: i32) -> io::Result<OwnedFd> {
    openat2(
        root,
        rel,
        flags,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// `openat2(dir, rel, flags | O_CLOEXEC, resolve)`; an empty `rel` opens `dir` itself.
fn openat2(dir: BorrowedFd<'_>, rel: &[u8], flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    let path = if rel.is_empty() { &b"."[..] } else { rel };
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: valid dirfd, C string and open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sets the access and modification times of an open file to `mtime` (whole seconds).
pub fn set_mtime_fd(fd: BorrowedFd<'_>, mtime: i64) -> io::Result<()> {
    let t = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid descriptor and two timespecs.
    if unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let c = cpath(path)?;
    let t = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid C string and two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Extracts the layer tar read from `reader` into `root`.
pub fn extract_layer<R: Read>(reader: R, root: &Path, opts: &ExtractOptions) -> Result<(), Error> {
    let mut archive = tar::Archive::new(reader);
    let mut root_dir = Root::open(root)?;
    // Paths this layer wrote: an opaque marker keeps them and removes only lower content.
    let mut written: HashSet<Vec<u8>> = HashSet::new();
    // Relative paths: set through descriptors at the end, so that a later entry turning an
    // ancestor into a symlink cannot send the time anywhere else.
    let mut dir_times: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for entry in archive.entries().map_err(Error::Read)? {
        let mut entry = entry.map_err(Error::Read)?;
        let raw = entry.path_bytes().into_owned();
        let path = clean_path(&raw)?;
        if path.is_empty() {
            continue;
        }
        let (parent, name) = split_parent(&path);
        let (parent, name) = (parent.to_vec(), name.to_vec());

        if name == b".wh..wh..opq" {
            let dir = root_dir.dir(&parent)?;
            for child in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let child = child.map_err(|e| Error::io(&dir, e))?;
                let rel = Path::new(OsStr::from_bytes(&parent)).join(child.file_name());
                if !written.contains(rel.as_os_str().as_bytes()) {
                    remove_any(&child.path()).map_err(|e| Error::io(child.path(), e))?;
                }
            }
            root_dir.cache.clear();
            continue;
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let dir = root_dir.dir(&parent)?;
            let target = dir.join(OsStr::from_bytes(hidden));
            remove_any(&target).map_err(|e| Error::io(&target, e))?;
            root_dir.cache.clear();
            continue;
        }

        let dir = root_dir.dir(&parent)?;
        let host = dir.join(OsStr::from_bytes(&name));
        let header = entry.header().clone();
        let ty = header.entry_type();
        let existing = fs::symlink_metadata(&host).ok();
        let keep_dir = ty == EntryType::Directory && existing.as_ref().is_some_and(|m| m.is_dir());
        if existing.is_some() && !keep_dir {
            remove_any(&host).map_err(|e| Error::io(&host, e))?;
            root_dir.cache.clear();
        }
        let mode = header.mode().map_err(Error::Read)? & 0o7777;
        match ty {
            EntryType::Directory => {
                if !keep_dir {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&host)
                        .map_err(|e| Error::io(&host, e))?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&host)
                    .map_err(|e| Error::io(&host, e))?;
                loop {
                    let n = entry.read(&mut buf).map_err(Error::Read)?;
                    if n == 0 {
                        break;
                    }
                    io::Write::write_all(&mut f, &buf[..n]).map_err(|e| Error::io(&host, e))?;
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&raw, "symlink without a target"))?
                    .into_owned();
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &host)
                    .map_err(|e| Error::io(&host, e))?;
                root_dir.cache.clear();
            }
            EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&raw, "hard link without a target"))?
                    .into_owned();
                let target = clean_path(&target_raw)?;
                let (tparent, tname) = split_parent(&target);
                let tdir = root_dir.dir(tparent)?;
                let src = tdir.join(OsStr::from_bytes(tname));
                // linkat without AT_SYMLINK_FOLLOW links the symlink itself, never its target.
                fs::hard_link(&src, &host).map_err(|e| Error::io(&host, e))?;
                written.insert(path.clone());
                continue;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind = match ty {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header.device_major().map_err(Error::Read)?.unwrap_or(0);
                let minor = header.device_minor().map_err(Error::Read)?.unwrap_or(0);
                let c = cpath(&host).map_err(|e| Error::io(&host, e))?;
                // SAFETY: valid C string.
                let r =
                    unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
                if r != 0 {
                    return Err(Error::io(&host, io::Error::last_os_error()));
                }
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {
                continue;
            }
            other => {
                return Err(refuse(&raw, &format!("unsupported entry type {other:?}")));
            }
        }
        written.insert(path.clone());

        if opts.same_owner {
            let uid = header.uid().map_err(Error::Read)?;
            let gid = header.gid().map_err(Error::Read)?;
            let (uid, gid) = pax_ids(&mut entry, uid, gid)?;
            std::os::unix::fs::lchown(&host, Some(uid as u32), Some(gid as u32))
                .map_err(|e| Error::io(&host, e))?;
        }
        if ty != EntryType::Symlink {
            fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(&host, e))?;
        }
        if let Some(exts) = entry.pax_extensions().map_err(Error::Read)? {
            for ext in exts {
                let ext = ext.map_err(Error::Read)?;
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattr::set(&host, OsStr::from_bytes(name), ext.value_bytes())
                        .map_err(|e| Error::io(&host, e))?;
                }
            }
        }
        let mtime = header.mtime().map_err(Error::Read)? as i64;
        if ty == EntryType::Directory {
            dir_times.push((path.clone(), mtime));
        } else {
            set_mtime(&host, mtime).map_err(|e| Error::io(&host, e))?;
        }
    }
    dir_times.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
    for (rel, mtime) in dir_times {
        let fd = match open_beneath(
            root_dir.fd.as_fd(),
            &rel,
            libc::O_RDONLY | libc::O_DIRECTORY,
        ) {
            Ok(fd) => fd,
            // A later entry removed it, replaced it, or put a symlink on its way.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV)
                ) =>
            {
                continue;
            }
            Err(e) => return Err(Error::io(PathBuf::from(OsStr::from_bytes(&rel)), e)),
        };
        set_mtime_fd(fd.as_fd(), mtime)
            .map_err(|e| Error::io(PathBuf::from(OsStr::from_bytes(&rel)), e))?;
    }
    Ok(())
}

/// PAX `uid`/`gid` records override the header's (ids too large for ustar).
fn pax_ids<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    uid: u64,
    gid: u64,
) -> Result<(u64, u64), Error> {
    let (mut uid, mut gid) = (uid, gid);
    if let Some(exts) = entry.pax_extensions().map_err(Error::Read)? {
        for ext in exts {
            let ext = ext.map_err(Error::Read)?;
            let parse = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.parse().ok())
            };
            match ext.key_bytes() {
                b"uid" => uid = parse().unwrap_or(uid),
                b"gid" => gid = parse().unwrap_or(gid),
                _ => {}
            }
        }
    }
    Ok((uid, gid))
}
