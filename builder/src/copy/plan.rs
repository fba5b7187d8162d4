//! The plan of one COPY/ADD: what lands where, with which metadata and from which bytes.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use bale_parser::instruction::FileMode;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::context::{ContentDigest, ContextHasher};
use crate::copy::archive::{self, ArchiveEntry};
use crate::copy::dest::{Dest, DestKind, EmptyDest, resolve_chown, resolve_dest};
use crate::copy::glob::{closest, go_match, has_wildcards};
use crate::copy::remote::{self, Download};
use crate::copy::resolve::{Confine, Lookup, components, resolve};
use crate::digest::LayerDigest;
use crate::dockerignore::{Dockerignore, PatternMatcher, clean};
use crate::layer::{EntryKind, LayerOptions, TarEntry, read_xattrs, write_entries};

/// What a [`SourceRoot`] is, for messages and for the rules that differ between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The build context (or a named `--build-context` directory): files belong to root in
    /// the image, and nothing may point outside it.
    Context,
    /// The rootfs of an earlier stage (`COPY --from=NAME`): owners are kept, and symlinks
    /// resolve inside it as in a chroot.
    Stage(String),
    /// The extracted rootfs of an image (`COPY --from=alpine:3`), as a stage.
    Image(String),
}

/// The directory COPY sources are read from.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    path: PathBuf,
    kind: SourceKind,
    ignore: Dockerignore,
}

impl SourceRoot {
    /// The build context at `path`, with its `.dockerignore` rules.
    pub fn context(path: &Path, ignore: Dockerignore) -> Result<SourceRoot, Error> {
        Ok(SourceRoot {
            path: fs::canonicalize(path).map_err(|e| Error::io(path, e))?,
            kind: SourceKind::Context,
            ignore,
        })
    }

    /// A stage's rootfs (`name` as the Dockerfile names the stage, or its index).
    pub fn stage(path: &Path, name: &str) -> Result<SourceRoot, Error> {
        Self::rootfs(path, SourceKind::Stage(name.to_string()))
    }

    /// An image's extracted rootfs (`reference` as written in `--from`).
    pub fn image(path: &Path, reference: &str) -> Result<SourceRoot, Error> {
        Self::rootfs(path, SourceKind::Image(reference.to_string()))
    }

    fn rootfs(path: &Path, kind: SourceKind) -> Result<SourceRoot, Error> {
        Ok(SourceRoot {
            path: fs::canonicalize(path).map_err(|e| Error::io(path, e))?,
            kind,
            ignore: Dockerignore::default(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it is.
    pub fn kind(&self) -> &SourceKind {
        &self.kind
    }

    fn place(&self) -> String {
        match &self.kind {
            SourceKind::Context => "build context".to_string(),
            SourceKind::Stage(n) => format!("stage {n}"),
            SourceKind::Image(r) => format!("image {r}"),
        }
    }

    fn confine(&self) -> Confine {
        match self.kind {
            SourceKind::Context => Confine::Wall,
            _ => Confine::Chroot,
        }
    }

    fn host(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    fn excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && !self.ignore.is_empty() && self.ignore.is_excluded(rel)
    }

    /// Resolves `rel` inside the root, following symlinks (the last one too when `follow`).
    fn resolve(&self, rel: &str, follow: bool, display: &str) -> Result<String, Error> {
        resolve(rel, follow, self.confine(), display, |p| {
            let host = self.host(p);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let t = fs::read_link(&host).map_err(|e| Error::io(&host, e))?;
                    Ok(Lookup::Symlink(utf8(t.into_os_string(), &host)?))
                }
                Ok(_) => Ok(Lookup::Other),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    Ok(Lookup::Missing)
                }
                Err(e) => Err(Error::io(&host, e)),
            }
        })
    }
}

fn utf8(s: OsString, host: &Path) -> Result<String, Error> {
    s.into_string().map_err(|_| {
        Error::Invalid(format!(
            "{}: the name is not valid UTF-8, which bale cannot copy; rename it",
            host.display()
        ))
    })
}

/// One source of a COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path (maybe with wildcards) in the source root, or for ADD an http(s) URL.
    Path(String),
    /// An inline file: its name (the heredoc's delimiter) and content.
    Heredoc {
        /// The file's name when the destination is a directory.
        name: String,
        /// The bytes, already expanded and chomped.
        content: String,
    },
}

/// A COPY or ADD with its flags, variables already expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// ADD rather than COPY (URLs allowed, local archives extracted).
    pub add: bool,
    /// The sources, in order.
    pub sources: Vec<CopySource>,
    /// The destination as written.
    pub dest: String,
    /// The stage's `WORKDIR`, against which a relative destination is taken.
    pub workdir: String,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<FileMode>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--checksum` (ADD of a URL).
    pub checksum: Option<String>,
    /// `--unpack`: `None` is ADD's default (archives from the source root are extracted, URLs
    /// are not).
    pub unpack: Option<bool>,
    /// Where downloads and decompressed archives are kept while the plan lives (the system's
    /// temporary directory when `None`).
    pub temp_dir: Option<PathBuf>,
}

impl CopyRequest {
    /// A COPY of `sources` to `dest` with no flags and `WORKDIR` `/`.
    pub fn new(sources: Vec<CopySource>, dest: impl Into<String>) -> CopyRequest {
        CopyRequest {
            add: false,
            sources,
            dest: dest.into(),
            workdir: "/".to_string(),
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            exclude: Vec::new(),
            checksum: None,
            unpack: None,
            temp_dir: None,
        }
    }

    /// The request for a typed COPY (`add` false) or ADD instruction whose variables were
    /// expanded ([`bale_parser::Instruction::expand`]), in a stage whose `WORKDIR` is `workdir`.
    pub fn from_instruction(
        copy: &bale_parser::instruction::Copy,
        add: bool,
        workdir: &str,
    ) -> Result<CopyRequest, Error> {
        let sources = copy
            .sources
            .iter()
            .map(|s| match s {
                bale_parser::instruction::Source::Path(w) => CopySource::Path(w.value.clone()),
                bale_parser::instruction::Source::Heredoc(h) => CopySource::Heredoc {
                    name: h.name.clone(),
                    content: if h.chomp {
                        h.content
                            .split_inclusive('\n')
                            .map(|l| l.trim_start_matches('\t'))
                            .collect()
                    } else {
                        h.content.clone()
                    },
                },
            })
            .collect();
        let chmod = match &copy.chmod {
            None => None,
            Some(c) => Some(match &c.mode {
                Some(m) => m.clone(),
                None => FileMode::parse(&c.raw.value).map_err(Error::Invalid)?,
            }),
        };
        Ok(CopyRequest {
            add,
            sources,
            dest: copy.dest.value.clone(),
            workdir: workdir.to_string(),
            chown: copy.chown.as_ref().map(|w| w.value.clone()),
            chmod,
            link: copy.link,
            parents: copy.parents,
            exclude: copy.exclude.iter().map(|w| w.value.clone()).collect(),
            checksum: copy.checksum.as_ref().map(|w| w.value.clone()),
            unpack: copy.unpack,
            temp_dir: None,
        })
    }

    fn name(&self) -> &'static str {
        if self.add { "ADD" } else { "COPY" }
    }
}

/// Where a planned file's bytes come from.
#[derive(Debug, Clone)]
enum Content {
    /// A file of the source root, read when the layer is written.
    Host(PathBuf, fs::Metadata),
    /// A heredoc, written to the plan's temporary directory, with its digest.
    Temp(PathBuf, String),
    /// A download of the plan.
    Download(usize),
    /// An entry of an indexed archive: the plain tar and the data offset.
    Archive(std::sync::Arc<PathBuf>, u64),
}

#[derive(Debug, Clone)]
enum Node {
    File { size: u64, content: Content },
    Dir,
    Symlink(String),
    Special(EntryKind),
}

#[derive(Debug, Clone)]
enum Xattrs {
    None,
    Host(PathBuf),
    List(Vec<(OsString, Vec<u8>)>),
}

/// One path of the layer.
#[derive(Debug, Clone)]
struct Planned {
    node: Node,
    mode: u32,
    uid: u32,
    gid: u32,
    /// `None`: made by the copy itself, stamped with `SOURCE_DATE_EPOCH` (or 0).
    mtime: Option<i64>,
    xattrs: Xattrs,
    /// Files sharing a key are one inode: hard links in the layer.
    link_key: Option<(u64, u64)>,
    /// Which source put it there (a later source wins a conflict).
    source: usize,
    /// A directory the image already had, repeated with its own metadata.
    existing: bool,
}

impl Planned {
    fn is_dir(&self) -> bool {
        matches!(self.node, Node::Dir)
    }
}

/// An ADD URL: fetched while planning, or, when `--checksum` pins its content and its path
/// names the file, only when the layer is written (as BuildKit, which then keys its cache on
/// the checksum alone).
#[derive(Debug)]
struct Remote {
    url: String,
    name: String,
    checksum: Option<String>,
    fetched: std::sync::Mutex<Option<Download>>,
}

impl Remote {
    fn fetch(&self, temp: &Path) -> Result<Download, Error> {
        let mut got = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = &*got {
            return Ok(d.clone());
        }
        let d = remote::download(&self.url, self.checksum.as_deref(), temp)?;
        *got = Some(d.clone());
        Ok(d)
    }

    /// The content digest: the pinned checksum, else the digest of what was fetched.
    fn digest(&self, temp: &Path) -> Result<String, Error> {
        match &self.checksum {
            Some(sum) => Ok(sum.clone()),
            None => Ok(self.fetch(temp)?.digest),
        }
    }
}

/// An ADD archive, indexed only when the layer is written.
#[derive(Debug, Clone)]
struct PendingArchive {
    host: PathBuf,
    meta: fs::Metadata,
    /// The destination directory, resolved, relative to the image root.
    dir: String,
    /// The source as written, for messages.
    display: String,
    source: usize,
    /// Already expanded into the plan's entries (when extracting into a directory the image
    /// has, whose contents the extraction must respect).
    expanded: bool,
}

/// The plan of one COPY or ADD; see the [module documentation](crate::copy).
#[derive(Debug)]
pub struct CopyPlan {
    entries: BTreeMap<String, Planned>,
    archives: Vec<PendingArchive>,
    downloads: Vec<Remote>,
    flags: String,
    warnings: Vec<String>,
    temp: tempfile::TempDir,
}

/// Builds a plan.
struct Planner<'a> {
    req: &'a CopyRequest,
    src: &'a SourceRoot,
    dest: &'a dyn Dest,
    owner: Option<(u32, u32)>,
    exclude: Option<PatternMatcher>,
    entries: BTreeMap<String, Planned>,
    archives: Vec<PendingArchive>,
    downloads: Vec<Remote>,
    warnings: Vec<String>,
    temp: PathBuf,
    /// Directories of an excluded subtree, made only if something below them is copied.
    pending_dirs: Vec<(String, Planned)>,
    source: usize,
}

/// A top-level item, once sources are resolved.
enum Item {
    /// A path of the source root: the match as named (for its base name), and its host path
    /// after following symlinks, relative to the root.
    Path {
        display: String,
        real: String,
        name: String,
        meta: fs::Metadata,
    },
    /// `--parents`: the pivot directory (resolved) and the include pattern.
    Parents {
        display: String,
        pivot: String,
        pattern: String,
        required: bool,
    },
    Heredoc {
        name: String,
        content: std::sync::Arc<[u8]>,
    },
    Url(usize),
}

impl CopyPlan {
    /// Plans `req` with sources read from `src` into the image `dest` describes (taken as
    /// empty with `--link`). Downloads ADD's URLs (except those a `--checksum` pins, fetched
    /// when the layer is written); reads no other file contents, except the
    /// first bytes of ADD's local files to tell archives.
    pub fn new(req: &CopyRequest, src: &SourceRoot, dest: &dyn Dest) -> Result<CopyPlan, Error> {
        let temp_base = req.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let temp = tempfile::Builder::new()
            .prefix("bale-copy-")
            .tempdir_in(&temp_base)
            .map_err(|e| Error::io(&temp_base, e))?;
        let layout_dest: &dyn Dest = if req.link { &EmptyDest } else { dest };
        let mut warnings = Vec::new();
        let owner = match &req.chown {
            Some(spec) => {
                // Names are looked up in the image the layer lands on, even with --link.
                let o = resolve_chown(spec, dest)?;
                for u in &o.unknown {
                    warnings.push(format!("--chown={spec}: {u}; using id 0 as BuildKit does"));
                }
                Some((o.uid, o.gid))
            }
            None => None,
        };
        let exclude = if req.exclude.is_empty() {
            None
        } else {
            Some(
                PatternMatcher::new(&req.exclude).map_err(|(i, reason)| Error::Pattern {
                    file: PathBuf::from("--exclude"),
                    line: i + 1,
                    pattern: req.exclude[i].clone(),
                    reason,
                })?,
            )
        };
        if let Some(sum) = &req.checksum {
            remote::parse_checksum(sum)?;
        }
        let mut p = Planner {
            req,
            src,
            dest: layout_dest,
            owner,
            exclude,
            entries: BTreeMap::new(),
            archives: Vec::new(),
            downloads: Vec::new(),
            warnings,
            temp: temp.path().to_path_buf(),
            pending_dirs: Vec::new(),
            source: 0,
        };
        p.run()?;
        let flags = format!(
            "v1 {} chown={:?} chmod={:?} link={} parents={} exclude={:?} unpack={:?} checksum={:?}",
            req.name(),
            p.owner,
            req.chmod,
            req.link,
            req.parents,
            req.exclude,
            req.unpack,
            req.checksum
        );
        Ok(CopyPlan {
            entries: p.entries,
            archives: p.archives,
            downloads: p.downloads,
            flags,
            warnings: p.warnings,
            temp,
        })
    }

    /// Whether the layer would be empty (a wildcard that matched nothing): the step then adds
    /// no layer.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.archives.is_empty()
    }

    /// The paths the layer holds, sorted, relative to the image root (archive contents are
    /// listed once the layer is written, not here).
    pub fn paths(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The host file a destination path (as [`ContentDigest::change`] names it) is copied
    /// from, when it is one.
    pub fn host_source(&self, dest: &str) -> Option<&Path> {
        match &self.entries.get(dest)?.node {
            Node::File {
                content: Content::Host(p, _),
                ..
            } => Some(p),
            _ => None,
        }
    }

    /// Things the build should print as warnings (an unknown `--chown` name, which BuildKit
    /// silently maps to 0).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The digest of everything the layer depends on: each path's name, type, mode, owner, link
    /// target and content hash, plus the flags; never modification times. File hashes come
    /// from `hasher`'s memo when the file's (path, size, mtime, ctime, inode) is unchanged, so
    /// touching a file keeps the digest and reads nothing. `key` names this COPY across builds,
    /// so [`ContentDigest::change`] can say which path made a cache miss.
    pub fn content_digest(
        &self,
        hasher: &ContextHasher,
        key: &str,
    ) -> Result<ContentDigest, Error> {
        let mut files: Vec<(&Path, &fs::Metadata)> = Vec::new();
        for e in self.entries.values() {
            if let Node::File {
                content: Content::Host(p, m),
                ..
            } = &e.node
            {
                files.push((p, m));
            }
        }
        for a in &self.archives {
            files.push((&a.host, &a.meta));
        }
        let hashes = hasher.hash_files(&files)?;
        let mut hashes = hashes.into_iter();
        let mut per_path = BTreeMap::new();
        for (path, e) in &self.entries {
            let (kind, link, content) = match &e.node {
                Node::File { content, .. } => {
                    let c = match content {
                        Content::Host(..) => hashes.next().unwrap_or_default(),
                        Content::Temp(_, d) => d.clone(),
                        Content::Download(i) => self.downloads[*i].digest(self.temp.path())?,
                        // The archive's own hash is in the digest; this is where in it.
                        Content::Archive(_, offset) => format!("archive@{offset}"),
                    };
                    ("file", String::new(), c)
                }
                Node::Dir => ("dir", String::new(), String::new()),
                Node::Symlink(t) => ("symlink", t.clone(), String::new()),
                Node::Special(k) => ("special", format!("{k:?}"), String::new()),
            };
            let mut h = Sha256::new();
            h.update(format!(
                "{kind}\0{:o}\0{}\0{}\0{link}\0{content}\0{}",
                e.mode,
                e.uid,
                e.gid,
                e.link_key.is_some()
            ));
            per_path.insert(path.clone(), hex::encode(h.finalize()));
        }
        for a in &self.archives {
            let content = hashes.next().unwrap_or_default();
            per_path.insert(
                format!("{}/ (archive {})", a.dir, a.display),
                hex::encode(Sha256::digest(format!("archive\0{content}\0{}", a.source))),
            );
        }
        per_path.insert(
            "(flags)".to_string(),
            hex::encode(Sha256::digest(self.flags.as_bytes())),
        );
        Ok(hasher.digest_selection(key, per_path))
    }

    /// Writes the layer as a sorted, uncompressed tar to `out` and returns its digest (the
    /// diffID) and size, or `None`, writing nothing, when the plan is empty. File contents are
    /// streamed, never held in memory; hard links among the sources stay hard links; with a
    /// `SOURCE_DATE_EPOCH`, times are clamped to it.
    pub fn write_layer<W: Write + Send>(
        &self,
        out: W,
        opts: &LayerOptions,
    ) -> Result<Option<LayerDigest>, Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut entries = self.entries.clone();
        for a in self.archives.iter().filter(|a| !a.expanded) {
            expand_archive(a, &mut entries, self.temp.path(), None)?;
        }
        let created_time = opts.source_date_epoch.unwrap_or(0);
        let mut first_of: HashMap<(u64, u64), String> = HashMap::new();
        let mut out_entries = Vec::with_capacity(entries.len());
        for (path, e) in entries {
            let link_to = e.link_key.and_then(|k| match first_of.get(&k) {
                Some(first) => Some(first.clone()),
                None => {
                    first_of.insert(k, path.clone());
                    None
                }
            });
            let mut mtime = e.mtime;
            let mut fetched = None;
            if let Node::File {
                content: Content::Download(i),
                ..
            } = &e.node
            {
                let d = self.downloads[*i].fetch(self.temp.path())?;
                mtime = mtime.or(d.mtime);
                fetched = Some(d);
            }
            let kind = match (&e.node, link_to) {
                (Node::File { .. }, Some(first)) => EntryKind::Hardlink(first.into_bytes()),
                (Node::File { .. }, None) if fetched.is_some() => EntryKind::File {
                    size: fetched.as_ref().map_or(0, |d| d.size),
                },
                (Node::File { size, .. }, None) => EntryKind::File { size: *size },
                (Node::Dir, _) => EntryKind::Dir,
                (Node::Symlink(t), _) => EntryKind::Symlink(PathBuf::from(t)),
                (Node::Special(k), _) => k.clone(),
            };
            let xattrs = match (&e.xattrs, &kind) {
                (_, EntryKind::Hardlink(_)) | (Xattrs::None, _) => Vec::new(),
                (Xattrs::Host(h), _) => read_xattrs(h)?,
                (Xattrs::List(l), _) => l.clone(),
            };
            let source = match (&e.node, &kind) {
                (Node::File { content, .. }, EntryKind::File { size }) if *size > 0 => {
                    Some(match content {
                        Content::Host(p, _) | Content::Temp(p, _) => (p.clone(), 0),
                        Content::Download(_) => (
                            fetched.as_ref().map(|d| d.path.clone()).unwrap_or_default(),
                            0,
                        ),
                        Content::Archive(tar, offset) => ((**tar).clone(), *offset),
                    })
                }
                _ => None,
            };
            let entry = TarEntry {
                path: path.into_bytes(),
                kind,
                mode: e.mode,
                uid: u64::from(e.uid),
                gid: u64::from(e.gid),
                mtime: mtime.unwrap_or(created_time),
                xattrs,
            };
            out_entries.push((entry, source));
        }
        let (digest, _) = write_entries(out_entries, out, opts)?;
        Ok(Some(digest))
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn base_of(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// The node for a source-root path that is not a symlink.
fn node_of(m: &fs::Metadata, host: &Path) -> Option<Node> {
    let ft = m.file_type();
    let rdev = m.rdev();
    let dev = || {
        (
            libc::major(rdev as libc::dev_t),
            libc::minor(rdev as libc::dev_t),
        )
    };
    Some(if ft.is_dir() {
        Node::Dir
    } else if ft.is_file() {
        Node::File {
            size: m.size(),
            content: Content::Host(host.to_path_buf(), m.clone()),
        }
    } else if ft.is_char_device() {
        let (major, minor) = dev();
        Node::Special(EntryKind::CharDevice { major, minor })
    } else if ft.is_block_device() {
        let (major, minor) = dev();
        Node::Special(EntryKind::BlockDevice { major, minor })
    } else if ft.is_fifo() {
        Node::Special(EntryKind::Fifo)
    } else if ft.is_socket() {
        // A tar cannot hold a socket: BuildKit's context transfer makes it an empty file.
        Node::File {
            size: 0,
            content: Content::Temp(PathBuf::new(), crate::digest::sha256_digest(b"")),
        }
    } else {
        return None;
    })
}

fn conflict_error(path: &str, new_is_dir: bool) -> Error {
    if new_is_dir {
        Error::Invalid(format!(
            "cannot copy to non-directory: /{path} (a file is there; remove it first or copy elsewhere)"
        ))
    } else {
        Error::Invalid(format!(
            "cannot replace directory /{path} with a file (copy it under another name)"
        ))
    }
}

impl Planner<'_> {
    fn run(&mut self) -> Result<(), Error> {
        let (dest, trailing) = self.dest_path()?;
        let mut items = Vec::new();
        for (i, s) in self.req.sources.iter().enumerate() {
            self.collect(i, s, &mut items)?;
        }
        let singles = items
            .iter()
            .filter(|(_, it)| !matches!(it, Item::Parents { .. }))
            .count();
        if singles > 1 && !trailing && !self.is_dir(&dest)? {
            return Err(Error::Invalid(format!(
                "When using {} with more than one source file, the destination must be a directory and end with a / (write {}/)",
                self.req.name(),
                self.req.dest
            )));
        }
        for (i, item) in items {
            self.source = i;
            self.place(item, &dest, trailing)?;
        }
        Ok(())
    }

    /// The destination resolved in the image, and whether it names a directory by its form.
    fn dest_path(&self) -> Result<(String, bool), Error> {
        let d = &self.req.dest;
        let abs = if d.starts_with('/') {
            d.clone()
        } else {
            format!("{}/{}", self.req.workdir, d)
        };
        let trailing = d.is_empty() || d == "." || d.ends_with('/') || d.ends_with("/.");
        let cleaned = clean(&abs);
        let resolved = resolve_dest(self.dest, &cleaned, true)?;
        Ok((resolved, trailing))
    }

    /// Whether `path` (resolved) is a directory in the layer so far or in the image.
    fn is_dir(&self, path: &str) -> Result<bool, Error> {
        if path.is_empty() {
            return Ok(true);
        }
        if let Some(e) = self.entries.get(path) {
            return Ok(e.is_dir());
        }
        Ok(matches!(
            self.dest.entry(path)?.map(|e| e.kind),
            Some(DestKind::Dir)
        ))
    }

    /// The missing-source error for `rel` (as cleaned, relative to the root): shown relative
    /// for the context (`src/x`), absolute for a stage or an image (`/src/x`).
    fn not_found(&self, rel: &str) -> Error {
        let display = match self.src.kind {
            SourceKind::Context if rel.is_empty() => ".".to_string(),
            SourceKind::Context => rel.to_string(),
            _ => format!("/{rel}"),
        };
        let mut suggestion = None;
        let mut place = self.src.place();
        // The first missing component is where the name went wrong.
        let mut so_far = String::new();
        for c in components(rel) {
            let next = join(&so_far, c);
            if fs::symlink_metadata(self.src.host(&next)).is_err() {
                if let Ok(rd) = fs::read_dir(self.src.host(&so_far)) {
                    let names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| !self.src.excluded(&join(&so_far, n)))
                        .collect();
                    let rest: String = rel[next.len().min(rel.len())..].to_string();
                    suggestion = closest(c, names.iter().map(String::as_str))
                        .map(|n| format!("{}{rest}", join(&so_far, n)))
                        .filter(|p| fs::symlink_metadata(self.src.host(p)).is_ok())
                        .map(|p| match self.src.kind {
                            SourceKind::Context => p,
                            _ => format!("/{p}"),
                        });
                }
                break;
            }
            so_far = next;
        }
        if suggestion.is_none() && !rel.is_empty() && self.src.excluded(rel) {
            place = format!(
                "{place} (it is excluded by {})",
                self.src
                    .ignore
                    .source
                    .as_ref()
                    .map_or(".dockerignore".to_string(), |p| p
                        .file_name()
                        .map_or(p.display().to_string(), |n| n
                            .to_string_lossy()
                            .into_owned()))
            );
        }
        Error::NotFound {
            path: display,
            place,
            suggestion,
        }
    }

    /// The source path as the root sees it, `..` refused for the context.
    fn clean_source(&self, s: &str) -> Result<String, Error> {
        let rel = clean(s.trim_start_matches('/'));
        if rel == ".." || rel.starts_with("../") {
            if self.src.kind == SourceKind::Context {
                return Err(Error::OutsideContext {
                    path: s.to_string(),
                    reason: "the path leads above the context root".into(),
                });
            }
            // A rootfs is a chroot: `..` at its root stays there.
            return Ok(clean(&format!("/{s}")).trim_start_matches('/').to_string());
        }
        Ok(if rel == "." { String::new() } else { rel })
    }

    fn collect(
        &mut self,
        i: usize,
        s: &CopySource,
        items: &mut Vec<(usize, Item)>,
    ) -> Result<(), Error> {
        let s = match s {
            CopySource::Heredoc { name, content } => {
                items.push((
                    i,
                    Item::Heredoc {
                        name: name.clone(),
                        content: std::sync::Arc::from(content.as_bytes()),
                    },
                ));
                return Ok(());
            }
            CopySource::Path(s) => s,
        };
        if remote::is_git(s) {
            return Err(Error::Unsupported(format!(
                "{} {s}: git sources are not supported; clone the repository into the build context and COPY it",
                self.req.name()
            )));
        }
        if remote::is_url(s) {
            if !self.req.add {
                return Err(Error::Invalid(format!(
                    "source can't be a URL for COPY: {s} (use ADD, or download it in a RUN step)"
                )));
            }
            let mut r = Remote {
                url: s.clone(),
                name: remote::url_name(s, None),
                checksum: self.req.checksum.clone(),
                fetched: std::sync::Mutex::new(None),
            };
            let lazy =
                r.checksum.is_some() && self.req.unpack != Some(true) && r.name != remote::UNNAMED;
            if !lazy {
                r.name = r.fetch(&self.temp)?.name;
            }
            self.downloads.push(r);
            items.push((i, Item::Url(self.downloads.len() - 1)));
            return Ok(());
        }
        if self.req.checksum.is_some() {
            return Err(Error::Invalid(format!(
                "checksum can't be specified for non-HTTP(S) sources: {s} is a local path (drop --checksum or use a URL)"
            )));
        }
        if self.req.parents {
            let (pivot, pattern) = match s.split_once("/./") {
                Some((p, pat)) => (p.to_string(), pat.to_string()),
                None => (String::new(), s.clone()),
            };
            let pattern = clean(&format!("/{pattern}"))
                .trim_start_matches('/')
                .to_string();
            let pivot = self.clean_source(&pivot)?;
            let required = !has_wildcards(&pivot) && !has_wildcards(&pattern);
            for (real, _) in self.matches(&pivot, s)? {
                items.push((
                    i,
                    Item::Parents {
                        display: s.clone(),
                        pivot: real,
                        pattern: pattern.clone(),
                        required,
                    },
                ));
            }
            return Ok(());
        }
        let rel = self.clean_source(s)?;
        let wildcard = has_wildcards(&rel);
        for (real, name) in self.matches(&rel, s)? {
            let host = self.src.host(&real);
            let meta = match fs::symlink_metadata(&host) {
                Ok(m) => m,
                Err(_) if !wildcard => return Err(self.not_found(&rel)),
                Err(_) => continue,
            };
            if !wildcard && (self.src.excluded(&real) || self.src.excluded(&rel)) {
                return Err(self.not_found(&rel));
            }
            items.push((
                i,
                Item::Path {
                    display: s.clone(),
                    real,
                    name,
                    meta,
                },
            ));
        }
        Ok(())
    }

    /// The paths `rel` names in the source root, each followed through symlinks, with the
    /// name it was matched under (a followed symlink keeps its own name). A literal path gives
    /// itself (missing or not); a wildcard gives its matches, maybe none. Wildcard matches
    /// that `--exclude` matches, relative to the wildcard's literal base, are left out.
    fn matches(&self, rel: &str, display: &str) -> Result<Vec<(String, String)>, Error> {
        let comps: Vec<&str> = components(rel).collect();
        let Some(first_wild) = comps.iter().position(|c| has_wildcards(c)) else {
            let real = self.src.resolve(rel, true, display)?;
            return Ok(vec![(real, base_of(rel).to_string())]);
        };
        // The literal part is a path as it is (Go's splitWildcards keeps its backslashes).
        let base = self
            .src
            .resolve(&comps[..first_wild].join("/"), true, display)?;
        let mut found = Vec::new();
        self.glob_level(&base, &comps[first_wild..], &mut found)?;
        let mut out = Vec::new();
        for m in found {
            let within_base = m
                .strip_prefix(&base)
                .unwrap_or(&m)
                .trim_start_matches('/')
                .to_string();
            if let Some(ex) = &self.exclude
                && ex.matches_or_parent_matches(&within_base)
            {
                continue;
            }
            let real = self.src.resolve(&m, true, display)?;
            out.push((real, base_of(&m).to_string()));
        }
        Ok(out)
    }

    fn glob_level(&self, dir: &str, pattern: &[&str], out: &mut Vec<String>) -> Result<(), Error> {
        let host = self.src.host(dir);
        let rd = match fs::read_dir(&host) {
            Ok(rd) => rd,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(Error::io(&host, e)),
        };
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::io(&host, e))?;
            let name = utf8(e.file_name(), &e.path())?;
            if go_match(pattern[0], &name) {
                names.push((name, e.file_type().map(|t| t.is_dir()).unwrap_or(false)));
            }
        }
        names.sort();
        for (name, is_dir) in names {
            let rel = join(dir, &name);
            if self.src.excluded(&rel) && !(is_dir && self.src.ignore.may_reinclude_below()) {
                continue;
            }
            if pattern.len() == 1 {
                out.push(rel);
            } else if is_dir {
                self.glob_level(&rel, &pattern[1..], out)?;
            }
        }
        Ok(())
    }

    fn owner_or(&self, uid: u32, gid: u32) -> (u32, u32) {
        match (self.owner, &self.src.kind) {
            (Some(o), _) => o,
            (None, SourceKind::Context) => (0, 0),
            (None, _) => (uid, gid),
        }
    }

    /// A directory the copy makes: `0755`, or what `--chmod` makes of it (BuildKit applies
    /// the mode to the directories it creates since fsutil's fix for moby/buildkit#4945),
    /// owned by the `--chown` user or root.
    fn created_dir(&self, chmod: bool) -> Planned {
        let mode = match (&self.req.chmod, chmod) {
            (Some(c), true) => c.apply(0o755, true),
            _ => 0o755,
        };
        self.made(Node::Dir, mode)
    }

    /// MkdirAll: every missing directory up to `path` is created as [`Planner::created_dir`].
    fn ensure_dir(&mut self, path: &str) -> Result<(), Error> {
        self.ensure_dir_with(path, true)
    }

    /// MkdirAll, with `--chmod` applied to the made directories or not (ADD's archive
    /// extraction makes its destination `0755` whatever `--chmod` says).
    fn ensure_dir_with(&mut self, path: &str, chmod: bool) -> Result<(), Error> {
        let mut so_far = String::new();
        for c in components(path) {
            so_far = join(&so_far, c);
            if let Some(e) = self.entries.get(&so_far) {
                if !e.is_dir() {
                    return Err(conflict_error(&so_far, true));
                }
                continue;
            }
            let parent_created = self
                .entries
                .get(parent_of(&so_far))
                .is_some_and(|p| !p.existing);
            let existing = if parent_created {
                None
            } else {
                self.dest.entry(&so_far)?
            };
            match existing {
                Some(d) if d.kind == DestKind::Dir => {
                    self.entries.insert(
                        so_far.clone(),
                        Planned {
                            node: Node::Dir,
                            mode: d.mode,
                            uid: d.uid,
                            gid: d.gid,
                            mtime: Some(d.mtime),
                            xattrs: Xattrs::None,
                            link_key: None,
                            source: self.source,
                            existing: true,
                        },
                    );
                }
                Some(_) => return Err(conflict_error(&so_far, true)),
                None => {
                    let d = self.created_dir(chmod);
                    self.entries.insert(so_far.clone(), d);
                }
            }
        }
        Ok(())
    }

    /// Adds `e` at `path` (whose parent is planned), with fsutil's rules against what is
    /// already there. A directory over a directory replaces its metadata only when
    /// `overwrite_meta` holds.
    fn add(&mut self, path: &str, e: Planned, overwrite_meta: bool) -> Result<(), Error> {
        if base_of(path).starts_with(".wh.") {
            return Err(Error::Invalid(format!(
                "/{path}: a name starting with .wh. cannot be copied, because layers use it to delete files"
            )));
        }
        for (p, d) in std::mem::take(&mut self.pending_dirs) {
            self.add(&p, d, true)?;
        }
        if let Some(old) = self.entries.get(path) {
            match (old.is_dir(), e.is_dir()) {
                (true, true) if !overwrite_meta => return Ok(()),
                (true, false) | (false, true) => return Err(conflict_error(path, e.is_dir())),
                _ => {}
            }
        } else {
            let parent_created = self
                .entries
                .get(parent_of(path))
                .is_some_and(|p| !p.existing);
            if !parent_created && let Some(d) = self.dest.entry(path)? {
                match (d.kind == DestKind::Dir, e.is_dir()) {
                    (true, true) if !overwrite_meta => {
                        let mut kept = e;
                        kept.mode = d.mode;
                        kept.uid = d.uid;
                        kept.gid = d.gid;
                        kept.existing = true;
                        self.entries.insert(path.to_string(), kept);
                        return Ok(());
                    }
                    (true, true) => {}
                    (true, false) | (false, true) => return Err(conflict_error(path, e.is_dir())),
                    (false, false) => {}
                }
            }
        }
        self.entries.insert(path.to_string(), e);
        Ok(())
    }

    /// The planned entry for a source-root path with metadata `m`, `--chmod` and `--chown`
    /// applied.
    fn planned_for(&self, host: &Path, m: &fs::Metadata) -> Result<Option<Planned>, Error> {
        let node = if m.file_type().is_symlink() {
            let t = fs::read_link(host).map_err(|e| Error::io(host, e))?;
            Node::Symlink(utf8(t.into_os_string(), host)?)
        } else {
            match node_of(m, host) {
                Some(n) => n,
                None => return Ok(None),
            }
        };
        let is_link = matches!(node, Node::Symlink(_));
        let mut mode = m.mode() & 0o7777;
        if !is_link && let Some(c) = &self.req.chmod {
            mode = c.apply(mode, m.is_dir());
        }
        let (uid, gid) = self.owner_or(m.uid(), m.gid());
        let link_key = (m.is_file() && m.nlink() > 1).then(|| (m.dev(), m.ino()));
        Ok(Some(Planned {
            node,
            mode,
            uid,
            gid,
            mtime: Some(m.mtime()),
            xattrs: if is_link {
                Xattrs::None
            } else {
                Xattrs::Host(host.to_path_buf())
            },
            link_key,
            source: self.source,
            existing: false,
        }))
    }

    /// A file the copy makes itself (a heredoc, a download): owned by `--chown` or root, with
    /// `--chmod` applied to `mode`, no timestamp and no xattrs.
    fn made_file(&self, node: Node, mode: u32) -> Planned {
        let mode = self
            .req
            .chmod
            .as_ref()
            .map_or(mode, |c| c.apply(mode, false));
        self.made(node, mode)
    }

    /// An entry the copy makes rather than copies: owned by `--chown` or root, with `mode`, no
    /// timestamp and no xattrs.
    fn made(&self, node: Node, mode: u32) -> Planned {
        let (uid, gid) = self.owner.unwrap_or((0, 0));
        Planned {
            node,
            mode,
            uid,
            gid,
            mtime: None,
            xattrs: Xattrs::None,
            link_key: None,
            source: self.source,
            existing: false,
        }
    }

    fn place(&mut self, item: Item, dest: &str, trailing: bool) -> Result<(), Error> {
        match item {
            Item::Heredoc { name, content } => {
                let size = content.len() as u64;
                let file = self.temp.join(format!("heredoc-{}", self.source));
                fs::write(&file, &content).map_err(|e| Error::io(&file, e))?;
                let digest = crate::digest::sha256_digest(&content);
                let e = self.made_file(
                    Node::File {
                        size,
                        content: Content::Temp(file, digest),
                    },
                    0o644,
                );
                self.place_file(&name, e, dest, trailing)
            }
            Item::Url(i) => {
                if self.req.unpack == Some(true) {
                    let d = self.downloads[i].fetch(&self.temp)?;
                    if archive::is_archive(&d.path)? {
                        let meta = fs::metadata(&d.path).map_err(|e| Error::io(&d.path, e))?;
                        return self.place_archive(d.path.clone(), meta, dest, d.name.clone());
                    }
                }
                let name = self.downloads[i].name.clone();
                let e = self.made_file(
                    Node::File {
                        // Known once fetched; the layer writer asks the download.
                        size: 0,
                        content: Content::Download(i),
                    },
                    0o600,
                );
                self.place_file(&name, e, dest, trailing)
            }
            Item::Path {
                display,
                real,
                name,
                meta,
            } => {
                let host = self.src.host(&real);
                let unpack = self.req.unpack.unwrap_or(self.req.add);
                if unpack && meta.is_file() && archive::is_archive(&host)? {
                    return self.place_archive(host, meta, dest, display);
                }
                if meta.is_dir() {
                    self.place_top_dir(dest, &meta)?;
                    self.walk(&real, &host, "", dest, None)?;
                    return Ok(());
                }
                let Some(e) = self.planned_for(&host, &meta)? else {
                    return Ok(());
                };
                self.place_file(&name, e, dest, trailing)
            }
            Item::Parents {
                display,
                pivot,
                pattern,
                required,
            } => {
                let host = self.src.host(&pivot);
                let meta = fs::symlink_metadata(&host).map_err(|_| self.not_found(&pivot))?;
                if required {
                    let target = self.src.resolve(&join(&pivot, &pattern), false, &display)?;
                    if fs::symlink_metadata(self.src.host(&target)).is_err()
                        || self.src.excluded(&target)
                    {
                        return Err(self.not_found(&target));
                    }
                }
                if !meta.is_dir() {
                    return Err(Error::Invalid(format!(
                        "{display}: --parents needs a directory before /./"
                    )));
                }
                let include = PatternMatcher::new(&[pattern.as_str()]).map_err(|(_, reason)| {
                    Error::Pattern {
                        file: PathBuf::from("--parents"),
                        line: 1,
                        pattern: pattern.clone(),
                        reason,
                    }
                })?;
                // As in BuildKit, the destination is made even when nothing matches.
                self.place_top_dir(dest, &meta)?;
                self.walk(&pivot, &host, "", dest, Some((&include, &pattern)))?;
                Ok(())
            }
        }
    }

    /// An archive extracted into `dest`. Into a directory the image already has, it is
    /// expanded now, while the image can be asked about the paths it extracts through;
    /// into a new directory, only when the layer is written (so a cache hit reads nothing).
    fn place_archive(
        &mut self,
        host: PathBuf,
        meta: fs::Metadata,
        dest: &str,
        display: String,
    ) -> Result<(), Error> {
        let existed = self.dest.entry(dest)?.is_some();
        self.ensure_dir_with(dest, false)?;
        let mut a = PendingArchive {
            host,
            meta,
            dir: dest.to_string(),
            display,
            source: self.source,
            expanded: false,
        };
        if existed {
            expand_archive(&a, &mut self.entries, &self.temp, Some(self.dest))?;
            a.expanded = true;
        }
        self.archives.push(a);
        Ok(())
    }

    /// Where a single file lands: under the destination when that is a directory (by its form
    /// or in the image), else at the destination itself.
    fn place_file(
        &mut self,
        name: &str,
        e: Planned,
        dest: &str,
        trailing: bool,
    ) -> Result<(), Error> {
        let target = if trailing || self.is_dir(dest)? {
            self.ensure_dir(dest)?;
            join(dest, name)
        } else {
            dest.to_string()
        };
        if target.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: cannot copy a file onto the root directory",
                self.req.dest
            )));
        }
        self.ensure_dir(parent_of(&target))?;
        self.add(&target, e, true)
    }

    /// The directory a source directory's contents go into: created `0755` with the copy's
    /// owner when missing, kept when it exists; its time becomes the source's.
    fn place_top_dir(&mut self, dest: &str, meta: &fs::Metadata) -> Result<(), Error> {
        if dest.is_empty() {
            return Ok(());
        }
        self.ensure_dir(dest)?;
        if let Some(e) = self.entries.get_mut(dest) {
            e.mtime = Some(meta.mtime());
        }
        Ok(())
    }

    /// Copies the contents of the source directory `real` (host `host`) into `target`.
    /// `comp` is the path below the copied source, which `--exclude` and `--parents` patterns
    /// match. Returns whether anything was copied.
    fn walk(
        &mut self,
        real: &str,
        host: &Path,
        comp: &str,
        target: &str,
        include: Option<(&PatternMatcher, &str)>,
    ) -> Result<bool, Error> {
        let mut names = Vec::new();
        for e in fs::read_dir(host).map_err(|e| Error::io(host, e))? {
            let e = e.map_err(|e| Error::io(host, e))?;
            // fstatat on the open directory: no path walk per file.
            let m = match e.metadata() {
                Ok(m) => m,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(Error::io(e.path(), err)),
            };
            names.push((utf8(e.file_name(), &e.path())?, m));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut any = false;
        for (name, m) in names {
            let child_real = join(real, &name);
            let child_host = host.join(&name);
            let child_comp = join(comp, &name);
            let child_target = join(target, &name);
            let ignored = self.src.excluded(&child_real);
            let excluded = self
                .exclude
                .as_ref()
                .is_some_and(|x| x.matches_or_parent_matches(&child_comp));
            let included = include.is_none_or(|(pm, _)| pm.matches_or_parent_matches(&child_comp));
            let take = !ignored && !excluded && included;
            if m.is_dir() {
                let may_below = (!ignored || self.src.ignore.may_reinclude_below())
                    && (!excluded
                        || self
                            .exclude
                            .as_ref()
                            .is_some_and(PatternMatcher::has_exclusions))
                    && include.is_none_or(|(_, p)| included || may_match_below(p, &child_comp));
                if take {
                    let Some(e) = self.planned_for(&child_host, &m)? else {
                        continue;
                    };
                    self.add(&child_target, e, true)?;
                    any = true;
                    self.walk(
                        &child_real,
                        &child_host,
                        &child_comp,
                        &child_target,
                        include,
                    )?;
                } else if may_below {
                    // Made only if something below is copied (fsutil's delayed parents).
                    let Some(e) = self.planned_for(&child_host, &m)? else {
                        continue;
                    };
                    let depth = self.pending_dirs.len();
                    self.pending_dirs.push((child_target.clone(), e));
                    let below = self.walk(
                        &child_real,
                        &child_host,
                        &child_comp,
                        &child_target,
                        include,
                    )?;
                    any |= below;
                    self.pending_dirs.truncate(depth);
                }
            } else if take {
                let Some(e) = self.planned_for(&child_host, &m)? else {
                    continue;
                };
                self.add(&child_target, e, true)?;
                any = true;
            }
        }
        Ok(any)
    }
}

/// Whether something below directory `dir` could match the `--parents` pattern.
fn may_match_below(pattern: &str, dir: &str) -> bool {
    let p: Vec<&str> = components(pattern).collect();
    let d: Vec<&str> = components(dir).collect();
    for (i, dc) in d.iter().enumerate() {
        match p.get(i) {
            Some(&"**") => return true,
            Some(pc) => {
                if !go_match(pc, dc) {
                    return false;
                }
            }
            None => return false,
        }
    }
    p.len() > d.len()
}

/// Adds an archive's entries under its destination directory, refusing any that would land
/// outside it.
fn expand_archive(
    a: &PendingArchive,
    entries: &mut BTreeMap<String, Planned>,
    temp: &Path,
    dest: Option<&dyn Dest>,
) -> Result<(), Error> {
    let indexed = archive::index(&a.host, temp)?;
    let tar = std::sync::Arc::new(indexed.tar);
    let escape = |entry: &[u8], reason: &str| Error::ArchiveEscape {
        archive: a.display.clone(),
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.to_string(),
    };
    // Symlinks this archive made: nothing may be extracted through them.
    let mut symlinks: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut next_key = 0u64;
    for e in &indexed.entries {
        let name = String::from_utf8(e.name.clone())
            .map_err(|_| escape(&e.name, "the name is not valid UTF-8"))?;
        let rel = archive_rel(&name)
            .ok_or_else(|| escape(&e.name, "it leads above the destination directory"))?;
        if rel.is_empty() {
            continue;
        }
        let mut p = parent_of(&rel);
        while !p.is_empty() {
            if symlinks.contains(p) {
                return Err(escape(
                    &e.name,
                    &format!("it goes through the symlink {p} the archive made"),
                ));
            }
            p = parent_of(p);
        }
        if base_of(&rel).starts_with(".wh.") {
            return Err(escape(
                &e.name,
                "names starting with .wh. delete files in a layer",
            ));
        }
        let path = join(&a.dir, &rel);
        // Missing parents are created 0755, owned by root, as docker's untar does; parents
        // the image has are kept as they are.
        let mut so_far = a.dir.clone();
        for c in components(parent_of(&rel)) {
            so_far = join(&so_far, c);
            match entries.get(&so_far) {
                Some(x) if x.is_dir() => continue,
                Some(_) => return Err(conflict_error(&so_far, true)),
                None => {}
            }
            let parent_new = entries.get(parent_of(&so_far)).is_some_and(|p| !p.existing);
            let existing = match dest {
                Some(d) if !parent_new => d.entry(&so_far)?,
                _ => None,
            };
            let planned = match existing {
                None => Planned {
                    node: Node::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: None,
                    xattrs: Xattrs::None,
                    link_key: None,
                    source: a.source,
                    existing: false,
                },
                Some(d) if d.kind == DestKind::Dir => Planned {
                    node: Node::Dir,
                    mode: d.mode,
                    uid: d.uid,
                    gid: d.gid,
                    mtime: Some(d.mtime),
                    xattrs: Xattrs::None,
                    link_key: None,
                    source: a.source,
                    existing: true,
                },
                Some(_) => {
                    return Err(escape(
                        &e.name,
                        &format!(
                            "/{so_far} is not a directory in the image (a symlink or a file), and bale does not extract through it"
                        ),
                    ));
                }
            };
            entries.insert(so_far.clone(), planned);
        }
        let mut planned = archive_planned(e, &tar, a.source);
        match e.kind {
            tar::EntryType::Symlink => {
                let target =
                    String::from_utf8_lossy(e.link.as_deref().unwrap_or_default()).into_owned();
                if !target.starts_with('/')
                    && archive_rel(&join(parent_of(&rel), &target)).is_none()
                {
                    return Err(escape(
                        &e.name,
                        &format!(
                            "its symlink target {target} leads above the destination directory"
                        ),
                    ));
                }
                symlinks.insert(rel.clone());
                planned.node = Node::Symlink(target);
            }
            tar::EntryType::Link => {
                let raw =
                    String::from_utf8_lossy(e.link.as_deref().unwrap_or_default()).into_owned();
                let trel = archive_rel(&raw).ok_or_else(|| {
                    escape(
                        &e.name,
                        &format!(
                            "its hard link target {raw} leads above the destination directory"
                        ),
                    )
                })?;
                let tpath = join(&a.dir, &trel);
                match entries.get_mut(&tpath) {
                    Some(t) if matches!(t.node, Node::File { .. }) => {
                        // A hard link is the same inode: it has its target's mode and owner.
                        let key = *t.link_key.get_or_insert_with(|| {
                            next_key += 1;
                            (u64::MAX, next_key)
                        });
                        let mut l = t.clone();
                        l.link_key = Some(key);
                        l.source = a.source;
                        planned = l;
                    }
                    _ => {
                        return Err(escape(
                            &e.name,
                            &format!(
                                "its hard link target {raw} is not a file earlier in the archive"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        if let Some(old) = entries.get(&path) {
            if old.source > a.source {
                continue;
            }
            match (old.is_dir(), planned.is_dir()) {
                (true, false) | (false, true) => {
                    return Err(conflict_error(&path, planned.is_dir()));
                }
                _ => {}
            }
            symlinks.remove(&rel);
            if matches!(planned.node, Node::Symlink(_)) {
                symlinks.insert(rel.clone());
            }
        }
        entries.insert(path, planned);
    }
    Ok(())
}

/// An archive entry name relative to the extraction directory, `None` when it leads above it.
fn archive_rel(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn archive_planned(e: &ArchiveEntry, tar: &std::sync::Arc<PathBuf>, source: usize) -> Planned {
    let node = match e.kind {
        tar::EntryType::Directory => Node::Dir,
        tar::EntryType::Char => Node::Special(EntryKind::CharDevice {
            major: e.device.0,
            minor: e.device.1,
        }),
        tar::EntryType::Block => Node::Special(EntryKind::BlockDevice {
            major: e.device.0,
            minor: e.device.1,
        }),
        tar::EntryType::Fifo => Node::Special(EntryKind::Fifo),
        // Symlinks and hard links are filled in by the caller; anything else is a file.
        _ => Node::File {
            size: e.size,
            content: Content::Archive(tar.clone(), e.offset),
        },
    };
    Planned {
        node,
        mode: e.mode,
        uid: u32::try_from(e.uid).unwrap_or(u32::MAX),
        gid: u32::try_from(e.gid).unwrap_or(u32::MAX),
        mtime: Some(e.mtime),
        xattrs: if e.xattrs.is_empty() {
            Xattrs::None
        } else {
            Xattrs::List(e.xattrs.clone())
        },
        link_key: None,
        source,
        existing: false,
    }
}
