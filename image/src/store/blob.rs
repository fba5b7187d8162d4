//! Writing one blob: into a temporary file in the store's filesystem, hashed on the way, then
//! fsynced, verified and renamed to `blobs/sha256/<hex>`. Blobs are immutable: when the blob
//! already exists the new copy is dropped.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::{Store, sync_dir};
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};

/// A blob being written. Dropping it without [`BlobWriter::commit`] removes the temporary file.
pub struct BlobWriter<'s> {
    store: &'s Store,
    temp: PathBuf,
    out: Option<HashingWriter<BufWriter<File>>>,
}

impl<'s> BlobWriter<'s> {
    pub(super) fn new(store: &'s Store) -> Result<BlobWriter<'s>> {
        let temp = store.temp_path("blob")?;
        let file = File::create(&temp).at("creating", &temp)?;
        Ok(BlobWriter {
            store,
            temp,
            out: Some(HashingWriter::new(BufWriter::with_capacity(1 << 20, file))),
        })
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.out.as_ref().map_or(0, HashingWriter::len)
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finishes writing and syncs the file, leaving it in the temporary area: the caller can
    /// read it back (to decompress or parse it) and then place it or drop it.
    pub fn finish(mut self) -> Result<TempBlob<'s>> {
        let out = self.out.take().expect("finish consumes the writer");
        let (buffered, (digest, size)) = out.finish();
        let file = buffered.into_inner().map_err(|e| {
            Error::io(
                format!("writing blob {}", self.temp.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .ctx(|| format!("syncing blob {}", self.temp.display()))?;
        Ok(TempBlob {
            store: self.store,
            path: std::mem::take(&mut self.temp),
            digest,
            size,
        })
    }

    /// Finishes the blob: syncs it, checks it against `expected` (when given), and moves it into
    /// place. Returns its digest and size.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let blob = self.finish()?;
        blob.verify(expected, "blob")?;
        blob.place()
    }
}

/// A fully written, synced blob still in the temporary area. Dropping it removes the file.
pub struct TempBlob<'s> {
    store: &'s Store,
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl<'s> TempBlob<'s> {
    /// The content's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The content's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The temporary file, for reading back.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Opens the content for reading.
    pub fn open(&self) -> Result<File> {
        File::open(&self.path).at("opening", &self.path)
    }

    /// Fails with a digest mismatch naming `what` unless the content hashes to `expected`.
    pub fn verify(&self, expected: Option<&Digest>, what: &str) -> Result<()> {
        match expected {
            Some(e) if e != &self.digest => Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: e.clone(),
                actual: self.digest.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Moves the blob to `blobs/sha256/<hex>` (dropping it when that blob already exists).
    pub fn place(mut self) -> Result<(Digest, u64)> {
        let dest = self.store.blob_path(&self.digest);
        let temp = std::mem::take(&mut self.path);
        if dest.exists() {
            let _ = fs::remove_file(&temp);
            return Ok((self.digest.clone(), self.size));
        }
        fs::rename(&temp, &dest)
            .ctx(|| format!("renaming {} to {}", temp.display(), dest.display()))?;
        sync_dir(dest.parent().expect("blob paths have a parent"))?;
        Ok((self.digest.clone(), self.size))
    }
}

impl Drop for TempBlob<'_> {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let temp = &self.temp;
        self.out
            .as_mut()
            .expect("not committed")
            .write(buf)
            .map_err(|e| annotate(e, temp))
    }

    fn flush(&mut self) -> io::Result<()> {
        let temp = &self.temp;
        self.out
            .as_mut()
            .expect("not committed")
            .flush()
            .map_err(|e| annotate(e, temp))
    }
}

/// Keeps the OS error (so callers can still see `ENOSPC`) but says which file it hit.
fn annotate(e: io::Error, temp: &std::path::Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "writing blob {}: {}",
            temp.display(),
            crate::error::io_message(&e)
        ),
    )
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}
