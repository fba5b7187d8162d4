//! `bale pull`: downloads an image (or every tag of a repository) from its registry into the
//! store, printing docker's progress lines.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_image::Reference;
use bale_registry::pull::{LayerStatus, Platform, PullProgress, pull};
use bale_registry::{Registry, RegistryHost};

use super::Globals;
use super::layer_bars::LayerBars;

/// Docker's pull lines, drawn live on a terminal.
struct PullLines(LayerBars);

impl PullProgress for PullLines {
    fn layers(&self, layers: &[(String, u64)]) {
        self.0.start(layers, "Pulling fs layer");
    }

    fn downloading(&self, digest: &str, done: u64, total: u64) {
        self.0.progress(digest, "Downloading", done, total);
    }

    fn layer(&self, digest: &str, status: LayerStatus) {
        let text = match status {
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::PullComplete => "Pull complete",
        };
        self.0.done(digest, text);
    }
}

/// `bale pull [OPTIONS] NAME[:TAG|@DIGEST]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (only the host platform is supported)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to pull
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

/// Runs `bale pull`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let host_platform = Platform::host();
    let platform = match &args.platform {
        None => host_platform,
        Some(p) => {
            let wanted = Platform::parse(p).with_context(|| {
                format!("invalid platform {p:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64")
            })?;
            if wanted.os != host_platform.os || wanted.architecture != host_platform.architecture {
                bail!(
                    "--platform {p} is not supported: bale pulls only the host platform ({host_platform})"
                );
            }
            Platform {
                variant: wanted.variant.or(host_platform.variant),
                ..wanted
            }
        }
    };
    let parsed = Reference::parse(&args.name)
        .map_err(|e| anyhow::anyhow!("invalid reference format: {e}"))?;
    if args.all_tags && (parsed.tag().is_some() || parsed.digest().is_some()) {
        bail!("tag can't be used with --all-tags/-a");
    }
    let store = globals.store()?;
    let host = RegistryHost::parse(parsed.domain())?;
    let registry = Registry::with_stored_credentials(host, globals.registry_settings()?)?;

    let references = if args.all_tags {
        let mut tags = registry
            .list_tags(parsed.path())
            .map_err(|e| with_hint(e, &parsed))?;
        tags.sort();
        tags.iter()
            .map(|t| parsed.with_tag(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("the registry lists an invalid tag: {e}"))?
    } else {
        vec![parsed.clone().with_default_tag()]
    };

    let quiet = args.quiet;
    let lines = PullLines(LayerBars::new(quiet));
    let mut all_up_to_date = true;
    for reference in &references {
        if !quiet {
            let label = match (reference.tag(), reference.digest()) {
                (Some(t), _) => t.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => "latest".to_string(),
            };
            println!("{label}: Pulling from {}", reference.path());
        }
        let outcome = pull(&store, &registry, reference, &platform, &lines);
        lines.0.finish();
        let outcome = outcome.map_err(|e| with_hint(e, reference))?;
        all_up_to_date &= outcome.up_to_date;
        if !quiet {
            println!("Digest: {}", outcome.digest);
            if !args.all_tags {
                let status = if outcome.up_to_date {
                    "Image is up to date for"
                } else {
                    "Downloaded newer image for"
                };
                println!("Status: {status} {}", reference.familiar());
            }
        }
    }
    if args.all_tags {
        if !quiet {
            let status = if all_up_to_date {
                "Image is up to date for"
            } else {
                "Downloaded newer image for"
            };
            println!("Status: {status} {}", parsed.familiar_repository());
        }
        println!("{}", parsed.repository());
    } else {
        println!("{}", references[0]);
    }
    Ok(ExitCode::SUCCESS)
}

fn with_hint(e: bale_registry::Error, reference: &Reference) -> anyhow::Error {
    if e.has_code("MANIFEST_UNKNOWN")
        && let Some(words) = e.registry_message()
    {
        return anyhow::anyhow!("manifest for {} not found: {words}", reference.familiar());
    }
    if e.is_unauthorized()
        || e.has_code("DENIED")
        || e.has_code("NAME_UNKNOWN")
        || matches!(e.status(), Some(403))
    {
        anyhow::anyhow!(
            "pull access denied for {}, repository does not exist or may require 'bale login': {e}",
            reference.familiar_repository()
        )
    } else if let Some(hint) = e.hint() {
        anyhow::anyhow!("{e}\n{hint}")
    } else {
        e.into()
    }
}
