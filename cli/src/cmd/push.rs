//! `bale push`: uploads an image (or every tag of a repository) from the store to its
//! registry, compressing layers on the way, printing docker's lines.

use std::process::ExitCode;

use anyhow::bail;
use bale_image::Reference;
use bale_registry::push::{LayerCompression, PushProgress, PushStatus, push};
use bale_registry::{Registry, RegistryHost};

use super::Globals;
use super::layer_bars::LayerBars;

/// Docker's push lines, drawn live on a terminal.
struct PushLines(LayerBars);

impl PushProgress for PushLines {
    fn layers(&self, layers: &[(String, u64)]) {
        self.0.start(layers, "Preparing");
    }

    fn uploading(&self, diff_id: &str, done: u64, total: u64) {
        self.0.progress(diff_id, "Pushing", done, total);
    }

    fn layer(&self, diff_id: &str, status: &PushStatus) {
        let text = match status {
            PushStatus::Pushed => "Pushed".to_string(),
            PushStatus::AlreadyExists => "Layer already exists".to_string(),
            PushStatus::MountedFrom(from) => format!("Mounted from {from}"),
        };
        self.0.done(diff_id, &text);
    }
}

/// Layer compression for `--compression`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum CompressionArg {
    /// gzip (parallel, deterministic)
    #[default]
    Gzip,
    /// zstd
    Zstd,
}

/// `bale push [OPTIONS] NAME[:TAG]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Compression of the layers sent
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to push
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

/// Runs `bale push`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let parsed = Reference::parse(&args.name)
        .map_err(|e| anyhow::anyhow!("invalid reference format: {e}"))?;
    if parsed.digest().is_some() {
        bail!("cannot push a digest reference: push NAME[:TAG]");
    }
    if args.all_tags && parsed.tag().is_some() {
        bail!("tag can't be used with --all-tags/-a");
    }
    let store = globals.store()?;
    let references: Vec<Reference> = if args.all_tags {
        let repository = parsed.repository();
        let mut names: Vec<Reference> = store
            .images()?
            .into_iter()
            .flat_map(|image| image.names)
            .filter(|n| n.repository() == repository && n.tag().is_some())
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            bail!(
                "An image does not exist locally with the tag: {}",
                parsed.familiar_repository()
            );
        }
        names
    } else {
        vec![parsed.clone().with_default_tag()]
    };
    let compression = match args.compression {
        CompressionArg::Gzip => LayerCompression::Gzip,
        CompressionArg::Zstd => LayerCompression::Zstd,
    };
    let host = RegistryHost::parse(parsed.domain())?;
    let registry = Registry::with_stored_credentials(host, globals.registry_settings()?)?;

    let quiet = args.quiet;
    if !quiet {
        println!("The push refers to repository [{}]", parsed.repository());
    }
    let lines = PushLines(LayerBars::new(quiet));
    for reference in &references {
        let image = store.resolve(&reference.to_string()).map_err(|e| {
            if e.is_not_found() {
                anyhow::anyhow!(
                    "An image does not exist locally with the tag: {}",
                    reference.familiar()
                )
            } else {
                e.into()
            }
        })?;
        let tag = reference.tag().unwrap_or("latest");
        let outcome = push(
            &store,
            &registry,
            &image,
            reference.path(),
            tag,
            compression,
            &lines,
        );
        lines.0.finish();
        let outcome = outcome.map_err(|e| match e.hint() {
            Some(hint) => anyhow::anyhow!("{e}\n{hint}"),
            None => e.into(),
        })?;
        if quiet {
            println!("{reference}");
        } else {
            println!("{tag}: digest: {} size: {}", outcome.digest, outcome.size);
        }
    }
    Ok(ExitCode::SUCCESS)
}
