//! Helpers the crate's unit tests share: writing files into a scratch tree, setting modes and
//! times.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `content` to `root/rel`, creating its parents.
pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// Sets the permission bits of `root/rel`.
pub fn chmod(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets the access and modification times of `path` (not following a symlink) to `secs`.
pub fn set_times(path: &Path, secs: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let t = libc::timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    // SAFETY: a valid C string and two timespecs.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

/// Dates everything under `root` back to 2020, older than the context hasher's racy window, so
/// its hashes are remembered.
pub fn set_old_times(root: &Path) {
    for e in fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        set_times(&e.path(), 1_600_000_000);
        if e.file_type().unwrap().is_dir() {
            set_old_times(&e.path());
        }
    }
}
