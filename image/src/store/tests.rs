use std::io::Write;

use super::*;
use crate::manifest;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

/// Commits an image with one layer holding `content`.
fn image(store: &Store, content: &[u8], names: &[&str]) -> Image {
    let lease = store.lease().unwrap();
    let layer = lease.put_blob(content, None).unwrap();
    let mut config = ImageConfig::default();
    config.rootfs.diff_ids.push(layer.clone());
    let config = config.to_vec();
    let config_digest = lease.put_blob(&config, None).unwrap();
    let m = manifest::build(
        (&config_digest, config.len() as u64),
        &[(layer, content.len() as u64)],
    );
    let names: Vec<Reference> = names
        .iter()
        .map(|n| Reference::parse_tagged(n).unwrap())
        .collect();
    lease.commit_image(&m, &names).unwrap()
}

fn blob_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn layout_files_exist_and_index_names_full_and_familiar() {
    let (_d, store) = store();
    assert_eq!(
        fs::read(store.root().join("oci-layout")).unwrap(),
        OCI_LAYOUT
    );
    image(&store, b"a", &["busybox", "localhost:5000/x:1"]);
    let text = fs::read_to_string(store.root().join("index.json")).unwrap();
    assert!(
        text.contains(r#""org.opencontainers.image.ref.name":"docker.io/library/busybox:latest""#)
    );
    assert!(text.contains(r#""org.opencontainers.image.ref.name":"busybox:latest""#));
    assert!(text.contains(r#""org.opencontainers.image.ref.name":"busybox""#));
    assert_eq!(text.matches("localhost:5000/x:1").count(), 1, "{text}");
}

#[test]
fn moving_a_tag_leaves_the_old_image_dangling() {
    let (_d, store) = store();
    let a = image(&store, b"a", &["app:1"]);
    let b = image(&store, b"b", &["app:1"]);
    let images = store.images().unwrap();
    assert_eq!(images.len(), 2);
    let old = images.iter().find(|i| i.id == a.id).unwrap();
    assert!(old.names.is_empty());
    assert_eq!(store.resolve("app:1").unwrap().id, b.id);
    assert!(
        store
            .meta(&b.manifest_digest)
            .unwrap()
            .last_tag_time
            .is_some()
    );
    // Tagging the dangling image again removes its unnamed entry.
    store
        .tag(old, &Reference::parse_tagged("app:old").unwrap())
        .unwrap();
    let ix = store.index().unwrap();
    // app:1 and app:old, each full and familiar.
    assert_eq!(ix.descriptors().len(), 4);
    store
        .untag(&Reference::parse_tagged("app:old").unwrap())
        .unwrap();
    store
        .untag(&Reference::parse_tagged("app:1").unwrap())
        .unwrap();
    let ix = store.index().unwrap();
    assert_eq!(ix.descriptors().len(), 2, "{:?}", ix.descriptors());
    assert!(ix.entries().iter().all(|e| e.names.is_empty()));
}

#[test]
fn resolve_by_id_prefix_digest_and_name() {
    let (_d, store) = store();
    let a = image(&store, b"a", &["app:1"]);
    assert_eq!(store.resolve(a.id.short()).unwrap().id, a.id);
    assert_eq!(store.resolve(&a.id.to_string()).unwrap().id, a.id);
    assert_eq!(
        store
            .resolve(&format!("sha256:{}", &a.id.hex()[..5]))
            .unwrap()
            .id,
        a.id
    );
    assert_eq!(
        store
            .resolve(&format!("app@{}", a.manifest_digest))
            .unwrap()
            .id,
        a.id
    );
    let e = store.resolve("nothere").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nothere:latest");
    let e = store.resolve("Bad").unwrap_err();
    assert!(e.to_string().contains("must be lowercase"), "{e}");
}

#[test]
fn gc_removes_only_unreferenced_blobs_and_waits_for_leases() {
    let (_d, store) = store();
    let a = image(&store, b"a", &["a"]);
    image(&store, b"b", &["b"]);
    assert_eq!(blob_count(&store), 6);
    store.remove_image(&a.manifest_digest).unwrap();
    {
        let _lease = store.lease().unwrap();
        assert_eq!(store.gc(false).unwrap(), None);
    }
    let report = store.gc(false).unwrap().unwrap();
    assert_eq!(report.removed.len(), 3);
    assert_eq!(blob_count(&store), 3);
    assert!(store.resolve("b").is_ok());
    assert!(
        !store
            .bale_dir()
            .join(format!("meta/images/{}.json", a.manifest_digest.hex()))
            .exists()
    );
}

#[test]
fn a_blob_with_the_wrong_digest_leaves_nothing() {
    let (_d, store) = store();
    let lease = store.lease().unwrap();
    let mut w = lease.blob_writer().unwrap();
    w.write_all(b"content").unwrap();
    let e = w.commit(Some(&Digest::of(b"other"))).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }));
    assert_eq!(blob_count(&store), 0);
    assert_eq!(fs::read_dir(store.temp_dir().unwrap()).unwrap().count(), 0);
}

#[test]
fn stale_temporary_directories_are_removed_on_open() {
    let (_d, store) = store();
    let root = store.root().to_path_buf();
    let tmp = store.temp_root();
    // A dead owner: a lock file nobody holds, and its directory.
    fs::write(tmp.join("999999-1-0.lock"), b"").unwrap();
    fs::create_dir(tmp.join("999999-1-0")).unwrap();
    fs::write(tmp.join("999999-1-0/blob-0"), b"partial").unwrap();
    // A live owner: this store's own area.
    let live = store.temp_dir().unwrap().to_path_buf();
    let again = Store::open(&root).unwrap();
    assert!(!tmp.join("999999-1-0").exists());
    assert!(!tmp.join("999999-1-0.lock").exists());
    assert!(live.exists());
    drop(again);
    drop(store);
    assert!(!live.exists());
}

#[test]
fn commit_refuses_a_manifest_with_missing_blobs() {
    let (_d, store) = store();
    let lease = store.lease().unwrap();
    let m = manifest::build((&Digest::of(b"x"), 1), &[]);
    let e = lease.commit_image(&m, &[]).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    assert!(store.images().unwrap().is_empty());
}
