//! The destination side of a COPY: what is already in the image at a path (it decides whether
//! the destination is a directory, and symlinks on the way are followed), and `--chown` names
//! resolved in the image's `/etc/passwd` and `/etc/group`.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::Error;
use crate::copy::resolve::{Confine, Lookup, resolve};

/// The type of an existing destination entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
    /// A device, fifo or socket.
    Other,
}

/// An entry that already exists in the destination image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    /// Its type.
    pub kind: DestKind,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds.
    pub mtime: i64,
}

/// What the image a COPY lands in already holds. The executor implements it over a stage's
/// rootfs ([`RootfsDest`]) or over its layers; [`EmptyDest`] is an image with nothing in it
/// (`FROM scratch`, and every `COPY --link`).
pub trait Dest {
    /// The entry at `path` (relative to the image root, `/`-separated, no symlink among its
    /// parents: the caller resolves those), not following a final symlink; `None` when
    /// nothing is there.
    fn entry(&self, path: &str) -> Result<Option<DestEntry>, Error>;

    /// The bytes of the regular file at `path` (resolved as for [`Dest::entry`]); `None` when
    /// it is missing or not a regular file. COPY reads `/etc/passwd` and `/etc/group` with it.
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, Error>;
}

/// An image with nothing in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyDest;

impl Dest for EmptyDest {
    fn entry(&self, _path: &str) -> Result<Option<DestEntry>, Error> {
        Ok(None)
    }

    fn read_file(&self, _path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }
}

/// A destination read from a rootfs directory on the host.
#[derive(Debug, Clone)]
pub struct RootfsDest {
    root: PathBuf,
}

impl RootfsDest {
    /// The rootfs at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RootfsDest { root: root.into() }
    }

    fn host(&self, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

impl Dest for RootfsDest {
    fn entry(&self, path: &str) -> Result<Option<DestEntry>, Error> {
        let host = self.host(path);
        let m = match fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(Error::io(&host, e)),
        };
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            DestKind::Dir
        } else if ft.is_file() {
            DestKind::File
        } else if ft.is_symlink() {
            let t = fs::read_link(&host).map_err(|e| Error::io(&host, e))?;
            DestKind::Symlink(t.to_string_lossy().into_owned())
        } else {
            DestKind::Other
        };
        Ok(Some(DestEntry {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime(),
        }))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let host = self.host(path);
        let mut f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&host)
        {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        let m = f.metadata().map_err(|e| Error::io(&host, e))?;
        if !m.is_file() {
            return Ok(None);
        }
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(|e| Error::io(&host, e))?;
        Ok(Some(buf))
    }
}

/// Resolves `path` in the destination, following every symlink (a chroot's view).
pub(crate) fn resolve_dest(
    dest: &dyn Dest,
    path: &str,
    follow_last: bool,
) -> Result<String, Error> {
    resolve(path, follow_last, Confine::Chroot, path, |p| {
        Ok(match dest.entry(p)? {
            None => Lookup::Missing,
            Some(DestEntry {
                kind: DestKind::Symlink(t),
                ..
            }) => Lookup::Symlink(t),
            Some(_) => Lookup::Other,
        })
    })
}

/// Reads `/etc/NAME` from the destination, following symlinks inside it.
fn read_etc(dest: &dyn Dest, name: &str) -> Result<Option<String>, Error> {
    let p = resolve_dest(dest, &format!("etc/{name}"), true)?;
    Ok(dest
        .read_file(&p)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// `--chown` resolved to ids, with what could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// A name that is in neither file (BuildKit uses 0 for it; the build can warn).
    pub unknown: Vec<String>,
}

fn numeric(s: &str) -> Option<u32> {
    if s == "root" {
        return Some(0);
    }
    s.parse::<u32>().ok()
}

/// Resolves a `--chown` value as BuildKit does: `USER[:GROUP]`, each a name or a number; a
/// number alone gives that uid and the same gid; a name alone gives the user's uid and primary
/// group from `/etc/passwd`; a group name is looked up in `/etc/group`. A name found nowhere
/// becomes 0, as BuildKit does, and is reported in [`Owner::unknown`].
pub(crate) fn resolve_chown(spec: &str, dest: &dyn Dest) -> Result<Owner, Error> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let mut owner = Owner {
        uid: 0,
        gid: 0,
        unknown: Vec::new(),
    };
    match numeric(user) {
        Some(id) => {
            owner.uid = id;
            owner.gid = id;
        }
        None if user.is_empty() => {}
        None => {
            let passwd = read_etc(dest, "passwd")?.unwrap_or_default();
            let found = passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&user))
                    .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
                    .flatten()
            });
            match found {
                Some((u, g)) => {
                    owner.uid = u;
                    owner.gid = g;
                }
                None => owner
                    .unknown
                    .push(format!("user {user:?} is not in /etc/passwd")),
            }
        }
    }
    if let Some(group) = group {
        match numeric(group) {
            Some(id) => owner.gid = id,
            None if group.is_empty() => {}
            None => {
                let groups = read_etc(dest, "group")?.unwrap_or_default();
                let found = groups.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.first() == Some(&group))
                        .then(|| f.get(2)?.parse::<u32>().ok())
                        .flatten()
                });
                match found {
                    Some(g) => owner.gid = g,
                    None => owner
                        .unknown
                        .push(format!("group {group:?} is not in /etc/group")),
                }
            }
        }
    }
    Ok(owner)
}
