//! Rootfs trees kept from one build for the next.
//!
//! Materialising a stage's rootfs means creating every file of its layers, and on a busy disk
//! that dominates a rebuild after one file changed: the RUN after `COPY src/ ...` needs the
//! whole tree again although only `src/` differs from the last build. So a rootfs whose files
//! are exactly some list of layers (no RUN failed or was cut short in it) is not removed when
//! its build ends: it is left in `bale/cache/rootfs/` with that list. A later build that needs
//! a rootfs claims the kept tree sharing the most bottom layers with the ones it needs (an
//! atomic rename, so two builds never share one), rolls it back to the shared layers, and
//! applies only the rest.
//!
//! Rolling back is exact or not done at all. It is done only when every layer to undo just
//! added paths (and changed the metadata of directories that were already there): the added
//! trees are moved to the trash and those directories get back their owner, mode and time from
//! the shared layers' headers. A layer that deleted or replaced a lower path, carries extended
//! attributes or names a path two ways, and shared layers whose headers may not say what is on
//! disk (a name written through a symlink, a directory made implicitly), make the tree useless:
//! it goes to the trash and the rootfs is extracted afresh. Every change goes through
//! descriptors opened beneath the tree without following symlinks, so a hostile layer cannot
//! turn the rollback on anything outside it.
//!
//! A tree is kept only when its files are exactly its layers: not after a failed or interrupted
//! RUN, nor after a RUN left what no layer records (see [`super::fs::Rootfs::taint`]), nor when
//! it was bound into a RUN. Its files are never synced, so a tree from an earlier boot is not
//! used. At most [`KEEP`] trees are kept, the newest, and none when the disk has less than
//! 1 GiB or a twentieth of its size free (the kept ones are then dropped too); `bale builder
//! prune` and `bale system prune` remove them with the rest of the build cache.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bale_image::Store;
use bale_image::extract::{open_beneath, set_mtime_fd};
use bale_image::store::CachedLayer;

use super::fs::{IndexKind, LayerIndex, has_xattrs, open_layer, seekable_layer, trash_dir};

/// How many trees are kept at most.
pub const KEEP: usize = 4;

const CHAIN_FILE: &str = "layers.json";

/// The version of what a kept tree is: raise it when extraction or the record changes.
const FORMAT: u32 = 1;

/// Where kept trees live: `bale/cache/rootfs/NAME/{rootfs/,layers.json}`.
pub fn kept_dir(store: &Store) -> PathBuf {
    store.build_cache_dir().join("rootfs")
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}{nanos:024}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Moves `path` into the trash (removed in the background); removes it in place when that
/// fails.
fn discard(trash: &Path, path: &Path) {
    let aside = trash.join(unique("reuse-"));
    if fs::create_dir_all(trash).is_err() || fs::rename(path, &aside).is_err() {
        let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
    }
}

/// Leaves the rootfs at `dir`, holding exactly `chain`, for later builds; false when it could
/// not be kept (the caller removes it then).
pub fn keep(kept: &Path, trash: &Path, dir: &Path, chain: &[CachedLayer]) -> bool {
    let Some(boot) = boot_id() else {
        return false;
    };
    let record = Kept {
        format: FORMAT,
        boot,
        // SAFETY: geteuid has no preconditions.
        uid: unsafe { libc::geteuid() },
        layers: chain.to_vec(),
    };
    let Ok(text) = serde_json::to_vec(&record) else {
        return false;
    };
    if fs::create_dir_all(kept).is_err() {
        return false;
    }
    // Kept trees are only for speed: on a filling disk they give the room back.
    if !disk_has_room(kept) {
        evict_all(kept, trash);
        return false;
    }
    // Assembled under a dot name that claims skip, then renamed into view whole.
    let staging = kept.join(unique(".staging-"));
    let ok = fs::create_dir(&staging).is_ok()
        && fs::write(staging.join(CHAIN_FILE), text).is_ok()
        && fs::rename(dir, staging.join("rootfs")).is_ok();
    if !ok {
        if staging.join("rootfs").exists() {
            let _ = fs::rename(staging.join("rootfs"), dir);
        }
        let _ = fs::remove_dir_all(&staging);
        return false;
    }
    if fs::rename(&staging, kept.join(unique(""))).is_err() {
        discard(trash, &staging);
        return true;
    }
    evict(kept, trash);
    true
}

/// Whether the filesystem of `path` has room to spare for a kept tree: at least 1 GiB and a
/// twentieth of its size free.
fn disk_has_room(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statvfs is plain data; zeroed is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a statvfs to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    let unit = st.f_frsize as u64;
    roomy(st.f_bavail as u64 * unit, st.f_blocks as u64 * unit)
}

fn roomy(available: u64, total: u64) -> bool {
    available >= (1 << 30) && available >= total / 20
}

/// Trashes every kept tree.
fn evict_all(kept: &Path, trash: &Path) {
    if let Ok(entries) = fs::read_dir(kept) {
        for e in entries.flatten() {
            discard(trash, &e.path());
        }
    }
}

/// Trashes all but the newest [`KEEP`] trees, and staging folders a killed build left.
fn evict(kept: &Path, trash: &Path) {
    let Ok(entries) = fs::read_dir(kept) else {
        return;
    };
    let mut names: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".staging-") {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            if stale {
                discard(trash, &e.path());
            }
        } else if !name.starts_with('.') {
            // A tree from an earlier boot (or another user) is never claimed.
            if read_chain(&e.path()).is_some() {
                names.push(name);
            } else {
                discard(trash, &e.path());
            }
        }
    }
    names.sort();
    let excess = names.len().saturating_sub(KEEP);
    for name in &names[..excess] {
        discard(trash, &kept.join(name));
    }
}

/// What a kept tree's `layers.json` says.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    /// [`FORMAT`]: how trees are extracted and recorded; another one is not used.
    format: u32,
    /// The boot it was made in. Its files were never synced: after a crash of the machine
    /// they may be short, so a tree from an earlier boot is not used.
    boot: String,
    /// The user that extracted it (owners are only applied as root).
    uid: u32,
    /// The layers its files are, bottom first.
    layers: Vec<CachedLayer>,
}

fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

/// The layers of the tree in `dir`, when it was kept in this boot by this user.
fn read_chain(dir: &Path) -> Option<Vec<CachedLayer>> {
    let kept: Kept = serde_json::from_slice(&fs::read(dir.join(CHAIN_FILE)).ok()?).ok()?;
    // SAFETY: geteuid has no preconditions.
    (kept.format == FORMAT
        && Some(kept.boot) == boot_id()
        && kept.uid == unsafe { libc::geteuid() })
    .then_some(kept.layers)
}

fn shared_prefix(a: &[CachedLayer], b: &[CachedLayer]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x.diff_id == y.diff_id)
        .count()
}

/// Claims the kept tree sharing the most bottom layers with `layers` and rolls it back to
/// them: `(its directory, how many of layers it holds)`. `None` when no tree shares a layer
/// or the one that does cannot be rolled back exactly.
pub fn claim(store: &Store, layers: &[CachedLayer]) -> Option<(PathBuf, usize)> {
    let kept = kept_dir(store);
    let mut candidates: Vec<(usize, String)> = Vec::new();
    for e in fs::read_dir(&kept).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Some(chain) = read_chain(&e.path()) else {
            continue;
        };
        let p = shared_prefix(&chain, layers);
        if p > 0 {
            candidates.push((p, name));
        }
    }
    // The most shared layers first; of those, the newest (names sort by time).
    candidates.sort();
    let trash = trash_dir(store);
    let claimed = store.temp_path("claimed").ok()?;
    // Atomic: of two builds (or stages) reaching for the same tree, one gets it and the other
    // tries the next.
    candidates
        .iter()
        .rev()
        .find(|(_, name)| fs::rename(kept.join(name), &claimed).is_ok())?;
    let chain = read_chain(&claimed);
    let dir = store.temp_path("rootfs").ok()?;
    let moved = fs::rename(claimed.join("rootfs"), &dir).is_ok();
    discard(&trash, &claimed);
    if !moved {
        return None;
    }
    let chain = chain?;
    let p = shared_prefix(&chain, layers);
    match roll_back(store, &dir, &layers[..p], &chain[p..]) {
        Ok(()) => Some((dir, p)),
        Err(_) => {
            discard(&trash, &dir);
            None
        }
    }
}

/// Why a tree cannot be rolled back.
#[derive(Debug)]
struct NotExact;

impl<E: std::fmt::Display> From<E> for NotExact {
    fn from(_: E) -> NotExact {
        NotExact
    }
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Whether a path is written the one way extraction and the index agree on: no empty, `.` or
/// `..` component.
fn canonical(path: &str) -> bool {
    path.split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Files an entry of a layer to undo under the paths it added or the lower directories whose
/// metadata it may have changed; anything else (a whiteout, a replaced lower path, extended
/// attributes, a name written two ways) cannot be undone exactly.
fn sort_entry<R: std::io::Read>(
    entry: &mut tar::Entry<'_, R>,
    index: &LayerIndex,
    added: &mut BTreeSet<String>,
    dirs: &mut BTreeSet<String>,
) -> Result<(), NotExact> {
    let name = String::from_utf8(entry.path_bytes().into_owned())?;
    let name = name.strip_prefix("./").unwrap_or(&name);
    let name = name.strip_suffix('/').unwrap_or(name).to_string();
    if name.is_empty() || name == "." {
        return Ok(());
    }
    if !canonical(&name) {
        return Err(NotExact);
    }
    let base = &name[name.rfind('/').map_or(0, |i| i + 1)..];
    if base.starts_with(".wh.") || has_xattrs(entry) {
        return Err(NotExact);
    }
    match index.get(&name) {
        None => {
            added.insert(name);
        }
        Some(e) if e.kind == IndexKind::Dir && entry.header().entry_type().is_dir() => {
            dirs.insert(name);
        }
        Some(_) => return Err(NotExact),
    }
    Ok(())
}

/// Whether the shared layers' headers say exactly what is on disk: every name canonical, and
/// none written through a symlink (`x -> .` then `x/y` changes `y` behind the index's back).
fn index_is_faithful(index: &LayerIndex) -> bool {
    index.entries().all(|(path, _)| {
        if !canonical(path) {
            return false;
        }
        let mut up = parent(path);
        while !up.is_empty() {
            if index
                .get(up)
                .is_some_and(|e| !matches!(e.kind, IndexKind::Dir))
            {
                return false;
            }
            up = parent(up);
        }
        true
    })
}

/// Turns `dir`, holding `lower` then `undo`, into `lower` alone, exactly, or fails.
///
/// Every change goes through descriptors opened beneath `dir` with no symlink followed on the
/// way, so whatever the tree holds, nothing outside it is touched.
fn roll_back(
    store: &Store,
    dir: &Path,
    lower: &[CachedLayer],
    undo: &[CachedLayer],
) -> Result<(), NotExact> {
    if undo.is_empty() {
        return Ok(());
    }
    let index = LayerIndex::build(store, lower)?;
    if !index_is_faithful(&index) {
        return Err(NotExact);
    }
    let mut added: BTreeSet<String> = BTreeSet::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for layer in undo {
        // Headers only: an uncompressed layer's contents are seeked over.
        match seekable_layer(store, layer)? {
            Some(file) => {
                for entry in tar::Archive::new(file).entries_with_seek()? {
                    sort_entry(&mut entry?, &index, &mut added, &mut dirs)?;
                }
            }
            None => {
                for entry in tar::Archive::new(open_layer(store, layer)?).entries()? {
                    sort_entry(&mut entry?, &index, &mut added, &mut dirs)?;
                }
            }
        }
    }
    // Each added path goes with its shallowest ancestor the lower layers lack. That ancestor
    // must be truly absent from them (not a directory a lower entry made implicitly), and
    // everything above it a directory they name.
    let mut roots: BTreeSet<String> = BTreeSet::new();
    for path in &added {
        let mut root = path.as_str();
        loop {
            let up = parent(root);
            if up.is_empty() || index.get(up).is_some() || index.has_below(up) {
                break;
            }
            root = up;
        }
        if index.has_below(root) {
            return Err(NotExact);
        }
        roots.insert(root.to_string());
    }
    for path in roots.iter().chain(&dirs) {
        let mut up = parent(path);
        while !up.is_empty() {
            if index.get(up).is_none_or(|e| e.kind != IndexKind::Dir) {
                return Err(NotExact);
            }
            up = parent(up);
        }
    }
    let tree = fs::File::open(dir)?;
    let trash = trash_dir(store);
    fs::create_dir_all(&trash)?;
    let trash = fs::File::open(&trash)?;
    for root in &roots {
        let up = parent(root);
        let name = &root[up.len() + usize::from(!up.is_empty())..];
        let parent_fd = open_beneath(
            tree.as_fd(),
            up.as_bytes(),
            libc::O_PATH | libc::O_DIRECTORY,
        )?;
        let from = std::ffi::CString::new(name)?;
        let to = std::ffi::CString::new(unique("reuse-"))?;
        // SAFETY: valid descriptors and C strings.
        let r = unsafe {
            libc::renameat(
                parent_fd.as_raw_fd(),
                from.as_ptr(),
                trash.as_raw_fd(),
                to.as_ptr(),
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e.into());
            }
        }
        if !up.is_empty() {
            dirs.insert(up.to_string());
        }
    }
    // Directories get back what the lower layers say, their times last (deepest first).
    let mut restored = Vec::with_capacity(dirs.len());
    for d in &dirs {
        let Some(e) = index.get(d) else {
            return Err(NotExact);
        };
        if e.kind != IndexKind::Dir || e.xattrs {
            return Err(NotExact);
        }
        let fd = open_beneath(
            tree.as_fd(),
            d.as_bytes(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        let f = fs::File::from(fd);
        if xattr::FileExt::list_xattr(&f)?.next().is_some() {
            return Err(NotExact);
        }
        std::os::unix::fs::fchown(&f, Some(e.uid), Some(e.gid))?;
        f.set_permissions(fs::Permissions::from_mode(e.mode))?;
        restored.push((f, e.mtime));
    }
    for (f, mtime) in restored.iter().rev() {
        set_mtime_fd(f.as_fd(), *mtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fs::Rootfs;
    use super::super::fs::tests::layer_with as layer;
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;

    /// Every path under `dir` with its type, mode, owner, mtime and content.
    fn listing(dir: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                let m = fs::symlink_metadata(e.path()).unwrap();
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                let content = if m.is_file() {
                    fs::read_to_string(e.path()).unwrap()
                } else {
                    String::new()
                };
                out.insert(
                    rel,
                    format!(
                        "{:o} {}:{} {} {content}",
                        m.mode(),
                        m.uid(),
                        m.gid(),
                        m.mtime()
                    ),
                );
                if m.is_dir() {
                    walk(root, &e.path(), out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// An empty store in a temporary directory, when running as root (extraction sets owners).
    fn root_store() -> Option<(tempfile::TempDir, Store)> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Some((dir, store))
    }

    fn kept_count(store: &Store) -> usize {
        fs::read_dir(kept_dir(store)).map_or(0, |r| {
            r.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
    }

    fn next(store: &Store) -> CachedLayer {
        layer(
            store,
            &[
                ("opt/", None, 0o755, 3000),
                ("opt/b", Some("b"), 0o600, 3000),
            ],
        )
    }

    type Entries<'a> = [(&'a str, Option<&'a str>, u32, u64)];

    /// Keeps a tree of `lower` and `undone` as a build would, then builds `lower` and another
    /// layer twice, from the kept tree and afresh, and checks they hold the same files: (from
    /// the kept tree, afresh).
    fn reused_and_fresh(store: &Store, lower: &Entries, undone: &Entries) -> (Rootfs, Rootfs) {
        let l0 = layer(store, lower);
        let l1 = layer(store, undone);
        drop(Rootfs::create(store, &[l0.clone(), l1], true).unwrap());
        assert_eq!(kept_count(store), 1, "a clean tree is kept");
        let l2 = next(store);
        let reused = Rootfs::create(store, &[l0.clone(), l2.clone()], true).unwrap();
        assert_eq!(kept_count(store), 0, "the kept tree was claimed");
        let fresh = Rootfs::create(store, &[l0, l2], false).unwrap();
        assert_eq!(listing(&reused.dir), listing(&fresh.dir));
        (reused, fresh)
    }

    const BASE: &Entries = &[
        ("app/", None, 0o750, 1000),
        ("app/lower", Some("lower"), 0o644, 1000),
        ("etc/", None, 0o755, 1000),
        ("etc/passwd", Some("root:x:0:0::/:/bin/sh\n"), 0o644, 1000),
    ];

    #[test]
    fn a_kept_tree_rolls_back_exactly_to_the_shared_layers() {
        let Some((_dir, store)) = root_store() else {
            return;
        };
        // Only additions, and new metadata for a directory the base has.
        let (reused, _) = reused_and_fresh(
            &store,
            BASE,
            &[
                ("app/", None, 0o700, 2000),
                ("app/src/", None, 0o755, 2000),
                ("app/src/a", Some("a"), 0o644, 2000),
                ("app/new", Some("new"), 0o644, 2000),
                ("top/", None, 0o755, 2000),
                ("top/deep/", None, 0o755, 2000),
                ("top/deep/x", Some("x"), 0o644, 2000),
            ],
        );
        assert!(!reused.dir.join("top").exists());
        assert!(!reused.dir.join("app/src/a").exists());
    }

    #[test]
    fn a_tree_whose_layers_deleted_a_lower_path_is_extracted_afresh() {
        let Some((_dir, store)) = root_store() else {
            return;
        };
        let (reused, _) = reused_and_fresh(
            &store,
            BASE,
            &[
                ("app/", None, 0o750, 2000),
                ("app/.wh.lower", Some(""), 0o644, 2000),
            ],
        );
        assert!(reused.dir.join("app/lower").exists());
    }

    #[test]
    fn a_tree_a_run_changed_is_not_kept_and_only_the_newest_are() {
        let Some((_dir, store)) = root_store() else {
            return;
        };
        let l0 = layer(&store, BASE);
        let mut r = Rootfs::create(&store, std::slice::from_ref(&l0), true).unwrap();
        r.running();
        fs::write(r.dir.join("stray"), "a failed RUN left this").unwrap();
        drop(r);
        assert_eq!(
            kept_count(&store),
            0,
            "a tree a RUN was cut short in is not kept"
        );
        for _ in 0..KEEP + 2 {
            drop(Rootfs::create(&store, std::slice::from_ref(&l0), true).unwrap());
            // Each build claims the last tree and leaves it again.
            assert_eq!(kept_count(&store), 1);
        }
        let held: Vec<Rootfs> = (0..KEEP + 2)
            .map(|_| Rootfs::create(&store, std::slice::from_ref(&l0), true).unwrap())
            .collect();
        drop(held);
        assert_eq!(kept_count(&store), KEEP);
    }

    #[test]
    fn files_under_a_directory_the_lower_layers_made_implicitly_stay() {
        let Some((_dir, store)) = root_store() else {
            return;
        };
        // No directory entries: extraction makes `usr/local/bin` for `foo`.
        let (reused, _) = reused_and_fresh(
            &store,
            &[("usr/local/bin/foo", Some("foo"), 0o755, 1000)],
            &[("usr/local/bin/bar", Some("bar"), 0o755, 2000)],
        );
        assert!(reused.dir.join("usr/local/bin/foo").exists());
        assert!(!reused.dir.join("usr/local/bin/bar").exists());
    }

    #[test]
    fn a_hostile_tree_cannot_turn_the_rollback_outside() {
        let Some((_dir, store)) = root_store() else {
            return;
        };
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(outside.path().join("etc")).unwrap();
        fs::create_dir(outside.path().join("home")).unwrap();
        fs::set_permissions(
            outside.path().join("etc"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let before = listing(outside.path());
        let target = format!("-> {}", outside.path().display());
        // `x -> .` makes `x/y` a symlink `y` out of the tree, which the headers do not name.
        // (Extraction resolves it inside the tree, where the same path exists.)
        let inside = outside.path().to_str().unwrap().trim_start_matches('/');
        let mut lower: Vec<(&str, Option<&str>, u32, u64)> = Vec::new();
        let dirs: Vec<String> = inside
            .split('/')
            .scan(String::new(), |acc, c| {
                acc.push_str(c);
                acc.push('/');
                Some(acc.clone())
            })
            .collect();
        for d in &dirs {
            lower.push((d, None, 0o755, 1000));
        }
        lower.push(("x", Some("-> ."), 0o777, 1000));
        lower.push(("x/y", Some(&target), 0o777, 1000));
        reused_and_fresh(
            &store,
            &lower,
            &[
                ("y/etc/", None, 0o700, 2000),
                ("y/home/", None, 0o755, 2000),
                ("y/home/f", Some("f"), 0o644, 2000),
            ],
        );
        assert_eq!(listing(outside.path()), before);
    }

    #[test]
    fn trees_are_kept_only_with_room_to_spare() {
        const GIB: u64 = 1 << 30;
        assert!(roomy(50 * GIB, 250 * GIB));
        assert!(!roomy(10 * GIB, 250 * GIB), "less than a twentieth free");
        assert!(!roomy(GIB / 2, 5 * GIB), "less than 1 GiB free");
        assert!(roomy(2 * GIB, 20 * GIB));
    }

    #[test]
    fn prefixes_compare_diff_ids() {
        let layer = |d: &str| CachedLayer {
            digest: format!("sha256:{}", d.repeat(64)).parse().unwrap(),
            size: 1,
            media_type: String::new(),
            diff_id: format!("sha256:{}", d.repeat(64)).parse().unwrap(),
        };
        let (a, b, c) = (layer("a"), layer("b"), layer("c"));
        assert_eq!(
            shared_prefix(&[a.clone(), b.clone()], &[a.clone(), c.clone()]),
            1
        );
        assert_eq!(shared_prefix(&[a.clone(), b.clone()], &[a, b]), 2);
        assert_eq!(shared_prefix(&[c], &[layer("a")]), 0);
    }
}
