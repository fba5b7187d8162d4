//! `save`: one tar that is both a docker archive (`manifest.json`, `repositories`) and an OCI
//! image layout (`oci-layout`, `index.json`, `blobs/sha256/`), as docker 25 and later write it;
//! `save_oci`: the OCI layout alone, as BuildKit's `oci` exporter writes it.
//! Blobs shared by several images are written once; every blob is streamed from the store and
//! hashed on the way, so a corrupt blob fails the save instead of spreading.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::store::{Image, Store};

/// One image to save, with the names to record for it (none for an image named by ID).
#[derive(Debug, Clone)]
pub struct SaveItem {
    /// The image.
    pub image: Image,
    /// Its names in the archive.
    pub names: Vec<Reference>,
}

/// Writes the archive of `items` to `out`: an OCI layout and a docker archive in one tar.
pub fn save(store: &Store, items: &[SaveItem], out: impl Write) -> Result<()> {
    write_archive(store, items, out, true)
}

/// Writes an OCI image layout of `items` as a tar to `out`, without the docker archive's
/// `manifest.json` and `repositories` (`build --output type=oci`).
pub fn save_oci(store: &Store, items: &[SaveItem], out: impl Write) -> Result<()> {
    write_archive(store, items, out, false)
}

fn write_archive(store: &Store, items: &[SaveItem], out: impl Write, docker: bool) -> Result<()> {
    let _lease = store.lease()?;
    let mut tar = tar::Builder::new(out);
    let mut written: HashSet<Digest> = HashSet::new();
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, dir, io::empty())
            .ctx(|| "writing the archive".to_string())?;
    }
    let mut manifest_json = Vec::new();
    let mut index_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let image = &item.image;
        let layers = image.layer_digests()?;
        let mut blobs = vec![image.id.clone()];
        blobs.extend(layers.iter().cloned());
        blobs.push(image.manifest_digest.clone());
        for d in blobs {
            if written.insert(d.clone()) {
                append_blob(store, &mut tar, &d, image)?;
            }
        }
        let repo_tags: Vec<String> = item.names.iter().map(Reference::familiar).collect();
        manifest_json.push(json!({
            "Config": format!("blobs/sha256/{}", image.id.hex()),
            "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
            "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
        }));
        let media_type = image.manifest.media_type().as_ref().map_or_else(
            || "application/vnd.oci.image.manifest.v1+json".to_string(),
            |m| m.to_string(),
        );
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": media_type,
                "digest": image.manifest_digest.to_string(),
                "size": image.manifest_size,
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if item.names.is_empty() {
            index_entries.push(descriptor(None));
        }
        for n in &item.names {
            index_entries.push(descriptor(Some(json!({
                "io.containerd.image.name": n.to_string(),
                "org.opencontainers.image.ref.name": n.tag().unwrap_or("latest"),
            }))));
            if let (Some(tag), Some(top)) = (n.tag(), layers.last()) {
                repositories
                    .entry(n.familiar_repository())
                    .or_default()
                    .insert(tag.to_string(), top.hex().to_string());
            }
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index_entries,
    });
    let mut files: Vec<(&str, Vec<u8>)> =
        vec![("index.json", serde_json::to_vec(&index).expect("encodes"))];
    if docker {
        files.push((
            "manifest.json",
            serde_json::to_vec(&manifest_json).expect("encodes"),
        ));
    }
    files.push(("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    if docker && !repositories.is_empty() {
        files.push((
            "repositories",
            serde_json::to_vec(&repositories).expect("encodes"),
        ));
    }
    for (name, bytes) in files {
        let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        tar.append_data(&mut h, name, &bytes[..])
            .ctx(|| format!("writing {name} to the archive"))?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .ctx(|| "finishing the archive".to_string())?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_blob<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    digest: &Digest,
    image: &Image,
) -> Result<()> {
    let file = store.open_blob(digest).map_err(|e| match e {
        Error::MissingBlob { digest, .. } => Error::MissingBlob {
            digest,
            what: format!("needed by image {}", image.display_name()),
        },
        e => e,
    })?;
    let path = store.blob_path(digest);
    let size = file.metadata().at("reading", &path)?.len();
    let mut reader = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
    let mut h = header(tar::EntryType::Regular, 0o644, size);
    tar.append_data(
        &mut h,
        format!("blobs/sha256/{}", digest.hex()),
        &mut reader,
    )
    .ctx(|| format!("writing blob {digest} to the archive"))?;
    let (_, (actual, _)) = reader.finish();
    if &actual != digest {
        return Err(Error::DigestMismatch {
            what: format!(
                "blob {} of image {} (run `bale system check`)",
                path.display(),
                image.display_name()
            ),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(())
}
