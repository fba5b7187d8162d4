//! Base images: a FROM's (or a `--from`'s) image found in the store, or pulled through the
//! registry client when the store lacks it or `--pull` asks for a fresh copy.

use bale_image::store::CachedLayer;
use bale_image::{Digest, Image, ImageConfig, Reference, Store};
use bale_registry::pull::{LayerStatus, Platform, pull};
use bale_registry::{Registry, RegistryHost, Settings};

use super::error::{BuildError, BuildResult};

/// An image a stage starts from or copies out of.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The image ID.
    pub id: Digest,
    /// The normalised name (`docker.io/library/busybox:latest`), or the ID when it was named by
    /// ID.
    pub name: String,
    /// Its config.
    pub config: ImageConfig,
    /// Its layers, bottom first.
    pub layers: Vec<CachedLayer>,
    /// Whether it was pulled during this build.
    pub pulled: bool,
}

/// The layers of a stored image, with their diffIDs from its config.
pub fn layers_of(image: &Image, config: &ImageConfig) -> BuildResult<Vec<CachedLayer>> {
    let descriptors = image.manifest.layers();
    if descriptors.len() != config.rootfs.diff_ids.len() {
        return Err(BuildError::new(format!(
            "image {} is inconsistent: {} layers but {} diffIDs in its config",
            image.display_name(),
            descriptors.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    descriptors
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(d, diff_id)| {
            Ok(CachedLayer {
                digest: Digest::try_from(d.digest()).map_err(bale_image::Error::from)?,
                size: d.size(),
                media_type: d.media_type().to_string(),
                diff_id: diff_id.clone(),
            })
        })
        .collect()
}

fn from_store(store: &Store, image: Image, name: String, pulled: bool) -> BuildResult<BaseImage> {
    let (_, config) = store.config(&image)?;
    let layers = layers_of(&image, &config)?;
    Ok(BaseImage {
        id: image.id.clone(),
        name,
        config,
        layers,
        pulled,
    })
}

/// Finds `reference` in the store, pulling it when it is missing or when `force_pull` is set
/// (an image named by ID is never pulled). `status` hears a line per layer pulled.
pub fn resolve(
    store: &Store,
    reference: &str,
    force_pull: bool,
    settings: &Settings,
    status: &(dyn Fn(String) + Sync),
) -> BuildResult<BaseImage> {
    let parsed = Reference::parse(reference)
        .ok()
        .map(Reference::with_default_tag);
    let name = parsed
        .as_ref()
        .map_or_else(|| reference.to_string(), ToString::to_string);
    if !force_pull || parsed.is_none() {
        match store.resolve(reference) {
            Ok(image) => return from_store(store, image, name, false),
            Err(e) if e.is_not_found() && parsed.is_some() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let parsed =
        parsed.ok_or_else(|| BuildError::new(format!("invalid image reference {reference:?}")))?;
    let host = RegistryHost::parse(parsed.domain()).map_err(|e| BuildError::new(e.to_string()))?;
    let registry = Registry::with_stored_credentials(host, settings.clone())
        .map_err(|e| BuildError::new(e.to_string()))?;
    let on_layer = |digest: &str, what: LayerStatus| {
        status(match what {
            LayerStatus::AlreadyExists => format!("{digest}: already exists"),
            LayerStatus::PullComplete => format!("{digest}: pull complete"),
        })
    };
    pull(store, &registry, &parsed, &Platform::host(), &on_layer).map_err(|e| {
        BuildError::new(format!(
            "failed to resolve source metadata for {parsed}: {e} (the image is not in the store and could not be pulled)"
        ))
    })?;
    let image = store.resolve(&parsed.to_string())?;
    from_store(store, image, name, true)
}
