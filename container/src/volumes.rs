//! Volumes in the store: `ROOT/bale/volumes/<name>/_data`, as docker's local driver lays them
//! out. Anonymous volumes (an image's `VOLUME`, `-v /path`) get a random 64-hex-digit name and
//! go with their container on `rm -v` and `run --rm`.

use std::fs;
use std::path::PathBuf;

use bale_image::Store;

use crate::error::IoContext;
use crate::{Error, Result};

fn volume_dir(store: &Store, name: &str) -> PathBuf {
    store.root().join("bale/volumes").join(name)
}

/// The `_data` directory of the volume `name`, created when missing.
pub(crate) fn ensure(store: &Store, name: &str) -> Result<PathBuf> {
    if !crate::names::valid_name(name) {
        return Err(Error::Invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    let data = volume_dir(store, name).join("_data");
    fs::create_dir_all(&data).at("creating volume", &data)?;
    Ok(data)
}

/// Removes the volume `name` and its content.
pub(crate) fn remove(store: &Store, name: &str) -> Result<()> {
    let dir = volume_dir(store, name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing volume", &dir, e)),
    }
}
