//! The image store: its root is an OCI layout that skopeo and umoci read, `system check` finds
//! corruption, `system df` measures it, and a killed or starved writer leaves it consistent.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, have, import_busybox, is_root, run, run_fail, run_ok, skip};

/// Every file under `root` with its size, except the temporary area, sorted.
pub fn listing(root: &Path) -> Vec<(String, u64)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                walk(base, &p, out);
            } else if !rel.ends_with(".lock") {
                out.push((rel, meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Files left in the store's temporary area.
pub fn temp_files(root: &Path) -> Vec<String> {
    listing(&root.join("bale/tmp"))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn check_clean(env: &Env) {
    let out = run_ok(&mut env.bale(["system", "check"]));
    assert!(out.contains("is consistent"), "{out}");
}

#[test]
fn imported_image_is_in_an_oci_layout_skopeo_and_umoci_read() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    check_clean(&env);
    let root = env.root();
    let index = fs::read_to_string(root.join("index.json")).unwrap();
    assert!(
        index.contains("docker.io/library/busybox:latest"),
        "{index}"
    );
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    if !have("skopeo") || !have("umoci") {
        skip("skopeo or umoci missing");
        return;
    }
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
    ] {
        let out = run_ok(
            Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci:{}:{name}", root.display())),
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1, "{name}: {out}");
    }
    for (i, name) in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    .iter()
    .enumerate()
    {
        let bundle = env.path(&format!("bundle{i}"));
        run_ok(
            Command::new("umoci")
                .arg("unpack")
                .arg("--image")
                .arg(format!("{}:{name}", root.display()))
                .arg(&bundle),
        );
        let passwd = fs::read_to_string(bundle.join("rootfs/etc/passwd")).unwrap();
        assert!(passwd.contains("app:x:1000:1000"), "{passwd}");
        let sh = fs::read_link(bundle.join("rootfs/bin/sh")).unwrap();
        assert_eq!(sh, Path::new("busybox"));
        let tmp = fs::metadata(bundle.join("rootfs/tmp")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    }
    if have("oci-image-tool") {
        let out = run_ok(
            Command::new("oci-image-tool")
                .args(["validate", "--type", "image"])
                .arg(&root),
        );
        assert!(out.contains("OK") || out.contains("succeeded"), "{out}");
    }
}

#[test]
fn root_flag_overrides_the_environment() {
    let env = Env::new();
    let other = env.path("other-root");
    run_ok(&mut env.bale([
        "system".as_ref(),
        "check".as_ref(),
        "--root".as_ref(),
        other.as_os_str(),
    ]));
    assert!(other.join("index.json").is_file());
    assert!(!env.root().exists());
}

#[test]
fn system_check_names_the_corrupt_blob_and_the_image() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    check_clean(&env);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(env.root().join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |d: &str| {
        env.root()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();

    // One flipped byte in the layer.
    let mut bytes = fs::read(blob(&layer)).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(blob(&layer), &bytes).unwrap();
    let out = env.bale(["system", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "blob {layer} is corrupt: its content hashes to sha256:"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("image busybox:latest: layer {layer} is corrupt")),
        "{stdout}"
    );

    // A missing config.
    bytes[1000] ^= 0xff;
    fs::write(blob(&layer), &bytes).unwrap();
    fs::remove_file(blob(&config)).unwrap();
    let err = run_fail(&mut env.bale(["system", "check"]), 1);
    assert!(err.contains("1 problem"), "{err}");
    let out = env.bale(["system", "check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("image busybox:latest: config {config} is missing")),
        "{stdout}"
    );
}

#[test]
fn system_df_counts_shared_layers_once() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let tar = env.path("busybox-rootfs.tar");
    run_ok(&mut env.bale([
        "import".as_ref(),
        "-m".as_ref(),
        "second".as_ref(),
        tar.as_os_str(),
        "two".as_ref(),
    ]));
    let out = run_ok(&mut env.bale(["system", "df"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    );
    let images: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&images[..3], ["Images", "2", "0"], "{out}");
    // One busybox layer (about 2 MB), counted once for both images.
    let layer = fs::metadata(&tar).unwrap().len() as f64;
    let shown: f64 = images[3].trim_end_matches("MB").parse().unwrap();
    assert!((shown * 1e6 - layer).abs() < 0.01e6, "{out}");
    assert!(images[4].ends_with("MB") && images[5] == "(100%)", "{out}");
    assert_eq!(lines[2], "Containers      0         0         0B        0B");
    assert_eq!(lines[4], "Build Cache     0         0         0B        0B");
    let json = run_ok(&mut env.bale(["system", "df", "--format", "json"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "Images");
    assert_eq!(first["TotalCount"], "2");
    let custom = run_ok(&mut env.bale([
        "system",
        "df",
        "--format",
        "table {{.Type}}\\t{{.TotalCount}}",
    ]));
    assert_eq!(custom.lines().next().unwrap(), "TYPE            TOTAL");
    assert_eq!(custom.lines().nth(1).unwrap(), "Images          2");
    let verbose = run_ok(&mut env.bale(["system", "df", "-v"]));
    assert!(verbose.contains("Images space usage:"), "{verbose}");
    assert!(
        verbose
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{verbose}"
    );
    assert!(verbose.lines().any(|l| l.starts_with("two ")), "{verbose}");
}

/// A docker archive (old layout: `<id>/layer.tar`, `<config>.json`) tagged `big:1`, with one
/// layer holding `size` incompressible bytes; written in a streaming way.
pub fn big_archive(path: &Path, size: u64) {
    use sha2::{Digest, Sha256};
    /// Hashes what passes to the file.
    struct Hashing<W>(W, Sha256);
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.0.write(buf)?;
            self.1.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    /// xorshift bytes: incompressible, and no entropy source needed.
    struct Noise(u64, u64);
    impl std::io::Read for Noise {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1 as usize);
            for b in &mut buf[..n] {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = self.0 as u8;
            }
            self.1 -= n as u64;
            Ok(n)
        }
    }
    let layer_path = path.with_extension("layer");
    let file = fs::File::create(&layer_path).unwrap();
    let mut tar = tar::Builder::new(Hashing(std::io::BufWriter::new(file), Sha256::new()));
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "random.bin", Noise(0x9e3779b97f4a7c15, size))
        .unwrap();
    let Hashing(mut out, hasher) = tar.into_inner().unwrap();
    out.flush().unwrap();
    drop(out);
    let diff_id = hex(&hasher.finalize());
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let config_hex = hex(&Sha256::digest(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{config_hex}.json","RepoTags":["big:1"],"Layers":["{diff_id}/layer.tar"]}}]"#
    );
    let file = fs::File::create(path).unwrap();
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut h = tar::Header::new_ustar();
    h.set_size(fs::metadata(&layer_path).unwrap().len());
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(
        &mut h,
        format!("{diff_id}/layer.tar"),
        fs::File::open(&layer_path).unwrap(),
    )
    .unwrap();
    for (name, bytes) in [
        (format!("{config_hex}.json"), config.as_bytes()),
        ("manifest.json".into(), manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes).unwrap();
    }
    tar.into_inner().unwrap().flush().unwrap();
    fs::remove_file(layer_path).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn kill_9_during_load_leaves_the_store_consistent_and_the_next_open_cleans_up() {
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let before = listing(&env.root());
    let archive = env.path("big.tar");
    big_archive(&archive, 300 << 20);
    let mut child = env
        .bale(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while it is writing: once some of the layer is in the temporary area.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spilled: u64 = listing(&env.root().join("bale/tmp"))
            .iter()
            .map(|(_, s)| s)
            .sum();
        if spilled > 20 << 20 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "load finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "load wrote nothing in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !temp_files(&env.root()).is_empty(),
        "the killed load left no temporary file"
    );
    // The store as the killed process left it: nothing named, no new blob.
    let index_before = fs::read(env.root().join("index.json")).unwrap();
    check_clean(&env);
    assert_eq!(
        fs::read(env.root().join("index.json")).unwrap(),
        index_before
    );
    assert!(
        temp_files(&env.root()).is_empty(),
        "{:?}",
        temp_files(&env.root())
    );
    assert_eq!(listing(&env.root()), before);
}

/// Unmounts a test mount on drop.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_half_written_image() {
    if !is_root() {
        skip("mounting a tmpfs needs root");
        return;
    }
    let env = Env::new();
    let small = env.path("small");
    fs::create_dir(&small).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    if !status.success() {
        skip("cannot mount a tmpfs here");
        return;
    }
    let _mount = Mount(small.clone());
    let root = small.join("root");
    run_ok(&mut env.bale([
        "system".as_ref(),
        "check".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
    ]));
    let before = listing(&root);
    let archive = env.path("big.tar");
    big_archive(&archive, 20 << 20);
    let err = run_fail(
        &mut env.bale([
            "load".as_ref(),
            "-i".as_ref(),
            archive.as_os_str(),
            "--root".as_ref(),
            root.as_os_str(),
        ]),
        1,
    );
    assert!(err.contains("no space left on device"), "{err}");
    assert!(
        err.contains("layer.tar"),
        "the error names what was being written: {err}"
    );
    assert_eq!(listing(&root), before);
    let out = run(env
        .bale([
            "system".as_ref(),
            "check".as_ref(),
            "--root".as_ref(),
            root.as_os_str(),
        ])
        .stdout(Stdio::piped()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Names the stress workers tag, remove and load.
const STRESS_NAMES: [&str; 6] = [
    "busybox:latest",
    "a:1",
    "b:2",
    "localhost:5000/c:3",
    "e/f:x",
    "w:0",
];

#[test]
fn eight_processes_tag_rmi_load_and_prune_and_the_store_stays_consistent() {
    // The library-level stress test (image/tests/stress.rs) races the same operations through
    // the library; this one drives the binary, as users do. `BALE_STRESS_SECS` sets how long
    // (3 s by default; a minute finds rarer interleavings).
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let archive = env.path("busybox.tar");
    run_ok(&mut env.bale([
        "save".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        "busybox".as_ref(),
    ]));
    let secs: u64 = std::env::var("BALE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let root = env.root();
            let dir = env.dir.path().to_path_buf();
            let archive = archive.clone();
            std::thread::spawn(move || {
                let mut n = 0usize;
                // xorshift, seeded per worker.
                let mut rng = 0x9e3779b97f4a7c15u64 ^ ((w as u64 + 1) * 0x1000193);
                let mut pick = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    STRESS_NAMES[(rng % STRESS_NAMES.len() as u64) as usize]
                };
                while Instant::now() < deadline {
                    let mut cmd = Command::new(crate::util::bale_bin());
                    cmd.env("BALE_ROOT", &root).current_dir(&dir);
                    match (w % 4, n % 2) {
                        (0, 0) => cmd.arg("load").arg("-i").arg(&archive),
                        (0, _) => cmd
                            .arg("import")
                            .arg("busybox-rootfs.tar")
                            .arg(format!("w:{}", n % 3)),
                        (1, _) => cmd.arg("tag").arg(pick()).arg(pick()),
                        (2, _) => cmd.arg("rmi").arg(pick()),
                        (_, 0) => cmd.args(["image", "prune", "-f"]),
                        (_, _) => cmd.args(["system", "prune", "-f"]),
                    };
                    let out = cmd.output().unwrap();
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    // Losing a race for a name (removed by another worker) is docker's
                    // "No such image"; anything else fails the test.
                    assert!(
                        out.status.success() || stderr.contains("No such image"),
                        "worker {w}: {cmd:?}: {stderr}"
                    );
                    n += 1;
                }
                n
            })
        })
        .collect();
    let runs: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        runs.iter().all(|&n| n >= 1),
        "a worker ran nothing: {runs:?}"
    );
    check_clean(&env);
    assert!(temp_files(&env.root()).is_empty());
    // Every tag listed resolves to the image that lists it.
    let listed = run_ok(&mut env.bale([
        "images",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]));
    let mut tags = 0;
    for line in listed.lines() {
        let (name, id) = line.split_once(' ').unwrap();
        if name.ends_with("<none>") {
            continue;
        }
        let found = run_ok(&mut env.bale(["inspect", "--format", "{{.Id}}", name]));
        assert_eq!(found.trim(), id, "{name}");
        tags += 1;
    }
    // And the store still takes new images.
    run_ok(&mut env.bale(["load".as_ref(), "-i".as_ref(), archive.as_os_str()]));
    let id = run_ok(&mut env.bale(["inspect", "--format", "{{.Id}}", "busybox"]));
    assert!(id.starts_with("sha256:"), "{id}");
    eprintln!("stress: {runs:?} runs per worker, {tags} tags at the end");
}
