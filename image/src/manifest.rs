//! Manifests and media types: building the OCI manifest of an image whose layers are stored
//! uncompressed (so each layer's digest is its diffID).

use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};

use crate::digest::Digest;

/// Media type of an uncompressed OCI layer, the only form the store keeps.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Media type of a docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An OCI manifest for a config and uncompressed layers, each given as (digest, size).
pub fn build(config: (&Digest, u64), layers: &[(Digest, u64)]) -> ImageManifest {
    let config = Descriptor::new(MediaType::ImageConfig, config.1, config.0);
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|(d, size)| Descriptor::new(MediaType::ImageLayer, *size, d))
        .collect();
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("a manifest with a config and layers is complete")
}
