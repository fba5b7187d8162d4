//! `import`: a root filesystem tarball (plain or compressed) becomes a one-layer image. The tar
//! is stored byte for byte as it came (uncompressed), as docker does, so its digest is the
//! layer's diffID; it is parsed on the way in and refused when an entry would land outside the
//! root filesystem or is a device node outside `/dev`.

use std::io::{self, Read};

use crate::archive::{TeeReader, host_platform, normalize, symlink_target};
use crate::compress::decompress;
use crate::config::{ContainerConfig, History, ImageConfig};
use crate::error::{Error, IoContext, Result};
use crate::manifest;
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::time;

/// What to import and how to describe it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Where the tarball came from, for the history comment: `-` for a file or stdin (as the
    /// docker CLI sends both), else the URL.
    pub source: String,
    /// `--message`: the history comment instead of `Imported from SOURCE`.
    pub message: Option<String>,
    /// The container config (`--change` instructions already applied).
    pub config: ContainerConfig,
    /// The names to give the image; none leaves it dangling.
    pub names: Vec<Reference>,
}

/// Imports the tarball read from `input`. Nothing is named unless the whole tar is valid.
pub fn import(store: &Store, input: impl Read, options: &ImportOptions) -> Result<Image> {
    let lease = store.lease()?;
    let (reader, kind) = decompress(input).ctx(|| "reading the import source".to_string())?;
    let mut layer = lease.blob_writer()?;
    let mut tee = TeeReader {
        inner: reader,
        sink: &mut layer,
        sink_error: None,
    };
    let checked = check_rootfs_tar(&mut tee, kind.name()).and_then(|entries| {
        // The end-of-archive blocks and anything after them are part of the layer too.
        io::copy(&mut tee, &mut io::sink()).ctx(|| "reading the import source".to_string())?;
        Ok(entries)
    });
    if let Some(e) = tee.sink_error.take() {
        return Err(Error::io("storing the imported layer", e));
    }
    if checked? == 0 {
        return Err(Error::invalid(
            "import",
            "the tarball holds no files (is the input empty?)",
        ));
    }
    let layer = layer.finish()?;
    let (diff_id, layer_size) = layer.place()?;

    let created = time::now();
    let comment = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", options.source));
    let (os, arch) = host_platform();
    let mut config = ImageConfig {
        architecture: arch.to_string(),
        os: os.to_string(),
        created: Some(created.clone()),
        config: Some(options.config.clone()),
        ..ImageConfig::default()
    };
    config.rootfs.diff_ids.push(diff_id.clone());
    config.history.push(History {
        created: Some(created),
        comment: Some(comment.clone()),
        ..History::default()
    });
    config.extra.insert("comment".to_string(), comment.into());
    let config_bytes = config.to_vec();
    let config_digest = lease.put_blob(&config_bytes, None)?;
    let m = manifest::build(
        (&config_digest, config_bytes.len() as u64),
        &[(diff_id, layer_size)],
    );
    lease.commit_image(&m, &options.names)
}

/// Reads a root filesystem tar to its end-of-archive marker, refusing entries that escape the
/// root. Returns how many entries it holds.
fn check_rootfs_tar(input: impl Read, compression: &str) -> Result<usize> {
    let mut archive = tar::Archive::new(input);
    let mut count = 0;
    let read_err = |e: io::Error| {
        Error::io(
            format!("reading the {compression} tarball (truncated or not a tar archive?)"),
            e,
        )
    };
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        count += 1;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // A leading `/` is dropped, as docker does: the path is inside the root either way.
        let Some(path) = normalize(&name) else {
            return Err(Error::invalid(
                format!("tar entry {name:?}"),
                "its path climbs out of the root filesystem with `..`; refusing to import",
            ));
        };
        let kind = entry.header().entry_type();
        // Device nodes belong in /dev (a debootstrap tarball has /dev/null); anywhere else one
        // is a trap for whoever runs the image: /etc/x as the host's disk, say.
        if (kind.is_character_special() || kind.is_block_special())
            && !(path == "dev" || path.starts_with("dev/"))
        {
            let what = if kind.is_block_special() {
                "a block device"
            } else {
                "a character device"
            };
            return Err(Error::invalid(
                format!("tar entry {name:?}"),
                format!("it is {what} outside /dev; refusing to import"),
            ));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let inside = if kind.is_symlink() {
                symlink_target(&path, &target)
            } else {
                normalize(&target)
            };
            if inside.is_none() {
                let what = if kind.is_symlink() {
                    "symlink"
                } else {
                    "hard link"
                };
                return Err(Error::invalid(
                    format!("tar entry {name:?}"),
                    format!(
                        "{what} to {target:?} points outside the root filesystem; refusing to import"
                    ),
                ));
            }
        }
        io::copy(&mut entry, &mut io::sink()).map_err(read_err)?;
    }
    Ok(count)
}
