//! Pushing an image from the store to a registry. Layers are stored uncompressed, so each is
//! compressed on the way out (gzip on all cores with fixed blocks, so the bytes and digest do
//! not depend on the thread count; or zstd), streamed into the upload while it is hashed, and
//! the compressed digest is remembered per uncompressed digest. The next push of the same layer
//! then asks the registry first (`HEAD`, "Layer already exists") and tries a cross-repository
//! mount from a repository known to hold it before compressing again. Layers already stored
//! compressed (pulled ones) go out as they are, and an image whose layers all do keeps its
//! manifest bytes and digest.
//!
//! An upload that breaks (connection dropped, `5xx`) starts over with a new session, reading
//! the layer from the store again; a refusal (`4xx`, a digest the registry rejects) is final.

use crate::counting::Counting;
use std::io::{Read, Write};
use std::sync::Mutex;

use bale_image::store::CompressedBlob;
use bale_image::{Digest, Image, Store};
use gzp::ZWriter;

use crate::api::{MountOutcome, OCI_MANIFEST};
use crate::client::Registry;
use crate::error::{Error, Result};

/// Layers uploaded at the same time (docker's default `max-concurrent-uploads` is 5).
const PARALLEL_UPLOADS: usize = 3;

/// How uncompressed layers are compressed for the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    /// gzip, level 6, in parallel.
    #[default]
    Gzip,
    /// zstd, level 3.
    Zstd,
}

impl LayerCompression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            LayerCompression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            LayerCompression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// What happened to one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    /// It was uploaded.
    Pushed,
    /// The repository already had it.
    AlreadyExists,
    /// The registry linked it from another repository (its path).
    MountedFrom(String),
}

/// The result of [`push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The digest of the manifest pushed.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The layer descriptor the pushed manifest lists.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

fn is_compressed(media_type: &str) -> bool {
    media_type.ends_with("+gzip")
        || media_type.ends_with("+zstd")
        || media_type.ends_with(".tar.gzip")
        || media_type.ends_with(".tar.zstd")
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        path: what.into(),
        source,
    }
}

/// Hears how a push goes, layer by layer; layers are named by diff ID, as docker shows them.
/// Called from several upload threads at once.
pub trait PushProgress: Sync {
    /// These layers (diff ID, stored size) will be settled, in this order.
    fn layers(&self, _layers: &[(String, u64)]) {}
    /// `done` of `total` stored bytes of a layer have been read for the upload (an upload that
    /// starts over reports from 0 again).
    fn uploading(&self, _diff_id: &str, _done: u64, _total: u64) {}
    /// A layer is settled.
    fn layer(&self, diff_id: &str, status: &PushStatus);
}

impl<F: Fn(&str, &PushStatus) + Sync> PushProgress for F {
    fn layer(&self, diff_id: &str, status: &PushStatus) {
        self(diff_id, status)
    }
}

/// What [`Counting`] needs to know about the layer it watches.
struct Watch<'a> {
    name: &'a str,
    total: u64,
    progress: &'a dyn PushProgress,
}

impl<'a> Watch<'a> {
    fn reader<R: Read>(&self, inner: R) -> Counting<'a, R> {
        let (name, progress) = (self.name, self.progress);
        Counting::new(inner, self.total, move |done, total| {
            progress.uploading(name, done, total)
        })
    }
}

/// Pushes `image` to `repository:tag` on `registry`. `progress` hears each layer's diff ID
/// (as docker shows it), how its upload goes and what happened to it.
pub fn push(
    store: &Store,
    registry: &Registry,
    image: &Image,
    repository: &str,
    tag: &str,
    compression: LayerCompression,
    progress: &dyn PushProgress,
) -> Result<PushOutcome> {
    let layers = image.manifest.layers();
    // Docker names layers by diff ID when pushing; a config that cannot be read only costs
    // the names, the push itself does not need it.
    let diff_ids: Vec<String> = store
        .config(image)
        .map(|(_, config)| {
            config
                .rootfs
                .diff_ids
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default();
    let name_of = |i: usize| -> String {
        diff_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| layers[i].digest().to_string())
    };
    progress.layers(
        &(0..layers.len())
            .map(|i| (name_of(i), layers[i].size()))
            .collect::<Vec<_>>(),
    );
    let results: Mutex<Vec<Option<Descriptor>>> = Mutex::new(vec![None; layers.len()]);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_UPLOADS.min(layers.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(layer) = layers.get(i) else { break };
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    let stored = Descriptor {
                        media_type: layer.media_type().to_string(),
                        digest: layer.digest().to_string(),
                        size: layer.size(),
                    };
                    let name = name_of(i);
                    let watch = Watch {
                        name: &name,
                        total: stored.size,
                        progress,
                    };
                    match push_layer(store, registry, repository, &stored, compression, &watch) {
                        Ok((descriptor, status)) => {
                            progress.layer(&name, &status);
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(descriptor);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let pushed: Vec<Descriptor> = results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    if pushed.len() != layers.len() {
        return Err(Error::Protocol {
            url: repository.to_string(),
            message: "a layer upload ended without a result".into(),
        });
    }

    let config = image.manifest.config();
    let config_digest = config.digest().to_string();
    with_retries(|| {
        let config_file = store.open_blob(&image.id)?;
        registry.push_blob(
            repository,
            &config_digest,
            config.size(),
            &mut std::io::BufReader::new(config_file),
        )
    })?;

    let unchanged = layers
        .iter()
        .zip(&pushed)
        .all(|(l, p)| l.digest().to_string() == p.digest);
    let (media_type, bytes) = if unchanged {
        let media_type = image
            .manifest
            .media_type()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        (media_type, store.read_blob(&image.manifest_digest)?)
    } else {
        let manifest = ManifestOut {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: Descriptor {
                media_type: config.media_type().to_string(),
                digest: config_digest,
                size: config.size(),
            },
            layers: pushed,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|source| Error::Json {
            what: "the manifest to push".into(),
            source,
        })?;
        (OCI_MANIFEST.to_string(), bytes)
    };
    let digest = registry.put_manifest(repository, tag, &media_type, &bytes)?;
    Ok(PushOutcome {
        digest,
        size: bytes.len() as u64,
    })
}

/// Pushes one layer; returns the descriptor the registry now holds it under.
fn push_layer(
    store: &Store,
    registry: &Registry,
    repository: &str,
    stored: &Descriptor,
    compression: LayerCompression,
    watch: &Watch<'_>,
) -> Result<(Descriptor, PushStatus)> {
    let stored_digest = parse_digest(&stored.digest)?;
    if is_compressed(&stored.media_type) {
        if registry.head_blob(repository, &stored.digest)?.is_some() {
            return Ok((stored.clone(), PushStatus::AlreadyExists));
        }
        with_retries(|| {
            let file = store.open_blob(&stored_digest)?;
            let session = registry.start_upload(repository)?;
            registry.upload_monolithic(
                &session,
                &stored.digest,
                stored.size,
                &mut watch.reader(std::io::BufReader::new(file)),
            )
        })?;
        return Ok((stored.clone(), PushStatus::Pushed));
    }

    let media_type = compression.media_type();
    let here = format!("{}/{repository}", registry.host().name());
    let known: Vec<CompressedBlob> = store
        .compressed_forms(&stored_digest)?
        .into_iter()
        .filter(|f| f.media_type == media_type)
        .collect();
    for form in &known {
        let descriptor = Descriptor {
            media_type: media_type.to_string(),
            digest: form.digest.to_string(),
            size: form.size,
        };
        if registry
            .head_blob(repository, &descriptor.digest)?
            .is_some()
        {
            remember(store, &stored_digest, &descriptor, &here)?;
            return Ok((descriptor, PushStatus::AlreadyExists));
        }
        let prefix = format!("{}/", registry.host().name());
        for source in &form.repositories {
            let Some(from) = source.strip_prefix(&prefix) else {
                continue;
            };
            if from == repository {
                continue;
            }
            match registry.mount_blob(repository, &descriptor.digest, from)? {
                MountOutcome::Mounted => {
                    remember(store, &stored_digest, &descriptor, &here)?;
                    return Ok((descriptor, PushStatus::MountedFrom(from.to_string())));
                }
                // The registry opened an upload instead; it expires unused.
                MountOutcome::Upload(_) => {}
            }
        }
    }

    let (digest, size) = with_retries(|| {
        let file = store.open_blob(&stored_digest)?;
        let session = registry.start_upload(repository)?;
        let (mut reader, writer) =
            std::io::pipe().map_err(io_err("a pipe for the compressor".into()))?;
        let (uploaded, compressed) = std::thread::scope(|scope| {
            let input = watch.reader(file);
            let compressor = scope.spawn(move || compress(input, writer, compression));
            let uploaded = registry.upload_streamed(&session, &mut reader);
            // An upload that failed early must not leave the compressor blocked on a full pipe.
            drop(reader);
            (uploaded, compressor.join())
        });
        let compressed = match compressed {
            Ok(r) => r.map_err(io_err(format!("compressing layer {}", stored.digest))),
            Err(_) => Err(Error::Protocol {
                url: stored.digest.clone(),
                message: "the compressor thread panicked".into(),
            }),
        };
        // The upload's error explains more than the compressor's broken pipe.
        let out = uploaded?;
        compressed?;
        Ok(out)
    })?;
    let descriptor = Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
    };
    remember(store, &stored_digest, &descriptor, &here)?;
    Ok((descriptor, PushStatus::Pushed))
}

/// How many times an upload is started again from the beginning after a transient failure.
const UPLOAD_RETRIES: u32 = 4;

/// Runs a whole upload (new session, data read again from the store) until it succeeds, fails
/// for good, or has failed transiently [`UPLOAD_RETRIES`] + 1 times. Starting over is always
/// safe: a blob is content-addressed, and a session left unfinished expires in the registry.
fn with_retries<T>(mut upload: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match upload() {
            Err(e) if attempt < UPLOAD_RETRIES && e.is_transient() => {
                crate::client::sleep_backoff(attempt, None);
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn remember(store: &Store, diff_id: &Digest, d: &Descriptor, repository: &str) -> Result<()> {
    store.remember_compressed(
        diff_id,
        CompressedBlob {
            media_type: d.media_type.clone(),
            digest: parse_digest(&d.digest)?,
            size: d.size,
            repositories: vec![repository.to_string()],
        },
    )?;
    Ok(())
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse::<Digest>().map_err(|e| Error::InvalidReference {
        reference: s.to_string(),
        reason: e.to_string(),
    })
}

/// Compresses `input` into `output`.
fn compress(
    mut input: impl Read,
    output: impl Write + Send + 'static,
    compression: LayerCompression,
) -> std::io::Result<()> {
    match compression {
        LayerCompression::Gzip => {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut writer = gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
                .num_threads(threads)
                .map_err(std::io::Error::other)?
                .compression_level(gzp::Compression::new(6))
                .from_writer(output);
            std::io::copy(&mut input, &mut writer)?;
            writer.finish().map_err(std::io::Error::other)?;
            Ok(())
        }
        LayerCompression::Zstd => {
            let mut encoder = zstd::stream::Encoder::new(output, 3)?;
            std::io::copy(&mut input, &mut encoder)?;
            encoder.finish()?.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_output_does_not_depend_on_threads() {
        // Several blocks' worth of compressible, non-repeating data.
        let data: Vec<u8> = (0..600_000u32)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let run = |threads: usize| {
            let (mut r, w) = std::io::pipe().unwrap();
            let input = data.clone();
            let t = std::thread::spawn(move || {
                let mut writer =
                    gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
                        .num_threads(threads)
                        .unwrap()
                        .compression_level(gzp::Compression::new(6))
                        .from_writer(w);
                writer.write_all(&input).unwrap();
                writer.finish().unwrap();
            });
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            t.join().unwrap();
            out
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
        let mut back = Vec::new();
        flate2_decode(&one, &mut back);
        assert_eq!(back, data);
    }

    fn flate2_decode(gz: &[u8], out: &mut Vec<u8>) {
        let (mut r, _) = bale_image::compress::decompress(gz).unwrap();
        r.read_to_end(out).unwrap();
    }
}
