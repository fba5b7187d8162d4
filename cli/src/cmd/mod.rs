//! One module per command: its clap arguments and its `run`.

pub mod import;
pub mod load;
pub mod save;
pub mod system;
pub mod units;

use std::path::PathBuf;

use anyhow::Context;
use bale_image::Store;

/// Flags every command accepts.
#[derive(clap::Args, Debug, Clone)]
pub struct Globals {
    /// Root of the image store (an OCI image layout) [default: $XDG_DATA_HOME/bale or
    /// ~/.local/share/bale]
    #[arg(long, global = true, env = "BALE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl Globals {
    /// Opens the store: `--root`, else `$BALE_ROOT`, else the XDG data directory.
    pub fn store(&self) -> anyhow::Result<Store> {
        let root = match &self.root {
            Some(r) => r.clone(),
            None => bale_image::default_root()
                .context("no store root: set --root, BALE_ROOT, XDG_DATA_HOME or HOME")?,
        };
        Ok(Store::open(root)?)
    }
}
