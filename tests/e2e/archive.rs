//! save, load and import: archives that docker, podman, skopeo, umoci and oci-image-tool accept,
//! archives they write loaded back with every digest kept, and hostile archives refused without
//! a trace in the store.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::listing;
use crate::util::{
    Env, busybox_rootfs_tar, have, import_busybox, podman, registries_conf, run_fail, run_ok, skip,
};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob(root: &Path, digest: &str) -> Vec<u8> {
    fs::read(
        root.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// The (manifest, config) JSON of the image the store names `full` (a full reference).
fn image_json(root: &Path, full: &str) -> (Value, Value) {
    let index: Value = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == full)
        .unwrap_or_else(|| panic!("{full} not in {index}"))
        .clone();
    let manifest: Value =
        serde_json::from_slice(&blob(root, entry["digest"].as_str().unwrap())).unwrap();
    let config: Value =
        serde_json::from_slice(&blob(root, manifest["config"]["digest"].as_str().unwrap()))
            .unwrap();
    (manifest, config)
}

/// Config digest and layer digests of an image in the store.
fn digests(root: &Path, full: &str) -> (String, Vec<String>) {
    let (manifest, _) = image_json(root, full);
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (
        manifest["config"]["digest"].as_str().unwrap().to_string(),
        layers,
    )
}

/// `skopeo` with the public registries blocked, so it can reach only 127.0.0.1.
pub fn skopeo(env: &Env) -> Command {
    let mut c = Command::new("skopeo");
    c.env("CONTAINERS_REGISTRIES_CONF", registries_conf(env));
    c
}

#[test]
fn saved_archive_loads_and_runs_in_podman_and_validates_with_skopeo_and_oci_image_tool() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    let tar = env.path("busybox-rootfs.tar");
    run_ok(&mut env.bale(["import".as_ref(), tar.as_os_str(), "app:1.0".as_ref()]));
    let archive = env.path("saved.tar");
    run_ok(&mut env.bale([
        "save".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        "busybox".as_ref(),
        "app:1.0".as_ref(),
    ]));

    // Both images, sharing one layer stored once.
    let listing = Command::new("tar")
        .arg("tf")
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8(listing.stdout).unwrap();
    let blobs = names
        .lines()
        .filter(|l| l.starts_with("blobs/sha256/") && l.len() > 13)
        .count();
    assert_eq!(blobs, 5, "2 configs, 2 manifests, 1 layer:\n{names}");
    for f in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.lines().any(|l| l == f), "{f} missing:\n{names}");
    }
    let extracted = env.path("extracted");
    fs::create_dir(&extracted).unwrap();
    run_ok(
        Command::new("tar")
            .arg("xf")
            .arg(&archive)
            .arg("-C")
            .arg(&extracted),
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(extracted.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", &id[7..]));

    if !have("skopeo") || !have("podman") || !have("oci-image-tool") {
        skip("skopeo, podman or oci-image-tool missing");
        return;
    }
    let out = run_ok(
        Command::new("oci-image-tool")
            .args(["validate", "--type", "image"])
            .arg(&extracted),
    );
    assert!(out.contains("OK"), "{out}");
    let out = run_ok(skopeo(&env).arg("inspect").arg(format!(
        "docker-archive:{}:busybox:latest",
        archive.display()
    )));
    let v: Value = serde_json::from_str(&out).unwrap();
    let (_, layers) = digests(&env.root(), "docker.io/library/busybox:latest");
    assert_eq!(v["Layers"][0], layers[0]);
    // skopeo copy verifies every digest on the way.
    let oci = env.path("oci-copy");
    run_ok(
        skopeo(&env)
            .arg("copy")
            .arg(format!("docker-archive:{}:app:1.0", archive.display()))
            .arg(format!("oci:{}:x", oci.display())),
    );

    let p = |args: &[&str]| podman(&env, args);
    let out = run_ok(&mut p(&["load", "-i", archive.to_str().unwrap()]));
    assert!(
        out.contains("Loaded image: localhost/busybox:latest"),
        "{out}"
    );
    assert!(out.contains("Loaded image: localhost/app:1.0"), "{out}");
    let out = run_ok(&mut p(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
        "--user",
        "app",
        "localhost/busybox:latest",
        "sh",
        "-c",
        "echo hello from $(id -un) in $HOME",
    ]));
    assert_eq!(out.trim(), "hello from app in /home/app");
}

#[test]
fn save_refuses_to_write_to_a_terminal() {
    if !have("script") {
        skip("script (util-linux) missing: no pseudo-terminal to test with");
        return;
    }
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    // `script` runs the command on a pseudo-terminal.
    let line = format!(
        "{} --root {} save busybox",
        crate::util::bale_bin().display(),
        env.root().display()
    );
    let out = crate::util::run(Command::new("script").args(["-qec", &line, "/dev/null"]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "Error: cowardly refusing to save to a terminal. Use the -o flag or redirect"
        ),
        "{text}"
    );
}

#[test]
fn save_refuses_unknown_images_and_writes_nothing() {
    let env = Env::new();
    let out = env.path("out.tar");
    let err = run_fail(
        &mut env.bale([
            "save".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            "nothere".as_ref(),
        ]),
        1,
    );
    assert_eq!(err.trim(), "Error: No such image: nothere:latest");
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(env.dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("out.tar"))
            .count(),
        0
    );
}

#[test]
fn archives_written_by_skopeo_load_in_every_compression_and_save_again_with_the_same_digests() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    if !have("skopeo") || !have("zstd") || !have("xz") || !have("bzip2") {
        skip("skopeo, zstd, xz or bzip2 missing");
        return;
    }
    let (config, layers) = digests(&env.root(), "docker.io/library/busybox:latest");
    let src = format!("oci:{}:busybox:latest", env.root().display());
    let docker = env.path("d.tar");
    let oci = env.path("o.tar");
    let oci_zstd = env.path("oz.tar");
    let oci_gzip = env.path("og.tar");
    run_ok(
        skopeo(&env)
            .args(["copy", &src])
            .arg(format!("docker-archive:{}:foo:1", docker.display())),
    );
    run_ok(skopeo(&env).args(["copy", &src]).arg(format!(
        "oci-archive:{}:docker.io/library/bar:2",
        oci.display()
    )));
    run_ok(
        skopeo(&env)
            .args([
                "copy",
                "--dest-compress",
                "--dest-compress-format",
                "zstd",
                &src,
            ])
            .arg(format!("oci-archive:{}:zst:3", oci_zstd.display())),
    );
    run_ok(
        skopeo(&env)
            .args(["copy", "--dest-compress", &src])
            .arg(format!("oci-archive:{}:gz:4", oci_gzip.display())),
    );
    for (tool, ext) in [
        ("gzip", "gz"),
        ("bzip2", "bz2"),
        ("xz", "xz"),
        ("zstd", "zst"),
    ] {
        run_ok(Command::new(tool).arg("-kq").arg(&docker));
        let _ = ext;
    }

    let other = Env::new();
    let load =
        |file: &Path| run_ok(&mut other.bale(["load".as_ref(), "-i".as_ref(), file.as_os_str()]));
    assert_eq!(load(&docker), "Loaded image: foo:1\n");
    assert_eq!(load(&oci), "Loaded image: bar:2\n");
    assert_eq!(load(&oci_zstd), "Loaded image: zst:3\n");
    assert_eq!(load(&oci_gzip), "Loaded image: gz:4\n");
    for ext in ["gz", "bz2", "xz", "zst"] {
        let out = load(&env.path(&format!("d.tar.{ext}")));
        assert_eq!(out, "Loaded image: foo:1\n", "{ext}");
    }
    let stdin_load = run_ok(
        other
            .bale(["load"])
            .stdin(fs::File::open(&oci_zstd).unwrap()),
    );
    assert_eq!(stdin_load, "Loaded image: zst:3\n");
    for name in ["foo:1", "bar:2", "zst:3", "gz:4"] {
        let full = format!("docker.io/library/{name}");
        assert_eq!(
            digests(&other.root(), &full),
            (config.clone(), layers.clone()),
            "{name}"
        );
    }
    let check = run_ok(&mut other.bale(["system", "check"]));
    assert!(check.contains("consistent"), "{check}");
    // Compressed layers were stored once, uncompressed, and the manifest rebuilt for them is
    // the one bale wrote in the first place: 1 layer, 1 config, 1 manifest.
    let blobs = fs::read_dir(other.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 3);
    let (manifest_a, _) = image_json(&env.root(), "docker.io/library/busybox:latest");
    let (manifest_b, _) = image_json(&other.root(), "docker.io/library/zst:3");
    assert_eq!(manifest_a, manifest_b);

    // Saved again: the same config and layer digests.
    let again = other.path("again.tar");
    run_ok(&mut other.bale([
        "save".as_ref(),
        "-o".as_ref(),
        again.as_os_str(),
        "zst:3".as_ref(),
    ]));
    let out = Command::new("tar")
        .arg("xOf")
        .arg(&again)
        .arg("manifest.json")
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m[0]["Config"], format!("blobs/sha256/{}", &config[7..]));
    assert_eq!(
        m[0]["Layers"][0],
        format!("blobs/sha256/{}", &layers[0][7..])
    );
    assert_eq!(m[0]["RepoTags"][0], "zst:3");
}

/// A hostile archive: its name, its members, and what the error must say.
type Case<'a> = (&'a str, Vec<(&'a str, Member<'a>)>, &'a str);

/// A tar of (name, entry) built with the tar crate.
enum Member<'a> {
    File(&'a [u8]),
    Symlink(&'a str),
    Hardlink(&'a str),
    CharDevice,
    /// A header announcing this many bytes, followed by far fewer.
    Oversized(u64),
}

fn make_tar(path: &Path, members: &[(&str, Member<'_>)]) {
    let mut out = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut out);
        for (name, m) in members {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(0);
            // Names are written raw: the tar crate refuses `..` and absolute paths itself.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            match m {
                Member::File(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_cksum();
                    tar.append(&h, *data).unwrap();
                }
                Member::Symlink(t) | Member::Hardlink(t) => {
                    h.set_entry_type(if matches!(m, Member::Symlink(_)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                    h.set_cksum();
                    tar.append(&h, std::io::empty()).unwrap();
                }
                Member::CharDevice => {
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_device_major(1).unwrap();
                    h.set_device_minor(3).unwrap();
                    h.set_cksum();
                    tar.append(&h, std::io::empty()).unwrap();
                }
                Member::Oversized(size) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(*size);
                    h.set_cksum();
                    // Written raw: the tar crate would insist on `size` bytes of data.
                    tar.get_mut().write_all(h.as_bytes()).unwrap();
                    tar.get_mut().write_all(&[b'x'; 1024]).unwrap();
                }
            }
        }
        tar.finish().unwrap();
    }
    fs::write(path, out).unwrap();
}

#[test]
fn hostile_archives_are_refused_and_leave_the_store_unchanged() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let saved = env.path("saved.tar");
    run_ok(&mut env.bale([
        "save".as_ref(),
        "-o".as_ref(),
        saved.as_os_str(),
        "busybox".as_ref(),
    ]));
    let saved_bytes = fs::read(&saved).unwrap();
    let before = listing(&env.root());

    let manifest = br#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":[]}]"#;
    let big = vec![b' '; 17 << 20];
    // A docker archive whose layer does not match the config's diff ID.
    let layer = {
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_cksum();
        t.append_data(&mut h, "f", &b"hi"[..]).unwrap();
        t.into_inner().unwrap()
    };
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
        "0".repeat(64)
    );
    let bad_diff_manifest = br#"[{"Config":"c.json","RepoTags":["evil:2"],"Layers":["l.tar"]}]"#;
    // An OCI layout whose blob does not hash to its name.
    let fake_digest = "1".repeat(64);
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{fake_digest}","size":2}}]}}"#
    );
    let blob_name = format!("blobs/sha256/{fake_digest}");

    let cases: Vec<Case<'_>> = vec![
        (
            "dotdot",
            vec![
                ("../evil", Member::File(b"x")),
                ("manifest.json", Member::File(manifest)),
            ],
            "climbs out of the archive",
        ),
        (
            "absolute",
            vec![("/manifest.json", Member::File(manifest))],
            "absolute paths",
        ),
        (
            "symlink",
            vec![("manifest.json", Member::Symlink("../../../etc/passwd"))],
            "points outside the archive",
        ),
        (
            "abs-symlink",
            vec![("manifest.json", Member::Symlink("/etc/passwd"))],
            "points outside the archive",
        ),
        (
            "hardlink",
            vec![("manifest.json", Member::Hardlink("../etc/passwd"))],
            "points outside the archive",
        ),
        (
            "device",
            vec![("manifest.json", Member::CharDevice)],
            "is a character device",
        ),
        (
            "oversized",
            vec![("manifest.json", Member::File(&big))],
            "over the 16 MiB limit",
        ),
        (
            "oversized-header",
            vec![("blobs/sha256/layer", Member::Oversized(1 << 40))],
            "truncated",
        ),
        (
            "diffid",
            vec![
                ("c.json", Member::File(config.as_bytes())),
                ("l.tar", Member::File(&layer)),
                ("manifest.json", Member::File(bad_diff_manifest)),
            ],
            "diff ID",
        ),
        (
            "digest",
            vec![
                (
                    "oci-layout",
                    Member::File(br#"{"imageLayoutVersion":"1.0.0"}"#),
                ),
                ("index.json", Member::File(index.as_bytes())),
                (&blob_name, Member::File(b"{}")),
            ],
            "digest mismatch",
        ),
        (
            "empty",
            vec![("readme", Member::File(b"x"))],
            "not an image archive",
        ),
    ];
    for (name, members, message) in cases {
        let path = env.path(&format!("{name}.tar"));
        make_tar(&path, &members);
        let err = run_fail(
            &mut env.bale(["load".as_ref(), "-i".as_ref(), path.as_os_str()]),
            1,
        );
        assert!(
            err.contains(message),
            "{name}: expected {message:?} in {err}"
        );
        assert_eq!(listing(&env.root()), before, "{name} left a trace");
    }
    // Truncated inside a blob, and inside a header.
    for (name, cut) in [
        ("truncated-blob", saved_bytes.len() / 2),
        ("truncated-header", 512 + 100),
    ] {
        let path = env.path(&format!("{name}.tar"));
        fs::write(&path, &saved_bytes[..cut]).unwrap();
        let err = run_fail(
            &mut env.bale(["load".as_ref(), "-i".as_ref(), path.as_os_str()]),
            1,
        );
        assert!(err.contains("truncated"), "{name}: {err}");
        assert_eq!(listing(&env.root()), before, "{name} left a trace");
    }
    // Garbage that is no tar at all, compressed.
    let path = env.path("garbage.gz");
    fs::write(&path, gzip_tool::gzip(&[7u8; 4096])).unwrap();
    let err = run_fail(
        &mut env.bale(["load".as_ref(), "-i".as_ref(), path.as_os_str()]),
        1,
    );
    assert!(err.contains("gzip"), "{err}");
    assert_eq!(listing(&env.root()), before);
}

/// gzip through the `gzip` tool, so the tests need no compression crate.
mod gzip_tool {
    use std::io::Write;
    use std::process::{Command, Stdio};

    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gzip")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        // Written from another thread: gzip's output pipe must be drained meanwhile.
        let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        let out = child.wait_with_output().unwrap().stdout;
        writer.join().unwrap();
        out
    }
}

#[test]
fn hostile_rootfs_tarballs_are_refused_by_import() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let before = listing(&env.root());
    let cases: Vec<Case<'_>> = vec![
        (
            "dotdot",
            vec![("etc/../../evil", Member::File(b"x"))],
            "climbs out of the root filesystem",
        ),
        (
            "symlink",
            vec![("bin/x", Member::Symlink("../../../etc/shadow"))],
            "symlink to \"../../../etc/shadow\" points outside",
        ),
        (
            "hardlink",
            vec![("x", Member::Hardlink("../y"))],
            "hard link to \"../y\" points outside",
        ),
        (
            "device",
            vec![("etc/disk", Member::CharDevice)],
            "character device outside /dev",
        ),
        (
            "oversized-header",
            vec![("bin/big", Member::Oversized(1 << 40))],
            "truncated",
        ),
    ];
    for (name, members, message) in cases {
        let path = env.path(&format!("{name}.tar"));
        make_tar(&path, &members);
        let err = run_fail(
            &mut env.bale(["import".as_ref(), path.as_os_str(), "evil".as_ref()]),
            1,
        );
        assert!(
            err.contains(message),
            "{name}: expected {message:?} in {err}"
        );
        assert_eq!(listing(&env.root()), before, "{name} left a trace");
    }
    let rootfs = fs::read(env.path("busybox-rootfs.tar")).unwrap();
    let path = env.path("truncated.tar");
    fs::write(&path, &rootfs[..rootfs.len() / 2]).unwrap();
    let err = run_fail(
        &mut env.bale(["import".as_ref(), path.as_os_str(), "evil".as_ref()]),
        1,
    );
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(listing(&env.root()), before);

    // Absolute names and absolute symlinks stay inside the image, as docker takes them, and
    // device nodes in /dev are what a root filesystem has there.
    let path = env.path("absolute.tar");
    make_tar(
        &path,
        &[
            ("/etc/abs", Member::File(b"x")),
            ("/bin/l", Member::Symlink("/etc/abs")),
            ("dev/null", Member::CharDevice),
        ],
    );
    let id = run_ok(&mut env.bale(["import".as_ref(), path.as_os_str(), "abs".as_ref()]));
    assert!(id.starts_with("sha256:"), "{id}");
}

#[test]
fn import_applies_changes_and_message_from_stdin_and_records_urls() {
    let env = Env::new();
    let rootfs = env.path("rootfs.tar");
    if !busybox_rootfs_tar(&rootfs) {
        return;
    }
    let mut child = env
        .bale([
            "import",
            "-c",
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "-c",
            "ENV A=1 B=\"two words\"",
            "-c",
            "EXPOSE 80",
            "-c",
            "USER app",
            "-c",
            "WORKDIR /home/app",
            "-c",
            "LABEL org.example=yes",
            "-c",
            "VOLUME /data",
            "-c",
            "ONBUILD RUN true",
            "-c",
            "ENTRYPOINT /bin/sh",
            "-",
            "changed:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&fs::read(&rootfs).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    let (manifest, config) = image_json(&env.root(), "docker.io/library/changed:1");
    assert_eq!(id.trim(), manifest["config"]["digest"]);
    let c = &config["config"];
    assert_eq!(c["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/bin/sh"])
    );
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
    assert_eq!(c["User"], "app");
    assert_eq!(c["WorkingDir"], "/home/app");
    assert_eq!(c["Labels"]["org.example"], "yes");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN true"]));
    assert_eq!(config["history"][0]["comment"], "Imported from -");
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        format!("sha256:{}", sha(&fs::read(&rootfs).unwrap()))
    );

    let err = run_fail(
        &mut env.bale([
            "import".as_ref(),
            "-c".as_ref(),
            "RUN true".as_ref(),
            rootfs.as_os_str(),
        ]),
        1,
    );
    assert!(err.contains("RUN is not a valid change command"), "{err}");

    // From a URL, with a message: served once by a one-shot HTTP server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = fs::read(&rootfs).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = conn.read(&mut req).unwrap();
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        conn.write_all(&body).unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    run_ok(&mut env.bale(["import", &url, "fromurl"]));
    server.join().unwrap();
    let (_, config) = image_json(&env.root(), "docker.io/library/fromurl:latest");
    assert_eq!(
        config["history"][0]["comment"],
        format!("Imported from {url}")
    );
    run_ok(&mut env.bale([
        "import".as_ref(),
        "-m".as_ref(),
        "my message".as_ref(),
        rootfs.as_os_str(),
        "msg".as_ref(),
    ]));
    let (_, config) = image_json(&env.root(), "docker.io/library/msg:latest");
    assert_eq!(config["history"][0]["comment"], "my message");
}

#[test]
fn old_docker_archives_with_gzip_layers_and_shared_layer_links_load() {
    let env = Env::new();
    let rootfs = env.path("rootfs.tar");
    if !busybox_rootfs_tar(&rootfs) {
        return;
    }
    let layer = fs::read(&rootfs).unwrap();
    let diff_id = sha(&layer);
    let gz = gzip_tool::gzip(&layer);
    let configs: Vec<String> = ["one", "two"]
        .iter()
        .map(|n| format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["{n}"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#))
        .collect();
    let ids: Vec<String> = configs.iter().map(|c| sha(c.as_bytes())).collect();
    let v1 = "a".repeat(64);
    let v2 = "b".repeat(64);
    let manifest = format!(
        r#"[{{"Config":"{}.json","RepoTags":["old:1"],"Layers":["{v1}/layer.tar"]}},{{"Config":"{}.json","RepoTags":["old:2","other/old:2"],"Layers":["{v2}/layer.tar"]}}]"#,
        ids[0], ids[1]
    );
    let c0 = format!("{}.json", ids[0]);
    let c1 = format!("{}.json", ids[1]);
    let l1 = format!("{v1}/layer.tar");
    let l2 = format!("{v2}/layer.tar");
    let j1 = format!("{v1}/json");
    let path = env.path("old.tar");
    make_tar(
        &path,
        &[
            (
                &l2,
                Member::Symlink(
                    "../aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/layer.tar",
                ),
            ),
            ("manifest.json", Member::File(manifest.as_bytes())),
            (&c0, Member::File(configs[0].as_bytes())),
            (&c1, Member::File(configs[1].as_bytes())),
            (&j1, Member::File(b"{}")),
            (&l1, Member::File(&gz)),
            ("repositories", Member::File(b"{}")),
        ],
    );
    let out = run_ok(&mut env.bale(["load".as_ref(), "-i".as_ref(), path.as_os_str()]));
    assert_eq!(
        out,
        "Loaded image: old:1\nLoaded image: old:2\nLoaded image: other/old:2\n"
    );
    assert_eq!(
        digests(&env.root(), "docker.io/library/old:1"),
        (
            format!("sha256:{}", ids[0]),
            vec![format!("sha256:{diff_id}")]
        )
    );
    assert_eq!(
        digests(&env.root(), "docker.io/other/old:2").0,
        format!("sha256:{}", ids[1])
    );
    let check = run_ok(&mut env.bale(["system", "check"]));
    assert!(check.contains("consistent"), "{check}");
    // Loading again moves nothing; loading a different image under a used name does.
    let again = run_ok(&mut env.bale(["load".as_ref(), "-i".as_ref(), path.as_os_str()]));
    assert!(!again.contains("renaming"), "{again}");
}

#[test]
fn oci_layout_directories_and_unpacked_archives_load_and_hostile_ones_leave_no_trace() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    if !have("skopeo") {
        skip("skopeo missing");
        return;
    }
    let (config, layers) = digests(&env.root(), "docker.io/library/busybox:latest");
    let src = format!("oci:{}:busybox:latest", env.root().display());
    // A layout directory as skopeo writes it, gzip layers and all.
    let layout = env.path("layout");
    run_ok(
        skopeo(&env)
            .args(["copy", "--dest-compress", &src])
            .arg(format!("oci:{}:docker.io/library/dir:1", layout.display())),
    );
    // A `bale save` archive unpacked: docker 25's layout, which is also an OCI layout.
    let saved = env.path("saved.tar");
    run_ok(&mut env.bale([
        "save".as_ref(),
        "-o".as_ref(),
        saved.as_os_str(),
        "busybox".as_ref(),
    ]));
    let unpacked = env.path("unpacked");
    fs::create_dir(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("xf")
            .arg(&saved)
            .arg("-C")
            .arg(&unpacked),
    );

    let other = Env::new();
    let load =
        |dir: &Path| run_ok(&mut other.bale(["load".as_ref(), "-i".as_ref(), dir.as_os_str()]));
    assert_eq!(load(&layout), "Loaded image: dir:1\n");
    assert_eq!(load(&unpacked), "Loaded image: busybox:latest\n");
    for name in ["dir:1", "busybox:latest"] {
        assert_eq!(
            digests(&other.root(), &format!("docker.io/library/{name}")),
            (config.clone(), layers.clone()),
            "{name}"
        );
    }
    let check = run_ok(&mut other.bale(["system", "check"]));
    assert!(check.contains("consistent"), "{check}");

    // Hostile directories: a link out of the directory, a blob that does not match its name,
    // a device node. Each is refused and the store stays as it was.
    let before = listing(&other.root());
    let copy = |name: &str| {
        let dir = env.path(name);
        run_ok(Command::new("cp").arg("-a").arg(&unpacked).arg(&dir));
        dir
    };
    let config_blob = format!("blobs/sha256/{}", &config[7..]);
    let escaping = copy("escaping");
    fs::remove_file(escaping.join(&config_blob)).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", escaping.join(&config_blob))
        .unwrap();
    let corrupt = copy("corrupt");
    fs::write(corrupt.join(&config_blob), b"{}").unwrap();
    let mut cases = vec![
        (escaping, "points outside the archive"),
        (corrupt, "digest mismatch"),
    ];
    if crate::util::is_root() {
        let device = copy("device");
        run_ok(
            Command::new("mknod")
                .arg(device.join("blobs/null"))
                .args(["c", "1", "3"]),
        );
        cases.push((device, "character device"));
    } else {
        skip("mknod needs root");
    }
    for (dir, message) in &cases {
        let err = run_fail(
            &mut other.bale(["load".as_ref(), "-i".as_ref(), dir.as_os_str()]),
            1,
        );
        assert!(
            err.contains(message),
            "{}: expected {message:?} in {err}",
            dir.display()
        );
        assert_eq!(
            listing(&other.root()),
            before,
            "{} left a trace",
            dir.display()
        );
    }
}
