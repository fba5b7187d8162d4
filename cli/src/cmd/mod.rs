//! One module per `bale` command: its clap arguments and its `run` function, plus the flags
//! every command shares.

pub mod batch;
pub mod build;
pub mod builder;
pub mod commit;
pub mod container;
pub mod cp;
pub mod debug;
pub mod diff;
pub mod exec;
pub mod export;
pub mod filter;
pub mod history;
pub mod image;
pub mod images;
pub mod import;
pub mod inspect;
pub mod kill;
pub mod layer_bars;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod parse;
pub mod pause;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod start;
pub mod stop;
pub mod system;
pub mod tag;
pub mod top;
pub mod units;
pub mod wait;

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

    /// A registry (HOST[:PORT]) that may be reached over plain HTTP or unverified TLS;
    /// repeatable. Also read from `insecure-registries` in ~/.config/bale/config.json
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

impl Globals {
    /// How registries are reached: `--insecure-registry` plus bale's configuration file.
    pub fn registry_settings(&self) -> anyhow::Result<bale_registry::Settings> {
        Ok(bale_registry::Settings::load(&self.insecure_registries)?)
    }

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
