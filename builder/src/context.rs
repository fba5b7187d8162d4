//! Content digests of build-context paths, for COPY/ADD cache keys.
//!
//! The digest of a selection covers each selected path's name relative to the context, type,
//! permission bits, owner, symlink target and content hash, after `.dockerignore` and COPY
//! `--exclude` (modification times are left out, as BuildKit's content checksums leave them
//! out). It is the SHA-256 of the sorted list of per-path digests.
//!
//! File content hashes are remembered in a cache file, keyed by (path, size, mtime, ctime,
//! inode): a rehash with nothing changed stats every file and reads none. A file whose ctime is
//! within 50 ms of the hashing is hashed but not remembered, as git does with "racily clean"
//! entries: a change in the same clock tick would not move its times. Contents are hashed on all
//! cores.
//!
//! The last result of each cache key (a name the build gives one COPY, say `stage/COPY src/`) is
//! remembered too, so the build can say which path made a cache miss.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::dockerignore::{Dockerignore, clean};
use crate::snapshot::Kind;

const CACHE_VERSION: u32 = 1;

/// Longer than a coarse clock tick (up to 10 ms): a file changed this recently is not cached.
const RACY_WINDOW_NS: i128 = 50_000_000;

/// The stat fields a cached content hash is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StatKey {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    /// Absolute path -> (stat key, content digest).
    files: HashMap<String, (StatKey, String)>,
    /// Cache key -> the per-path digests of its last result.
    results: HashMap<String, BTreeMap<String, String>>,
}

/// How a selection differs from the previous result under the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathChange {
    /// The path is new.
    Added(String),
    /// The path is gone.
    Removed(String),
    /// The path's content or metadata changed.
    Modified(String),
}

impl std::fmt::Display for PathChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathChange::Added(p) => write!(f, "{p} was added"),
            PathChange::Removed(p) => write!(f, "{p} was removed"),
            PathChange::Modified(p) => write!(f, "{p} changed"),
        }
    }
}

/// The digest of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDigest {
    /// `sha256:<hex>` over every selected path.
    pub digest: String,
    /// Number of paths selected.
    pub paths: usize,
    /// The first path (in sorted order) that differs from the previous result under the same
    /// key; `None` when nothing changed or there was no previous result.
    pub change: Option<PathChange>,
}

/// Hashes context selections, remembering file hashes across runs in a cache file.
pub struct ContextHasher {
    cache_path: PathBuf,
    old: CacheFile,
    new: Mutex<CacheFile>,
    /// Whether anything was learnt that the cache file lacks (a fresh hash, a changed result).
    dirty: std::sync::atomic::AtomicBool,
    bytes_read: AtomicU64,
    files_read: AtomicU64,
}

/// One selected path, before hashing.
struct Item {
    rel: String,
    host: PathBuf,
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    link: Option<PathBuf>,
    stat: StatKey,
}

impl ContextHasher {
    /// Opens the hasher with its cache file (created on [`ContextHasher::save`]). A missing,
    /// unreadable or outdated cache file only means everything is hashed again.
    pub fn open(cache_path: &Path) -> ContextHasher {
        let old = fs::read(cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|c| c.version == CACHE_VERSION)
            .unwrap_or_default();
        ContextHasher {
            cache_path: cache_path.to_path_buf(),
            old,
            new: Mutex::new(CacheFile {
                version: CACHE_VERSION,
                ..Default::default()
            }),
            bytes_read: AtomicU64::new(0),
            files_read: AtomicU64::new(0),
            dirty: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Number of files whose content was read so far (0 on a rehash with nothing changed).
    pub fn files_read(&self) -> u64 {
        self.files_read.load(Ordering::Relaxed)
    }

    /// Number of content bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Digests the `sources` (paths relative to `context`; directories are taken with all their
    /// content; `.` is the whole context) minus what `ignore` excludes. `key` names this
    /// selection across runs for [`ContentDigest::change`].
    pub fn hash(
        &self,
        key: &str,
        context: &Path,
        sources: &[&str],
        ignore: &Dockerignore,
    ) -> Result<ContentDigest, Error> {
        // Cache entries are keyed by absolute path, whatever form the caller gave.
        let context = &fs::canonicalize(context).map_err(|e| Error::io(context, e))?;
        let mut items: BTreeMap<String, Item> = BTreeMap::new();
        for src in sources {
            let rel = clean(src.trim_start_matches('/'));
            if rel == ".." || rel.starts_with("../") {
                return Err(Error::Invalid(format!(
                    "COPY source {src:?} is outside the build context"
                )));
            }
            collect(context, &rel, ignore, &mut items)?;
        }
        let items: Vec<Item> = items.into_values().collect();
        let start = now();
        let digests = self.hash_contents(&items, start)?;

        let mut per_path = BTreeMap::new();
        for (item, content) in items.iter().zip(digests) {
            let mut h = Sha256::new();
            let kind = match item.kind {
                Kind::File => "file",
                Kind::Dir => "dir",
                Kind::Symlink => "symlink",
                Kind::CharDevice => "char",
                Kind::BlockDevice => "block",
                Kind::Fifo => "fifo",
                Kind::Socket => "socket",
            };
            h.update(item.rel.as_bytes());
            h.update(format!(
                "\0{kind}\0{:o}\0{}\0{}\0",
                item.mode & 0o7777,
                item.uid,
                item.gid
            ));
            if let Some(l) = &item.link {
                h.update(l.as_os_str().as_bytes());
            }
            h.update(b"\0");
            h.update(content.as_bytes());
            per_path.insert(item.rel.clone(), hex::encode(h.finalize()));
        }
        Ok(self.digest_selection(key, per_path))
    }

    /// The digest of a selection whose per-path digests the caller computed (COPY plans hash
    /// what lands in the image, not what is in the context): SHA-256 over the sorted
    /// (path, digest) pairs. The selection is remembered under `key`, and
    /// [`ContentDigest::change`] names the first path that differs from the previous one.
    pub fn digest_selection(&self, key: &str, per_path: BTreeMap<String, String>) -> ContentDigest {
        let mut total = Sha256::new();
        for (rel, d) in &per_path {
            total.update(rel.as_bytes());
            total.update(b"\0");
            total.update(d.as_bytes());
            total.update(b"\n");
        }
        let change = self
            .old
            .results
            .get(key)
            .and_then(|prev| first_change(prev, &per_path));
        if self.old.results.get(key) != Some(&per_path) {
            self.dirty.store(true, Ordering::Relaxed);
        }
        let paths = per_path.len();
        self.lock().results.insert(key.to_string(), per_path);
        ContentDigest {
            digest: format!("sha256:{}", hex::encode(total.finalize())),
            paths,
            change,
        }
    }

    /// Content digests (`sha256:<hex>`) of regular files, given with their `lstat` metadata,
    /// in the same order. A file whose (path, size, mtime, ctime, inode) is remembered is not
    /// read; the others are read on all cores. `path` must be absolute for the memo to apply
    /// across runs.
    pub fn hash_files(&self, files: &[(&Path, &fs::Metadata)]) -> Result<Vec<String>, Error> {
        let items: Vec<Item> = files
            .iter()
            .map(|(path, m)| Item {
                rel: String::new(),
                host: path.to_path_buf(),
                kind: Kind::File,
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                link: None,
                stat: StatKey {
                    size: m.size(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    ctime: (m.ctime(), m.ctime_nsec()),
                    ino: m.ino(),
                },
            })
            .collect();
        self.hash_contents(&items, now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheFile> {
        self.new.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hash_contents(&self, items: &[Item], start: (i64, i64)) -> Result<Vec<String>, Error> {
        let out: Vec<Mutex<String>> = items.iter().map(|_| Mutex::new(String::new())).collect();
        let next = AtomicUsize::new(0);
        let error: Mutex<Option<Error>> = Mutex::new(None);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 16);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        if item.kind != Kind::File {
                            continue;
                        }
                        match self.content_digest(item, start, &mut buf) {
                            Ok(d) => *out[i].lock().unwrap_or_else(|e| e.into_inner()) = d,
                            Err(e) => {
                                error
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                                break;
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        Ok(out
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect())
    }

    fn content_digest(
        &self,
        item: &Item,
        start: (i64, i64),
        buf: &mut [u8],
    ) -> Result<String, Error> {
        let key = item.host.to_string_lossy().into_owned();
        if let Some((stat, digest)) = self.old.files.get(&key)
            && *stat == item.stat
        {
            self.lock().files.insert(key, (*stat, digest.clone()));
            return Ok(digest.clone());
        }
        let mut f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&item.host)
            .map_err(|e| Error::io(&item.host, e))?;
        let mut h = Sha256::new();
        let mut n_total = 0u64;
        loop {
            let n = match f.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&item.host, e)),
            };
            h.update(&buf[..n]);
            n_total += n as u64;
        }
        self.files_read.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(n_total, Ordering::Relaxed);
        let digest = format!("sha256:{}", hex::encode(h.finalize()));
        // Racily clean: a change within the same clock tick would keep these times.
        let nanos = |t: (i64, i64)| i128::from(t.0) * 1_000_000_000 + i128::from(t.1);
        let racy = nanos(item.stat.ctime) > nanos(start) - RACY_WINDOW_NS;
        if !racy {
            self.dirty.store(true, Ordering::Relaxed);
            self.lock().files.insert(key, (item.stat, digest.clone()));
        }
        Ok(digest)
    }

    /// Writes the cache file (atomically: a temporary file renamed over it). Only the entries
    /// used since [`ContextHasher::open`] are kept, so the file does not grow without bound.
    /// Nothing is written when nothing new was learnt.
    pub fn save(&self) -> Result<(), Error> {
        // A rehash that learnt nothing leaves the file as it is: writing it would cost more than
        // the whole check.
        if !self.dirty.load(Ordering::Relaxed) && self.cache_path.exists() {
            return Ok(());
        }
        let data = {
            let mut new = self.lock();
            for (k, v) in &self.old.results {
                new.results.entry(k.clone()).or_insert_with(|| v.clone());
            }
            serde_json::to_vec(&*new).map_err(|e| Error::Write(io::Error::other(e)))?
        };
        if let Some(dir) = self.cache_path.parent()
            && !dir.as_os_str().is_empty()
        {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut tmp = self.cache_path.as_os_str().to_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        fs::write(&tmp, data).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &self.cache_path).map_err(|e| Error::io(&self.cache_path, e))
    }
}

fn now() -> (i64, i64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

fn first_change(
    prev: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Option<PathChange> {
    let mut a = prev.iter().peekable();
    let mut b = now.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some((p, _)), None) => return Some(PathChange::Removed((*p).clone())),
            (None, Some((p, _))) => return Some(PathChange::Added((*p).clone())),
            (Some((pa, da)), Some((pb, db))) => match pa.cmp(pb) {
                std::cmp::Ordering::Less => return Some(PathChange::Removed((*pa).clone())),
                std::cmp::Ordering::Greater => return Some(PathChange::Added((*pb).clone())),
                std::cmp::Ordering::Equal => {
                    if da != db {
                        return Some(PathChange::Modified((*pa).clone()));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

fn item(context: &Path, rel: &str) -> Result<Option<Item>, Error> {
    let host = if rel == "." {
        context.to_path_buf()
    } else {
        context.join(rel)
    };
    let m = match fs::symlink_metadata(&host) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&host, e)),
    };
    let kind = Kind::of(m.file_type());
    let link = if kind == Kind::Symlink {
        Some(fs::read_link(&host).map_err(|e| Error::io(&host, e))?)
    } else {
        None
    };
    Ok(Some(Item {
        rel: rel.to_string(),
        host,
        kind,
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        link,
        stat: StatKey {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        },
    }))
}

/// Adds `rel` and, for a directory, everything below it that `ignore` keeps.
fn collect(
    context: &Path,
    rel: &str,
    ignore: &Dockerignore,
    items: &mut BTreeMap<String, Item>,
) -> Result<(), Error> {
    let Some(top) = item(context, rel)? else {
        return Err(Error::Invalid(format!(
            "COPY source {rel:?} not found in the build context"
        )));
    };
    let excluded = ignore.is_excluded(rel);
    if top.kind != Kind::Dir {
        if !excluded {
            items.insert(rel.to_string(), top);
        }
        return Ok(());
    }
    if excluded && !ignore.may_reinclude_below() {
        return Ok(());
    }
    let mut stack = vec![(rel.to_string(), top.host.clone())];
    if !excluded {
        items.insert(rel.to_string(), top);
    }
    while let Some((dir_rel, dir_host)) = stack.pop() {
        for entry in fs::read_dir(&dir_host).map_err(|e| Error::io(&dir_host, e))? {
            let entry = entry.map_err(|e| Error::io(&dir_host, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let child = if dir_rel == "." {
                name.into_owned()
            } else {
                format!("{dir_rel}/{name}")
            };
            let Some(it) = item(context, &child)? else {
                continue;
            };
            let excluded = ignore.is_excluded(&child);
            if it.kind == Kind::Dir && (!excluded || ignore.may_reinclude_below()) {
                stack.push((child.clone(), it.host.clone()));
            }
            if !excluded {
                // A re-included path brings its excluded parents, as BuildKit's transfer does.
                let mut p = child.as_str();
                while let Some(i) = p.rfind('/') {
                    p = &p[..i];
                    if items.contains_key(p) {
                        break;
                    }
                    if let Some(parent) = item(context, p)? {
                        items.insert(p.to_string(), parent);
                    }
                }
                items.insert(child, it);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{set_old_times, write};

    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src/main.rs", "fn main() {}\n");
        write(dir.path(), "src/lib.rs", "pub fn f() {}\n");
        write(dir.path(), "README.md", "# readme\n");
        write(dir.path(), "target/debug/big", "build output");
        write(dir.path(), "target/keep.txt", "kept");
        std::os::unix::fs::symlink("src/main.rs", dir.path().join("link")).unwrap();
        set_old_times(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(60));
        dir
    }

    fn ignore(text: &str) -> Dockerignore {
        Dockerignore::parse(text, Path::new(".dockerignore")).unwrap()
    }

    #[test]
    fn rehash_with_nothing_changed_reads_no_file() {
        let ctx = context();
        let cache = tempfile::tempdir().unwrap();
        let cache_file = cache.path().join("sub/context-cache.json");
        let di = ignore("target\n");
        let h = ContextHasher::open(&cache_file);
        let first = h.hash("copy-all", ctx.path(), &["."], &di).unwrap();
        assert_eq!(h.files_read(), 3);
        assert_eq!(first.change, None);
        h.save().unwrap();

        // Wait out the racy window of the cache file's own clock, then hash again.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let h = ContextHasher::open(&cache_file);
        let second = h.hash("copy-all", ctx.path(), &["."], &di).unwrap();
        assert_eq!(h.files_read(), 0);
        assert_eq!(second, first);
        h.save().unwrap();

        // A content change is seen, read alone, and named.
        write(ctx.path(), "src/lib.rs", "pub fn g() {}\n");
        let h = ContextHasher::open(&cache_file);
        let third = h.hash("copy-all", ctx.path(), &["."], &di).unwrap();
        assert_eq!(h.files_read(), 1);
        assert_ne!(third.digest, first.digest);
        assert_eq!(
            third.change,
            Some(PathChange::Modified("src/lib.rs".into()))
        );
    }

    #[test]
    fn digest_covers_names_modes_links_and_ignores() {
        let ctx = context();
        let h = ContextHasher::open(&ctx.path().join("../cache-unused.json"));
        let di = ignore("target\n!target/keep.txt\n");
        let base = h.hash("k", ctx.path(), &["."], &di).unwrap();
        // target/ is excluded but keep.txt is re-included, bringing its parent.
        assert_eq!(
            base.paths,
            [
                ".",
                "README.md",
                "link",
                "src",
                "src/lib.rs",
                "src/main.rs",
                "target",
                "target/keep.txt"
            ]
            .len()
        );

        // Changing an ignored file changes nothing.
        write(ctx.path(), "target/debug/big", "other output");
        let same = h.hash("k", ctx.path(), &["."], &di).unwrap();
        assert_eq!(same.digest, base.digest);
        assert_eq!(same.change, None);

        // A mode change does.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            ctx.path().join("README.md"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let moded = h.hash("k", ctx.path(), &["."], &di).unwrap();
        assert_ne!(moded.digest, base.digest);

        // So does a symlink target, and a new file is reported as added.
        fs::remove_file(ctx.path().join("link")).unwrap();
        std::os::unix::fs::symlink("src/lib.rs", ctx.path().join("link")).unwrap();
        let relinked = h.hash("k2", ctx.path(), &["link"], &di).unwrap();
        assert_ne!(
            relinked.digest,
            h.hash("k3", ctx.path(), &["src/lib.rs"], &di)
                .unwrap()
                .digest
        );
        let h2 = ContextHasher::open(&ctx.path().join("../cache-unused2.json"));
        let before = h2.hash("k2", ctx.path(), &["link"], &di).unwrap();
        fs::remove_file(ctx.path().join("link")).unwrap();
        std::os::unix::fs::symlink("src/main.rs", ctx.path().join("link")).unwrap();
        assert_ne!(
            h2.hash("k2", ctx.path(), &["link"], &di).unwrap().digest,
            before.digest
        );
    }

    #[test]
    fn change_is_reported_against_the_saved_previous_run() {
        let ctx = context();
        let cache = tempfile::tempdir().unwrap();
        let file = cache.path().join("c.json");
        let di = Dockerignore::default();
        let h = ContextHasher::open(&file);
        h.hash("src", ctx.path(), &["src"], &di).unwrap();
        h.save().unwrap();
        write(ctx.path(), "src/new.rs", "");
        let h = ContextHasher::open(&file);
        let d = h.hash("src", ctx.path(), &["src"], &di).unwrap();
        assert_eq!(d.change, Some(PathChange::Added("src/new.rs".into())));
        h.save().unwrap();
        fs::remove_file(ctx.path().join("src/lib.rs")).unwrap();
        let h = ContextHasher::open(&file);
        let d = h.hash("src", ctx.path(), &["src"], &di).unwrap();
        assert_eq!(d.change, Some(PathChange::Removed("src/lib.rs".into())));
        assert_eq!(d.change.unwrap().to_string(), "src/lib.rs was removed");
    }

    #[test]
    fn sources_outside_the_context_or_missing_are_refused() {
        let ctx = context();
        let h = ContextHasher::open(&ctx.path().join("../unused.json"));
        let di = Dockerignore::default();
        assert!(h.hash("k", ctx.path(), &["../etc"], &di).is_err());
        assert!(h.hash("k", ctx.path(), &["nope"], &di).is_err());
        // `/src` means the context's src, as in COPY.
        let a = h.hash("a", ctx.path(), &["/src"], &di).unwrap();
        let b = h.hash("b", ctx.path(), &["src"], &di).unwrap();
        assert_eq!(a.digest, b.digest);
    }
}
