//! Writing layers: an uncompressed tar streamed through a SHA-256 hashing writer, so the digest
//! (the diffID) and size are known at the end without holding the layer in memory.
//!
//! Entries are written with our own headers: ustar, numeric uid/gid with no user or group names,
//! permission bits including setuid, setgid and sticky, and a PAX extended header only when
//! needed (long names or link targets, extended attributes as `SCHILY.xattr.NAME`, ids or sizes
//! too large for ustar). Modification times are whole seconds (as docker writes them) and, with a
//! `SOURCE_DATE_EPOCH`, clamped to it, so equal inputs give equal digests. Hard links go through
//! an inode map: the first path (in sorted order) is the file, later ones are link entries.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::Error;
use crate::digest::{HashingWriter, LayerDigest};
use crate::snapshot::{Change, Diff, Kind, Meta, Snapshot, diff, host_path, tar_name};

/// Settings shared by every layer writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// `SOURCE_DATE_EPOCH`: later modification times are clamped to it, and whiteouts get it.
    pub source_date_epoch: Option<i64>,
}

impl LayerOptions {
    /// Options with `SOURCE_DATE_EPOCH` taken from the environment, if set to an integer.
    pub fn from_env() -> Self {
        LayerOptions {
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of this size; its content follows.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(PathBuf),
    /// A hard link to this earlier path of the same layer.
    Hardlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One tar entry's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Path inside the image, relative, without a trailing `/`.
    pub path: Vec<u8>,
    /// Type.
    pub kind: EntryKind,
    /// Permission bits, including setuid, setgid and sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time in seconds.
    pub mtime: i64,
    /// Extended attributes (name, value), written as PAX `SCHILY.xattr.` records.
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

const USTAR_MAX_ID: u64 = 0o7777777;
const USTAR_MAX_SIZE: u64 = 0o77777777777;
const COPY_BUF: usize = 1 << 20;

/// Streams tar entries through a hashing writer. Call [`LayerWriter::finish`] at the end.
pub struct LayerWriter<W: Write> {
    tar: tar::Builder<HashingWriter<W>>,
    opts: LayerOptions,
    buf: Vec<u8>,
}

impl<W: Write> LayerWriter<W> {
    /// A writer sending the tar to `out`.
    pub fn new(out: W, opts: &LayerOptions) -> Self {
        LayerWriter {
            tar: tar::Builder::new(HashingWriter::new(out)),
            opts: opts.clone(),
            buf: vec![0; COPY_BUF],
        }
    }

    fn clamp(&self, mtime: i64) -> u64 {
        let t = match self.opts.source_date_epoch {
            Some(epoch) if mtime > epoch => epoch,
            _ => mtime,
        };
        t.max(0) as u64
    }

    /// Appends an entry; for a file, exactly `size` bytes are read from `content`, and a file
    /// that turns out shorter is an error (it changed after it was indexed).
    pub fn append(
        &mut self,
        entry: &TarEntry,
        content: Option<&mut dyn Read>,
    ) -> Result<(), Error> {
        let h = self.header(entry)?;
        match (&entry.kind, content) {
            (EntryKind::File { size }, Some(content)) => {
                self.tar
                    .get_mut()
                    .write_all(h.as_bytes())
                    .map_err(Error::Write)?;
                let written = self.copy_exact(content, *size)?;
                if written < *size {
                    return Err(Error::Changed {
                        path: PathBuf::from(OsStr::from_bytes(&entry.path)),
                    });
                }
                pad(self.tar.get_mut(), *size).map_err(Error::Write)?;
            }
            (EntryKind::File { size }, None) if *size > 0 => {
                return Err(Error::Invalid(format!(
                    "{}: no content given for a file of {size} bytes",
                    String::from_utf8_lossy(&entry.path)
                )));
            }
            _ => self.tar.append(&h, io::empty()).map_err(Error::Write)?,
        }
        Ok(())
    }

    /// Builds an entry's header, writing a PAX header before it when one is needed.
    fn header(&mut self, entry: &TarEntry) -> Result<Header, Error> {
        let mut name = entry.path.clone();
        if entry.kind == EntryKind::Dir {
            name.push(b'/');
        }
        let mut h = Header::new_ustar();
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if !set_ustar_path(&mut h, &name) {
            pax.push(("path".into(), name.clone()));
            set_truncated_name(&mut h, &name);
        }
        let (ty, size) = match &entry.kind {
            EntryKind::File { size } => (EntryType::Regular, *size),
            EntryKind::Dir => (EntryType::Directory, 0),
            EntryKind::Symlink(_) => (EntryType::Symlink, 0),
            EntryKind::Hardlink(_) => (EntryType::Link, 0),
            EntryKind::CharDevice { .. } => (EntryType::Char, 0),
            EntryKind::BlockDevice { .. } => (EntryType::Block, 0),
            EntryKind::Fifo => (EntryType::Fifo, 0),
        };
        h.set_entry_type(ty);
        let link: Option<&[u8]> = match &entry.kind {
            EntryKind::Symlink(t) => Some(t.as_os_str().as_bytes()),
            EntryKind::Hardlink(t) => Some(t),
            _ => None,
        };
        if let Some(link) = link {
            if link.len() <= 100 {
                if let Some(u) = h.as_ustar_mut() {
                    u.linkname[..link.len()].copy_from_slice(link);
                }
            } else {
                pax.push(("linkpath".into(), link.to_vec()));
                if let Some(u) = h.as_ustar_mut() {
                    u.linkname.copy_from_slice(&link[..100]);
                }
            }
        }
        if let EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } =
            entry.kind
        {
            h.set_device_major(major).map_err(Error::Write)?;
            h.set_device_minor(minor).map_err(Error::Write)?;
        }
        h.set_mode(entry.mode & 0o7777);
        for (key, value, field) in [("uid", entry.uid, 0), ("gid", entry.gid, 1)] {
            let v = if value > USTAR_MAX_ID {
                pax.push((key.into(), value.to_string().into_bytes()));
                0
            } else {
                value
            };
            if field == 0 {
                h.set_uid(v)
            } else {
                h.set_gid(v)
            }
        }
        if size > USTAR_MAX_SIZE {
            pax.push(("size".into(), size.to_string().into_bytes()));
        }
        h.set_size(size);
        h.set_mtime(self.clamp(entry.mtime));
        for (k, v) in &entry.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k.as_bytes());
            pax.push((String::from_utf8_lossy(&key).into_owned(), v.clone()));
        }
        if !pax.is_empty() {
            self.write_pax(&name, &pax, h.mtime().unwrap_or(0))?;
        }
        h.set_cksum();
        Ok(h)
    }

    /// Appends a file whose content arrives in chunks from the read-ahead thread.
    fn append_chunks(
        &mut self,
        entry: &TarEntry,
        source: &Path,
        chunks: &mut ChunkReader<'_>,
    ) -> Result<(), Error> {
        let EntryKind::File { size } = entry.kind else {
            return self.append(entry, None);
        };
        let h = self.header(entry)?;
        self.tar
            .get_mut()
            .write_all(h.as_bytes())
            .map_err(Error::Write)?;
        let mut written = 0u64;
        while let Some((chunk, len)) = chunks.next()? {
            self.tar
                .get_mut()
                .write_all(&chunk[..len])
                .map_err(Error::Write)?;
            written += len as u64;
            chunks.recycle(chunk);
        }
        if written != size {
            return Err(Error::Changed {
                path: source.to_path_buf(),
            });
        }
        pad(self.tar.get_mut(), size).map_err(Error::Write)
    }

    fn copy_exact(&mut self, content: &mut dyn Read, size: u64) -> Result<u64, Error> {
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match content.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Read(e)),
            };
            self.tar
                .get_mut()
                .write_all(&self.buf[..n])
                .map_err(Error::Write)?;
            left -= n as u64;
        }
        Ok(size - left)
    }

    fn write_pax(
        &mut self,
        name: &[u8],
        records: &[(String, Vec<u8>)],
        mtime: u64,
    ) -> Result<(), Error> {
        let mut data = Vec::new();
        for (k, v) in records {
            // The length prefix counts itself: grow it until it is consistent.
            let body = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body + 1;
            while len != body + len.to_string().len() {
                len = body + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = Header::new_ustar();
        // Named as Go's archive/tar names them: DIR/PaxHeaders.0/FILE, cut to 100 bytes.
        let trimmed = name.strip_suffix(b"/").unwrap_or(name);
        let split = trimmed
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        let mut pax_name = trimmed[..split].to_vec();
        pax_name.extend_from_slice(b"PaxHeaders.0/");
        pax_name.extend_from_slice(&trimmed[split..]);
        set_truncated_name(&mut h, &pax_name);
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(mtime);
        h.set_cksum();
        self.tar.append(&h, data.as_slice()).map_err(Error::Write)
    }

    /// Appends the whiteout `.wh.NAME` for the vanished `path`.
    pub fn whiteout(&mut self, path: &[u8]) -> Result<(), Error> {
        self.marker(tar_name(path, &Change::Whiteout))
    }

    /// Appends the opaque marker `.wh..wh..opq` inside directory `dir`.
    pub fn opaque(&mut self, dir: &[u8]) -> Result<(), Error> {
        self.marker(tar_name(dir, &Change::Opaque))
    }

    fn marker(&mut self, path: Vec<u8>) -> Result<(), Error> {
        let mtime = self.opts.source_date_epoch.unwrap_or(0);
        let e = TarEntry {
            path,
            kind: EntryKind::File { size: 0 },
            mode: 0,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        };
        self.append(&e, None)
    }

    /// Writes the end of the archive and returns the digest, size and the destination.
    pub fn finish(self) -> Result<(LayerDigest, W), Error> {
        let hashing = self.tar.into_inner().map_err(Error::Write)?;
        hashing.finish().map_err(Error::Write)
    }
}

fn pad(w: &mut dyn Write, len: u64) -> io::Result<()> {
    let rem = (512 - len % 512) % 512;
    w.write_all(&[0u8; 512][..rem as usize])
}

/// Splits `name` into ustar's prefix (155 bytes) and name (100 bytes) at a `/`.
fn set_ustar_path(h: &mut Header, name: &[u8]) -> bool {
    let Some(u) = h.as_ustar_mut() else {
        return false;
    };
    if name.len() <= 100 {
        u.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // The split `/` belongs to neither part; a directory's trailing `/` stays in the name.
    let search_end = name.len().saturating_sub(1);
    for (i, &b) in name[..search_end].iter().enumerate().rev() {
        if b == b'/' && i <= 155 && name.len() - i - 1 <= 100 && i > 0 {
            u.prefix[..i].copy_from_slice(&name[..i]);
            u.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            return true;
        }
    }
    false
}

fn set_truncated_name(h: &mut Header, name: &[u8]) {
    if let Some(u) = h.as_ustar_mut() {
        let n = name.len().min(100);
        u.name = [0; 100];
        u.name[..n].copy_from_slice(&name[..n]);
    }
}

/// Reads the extended attributes of `path` (not following a symlink), sorted by name. The
/// SELinux label is left out: it describes the host, not the image.
pub(crate) fn read_xattrs(path: &Path) -> Result<Vec<(OsString, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for name in xattr::list(path).map_err(|e| Error::io(path, e))? {
        // overlayfs keeps its own bookkeeping in `trusted.overlay.*` on an upper directory
        // (origin, redirect, opaque): a layer made from one must not carry it.
        if name == "security.selinux" || name.as_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(v) = xattr::get(path, &name).map_err(|e| Error::io(path, e))? {
            out.push((name, v));
        }
    }
    out.sort();
    Ok(out)
}

fn dev_major(rdev: u64) -> u32 {
    libc::major(rdev as libc::dev_t)
}

fn dev_minor(rdev: u64) -> u32 {
    libc::minor(rdev as libc::dev_t)
}

/// Maps (device, inode) of multiply-linked files to the first path written for them.
#[derive(Default)]
struct InodeMap(HashMap<(u64, u64), Vec<u8>>);

impl InodeMap {
    /// The earlier path of the same inode, or `None` after remembering this one as the first.
    fn link_target(&mut self, meta: &Meta, path: &[u8]) -> Option<Vec<u8>> {
        if meta.kind == Kind::Dir || meta.nlink < 2 {
            return None;
        }
        match self.0.get(&(meta.dev, meta.ino)) {
            Some(first) => Some(first.clone()),
            None => {
                self.0.insert((meta.dev, meta.ino), path.to_vec());
                None
            }
        }
    }
}

fn entry_from_meta(
    path: &[u8],
    meta: &Meta,
    host: &Path,
    links: &mut InodeMap,
) -> Result<Option<TarEntry>, Error> {
    let kind = match links.link_target(meta, path) {
        Some(first) => EntryKind::Hardlink(first),
        None => match meta.kind {
            Kind::File => EntryKind::File { size: meta.size },
            Kind::Dir => EntryKind::Dir,
            Kind::Symlink => EntryKind::Symlink(match &meta.link {
                Some(l) => l.clone(),
                None => fs::read_link(host).map_err(|e| Error::io(host, e))?,
            }),
            Kind::CharDevice => EntryKind::CharDevice {
                major: dev_major(meta.rdev),
                minor: dev_minor(meta.rdev),
            },
            Kind::BlockDevice => EntryKind::BlockDevice {
                major: dev_major(meta.rdev),
                minor: dev_minor(meta.rdev),
            },
            Kind::Fifo => EntryKind::Fifo,
            Kind::Socket => return Ok(None),
        },
    };
    let xattrs =
        if matches!(kind, EntryKind::Hardlink(_)) || (meta.kind == Kind::Dir && meta.xattrs == 0) {
            Vec::new()
        } else {
            read_xattrs(host)?
        };
    Ok(Some(TarEntry {
        path: path.to_vec(),
        kind,
        mode: meta.mode & 0o7777,
        uid: u64::from(meta.uid),
        gid: u64::from(meta.gid),
        mtime: meta.mtime.0,
        xattrs,
    }))
}

fn open_nofollow(path: &Path) -> Result<fs::File, Error> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// One step of a layer's plan: everything about it is known before any content is read.
enum PlanItem {
    /// An entry, with the host file its content comes from and the offset it starts at.
    Entry(TarEntry, Option<(PathBuf, u64)>),
    Whiteout(Vec<u8>),
    Opaque(Vec<u8>),
}

/// Writes the layer for the changes `diff` found in the root of `after`.
pub fn write_layer_from_diff<W: Write + Send>(
    diff: &Diff,
    after: &Snapshot,
    out: W,
    opts: &LayerOptions,
) -> Result<(LayerDigest, W), Error> {
    let mut links = InodeMap::default();
    let mut plan = Vec::with_capacity(diff.changes.len());
    for (path, change) in &diff.changes {
        match change {
            Change::Whiteout => plan.push(PlanItem::Whiteout(path.clone())),
            Change::Opaque => plan.push(PlanItem::Opaque(path.clone())),
            Change::Entry(meta) => {
                let host = host_path(after.root(), path);
                let Some(entry) = entry_from_meta(path, meta, &host, &mut links)? else {
                    continue;
                };
                let source =
                    matches!(entry.kind, EntryKind::File { size } if size > 0).then_some((host, 0));
                plan.push(PlanItem::Entry(entry, source));
            }
        }
    }
    write_plan(plan, out, opts)
}

/// Chunks of file content read ahead, in plan order: a full-size buffer and how much of it is
/// filled (buffers are never shrunk or grown, which would touch every byte); `None` ends a file.
type Chunk = Result<Option<(Vec<u8>, usize)>, Error>;

const PIPELINE_DEPTH: usize = 8;

/// Writes a plan as a tar with three stages running at once: a thread reading file contents
/// ahead, this thread hashing and framing the tar, and a thread writing to `out`. Reading,
/// hashing and writing each cost about the same per byte, so overlapping them is what gets the
/// layer near the SHA-256 bound.
fn write_plan<W: Write + Send>(
    plan: Vec<PlanItem>,
    out: W,
    opts: &LayerOptions,
) -> Result<(LayerDigest, W), Error> {
    let files: Vec<(PathBuf, u64, u64)> = plan
        .iter()
        .filter_map(|p| match p {
            PlanItem::Entry(
                TarEntry {
                    kind: EntryKind::File { size },
                    ..
                },
                Some((src, offset)),
            ) => Some((src.clone(), *offset, *size)),
            _ => None,
        })
        .collect();
    let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(PIPELINE_DEPTH);
    let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE_DEPTH * 2);
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE_DEPTH);
    std::thread::scope(|s| {
        s.spawn(move || read_ahead(files, chunk_tx, free_rx));
        let writer = s.spawn(move || -> (W, io::Result<()>) {
            let mut out = out;
            for buf in out_rx {
                if let Err(e) = out.write_all(&buf) {
                    return (out, Err(e));
                }
            }
            let r = out.flush();
            (out, r)
        });
        let mut w = LayerWriter::new(
            ChannelWriter {
                tx: Some(out_tx),
                buf: Vec::with_capacity(COPY_BUF),
            },
            opts,
        );
        let result = (|| -> Result<LayerDigest, Error> {
            for item in plan {
                match item {
                    PlanItem::Whiteout(p) => w.whiteout(&p)?,
                    PlanItem::Opaque(p) => w.opaque(&p)?,
                    PlanItem::Entry(entry, None) => w.append(&entry, None)?,
                    PlanItem::Entry(entry, Some((src, _))) => {
                        let mut reader = ChunkReader {
                            rx: &chunk_rx,
                            free: &free_tx,
                            done: false,
                        };
                        w.append_chunks(&entry, &src, &mut reader)?;
                    }
                }
            }
            let (digest, mut chan) = w.finish()?;
            chan.close().map_err(Error::Write)?;
            Ok(digest)
        })();
        // Dropping the receivers stops the reader if this thread failed halfway.
        drop(chunk_rx);
        let (out, written) = writer
            .join()
            .map_err(|_| Error::Write(io::Error::other("layer writer thread panicked")))?;
        let digest = result?;
        written.map_err(Error::Write)?;
        Ok((digest, out))
    })
}

fn read_ahead(
    files: Vec<(PathBuf, u64, u64)>,
    tx: std::sync::mpsc::SyncSender<Chunk>,
    free: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    for (path, offset, size) in files {
        let opened = open_nofollow(&path).and_then(|mut f| {
            if offset > 0 {
                io::Seek::seek(&mut f, io::SeekFrom::Start(offset))
                    .map_err(|e| Error::io(&path, e))?;
            }
            Ok(f)
        });
        let mut f = match opened {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut left = size;
        while left > 0 {
            let mut buf = free.try_recv().unwrap_or_else(|_| vec![0; COPY_BUF]);
            let want = left.min(COPY_BUF as u64) as usize;
            let mut filled = 0;
            while filled < want {
                match f.read(&mut buf[filled..want]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(Error::io(&path, e)));
                        return;
                    }
                }
            }
            if filled == 0 {
                // Shorter than indexed: the consumer sees the early end and reports it.
                break;
            }
            left -= filled as u64;
            if tx.send(Ok(Some((buf, filled)))).is_err() {
                return;
            }
        }
        if tx.send(Ok(None)).is_err() {
            return;
        }
    }
}

/// The consumer's side of [`read_ahead`] for one file.
struct ChunkReader<'a> {
    rx: &'a std::sync::mpsc::Receiver<Chunk>,
    free: &'a std::sync::mpsc::SyncSender<Vec<u8>>,
    done: bool,
}

impl ChunkReader<'_> {
    fn next(&mut self) -> Result<Option<(Vec<u8>, usize)>, Error> {
        if self.done {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(Ok(Some(chunk))) => Ok(Some(chunk)),
            Ok(Ok(None)) => {
                self.done = true;
                Ok(None)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Write(io::Error::other(
                "layer reader thread stopped",
            ))),
        }
    }

    fn recycle(&self, buf: Vec<u8>) {
        let _ = self.free.try_send(buf);
    }
}

/// Sends full buffers to the writer thread.
struct ChannelWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(COPY_BUF));
        match &self.tx {
            Some(tx) => tx
                .send(full)
                .map_err(|_| io::Error::other("layer writer thread stopped")),
            None => Err(io::Error::other("layer writer closed")),
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.send()?;
        self.tx = None;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = COPY_BUF - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == COPY_BUF {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes already sorted entries, each file's `size` bytes read from its (host file, offset),
/// through the same read-ahead pipeline as the RUN path (COPY/ADD plans use it).
pub(crate) fn write_entries<W: Write + Send>(
    entries: Vec<(TarEntry, Option<(PathBuf, u64)>)>,
    out: W,
    opts: &LayerOptions,
) -> Result<(LayerDigest, W), Error> {
    let plan = entries
        .into_iter()
        .map(|(e, src)| PlanItem::Entry(e, src))
        .collect();
    write_plan(plan, out, opts)
}

/// Diffs two snapshots of a root and writes the layer to `out` (convenience for the RUN path).
pub fn write_diff_layer<W: Write + Send>(
    before: &Snapshot,
    after: &Snapshot,
    out: W,
    opts: &LayerOptions,
) -> Result<LayerDigest, Error> {
    write_layer_from_diff(&diff(before, after), after, out, opts).map(|(d, _)| d)
}

/// One COPY/ADD entry: a host path and where and how it lands in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyEntry {
    /// Host path, not followed if it is a symlink (the symlink itself is copied). `None` makes
    /// a directory that has no source (a parent COPY creates).
    pub source: Option<PathBuf>,
    /// Destination in the image (leading `/` optional).
    pub dest: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (COPY `--chmod`); the source's when `None` (0755 for a sourceless dir).
    pub mode: Option<u32>,
}

fn normalize_dest(dest: &str) -> Result<Vec<u8>, Error> {
    let mut parts: Vec<&str> = Vec::new();
    for c in dest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::Invalid(format!(
            "COPY destination {dest:?} names the root itself"
        )));
    }
    Ok(parts.join("/").into_bytes())
}

/// Writes a COPY/ADD layer straight from host paths (no rootfs needed). Entries are sorted by
/// destination; a later entry for the same destination wins; hard links among the sources
/// become link entries.
pub fn write_copy_layer<W: Write + Send>(
    entries: &[CopyEntry],
    out: W,
    opts: &LayerOptions,
) -> Result<(LayerDigest, W), Error> {
    let mut by_dest: Vec<(Vec<u8>, usize)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        by_dest.push((normalize_dest(&e.dest)?, i));
    }
    // Stable sort keeps input order among equal destinations; the last one is kept.
    by_dest.sort_by(|a, b| a.0.cmp(&b.0));
    let mut deduped: Vec<(Vec<u8>, usize)> = Vec::with_capacity(by_dest.len());
    for item in by_dest {
        match deduped.last_mut() {
            Some(last) if last.0 == item.0 => *last = item,
            _ => deduped.push(item),
        }
    }
    let mut links = InodeMap::default();
    let mut plan = Vec::with_capacity(deduped.len());
    for (dest, i) in deduped {
        let e = &entries[i];
        let Some(source) = &e.source else {
            let entry = TarEntry {
                path: dest,
                kind: EntryKind::Dir,
                mode: e.mode.unwrap_or(0o755),
                uid: u64::from(e.uid),
                gid: u64::from(e.gid),
                mtime: opts.source_date_epoch.unwrap_or(0),
                xattrs: Vec::new(),
            };
            plan.push(PlanItem::Entry(entry, None));
            continue;
        };
        let m = fs::symlink_metadata(source).map_err(|err| Error::io(source, err))?;
        let mut meta = Meta::from_metadata(&m);
        // Always read a COPY source's xattrs: there is no earlier index to say it has none.
        meta.xattrs = 1;
        let Some(mut entry) = entry_from_meta(&dest, &meta, source, &mut links)? else {
            continue;
        };
        entry.uid = u64::from(e.uid);
        entry.gid = u64::from(e.gid);
        if let Some(mode) = e.mode
            && !matches!(entry.kind, EntryKind::Symlink(_) | EntryKind::Hardlink(_))
        {
            entry.mode = mode & 0o7777;
        }
        let src =
            matches!(entry.kind, EntryKind::File { size } if size > 0).then(|| (source.clone(), 0));
        plan.push(PlanItem::Entry(entry, src));
    }
    write_plan(plan, out, opts)
}

#[cfg(test)]
mod tests;
