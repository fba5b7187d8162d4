//! `save`: one tar that is both a docker archive (`manifest.json`, `repositories`) and an OCI
//! image layout (`oci-layout`, `index.json`, `blobs/sha256/`), as docker 25 and later write it;
//! `save_oci`: the OCI layout alone, as BuildKit's `oci` exporter writes it.
//! Blobs shared by several images are written once; every blob is streamed from the store and
//! hashed on the way, so a corrupt blob fails the save instead of spreading.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use serde_json::{Value, json};

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
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

/// Bytes read, hashed and written at a time: large enough that each syscall moves a lot,
/// small enough to stay in the CPU's cache between writing and hashing.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the copying thread and the hashing thread.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Appends one blob as `blobs/sha256/<hex>`, hashing it on the way. Each chunk is read once
/// into a buffer and written and hashed from there, so the cost is the two kernel copies and
/// SHA-256; for a blob of several chunks, hashing runs on a thread of its own, beside the
/// copying, so a save takes about as long as hashing alone.
fn append_blob<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    digest: &Digest,
    image: &Image,
) -> Result<()> {
    let mut file = store.open_blob(digest).map_err(|e| match e {
        Error::MissingBlob { digest, .. } => Error::MissingBlob {
            digest,
            what: format!("needed by image {}", image.display_name()),
        },
        e => e,
    })?;
    let path = store.blob_path(digest);
    let size = file.metadata().at("reading", &path)?.len();
    let mut h = header(tar::EntryType::Regular, 0o644, size);
    h.set_path(format!("blobs/sha256/{}", digest.hex()))
        .ctx(|| format!("naming blob {digest} in the archive"))?;
    h.set_cksum();
    let out = tar.get_mut();
    out.write_all(h.as_bytes())
        .ctx(|| format!("writing blob {digest} to the archive"))?;
    let (actual, copied) = copy_hashed(&mut file, out, size, digest, &path)?;
    if copied != size {
        return Err(Error::SizeMismatch {
            what: format!("blob {} (run `bale system check`)", path.display()),
            expected: size,
            actual: copied,
        });
    }
    let padding = (512 - (size % 512) as usize) % 512;
    out.write_all(&[0u8; 512][..padding])
        .ctx(|| format!("writing blob {digest} to the archive"))?;
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

/// Reads at most `size` bytes of `file` into `buf`: the header promised `size` bytes, and a
/// blob that grew meanwhile must not corrupt the archive. Returns 0 at the end.
fn read_chunk(file: &mut File, buf: &mut [u8], left: u64, path: &Path) -> Result<usize> {
    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
    if want == 0 {
        return Ok(0);
    }
    loop {
        match file.read(&mut buf[..want]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r.at("reading", path),
        }
    }
}

/// Copies up to `size` bytes of `file` to `out`; returns their digest and how many there were.
fn copy_hashed(
    file: &mut File,
    out: &mut impl Write,
    size: u64,
    digest: &Digest,
    path: &Path,
) -> Result<(Digest, u64)> {
    let what = || format!("writing blob {digest} to the archive");
    if size <= CHUNK as u64 {
        let mut buf = vec![0u8; CHUNK];
        let mut hasher = Sha256::new();
        let mut copied = 0u64;
        loop {
            let n = read_chunk(file, &mut buf, size - copied, path)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).ctx(what)?;
            copied += n as u64;
        }
        return Ok((Digest::from_sha256(hasher), copied));
    }
    std::thread::scope(|scope| {
        let (to_hash, chunks) = mpsc::sync_channel::<(Vec<u8>, usize)>(CHUNKS_IN_FLIGHT);
        let (give_back, free) = mpsc::channel::<Vec<u8>>();
        for _ in 0..CHUNKS_IN_FLIGHT {
            give_back
                .send(vec![0u8; CHUNK])
                .expect("the receiver is alive");
        }
        let hashing = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, n) in chunks {
                hasher.update(&buf[..n]);
                // The copier may have stopped early; its buffers are not needed then.
                let _ = give_back.send(buf);
            }
            hasher
        });
        let copied = (|| -> Result<u64> {
            let mut copied = 0u64;
            loop {
                let Ok(mut buf) = free.recv() else {
                    return Err(Error::invalid("save", "the hashing thread stopped"));
                };
                let n = read_chunk(file, &mut buf, size - copied, path)?;
                if n == 0 {
                    return Ok(copied);
                }
                out.write_all(&buf[..n]).ctx(what)?;
                copied += n as u64;
                if to_hash.send((buf, n)).is_err() {
                    return Err(Error::invalid("save", "the hashing thread stopped"));
                }
            }
        })();
        // Ends the hashing thread's loop, whatever happened.
        drop(to_hash);
        let hasher = hashing
            .join()
            .map_err(|_| Error::invalid("save", "the hashing thread panicked"))?;
        Ok((Digest::from_sha256(hasher), copied?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageConfig, manifest};

    #[test]
    fn a_blob_changed_on_disk_fails_the_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lease = store.lease().unwrap();
        // Several chunks' worth, so the hash spans chunk boundaries.
        let content: Vec<u8> = (0..CHUNK * 3 + 100).map(|i| (i % 251) as u8).collect();
        let layer = lease.put_blob(&content, None).unwrap();
        let mut config = ImageConfig::default();
        config.rootfs.diff_ids.push(layer.clone());
        let config = config.to_vec();
        let config_digest = lease.put_blob(&config, None).unwrap();
        let m = manifest::build(
            (&config_digest, config.len() as u64),
            &[(layer.clone(), content.len() as u64)],
        );
        let image = lease.commit_image(&m, &[]).unwrap();
        drop(lease);
        let items = [SaveItem {
            image,
            names: Vec::new(),
        }];

        let mut out = Vec::new();
        save(&store, &items, &mut out).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        let found = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with(layer.hex()))
            .map(|mut e| {
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                bytes
            });
        assert_eq!(found.as_deref(), Some(&content[..]));

        let mut damaged = content.clone();
        damaged[CHUNK + 7] ^= 1;
        std::fs::write(store.blob_path(&layer), &damaged).unwrap();
        let err = save(&store, &items, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }
}
