//! Content digests (`sha256:<64 hex>`), the only algorithm the store writes, and a writer that
//! hashes what passes through it so no blob is ever read twice to learn its digest.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// The text has no `algorithm:` prefix.
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    Format(String),
    /// An algorithm other than sha256.
    #[error("unsupported digest algorithm {0:?}: only sha256 is supported")]
    Algorithm(String),
}

/// A sha256 content digest, kept as its 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hash(Sha256::digest(bytes).as_slice())
    }

    /// The digest a finished SHA-256 computation gives.
    pub(crate) fn from_sha256(hasher: Sha256) -> Digest {
        Digest::from_hash(hasher.finalize().as_slice())
    }

    fn from_hash(hash: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(hash),
        }
    }

    /// Parses 64 lowercase hex digits without the `sha256:` prefix.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest {
                hex: hex.to_string(),
            })
        } else {
            Err(DigestError::Format(hex.to_string()))
        }
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as the docker CLI shows image IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// The algorithm, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// Reads `reader` to its end and returns its digest and length.
    pub fn of_reader(mut reader: impl Read) -> io::Result<(Digest, u64)> {
        let mut hasher = HashingWriter::new(io::sink());
        io::copy(&mut reader, &mut hasher)?;
        Ok(hasher.finish().1)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Format(s.to_string()));
        };
        if algorithm != "sha256" {
            return Err(DigestError::Algorithm(algorithm.to_string()));
        }
        Digest::from_hex(hex).map_err(|_| DigestError::Format(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> oci_spec::image::Digest {
        d.to_string()
            .parse()
            .expect("a sha256 digest is a valid OCI digest")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;

    fn try_from(d: &oci_spec::image::Digest) -> Result<Digest, DigestError> {
        d.to_string().parse()
    }
}

/// A writer that hashes and counts every byte it passes on to `inner`.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer, and the digest and length of everything written.
    pub fn finish(self) -> (W, (Digest, u64)) {
        let digest = Digest::from_hash(self.hasher.finalize().as_slice());
        (self.inner, (digest, self.len))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and length of everything read so far.
    pub fn finish(self) -> (R, (Digest, u64)) {
        let digest = Digest::from_hash(self.hasher.finalize().as_slice());
        (self.inner, (digest, self.len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_the_well_known_one() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_rejects_bad_digests() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(matches!(
            "sha512:abc".parse::<Digest>(),
            Err(DigestError::Algorithm(_))
        ));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(ok.parse::<Digest>().unwrap().short(), "aaaaaaaaaaaa");
    }

    #[test]
    fn hashing_writer_matches_one_shot_digest() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (inner, (d, n)) = w.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of(b"hello world"));
    }
}
