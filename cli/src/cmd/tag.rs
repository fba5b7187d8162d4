//! `bale tag` / `bale image tag`: a new name for an existing image, with docker's reference
//! grammar and messages.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use bale_image::Reference;

use super::Globals;

/// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image to name: a name, an ID or a unique ID prefix
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    /// The new name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

/// Runs `bale tag`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let invalid = |name: &str, e: bale_image::ReferenceError| {
        anyhow!("Error parsing reference: {name:?} is not a valid repository/tag: {e}")
    };
    // The source may be an ID or ID prefix, which is not a reference; only a string that can be
    // neither is refused before looking it up.
    let source_is_id = {
        let hex = args.source.strip_prefix("sha256:").unwrap_or(&args.source);
        !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
    };
    if !source_is_id {
        Reference::parse(&args.source).map_err(|e| invalid(&args.source, e))?;
    }
    let target = Reference::parse(&args.target).map_err(|e| invalid(&args.target, e))?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let target = target.with_default_tag();
    let store = globals.store()?;
    let image = store.resolve(&args.source)?;
    store.tag(&image, &target)?;
    Ok(ExitCode::SUCCESS)
}
