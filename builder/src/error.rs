//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Errors of snapshots, layers, extraction and the build context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path it failed on.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// Writing the layer to its destination failed.
    #[error("writing the layer: {0}")]
    Write(io::Error),
    /// A file's size changed between the snapshot and the copy into the layer.
    #[error("{}: the file changed while it was written to the layer; retry when nothing modifies it", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// A layer tar is malformed or reading it failed.
    #[error("reading the layer: {0}")]
    Read(io::Error),
    /// A layer entry would write outside the rootfs, or is of a kind that cannot be extracted.
    #[error("layer entry {path:?} refused: {reason}")]
    UnsafeEntry {
        /// The entry's path as stored in the tar.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `.dockerignore` pattern is invalid.
    #[error("{}:{line}: invalid pattern {pattern:?}: {reason}", file.display())]
    Pattern {
        /// The ignore file (or `--exclude` for command-line patterns).
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A COPY source or destination is unusable.
    #[error("{0}")]
    Invalid(String),
    /// A COPY/ADD source does not exist (or `.dockerignore` leaves it out).
    #[error("file not found in {place}: {path}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    NotFound {
        /// The source as written, cleaned (`src/x`).
        path: String,
        /// Where it was looked for: `build context`, `stage build`, `image alpine:3`.
        place: String,
        /// The closest existing name, if one is close enough.
        suggestion: Option<String>,
    },
    /// A COPY/ADD source leaves the build context: `../x`, or a symlink that points outside.
    #[error("{path}: {reason}; only files inside the build context can be copied")]
    OutsideContext {
        /// The source as written.
        path: String,
        /// How it leaves the context.
        reason: String,
    },
    /// An ADD archive entry would land outside the destination directory.
    #[error("ADD {archive}: archive entry {entry:?} refused: {reason}")]
    ArchiveEscape {
        /// The archive, as named in the instruction.
        archive: String,
        /// The entry's name in the archive.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Downloading an ADD URL failed.
    #[error("ADD {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A downloaded ADD URL does not have the `--checksum` given.
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The URL.
        url: String,
        /// `--checksum` as given.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// A source form bale does not implement (git repositories).
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
