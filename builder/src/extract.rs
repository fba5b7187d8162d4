//! Extracting a layer tar into a rootfs, as the builder materialises a stage's rootfs from its
//! parent layers. The extractor itself lives in [`bale_image::extract`], because exporting a
//! build's rootfs (`--output type=local`) needs it too; this module reports its failures as the
//! builder's [`Error`].

use std::io::Read;
use std::path::Path;

use bale_image::extract::ExtractError;
pub use bale_image::extract::ExtractOptions;

use crate::Error;

/// Extracts the layer tar read from `reader` into `root`: whiteouts and opaque directories
/// remove lower entries, and nothing is written outside `root` (see [`bale_image::extract`]).
pub fn extract_layer<R: Read>(reader: R, root: &Path, opts: &ExtractOptions) -> Result<(), Error> {
    bale_image::extract::extract_layer(reader, root, opts).map_err(|e| match e {
        ExtractError::Io { path, source } => Error::Io { path, source },
        ExtractError::Read(e) => Error::Read(e),
        ExtractError::UnsafeEntry { path, reason } => Error::UnsafeEntry { path, reason },
        ExtractError::Invalid(m) => Error::Invalid(m),
    })
}
