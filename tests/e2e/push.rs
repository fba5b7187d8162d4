//! `bale push` against a real `docker-registry` on 127.0.0.1: compression on the way out,
//! "Layer already exists" on a second push, cross-repository mounts, zstd, all tags, auth.

use std::process::Stdio;

use crate::registry_util::{RegistryAuth, TestRegistry, http, tar_with};
use crate::util::{Env, run, run_fail, run_ok};

/// Imports a one-file layer as `name`.
fn import(env: &Env, name: &str, content: &str) {
    let tar = env.path(&format!("{}.tar", content.len()));
    std::fs::write(&tar, tar_with(content)).unwrap();
    run_ok(&mut env.bale(["import", tar.to_str().expect("UTF-8 path"), name]));
}

fn manifest(reg: &TestRegistry, repo: &str, tag: &str) -> (String, serde_json::Value) {
    let (status, headers, body) = http(
        "GET",
        &reg.addr,
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let digest = crate::registry_util::header(&headers, "docker-content-digest").unwrap();
    (digest, serde_json::from_slice(&body).unwrap())
}

fn blob_head(reg: &TestRegistry, repo: &str, digest: &str) -> Vec<u8> {
    let (status, _, body) = http(
        "GET",
        &reg.addr,
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    body[..4].to_vec()
}

fn layer_line(out: &str) -> &str {
    out.lines().nth(1).expect("a layer line")
}

#[test]
fn push_compress_reuse_mount() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let name = format!("{}/imp:1", reg.addr);
    import(&env, &name, "pushed content\n");
    let out = run_ok(&mut env.bale(["push", &name]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{}/imp]", reg.addr)
    );
    let (short, status) = lines[1].split_once(": ").unwrap();
    assert_eq!(short.len(), 12, "{out}");
    assert_eq!(status, "Pushed");
    let (digest, doc) = manifest(&reg, "imp", "1");
    assert!(
        lines[2].starts_with(&format!("1: digest: {digest} size: ")),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    let layer = &doc["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_digest = layer["digest"].as_str().unwrap().to_string();
    assert_eq!(blob_head(&reg, "imp", &layer_digest)[..2], [0x1f, 0x8b]);

    // Again: nothing is uploaded and the digest is the same.
    let out = run_ok(&mut env.bale(["push", &name]));
    assert_eq!(layer_line(&out), format!("{short}: Layer already exists"));
    assert!(out.contains(&format!("1: digest: {digest} ")), "{out}");

    // The same layer under another repository is mounted, not uploaded.
    let other = format!("{}/other:2", reg.addr);
    import(&env, &other, "pushed content\n");
    let out = run_ok(&mut env.bale(["push", &other]));
    assert_eq!(layer_line(&out), format!("{short}: Mounted from imp"));
    let (_, doc) = manifest(&reg, "other", "2");
    assert_eq!(doc["layers"][0]["digest"], layer_digest.as_str());

    // What was pushed pulls back into a fresh store with the same digest.
    let fresh = Env::new();
    let out = run_ok(&mut fresh.bale(["pull", &name]));
    assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");
}

#[test]
fn skopeo_reads_what_bale_pushed_and_bale_pulls_what_skopeo_pushed() {
    let env = Env::new();
    if !crate::util::have("skopeo") {
        crate::util::skip("skopeo is not installed");
        return;
    }
    let Some(id) = crate::util::import_busybox(&env, "busybox") else {
        return;
    };
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let skopeo = || crate::archive::skopeo(&env);
    let inspect = |reference: &str| -> serde_json::Value {
        let out = run_ok(skopeo().args(["inspect", "--tls-verify=false", reference]));
        serde_json::from_str(&out).unwrap()
    };

    // bale pushes; skopeo sees the same manifest and copies it, checking every blob.
    let name = format!("{}/bb:1", reg.addr);
    run_ok(&mut env.bale(["tag", "busybox", &name]));
    let out = run_ok(&mut env.bale(["push", &name]));
    let pushed = out
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in {out}"))
        .to_string();
    let seen = inspect(&format!("docker://{name}"));
    assert_eq!(seen["Digest"], pushed.as_str());
    assert_eq!(seen["Os"], "linux");
    let (_, manifest) = manifest(&reg, "bb", "1");
    assert_eq!(seen["Layers"][0], manifest["layers"][0]["digest"]);
    let copy = env.path("copy");
    run_ok(
        skopeo()
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{name}"))
            .arg(format!("oci:{}:x", copy.display()))
            .stdout(Stdio::null()),
    );

    // skopeo pushes (from bale's store, as an OCI image and as docker schema 2 with gzip
    // layers); bale pulls both with the manifest digest skopeo reports and the same image ID.
    let source = format!("oci:{}:busybox:latest", env.root().display());
    for (tag, format) in [("oci", "oci"), ("v2s2", "v2s2")] {
        let dest = format!("{}/fromskopeo:{tag}", reg.addr);
        run_ok(
            skopeo()
                .args([
                    "copy",
                    "--dest-tls-verify=false",
                    "--format",
                    format,
                    &source,
                ])
                .arg(format!("docker://{dest}"))
                .stdout(Stdio::null()),
        );
        let digest = inspect(&format!("docker://{dest}"))["Digest"]
            .as_str()
            .unwrap()
            .to_string();
        let fresh = Env::new();
        let out = run_ok(&mut fresh.bale(["pull", &dest]));
        assert!(
            out.contains(&format!("Digest: {digest}\n")),
            "{format}: {out}"
        );
        let pulled = run_ok(&mut fresh.bale(["inspect", "--format", "{{.Id}}", &dest]));
        assert_eq!(pulled.trim(), id, "{format}");
        let check = run_ok(&mut fresh.bale(["system", "check"]));
        assert!(check.contains("consistent"), "{check}");
    }
}

#[test]
fn push_zstd_and_all_tags() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let z = format!("{}/z:1", reg.addr);
    import(&env, &z, "zstd content\n");
    run_ok(&mut env.bale(["push", "--compression", "zstd", &z]));
    let (_, doc) = manifest(&reg, "z", "1");
    let layer = &doc["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        blob_head(&reg, "z", layer["digest"].as_str().unwrap()),
        [0x28, 0xb5, 0x2f, 0xfd]
    );

    for (tag, content) in [("1", "one\n"), ("2", "two, longer\n")] {
        import(&env, &format!("{}/many:{tag}", reg.addr), content);
    }
    let out = run_ok(&mut env.bale(["push", "-a", &format!("{}/many", reg.addr)]));
    assert!(out.contains("\n1: digest: sha256:"), "{out}");
    assert!(out.contains("\n2: digest: sha256:"), "{out}");
    manifest(&reg, "many", "1");
    manifest(&reg, "many", "2");
    let out = run_ok(&mut env.bale(["push", "-q", &z]));
    assert_eq!(out, format!("{z}\n"));

    let err = run_fail(
        &mut env.bale(["push", &format!("{}/absent:1", reg.addr)]),
        1,
    );
    assert!(
        err.contains(&format!(
            "An image does not exist locally with the tag: {}/absent:1",
            reg.addr
        )),
        "{err}"
    );
}

#[test]
fn push_needs_login() {
    let env = Env::new();
    let auth = RegistryAuth::Htpasswd {
        user: "alice".into(),
        password: "s3cret".into(),
    };
    let Some(reg) = TestRegistry::start(&env.path("reg"), auth, None) else {
        return;
    };
    let name = format!("{}/private:1", reg.addr);
    import(&env, &name, "private\n");
    let err = run_fail(&mut env.bale(["push", &name]), 1);
    assert!(
        err.contains("unauthorized: authentication required"),
        "{err}"
    );
    let out = run(env
        .bale(["login", &reg.addr, "-u", "alice", "-p", "s3cret"])
        .stdin(Stdio::null()));
    assert!(out.status.success());
    let out = run_ok(&mut env.bale(["push", &name]));
    assert!(out.contains(": Pushed\n"), "{out}");
}

#[test]
fn docker_v2s2_gzip_image_round_trips() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    // A docker schema 2 image with a gzip layer, as Docker Hub serves them.
    let tar = env.path("layer.tar");
    std::fs::write(&tar, tar_with("from docker\n")).unwrap();
    let gz = std::process::Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&tar)
        .output()
        .expect("gzip runs");
    assert!(gz.status.success());
    let layer = gz.stdout;
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let diff_id = crate::registry_util::sha256(&std::fs::read(&tar).unwrap());
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let layer_digest = reg.seed_blob("docker/img", &layer);
    let config_digest = reg.seed_blob("docker/img", config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{layer_digest}"}}]}}"#,
        config.len(),
        layer.len()
    );
    reg.seed_manifest(
        "docker/img",
        "1",
        "application/vnd.docker.distribution.manifest.v2+json",
        manifest.as_bytes(),
    );
    let digest = crate::registry_util::sha256(manifest.as_bytes());
    let name = format!("{}/docker/img:1", reg.addr);
    let out = run_ok(&mut env.bale(["pull", &name]));
    assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");

    // Pushed back elsewhere: the compressed layer goes as it is, so the digest is kept.
    let (status, _, _) = http(
        "GET",
        &reg.addr,
        &format!("/v2/docker/img/manifests/{digest}"),
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        b"",
    );
    assert_eq!(status, 200);
    let out = run_ok(&mut env.bale(["push", &name]));
    assert!(
        out.contains(&format!("{}: Layer already exists\n", &diff_id[7..19])),
        "{out}"
    );
    assert!(
        out.contains(&format!("1: digest: {digest} size: {}", manifest.len())),
        "{out}"
    );
}
