//! A writer that hashes with SHA-256 and counts what goes through it, so a layer's digest and
//! size are known the moment its last byte is written, without reading it back.

use std::io::{self, BufWriter, Write};

use sha2::{Digest, Sha256};

/// The digest (`sha256:<hex>`) and size in bytes of something written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigest {
    /// `sha256:` followed by 64 hex digits. For an uncompressed layer this is its diffID.
    pub diff_id: String,
    /// Number of bytes written.
    pub size: u64,
}

/// Hashes and counts every byte on its way to `inner`. Small writes (tar headers) are
/// buffered; large ones (file contents) go straight through.
pub struct HashingWriter<W: Write> {
    inner: BufWriter<W>,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, inner),
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Flushes and returns the digest, the size and the inner writer.
    pub fn finish(self) -> io::Result<(LayerDigest, W)> {
        let inner = self.inner.into_inner().map_err(|e| e.into_error())?;
        let digest = LayerDigest {
            diff_id: format!("sha256:{}", hex::encode(self.hasher.finalize())),
            size: self.size,
        };
        Ok((digest, inner))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_size_match_the_bytes_written() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(&vec![b'x'; 1 << 20]).unwrap();
        let (d, out) = w.finish().unwrap();
        assert_eq!(d.size, out.len() as u64);
        assert_eq!(d.diff_id, sha256_digest(&out));
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
