//! Resolution of container paths inside the rootfs on the host, following symlinks the way the
//! container would see them (an absolute link target or `..` never leaves the root), and creation
//! of missing mount targets with a record of everything created so it can be removed afterwards.
//!
//! The resolution is lexical, one component at a time with `lstat`: it is safe because no process
//! runs in the rootfs while the sandbox prepares it, so nothing can swap a directory for a
//! symlink between the check and the use.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Linux's own limit on symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// What to create when the final component of a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Fail with `NotFound`.
    Nothing,
    /// A directory (and missing parents), mode 0755, owned by the given ids.
    Dir { uid: u32, gid: u32 },
    /// An empty file, mode 0644 owned by root (parents as directories owned by root).
    File,
}

/// Something the sandbox created in the rootfs, with the times of the directory it was created
/// in, so that removing it restores that directory's mtime too (the snapshot compares directory
/// mtimes).
#[derive(Debug)]
pub(crate) struct Created {
    pub path: PathBuf,
    parent: PathBuf,
    parent_times: [libc::timespec; 2],
}

/// The rootfs, canonicalised, and the list of what was created in it.
pub(crate) struct Root {
    pub root: PathBuf,
    pub created: Vec<Created>,
    /// Whether created entries are recorded for removal (mount targets) or kept (`WORKDIR`).
    pub record: bool,
}

impl Root {
    pub fn new(rootfs: &Path) -> Result<Self, Error> {
        let root = fs::canonicalize(rootfs)
            .map_err(|e| Error::io(format!("rootfs {}", rootfs.display()), e))?;
        if !root.is_dir() {
            return Err(Error::Spec(format!(
                "rootfs {} is not a directory",
                root.display()
            )));
        }
        Ok(Root {
            root,
            created: Vec::new(),
            record: true,
        })
    }

    /// Resolves `path` (absolute or relative to `/` of the container) to a host path inside the
    /// root with no symlink left in it, creating what is missing as `create` says.
    pub fn resolve(&mut self, path: &str, create: Create) -> Result<PathBuf, Error> {
        let mut pending: Vec<Vec<u8>> = components(path.as_bytes());
        pending.reverse();
        let mut current: Vec<Vec<u8>> = Vec::new();
        let mut links = 0;
        while let Some(comp) = pending.pop() {
            if comp == b"." {
                continue;
            }
            if comp == b".." {
                current.pop();
                continue;
            }
            let is_last = pending.is_empty();
            let host = self.host_path(&current).join(OsStr::from_bytes(&comp));
            match fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Error::io(
                            format!("resolving {path} in the rootfs"),
                            io::Error::from_raw_os_error(libc::ELOOP),
                        ));
                    }
                    let target = fs::read_link(&host)
                        .map_err(|e| Error::io(format!("reading link {}", host.display()), e))?;
                    let target = target.as_os_str().as_bytes();
                    if target.starts_with(b"/") {
                        current.clear();
                    }
                    let mut more = components(target);
                    more.reverse();
                    pending.extend(more);
                }
                Ok(meta) => {
                    if !is_last && !meta.is_dir() {
                        return Err(Error::io(
                            format!("resolving {path} in the rootfs"),
                            io::Error::from_raw_os_error(libc::ENOTDIR),
                        ));
                    }
                    current.push(comp);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (uid, gid) = match create {
                        Create::Nothing => {
                            return Err(Error::io(format!("{path} in the rootfs"), e));
                        }
                        Create::Dir { uid, gid } => (uid, gid),
                        Create::File => (0, 0),
                    };
                    let parent = self.host_path(&current);
                    let parent_times = times_of(&parent)?;
                    if is_last && create == Create::File {
                        fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o644)
                            .custom_flags(libc::O_NOFOLLOW)
                            .open(&host)
                            .map_err(|e| Error::io(format!("creating {}", host.display()), e))?;
                    } else {
                        fs::DirBuilder::new()
                            .mode(0o755)
                            .create(&host)
                            .map_err(|e| Error::io(format!("creating {}", host.display()), e))?;
                        // The umask may have narrowed the mode; the mode must not depend on it.
                        fs::set_permissions(
                            &host,
                            std::os::unix::fs::PermissionsExt::from_mode(0o755),
                        )
                        .map_err(|e| Error::io(format!("chmod {}", host.display()), e))?;
                        if (uid, gid) != (0, 0) {
                            std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
                                .map_err(|e| Error::io(format!("chown {}", host.display()), e))?;
                        }
                    }
                    if self.record {
                        self.created.push(Created {
                            path: host,
                            parent,
                            parent_times,
                        });
                    }
                    current.push(comp);
                }
                Err(e) => return Err(Error::io(format!("stat {}", host.display()), e)),
            }
        }
        Ok(self.host_path(&current))
    }

    fn host_path(&self, comps: &[Vec<u8>]) -> PathBuf {
        let mut p = self.root.clone();
        for c in comps {
            p.push(OsStr::from_bytes(c));
        }
        p
    }

    /// Removes everything created, newest first, and puts back the times of the directories
    /// they were created in. Errors are collected, not fatal: cleanup goes as far as it can.
    pub fn cleanup(&mut self) -> Result<(), Error> {
        let mut first_err = None;
        while let Some(c) = self.created.pop() {
            let res = match fs::symlink_metadata(&c.path) {
                Ok(m) if m.is_dir() => fs::remove_dir(&c.path),
                Ok(_) => fs::remove_file(&c.path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            let res = res.and_then(|()| set_times(&c.parent, &c.parent_times));
            if let Err(e) = res {
                first_err.get_or_insert(Error::io(format!("removing {}", c.path.display()), e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn times_of(path: &Path) -> Result<[libc::timespec; 2], Error> {
    let m =
        fs::symlink_metadata(path).map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
    Ok([
        libc::timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        libc::timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    ])
}

fn set_times(path: &Path, times: &[libc::timespec; 2]) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path and `times` points to two timespecs.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/hosts"), "").unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../etc", root.join("etc2")).unwrap();
        let mut r = Root::new(root).unwrap();
        let canon = r.root.clone();
        assert_eq!(
            r.resolve("/up/etc/hosts", Create::Nothing).unwrap(),
            canon.join("etc/hosts")
        );
        assert_eq!(
            r.resolve("../../etc2/hosts", Create::Nothing).unwrap(),
            canon.join("etc/hosts")
        );
        assert_eq!(
            r.resolve("/up/../../tmp", Create::Dir { uid: 0, gid: 0 })
                .unwrap(),
            canon.join("tmp")
        );
        assert!(canon.join("tmp").is_dir());
    }

    #[test]
    fn created_entries_are_removed_and_parent_mtime_restored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        let before = fs::metadata(root.join("etc")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut r = Root::new(root).unwrap();
        let p = r.resolve("/etc/a/b/resolv.conf", Create::File).unwrap();
        assert!(p.is_file());
        r.cleanup().unwrap();
        assert!(!root.join("etc/a").exists());
        let after = fs::metadata(root.join("etc")).unwrap();
        assert_eq!(
            (before.mtime(), before.mtime_nsec()),
            (after.mtime(), after.mtime_nsec())
        );
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let mut r = Root::new(dir.path()).unwrap();
        assert!(r.resolve("/a/x", Create::Nothing).is_err());
    }
}
