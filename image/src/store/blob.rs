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

    /// Finishes the blob: syncs it, checks it against `expected` (when given), and moves it into
    /// place. Returns its digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let out = self.out.take().expect("commit consumes the writer");
        let (buffered, (digest, size)) = out.finish();
        let file = buffered.into_inner().map_err(|e| {
            Error::io(
                format!("writing blob {}", self.temp.display()),
                e.into_error(),
            )
        })?;
        if let Some(expected) = expected
            && expected != &digest
        {
            return Err(Error::DigestMismatch {
                what: "blob".to_string(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let dest = self.store.blob_path(&digest);
        if dest.exists() {
            return Ok((digest, size));
        }
        file.sync_all()
            .ctx(|| format!("syncing blob {}", self.temp.display()))?;
        drop(file);
        fs::rename(&self.temp, &dest)
            .ctx(|| format!("renaming {} to {}", self.temp.display(), dest.display()))?;
        sync_dir(dest.parent().expect("blob paths have a parent"))?;
        Ok((digest, size))
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
        let _ = fs::remove_file(&self.temp);
    }
}
