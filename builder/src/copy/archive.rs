//! ADD's local archives: a regular file whose bytes are a tar, plain or compressed with gzip,
//! bzip2, xz or zstd (told by its first bytes, as BuildKit's `isArchivePath` does, never by its
//! name), is extracted into the destination instead of copied.
//!
//! The archive is indexed, not extracted: a compressed one is first decompressed into the
//! plan's temporary directory (never into memory), then each entry's header and data offset
//! are recorded, so the layer can be written in sorted order by seeking to each entry's data.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use bale_image::compress::{Compression, decompress};
use tar::EntryType;

use crate::Error;

/// One entry of an archive.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveEntry {
    pub name: Vec<u8>,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub size: u64,
    pub link: Option<Vec<u8>>,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    pub device: (u32, u32),
    /// Where the data starts in the (decompressed) tar.
    pub offset: u64,
}

/// Whether the regular file at `path` is a tar archive, maybe compressed: its first header
/// must read as a tar header once decompressed. An empty or unreadable file is not one.
pub(crate) fn is_archive(path: &Path) -> Result<bool, Error> {
    let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let Ok((reader, _)) = decompress(io::BufReader::new(f)) else {
        return Ok(false);
    };
    let mut archive = tar::Archive::new(reader);
    let Ok(mut entries) = archive.entries() else {
        return Ok(false);
    };
    Ok(matches!(entries.next(), Some(Ok(_))))
}

/// An archive ready to be read at random: the plain tar, and its entries.
pub(crate) struct Indexed {
    pub tar: PathBuf,
    pub entries: Vec<ArchiveEntry>,
}

/// Decompresses `path` into `temp` when it is compressed, then indexes the tar.
pub(crate) fn index(path: &Path, temp: &Path) -> Result<Indexed, Error> {
    let mut head = [0u8; 6];
    let n = {
        let mut f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
        read_full(&mut f, &mut head).map_err(|e| Error::io(path, e))?
    };
    let tar_path = if Compression::detect(&head[..n]) == Compression::None {
        path.to_path_buf()
    } else {
        let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let (mut reader, _) = decompress(io::BufReader::new(f)).map_err(|e| Error::io(path, e))?;
        let out = tempfile::Builder::new()
            .prefix("archive-")
            .suffix(".tar")
            .tempfile_in(temp)
            .map_err(|e| Error::io(temp, e))?;
        let (mut file, kept) = out.keep().map_err(|e| Error::io(temp, e.error))?;
        io::copy(&mut reader, &mut file).map_err(|e| Error::io(path, e))?;
        kept
    };
    let f = fs::File::open(&tar_path).map_err(|e| Error::io(&tar_path, e))?;
    let mut archive = tar::Archive::new(f);
    let mut entries = Vec::new();
    for entry in archive
        .entries_with_seek()
        .map_err(|e| Error::io(path, e))?
    {
        let mut entry = entry.map_err(|e| Error::io(path, e))?;
        let h = entry.header().clone();
        let kind = h.entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let mut uid = h.uid().unwrap_or(0);
        let mut gid = h.gid().unwrap_or(0);
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                let key = ext.key_bytes();
                let num = || {
                    std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok())
                };
                if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((OsString::from_vec(x.to_vec()), ext.value_bytes().to_vec()));
                } else if key == b"uid" {
                    uid = num().unwrap_or(uid);
                } else if key == b"gid" {
                    gid = num().unwrap_or(gid);
                }
            }
        }
        xattrs.sort();
        entries.push(ArchiveEntry {
            name,
            kind,
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid,
            gid,
            mtime: h.mtime().unwrap_or(0) as i64,
            size: entry.size(),
            link,
            xattrs,
            device: (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            ),
            offset: entry.raw_file_position(),
        });
    }
    Ok(Indexed {
        tar: tar_path,
        entries,
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
