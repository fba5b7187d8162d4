//! The crate's error type. Every message names what was being done and to which file, blob or
//! image, so the CLI can print it as is.

use std::io;
use std::path::Path;

use crate::digest::{Digest, DigestError};
use crate::reference::ReferenceError;

/// Anything the store or the formats can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error while doing `context`.
    #[error("{context}: {}", io_message(source))]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Nothing in the store matches what the user named (docker's message).
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// An ID prefix matches more than one image.
    #[error("{0}: ambiguous image ID prefix, matches more than one image; give more digits")]
    AmbiguousId(String),
    /// Content did not hash to the digest it was announced with.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The blob, file or archive member.
        what: String,
        /// The announced digest.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// Content did not have the size it was announced with.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob, file or archive member.
        what: String,
        /// The announced size.
        expected: u64,
        /// The actual size.
        actual: u64,
    },
    /// A blob an image needs is not in the store.
    #[error("blob {digest} ({what}) is missing from the store")]
    MissingBlob {
        /// The missing blob.
        digest: Digest,
        /// What it is, e.g. `config of image busybox:latest`.
        what: String,
    },
    /// A file in the store or an archive that cannot be read as what it should be.
    #[error("{what}: {reason}")]
    Invalid {
        /// The file, blob or archive member.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A digest that does not parse.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A malformed file or archive member.
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Whether this is "no such image".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NoSuchImage(_))
    }
}

/// An OS error in Go's style, as docker prints it: `no space left on device`, without Rust's
/// `(os error 28)` suffix.
pub fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => text[..i].to_string(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if chars.clone().next().is_some_and(char::is_lowercase) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => text,
    }
}

/// Adds "what was being done" to I/O results.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
    fn at(self, verb: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }

    fn at(self, verb: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(format!("{verb} {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_messages_read_like_go() {
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(io_message(&e), "no space left on device");
        let e = Error::io("writing blob x", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "writing blob x: no such file or directory");
    }
}
