//! The distribution API client against a real `docker-registry` on 127.0.0.1: every upload
//! form, mounts, manifests, tags, the catalog and verified downloads.

use std::io::Read;

use bale_registry::api::{MountOutcome, OCI_MANIFEST};
use bale_registry::{Registry, RegistryHost, Settings};

/// What `registry_util` needs from the end-to-end harness.
mod util {
    pub fn have(tool: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
    }

    pub fn skip(reason: &str) -> bool {
        if std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1") {
            panic!("cannot skip on CI: {reason}");
        }
        eprintln!("skipped: {reason}");
        true
    }
}

#[path = "../../tests/e2e/registry_util.rs"]
mod registry_util;

use registry_util::{RegistryAuth, TestRegistry, sha256};

fn session(reg: &TestRegistry) -> Registry {
    let host = RegistryHost::parse(&reg.addr).unwrap();
    Registry::new(host, Settings::default(), None)
}

#[test]
fn uploads_mounts_manifests_tags_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let Some(reg) = TestRegistry::start(&dir.path().join("reg"), RegistryAuth::None, None) else {
        return;
    };
    let r = session(&reg);
    r.ping().unwrap();
    assert_eq!(r.base_url().unwrap(), format!("http://{}", reg.addr));

    // Monolithic, streamed and chunked uploads.
    let a: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let a_digest = sha256(&a);
    assert!(r.head_blob("x/one", &a_digest).unwrap().is_none());
    assert!(
        r.push_blob("x/one", &a_digest, a.len() as u64, &mut a.as_slice())
            .unwrap()
    );
    assert!(
        !r.push_blob("x/one", &a_digest, a.len() as u64, &mut a.as_slice())
            .unwrap()
    );
    assert_eq!(
        r.head_blob("x/one", &a_digest).unwrap().unwrap().size,
        Some(a.len() as u64)
    );

    let b = b"streamed without knowing its digest first".repeat(1000);
    let s = r.start_upload("x/one").unwrap();
    let (digest, size) = r.upload_streamed(&s, &mut b.as_slice()).unwrap();
    assert_eq!((digest, size), (sha256(&b), b.len() as u64));

    let c = b"chunk after chunk".repeat(5000);
    let s = r.start_upload("x/one").unwrap();
    let (digest, size) = r.upload_chunked(&s, &mut c.as_slice(), 16 * 1024).unwrap();
    assert_eq!((digest.clone(), size), (sha256(&c), c.len() as u64));
    let mut back = Vec::new();
    r.get_blob("x/one", &digest, Some(size))
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, c);

    // A wrong size is caught while reading.
    let mut short = r.get_blob("x/one", &digest, Some(size + 1)).unwrap();
    let err = short.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");

    // Mounts: from a repository that has the blob, and from one that does not.
    assert_eq!(
        r.mount_blob("x/two", &a_digest, "x/one").unwrap(),
        MountOutcome::Mounted
    );
    assert!(r.head_blob("x/two", &a_digest).unwrap().is_some());
    let fallback = r.mount_blob("x/three", &a_digest, "x/none").unwrap();
    let MountOutcome::Upload(session) = fallback else {
        panic!("expected an upload session, got {fallback:?}");
    };
    r.upload_monolithic(&session, &a_digest, a.len() as u64, &mut a.as_slice())
        .unwrap();

    // Manifests by tag and digest, tags and catalog.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        sha256(&b),
        b.len()
    );
    let digest = r
        .put_manifest("x/one", "v1", OCI_MANIFEST, manifest.as_bytes())
        .unwrap();
    assert_eq!(digest, sha256(manifest.as_bytes()));
    r.put_manifest("x/one", "v2", OCI_MANIFEST, manifest.as_bytes())
        .unwrap();
    let got = r.get_manifest("x/one", "v1").unwrap();
    assert_eq!(got.bytes, manifest.as_bytes());
    assert_eq!(got.media_type, OCI_MANIFEST);
    assert_eq!(r.get_manifest("x/one", &digest).unwrap().digest, digest);
    let head = r.head_manifest("x/one", "v2").unwrap().unwrap();
    assert_eq!(head.digest.as_deref(), Some(digest.as_str()));
    assert!(r.head_manifest("x/one", "nope").unwrap().is_none());
    let err = r.get_manifest("x/one", "nope").unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("manifest unknown"), "{err}");
    let mut tags = r.list_tags("x/one").unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    let catalog = r.catalog().unwrap();
    assert!(catalog.contains(&"x/one".to_string()), "{catalog:?}");
}
