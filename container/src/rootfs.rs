//! Root filesystems: one read-only directory per image, extracted once from its layers
//! (`ROOT/bale/rootfs/<image id hex>/`), and the overlayfs mounts that give each container its
//! own writable view of it.
//!
//! Extracting every layer for each container would cost tens of milliseconds per start; an
//! overlay mount costs a fraction of one. The cache is built in a `.tmp-` directory and renamed
//! into place, so a half-built one is never used; two processes building it at once both
//! succeed and one rename wins. It also holds docker's "init layer": empty `/proc`, `/sys`,
//! `/dev`, `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` for the sandbox to mount over,
//! so that the sandbox never creates them in a container's upper directory (where `diff` and
//! `commit` would see them).
//!
//! Mounts are made only in a private mount namespace of the calling process
//! ([`enter_private_mount_namespace`]): they vanish when it exits, however it exits, and the
//! host's mount table is never touched.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bale_builder::extract::{ExtractOptions, extract_layer};
use bale_image::{Image, Store};

use crate::error::IoContext;
use crate::{Error, Result};

fn caches_root(store: &Store) -> PathBuf {
    store.root().join("bale/rootfs")
}

/// Where the root filesystem of the image with this ID (`sha256:...` or hex) is cached.
pub(crate) fn cache_dir(store: &Store, image_id: &str) -> PathBuf {
    caches_root(store).join(image_id.strip_prefix("sha256:").unwrap_or(image_id))
}

/// The cached root filesystem of `image`, extracted from its layers when missing.
pub(crate) fn ensure_cache(store: &Store, image: &Image) -> Result<PathBuf> {
    let dir = cache_dir(store, image.id.hex());
    if dir.is_dir() {
        return Ok(dir);
    }
    let root = caches_root(store);
    fs::create_dir_all(&root).at("creating", &root)?;
    let tmp = root.join(format!(
        ".tmp-{}-{}",
        image.id.hex(),
        crate::names::new_id()
    ));
    let built = (|| {
        fs::create_dir(&tmp).at("creating", &tmp)?;
        let opts = ExtractOptions::default();
        for digest in image.layer_digests()? {
            let blob = store.open_blob(&digest)?;
            let (reader, _) =
                bale_image::compress::decompress(io::BufReader::with_capacity(1 << 20, blob))
                    .at("reading layer", &store.blob_path(&digest))?;
            extract_layer(reader, &tmp, &opts)?;
        }
        add_init_layer(&tmp)
    })();
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process built it first.
        Err(_) if dir.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(Error::io("renaming into place", &dir, e))
        }
    }
}

/// Creates the mount points the sandbox needs where the image has nothing (never through a
/// symlink: the sandbox resolves those itself).
fn add_init_layer(root: &Path) -> Result<()> {
    let missing = |p: &Path| fs::symlink_metadata(p).is_err();
    for d in ["proc", "sys", "dev", "etc"] {
        let p = root.join(d);
        if missing(&p) {
            fs::create_dir(&p).at("creating", &p)?;
        }
    }
    let etc = root.join("etc");
    if fs::symlink_metadata(&etc).is_ok_and(|m| m.is_dir()) {
        for f in ["hosts", "hostname", "resolv.conf"] {
            let p = etc.join(f);
            if missing(&p) {
                fs::write(&p, b"").at("creating", &p)?;
            }
        }
    }
    Ok(())
}

/// Removes the cached root filesystems of images no longer in the store that no container
/// uses. Returns the bytes freed.
pub fn prune_rootfs_caches(store: &Store) -> Result<u64> {
    let root = caches_root(store);
    let Ok(entries) = fs::read_dir(&root) else {
        return Ok(0);
    };
    let images: Vec<String> = store
        .images()?
        .iter()
        .map(|i| i.id.hex().to_string())
        .collect();
    let containers = crate::Containers::open(store)?;
    let used: Vec<String> = containers
        .list()?
        .iter()
        .map(|c| {
            c.config
                .image_id
                .strip_prefix("sha256:")
                .unwrap_or(&c.config.image_id)
                .to_string()
        })
        .collect();
    let mut freed = 0;
    for entry in entries {
        let entry = entry.at("reading", &root)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || images.contains(&name) || used.contains(&name) {
            continue;
        }
        freed += dir_size(&entry.path());
        // Renamed first, so no container start picks up a half-removed one.
        let trash = root.join(format!(".trash-{name}"));
        fs::rename(entry.path(), &trash).at("removing", &entry.path())?;
        fs::remove_dir_all(&trash).at("removing", &trash)?;
    }
    Ok(freed)
}

/// Bytes used by the cached root filesystems.
pub fn rootfs_cache_size(store: &Store) -> u64 {
    dir_size(&caches_root(store))
}

/// Bytes of regular files under `dir` (without following symlinks; hard links counted once
/// per path, as `du --apparent-size` does not, which is close enough for listings).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

/// Moves the calling process into a new mount namespace in which every mount is private, so
/// that nothing mounted afterwards reaches the host. Must be called while the process has one
/// thread.
pub(crate) fn enter_private_mount_namespace() -> Result<()> {
    // SAFETY: unshare and mount with constant arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(Error::last_os("creating a mount namespace"));
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(Error::last_os("making mounts private"));
        }
    }
    Ok(())
}

fn overlay_path(p: &Path) -> Result<String> {
    let s = p.to_str().unwrap_or("");
    if s.is_empty() || s.contains([',', ':', '\\']) {
        return Err(Error::Invalid(format!(
            "the store path {} cannot be used with overlayfs (it contains ',', ':' or '\\'); use another --root",
            p.display()
        )));
    }
    Ok(s.to_string())
}

/// Mounts an overlay of `lowers` (topmost first) on `target`: writable with `upper` and `work`
/// when given, else read-only.
///
/// `volatile` skips every sync of the upper directory, unmount included (where a normal
/// overlay syncs the whole upper file system: on a busy disk that is most of a short
/// container's life). Only for upper directories thrown away afterwards (`--rm`): after a crash
/// their content may be lost. overlayfs leaves `work/work/incompat/volatile` behind and
/// refuses to mount while it exists, so it is removed first.
pub(crate) fn mount_overlay(
    lowers: &[&Path],
    upper: Option<(&Path, &Path)>,
    target: &Path,
    volatile: bool,
) -> Result<()> {
    let lowerdir = lowers
        .iter()
        .map(|p| overlay_path(p))
        .collect::<Result<Vec<_>>>()?
        .join(":");
    let mut data = format!("lowerdir={lowerdir}");
    let mut flags = 0;
    match upper {
        Some((upper, work)) => {
            data.push_str(&format!(
                ",upperdir={},workdir={}",
                overlay_path(upper)?,
                overlay_path(work)?
            ));
            if volatile {
                let _ = fs::remove_dir(work.join("work/incompat/volatile"));
                data.push_str(",volatile");
            }
        }
        None => flags |= libc::MS_RDONLY,
    }
    let target_c = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} contains a NUL byte", target.display())))?;
    let data_c = CString::new(data).map_err(|_| Error::Invalid("NUL in a path".into()))?;
    // SAFETY: valid C strings for the duration of the call.
    let r = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            target_c.as_ptr(),
            c"overlay".as_ptr(),
            flags,
            data_c.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(Error::io(
            "mounting overlayfs on",
            target,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Detaches the mount on `target` (in the calling process's namespace).
pub(crate) fn unmount(target: &Path) {
    if let Ok(c) = CString::new(target.as_os_str().as_bytes()) {
        // SAFETY: a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Mounts, in a fresh private mount namespace of this process, a read-only merged view of a
/// container (its upper directory over the image's root filesystem) on a new temporary
/// directory under the container's directory, and returns that directory. Reading through it is
/// safe while the container runs: the upper directory is only a lower layer of this mount.
pub(crate) fn mount_merged_readonly(upper: &Path, lower: &Path, at: &Path) -> Result<()> {
    enter_private_mount_namespace()?;
    fs::create_dir_all(at).at("creating", at)?;
    mount_overlay(&[upper, lower], None, at, false)
}

/// Bytes a container wrote (its upper directory), as `ps -s` shows them.
pub fn rootfs_size_of(c: &crate::Container) -> u64 {
    dir_size(&c.upper_dir())
}
