//! Every `--output` form written from a store image of three layers: a busybox rootfs, a layer
//! of whiteouts, an opaque directory, replaced hard link targets, owners, modes and xattrs, and
//! a gzip-compressed layer (as a pull stores it) with a chained hard link and a long name.
//! The archives are checked with the peers (`skopeo`, `oci-image-tool`); the flattened tar and
//! directory are checked entry by entry.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use bale_image::export::{export_docker, export_local, export_oci, export_tar};
use bale_image::{Digest, Image, ImageConfig, Reference, Store, manifest};
use tar::{EntryType, Header};

fn on_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
}

/// Prints why the rest of a test is skipped, or fails on CI where nothing may be skipped.
fn skip(reason: &str) -> bool {
    assert!(!on_ci(), "cannot skip on CI: {reason}");
    eprintln!("skipped: {reason}");
    true
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const LONG: &str = "deep/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/file";

/// A layer tar being written.
struct LayerTar {
    tar: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    fn new() -> Self {
        LayerTar {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, mode: u32, uid: u64, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h
    }

    fn dir(&mut self, path: &str, mode: u32, uid: u64) -> &mut Self {
        let mut h = Self::header(EntryType::Directory, mode, uid, 0);
        self.tar
            .append_data(&mut h, path, std::io::empty())
            .unwrap();
        self
    }

    fn file(&mut self, path: &str, mode: u32, uid: u64, data: &[u8]) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, mode, uid, data.len() as u64);
        self.tar.append_data(&mut h, path, data).unwrap();
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Symlink, 0o777, 0, 0);
        self.tar.append_link(&mut h, path, target).unwrap();
        self
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Link, 0o644, 0, 0);
        self.tar.append_link(&mut h, path, target).unwrap();
        self
    }

    fn finish(self) -> Vec<u8> {
        self.tar.into_inner().unwrap()
    }
}

/// Stores the three layers and commits the image as `app:1.0`.
fn make_image(store: &Store) -> Image {
    let busybox = fs::read("/bin/busybox").unwrap();
    let mut l1 = LayerTar::new();
    l1.dir("bin/", 0o755, 0)
        .file("bin/busybox", 0o755, 0, &busybox)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ls", "busybox")
        .dir("etc/", 0o755, 0)
        .file("etc/passwd", 0o644, 0, b"root:x:0:0:root:/root:/bin/sh\n")
        .dir("tmp/", 0o1777, 0)
        .dir("home/", 0o755, 0)
        .dir("home/app/", 0o750, 1000)
        .dir("data/", 0o755, 0)
        .file("data/keep", 0o644, 0, b"keep")
        .file("data/gone", 0o644, 0, b"gone")
        .dir("opq/", 0o755, 0)
        .file("opq/old", 0o644, 0, b"old")
        .dir("opq/sub/", 0o755, 0)
        .file("opq/sub/old2", 0o644, 0, b"old2")
        .dir("hl/", 0o755, 0)
        .file("hl/orig", 0o600, 7, b"orig")
        .hardlink("hl/link", "hl/orig")
        .dir("usr/", 0o755, 0)
        .dir("usr/lib/", 0o755, 0)
        .file("usr/lib/libx.so", 0o644, 0, b"x")
        .symlink("lib", "usr/lib");
    let l1 = l1.finish();

    let mut l2 = LayerTar::new();
    l2.dir("data/", 0o755, 0)
        .file("data/.wh.gone", 0o644, 0, b"")
        .dir("opq/", 0o700, 0)
        .file("opq/.wh..wh..opq", 0o644, 0, b"")
        .file("opq/new", 0o644, 0, b"new")
        .file("hl/orig", 0o644, 0, b"replaced")
        .file("lib/added.so", 0o644, 0, b"added")
        .file("suid", 0o4755, 0, b"#!/bin/sh\n")
        .file("implicit/dir/file", 0o644, 0, b"i");
    let mut h = LayerTar::header(EntryType::Regular, 0o640, 1234, 5);
    h.set_gid(5678);
    l2.tar.append_data(&mut h, "owned", &b"owned"[..]).unwrap();
    l2.tar
        .append_pax_extensions([("SCHILY.xattr.user.note", &b"hi"[..])])
        .unwrap();
    l2.file("noted", 0o644, 0, b"noted");
    let l2 = l2.finish();

    let mut l3 = LayerTar::new();
    l3.dir("hl/", 0o755, 0)
        .hardlink("hl/link2", "hl/link")
        .file("bin/.wh.ls", 0o644, 0, b"")
        .file(LONG, 0o644, 0, b"long");
    let l3 = l3.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&l3).unwrap();
    let l3_gz = gz.finish().unwrap();

    let lease = store.lease().unwrap();
    let mut diff_ids = Vec::new();
    let mut layers = Vec::new();
    for bytes in [&l1, &l2] {
        let d = lease.put_blob(bytes, None).unwrap();
        diff_ids.push(d.clone());
        layers.push((d, bytes.len() as u64));
    }
    diff_ids.push(Digest::of(&l3));
    let gz_digest = lease.put_blob(&l3_gz, None).unwrap();

    let mut config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ImageConfig::default()
    };
    config.rootfs.diff_ids = diff_ids;
    let config_bytes = config.to_vec();
    let config_digest = lease.put_blob(&config_bytes, None).unwrap();
    let m = manifest::build((&config_digest, config_bytes.len() as u64), &layers);
    let mut m = serde_json::to_value(&m).unwrap();
    m["layers"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": gz_digest.to_string(),
        "size": l3_gz.len(),
    }));
    let m = serde_json::to_vec(&m).unwrap();
    let name = Reference::parse_tagged("app:1.0").unwrap();
    lease.commit_manifest_bytes(&m, &[name]).unwrap()
}

fn setup() -> Option<(tempfile::TempDir, Store, Image)> {
    if !Path::new("/bin/busybox").is_file() && skip("/bin/busybox is missing (busybox-static)") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let image = make_image(&store);
    Some((dir, store, image))
}

#[derive(Debug)]
struct Entry {
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn read_tar(bytes: &[u8]) -> BTreeMap<String, Entry> {
    let mut map = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                xattrs.push((x.key().unwrap().to_string(), x.value_bytes().to_vec()));
            }
        }
        let h = e.header().clone();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let entry = Entry {
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            link,
            data,
            xattrs,
        };
        assert!(
            map.insert(path.clone(), entry).is_none(),
            "{path} appears twice"
        );
    }
    map
}

#[test]
fn tar_output_is_the_flattened_rootfs() {
    let Some((_dir, store, image)) = setup() else {
        return;
    };
    let mut out = Vec::new();
    export_tar(&store, &image, &mut out).unwrap();
    let t = read_tar(&out);
    assert!(t.keys().all(|k| !k.contains(".wh.")), "{:?}", t.keys());

    assert_eq!(t["bin/busybox"].data, fs::read("/bin/busybox").unwrap());
    assert_eq!(t["bin/busybox"].mode, 0o755);
    assert_eq!(t["bin/sh"].kind, EntryType::Symlink);
    assert_eq!(t["bin/sh"].link.as_deref(), Some("busybox"));
    assert!(!t.contains_key("bin/ls"), "whiteout in a gzip layer");
    assert_eq!(t["tmp"].mode, 0o1777);
    assert_eq!((t["home/app"].mode, t["home/app"].uid), (0o750, 1000));

    assert_eq!(t["data/keep"].data, b"keep");
    assert!(!t.contains_key("data/gone"));
    assert_eq!(t["opq"].mode, 0o700);
    assert_eq!(t["opq/new"].data, b"new");
    for gone in ["opq/old", "opq/sub", "opq/sub/old2"] {
        assert!(!t.contains_key(gone), "{gone} survived the opaque marker");
    }

    // hl/orig was replaced: its old content lives on in the links, under the first one.
    assert_eq!(t["hl/orig"].data, b"replaced");
    assert_eq!(t["hl/link"].kind, EntryType::Regular);
    assert_eq!(t["hl/link"].data, b"orig");
    assert_eq!((t["hl/link"].mode, t["hl/link"].uid), (0o600, 7));
    assert_eq!(t["hl/link2"].kind, EntryType::Link);
    assert_eq!(t["hl/link2"].link.as_deref(), Some("hl/link"));

    // A parent through a symlink resolves inside the rootfs.
    assert_eq!(t["lib"].link.as_deref(), Some("usr/lib"));
    assert_eq!(t["usr/lib/added.so"].data, b"added");
    assert!(!t.contains_key("lib/added.so"));

    assert_eq!(t["suid"].mode, 0o4755);
    let owned = &t["owned"];
    assert_eq!((owned.mode, owned.uid, owned.gid), (0o640, 1234, 5678));
    assert_eq!(
        t["noted"].xattrs,
        [("SCHILY.xattr.user.note".to_string(), b"hi".to_vec())]
    );
    assert_eq!(t[LONG].data, b"long");
    // Parents no layer has an entry for are made as extraction makes them.
    assert_eq!(t["implicit"].kind, EntryType::Directory);
    assert_eq!((t["implicit/dir"].mode, t["implicit/dir"].uid), (0o755, 0));

    // The same image flattens to the same bytes.
    let mut again = Vec::new();
    export_tar(&store, &image, &mut again).unwrap();
    assert_eq!(out, again);
}

#[test]
fn local_output_writes_the_flattened_rootfs() {
    let Some((dir, store, image)) = setup() else {
        return;
    };
    let root = dir.path().join("out/rootfs");
    export_local(&store, &image, &root).unwrap();
    let meta = |p: &str| fs::symlink_metadata(root.join(p)).unwrap();
    let read = |p: &str| fs::read(root.join(p)).unwrap();

    assert_eq!(read("bin/busybox"), fs::read("/bin/busybox").unwrap());
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(!root.join("bin/ls").exists());
    assert_eq!(meta("tmp").permissions().mode() & 0o7777, 0o1777);
    assert!(!root.join("data/gone").exists());
    assert!(!root.join("opq/old").exists() && !root.join("opq/sub").exists());
    assert_eq!(read("opq/new"), b"new");
    assert_eq!(read("hl/orig"), b"replaced");
    assert_eq!(read("hl/link"), b"orig");
    assert_eq!(meta("hl/link").ino(), meta("hl/link2").ino());
    assert_ne!(meta("hl/link").ino(), meta("hl/orig").ino());
    assert_eq!(meta("hl/link").nlink(), 2);
    assert_eq!(read("usr/lib/added.so"), b"added");
    assert_eq!(meta("suid").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(read(LONG), b"long");
    assert_eq!(
        xattr::get(root.join("noted"), "user.note").unwrap(),
        Some(b"hi".to_vec())
    );
    if is_root() {
        let m = meta("owned");
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o640));
        assert_eq!(meta("home/app").uid(), 1000);
    } else {
        skip("owners are applied only as root");
    }
}

#[test]
fn oci_output_is_a_valid_layout_that_skopeo_reads() {
    let Some((dir, store, image)) = setup() else {
        return;
    };
    let archive = dir.path().join("oci.tar");
    let mut f = fs::File::create(&archive).unwrap();
    export_oci(&store, &image, &[], &mut f).unwrap();
    drop(f);
    let mut names = Vec::new();
    let mut a = tar::Archive::new(fs::File::open(&archive).unwrap());
    for e in a.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.contains(&"oci-layout".to_string()));
    assert!(names.contains(&"index.json".to_string()));
    assert!(!names.contains(&"manifest.json".to_string()), "{names:?}");

    if !have("oci-image-tool") {
        skip("oci-image-tool is not installed");
    } else {
        let layout = dir.path().join("layout");
        fs::create_dir(&layout).unwrap();
        tar::Archive::new(fs::File::open(&archive).unwrap())
            .unpack(&layout)
            .unwrap();
        let out = Command::new("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=1.0"])
            .arg(&layout)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "oci-image-tool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !have("skopeo") {
        skip("skopeo is not installed");
        return;
    }
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(v["Architecture"], "amd64");
}

#[test]
fn docker_output_is_what_save_writes_and_skopeo_reads() {
    let Some((dir, store, image)) = setup() else {
        return;
    };
    let archive = dir.path().join("docker.tar");
    let mut f = fs::File::create(&archive).unwrap();
    export_docker(&store, &image, &["other:2".to_string()], &mut f).unwrap();
    drop(f);
    let mut manifest = String::new();
    let mut a = tar::Archive::new(fs::File::open(&archive).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new("manifest.json") {
            e.read_to_string(&mut manifest).unwrap();
        }
    }
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["other:2"]));
    if !have("skopeo") {
        skip("skopeo is not installed");
        return;
    }
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);
}

/// Every path of a tree with its kind, mode, owner, link target and content.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let what = if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                "dir".to_string()
            } else {
                format!("file {:?} nlink {}", fs::read(&p).unwrap().len(), m.nlink())
            };
            let mode = m.permissions().mode() & 0o7777;
            out.insert(rel, format!("{what} {mode:o} {}:{}", m.uid(), m.gid()));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn local_output_matches_umoci_unpack() {
    let Some((dir, store, image)) = setup() else {
        return;
    };
    if !is_root() && skip("umoci unpack keeps owners only as root") {
        return;
    }
    if !have("umoci") && skip("umoci is not installed") {
        return;
    }
    let mut oci = Vec::new();
    export_oci(&store, &image, &[], &mut oci).unwrap();
    let layout = dir.path().join("layout");
    tar::Archive::new(&oci[..]).unpack(&layout).unwrap();
    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:1.0", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = dir.path().join("ours");
    export_local(&store, &image, &ours).unwrap();
    let (a, b) = (tree(&ours), tree(&bundle.join("rootfs")));
    let diff: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: ours {v}, umoci {:?}", b.get(k)))
        .chain(
            b.iter()
                .filter(|(k, _)| !a.contains_key(*k))
                .map(|(k, v)| format!("{k}: only umoci has it ({v})")),
        )
        .collect();
    assert!(diff.is_empty(), "{diff:#?}");
}
