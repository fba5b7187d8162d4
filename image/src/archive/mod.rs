//! Image archives: `save` (a tar that is both a docker archive and an OCI layout), `load` (docker
//! archives old and new, OCI layouts and archives, in any compression), and `import` (a root
//! filesystem tarball becomes a one-layer image).
//!
//! Every archive is untrusted input. Members are never extracted by name: they are streamed into
//! the store's temporary area and looked up in memory, and names that climb out of the archive
//! (`..`, absolute paths), links pointing outside it, device files, truncated streams and
//! oversized JSON documents are refused with an error naming the member.

pub mod import;
pub mod load;
pub mod save;

use std::io::{self, Read, Write};

/// Media types of compressed layers, which `load` stores uncompressed.
pub(crate) fn is_compressed_layer(media_type: &str) -> bool {
    media_type.ends_with("+gzip")
        || media_type.ends_with("+zstd")
        || media_type.ends_with(".tar.gzip")
        || media_type.ends_with(".tar.zstd")
}

/// The path of a member relative to the archive root, with `.` and `..` resolved; `None` when it
/// climbs above the root. Leading `/` is dropped (the caller decides whether to allow it).
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
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

/// Where a symlink at `entry` with `target` points, relative to the root; `None` when outside.
/// An absolute target is relative to the root, as in a container.
pub(crate) fn symlink_target(entry: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let parent = match entry.trim_end_matches('/').rsplit_once('/') {
        Some((dir, _)) => dir,
        None => "",
    };
    normalize(&format!("{parent}/{target}"))
}

/// A reader that copies everything read through it into `sink`, so a stream can be parsed and
/// stored in one pass.
pub(crate) struct TeeReader<R, W> {
    pub(crate) inner: R,
    pub(crate) sink: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The platform bale runs on, in OCI terms.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    ("linux", arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_refuses_escapes() {
        assert_eq!(normalize("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalize("a/../../x"), None);
        assert_eq!(normalize("../x"), None);
        assert_eq!(
            symlink_target("bin/sh", "busybox").as_deref(),
            Some("bin/busybox")
        );
        assert_eq!(symlink_target("bin/sh", "/etc/x").as_deref(), Some("etc/x"));
        assert_eq!(symlink_target("bin/sh", "../../etc/x"), None);
        assert_eq!(symlink_target("a", "../x"), None);
    }
}
