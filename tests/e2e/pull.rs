//! `bale pull` against a real `docker-registry` on 127.0.0.1, and against a fake registry that
//! serves a corrupted layer.

use std::process::Stdio;

use crate::registry_util::{FakeServer, RegistryAuth, TRUNCATE, TestRegistry, sha256, tar_with};
use crate::util::{Env, run_fail, run_ok};

fn short(digest: &str) -> &str {
    &digest["sha256:".len().."sha256:".len() + 12]
}

/// The manifest digests the store's `index.json` names `name` with.
fn store_names(env: &Env) -> Vec<(String, String)> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root().join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            Some((
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()?
                    .to_string(),
                m["digest"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

#[test]
fn pull_then_up_to_date() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let (digest, layer) = reg.seed_platform_image("team/app", "1", host_arch());
    let name = format!("{}/team/app:1", reg.addr);
    let out = run_ok(&mut env.bale(["pull", &name]));
    assert_eq!(
        out,
        format!(
            "1: Pulling from team/app\n{}: Pull complete\nDigest: {digest}\n\
             Status: Downloaded newer image for {name}\n{name}\n",
            short(&layer)
        )
    );
    assert!(
        store_names(&env).iter().any(|(_, d)| *d == digest),
        "{:?}",
        store_names(&env)
    );

    let out = run_ok(&mut env.bale(["pull", &name]));
    assert_eq!(
        out,
        format!(
            "1: Pulling from team/app\n{}: Already exists\nDigest: {digest}\n\
             Status: Image is up to date for {name}\n{name}\n",
            short(&layer)
        )
    );
    let out = run_ok(&mut env.bale(["pull", "-q", &name]));
    assert_eq!(out, format!("{name}\n"));

    // By digest.
    let by_digest = format!("{}/team/app@{digest}", reg.addr);
    let out = run_ok(&mut env.bale(["pull", &by_digest]));
    assert!(
        out.starts_with(&format!("{digest}: Pulling from team/app\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{by_digest}\n")), "{out}");

    // No `latest` tag: the registry's reason.
    let err = run_fail(
        &mut env.bale(["pull", &format!("{}/team/app", reg.addr)]),
        1,
    );
    assert!(
        err.contains(&format!(
            "Error: manifest for {}/team/app:latest not found: manifest unknown: manifest unknown",
            reg.addr
        )),
        "{err}"
    );
    let err = run_fail(
        &mut env.bale(["pull", "--platform", "windows/amd64", &name]),
        1,
    );
    assert!(err.contains("only the host platform"), "{err}");
}

#[test]
fn pull_multi_platform_and_all_tags() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let mut entries = Vec::new();
    let mut host_layer = String::new();
    let mut other_layer = String::new();
    for arch in ["arm64", "amd64"] {
        let (digest, layer) = reg.seed_platform_image("multi", arch, arch);
        if arch == host_arch() {
            host_layer = layer;
        } else {
            other_layer = layer;
        }
        let size = http_size(&reg, "multi", arch);
        let variant = if arch == "arm64" {
            r#","variant":"v8""#
        } else {
            ""
        };
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"{variant}}}}}"#
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    reg.seed_manifest(
        "multi",
        "latest",
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    );
    let name = format!("{}/multi", reg.addr);
    let out = run_ok(&mut env.bale(["pull", &name]));
    assert!(
        out.contains(&format!("{}: Pull complete", short(&host_layer))),
        "{out}"
    );
    assert!(!out.contains(short(&other_layer)), "{out}");
    assert!(
        out.contains(&format!("Digest: {}\n", sha256(index.as_bytes()))),
        "{out}"
    );
    assert!(out.ends_with(&format!("{name}:latest\n")), "{out}");

    let out = run_ok(&mut env.bale(["pull", "-a", &name]));
    for tag in ["amd64", "arm64", "latest"] {
        assert!(
            out.contains(&format!("{tag}: Pulling from multi\n")),
            "{out}"
        );
    }
    assert!(out.ends_with(&format!("{name}\n")), "{out}");
    let names: Vec<String> = store_names(&env).into_iter().map(|(n, _)| n).collect();
    for tag in ["amd64", "arm64", "latest"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("multi:{tag}"))),
            "{names:?}"
        );
    }
    let err = run_fail(&mut env.bale(["pull", "-a", &format!("{name}:latest")]), 1);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
}

fn http_size(reg: &TestRegistry, repo: &str, tag: &str) -> usize {
    let (status, _, body) = crate::registry_util::http(
        "GET",
        &reg.addr,
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(status, 200);
    body.len()
}

#[test]
fn pull_with_login() {
    let env = Env::new();
    let auth = RegistryAuth::Htpasswd {
        user: "alice".into(),
        password: "s3cret".into(),
    };
    let Some(reg) = TestRegistry::start(&env.path("reg"), auth, None) else {
        return;
    };
    reg.seed_platform_image("private", "1", host_arch());
    let name = format!("{}/private:1", reg.addr);
    let err = run_fail(&mut env.bale(["pull", &name]), 1);
    assert!(
        err.contains("pull access denied for")
            && err.contains("unauthorized: authentication required"),
        "{err}"
    );
    let out = crate::util::run(
        env.bale(["login", &reg.addr, "-u", "alice", "-p", "s3cret"])
            .stdin(Stdio::null()),
    );
    assert!(out.status.success());
    let out = run_ok(&mut env.bale(["pull", &name]));
    assert!(out.contains("Pull complete"), "{out}");
}

#[test]
fn pull_refuses_corrupted_layer() {
    let layer = tar_with("the real content\n");
    let layer_digest = sha256(&layer);
    let config = format!(
        r#"{{"architecture":"{}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#,
        host_arch()
    )
    .into_bytes();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let mut tampered = layer.clone();
    tampered[600] ^= 0xff;
    let (ld, cd) = (layer_digest.clone(), config_digest.clone());
    let fake = FakeServer::start(move |req| {
        let t = req.target.as_str();
        if t == "/v2/" {
            (200, vec![], b"{}".to_vec())
        } else if t == "/v2/bad/manifests/1" {
            (
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                manifest.clone().into_bytes(),
            )
        } else if t == format!("/v2/bad/blobs/{cd}") {
            (200, vec![], config.clone())
        } else if t == format!("/v2/bad/blobs/{ld}") {
            (200, vec![], tampered.clone())
        } else {
            (404, vec![], Vec::new())
        }
    });
    let env = Env::new();
    let err = run_fail(&mut env.bale(["pull", &format!("{}/bad:1", fake.addr)]), 1);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(
        !env.root()
            .join("blobs/sha256")
            .join(&layer_digest["sha256:".len()..])
            .exists()
    );
}

/// A fake registry serving one image as `flaky:1`. With `truncate`, the first layer download
/// drops after 1000 bytes; with `ranges`, later tries honour `Range`, else they send everything
/// again. The first `manifest_failures` manifest requests get 503, then 429.
fn fake_registry(ranges: bool, truncate: bool, manifest_failures: usize) -> (FakeServer, String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let layer = tar_with(&"resumable content\n".repeat(400));
    let layer_digest = sha256(&layer);
    let config = format!(
        r#"{{"architecture":"{}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#,
        host_arch()
    )
    .into_bytes();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let tries = AtomicUsize::new(0);
    let refusals = AtomicUsize::new(0);
    let (ld, cd) = (layer_digest.clone(), config_digest);
    let fake = FakeServer::start(move |req| {
        let t = req.target.as_str();
        if t == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if t == "/v2/flaky/manifests/1" {
            let refused = refusals.fetch_add(1, Ordering::SeqCst);
            if refused < manifest_failures {
                let status = if refused == 0 { 503 } else { 429 };
                return (status, vec![("Retry-After".into(), "0".into())], Vec::new());
            }
            let ct = "application/vnd.oci.image.manifest.v1+json".to_string();
            return (
                200,
                vec![("Content-Type".into(), ct)],
                manifest.clone().into_bytes(),
            );
        }
        if t == format!("/v2/flaky/blobs/{cd}") {
            return (200, vec![], config.clone());
        }
        if t != format!("/v2/flaky/blobs/{ld}") {
            return (404, vec![], Vec::new());
        }
        if truncate && tries.fetch_add(1, Ordering::SeqCst) == 0 {
            return (200, vec![(TRUNCATE.into(), "1000".into())], layer.clone());
        }
        let range = crate::registry_util::header(&req.headers, "range");
        match range.and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        }) {
            Some(from) if ranges => (
                206,
                vec![(
                    "Content-Range".into(),
                    format!("bytes {from}-{}/{}", layer.len() - 1, layer.len()),
                )],
                layer[from..].to_vec(),
            ),
            _ => (200, vec![], layer.clone()),
        }
    });
    (fake, layer_digest)
}

#[test]
fn pull_resumes_dropped_download() {
    for ranges in [true, false] {
        let (fake, layer_digest) = fake_registry(ranges, true, 0);
        let env = Env::new();
        let out = run_ok(&mut env.bale(["pull", &format!("{}/flaky:1", fake.addr)]));
        assert!(
            out.contains(&format!("{}: Pull complete", short(&layer_digest))),
            "{out}"
        );
        let blob_gets: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.target.ends_with(&layer_digest))
            .collect();
        assert_eq!(blob_gets.len(), 2, "{blob_gets:?}");
        assert_eq!(
            crate::registry_util::header(&blob_gets[1].headers, "range").as_deref(),
            Some("bytes=1000-"),
            "ranges={ranges}"
        );
        assert!(
            env.root()
                .join("blobs/sha256")
                .join(&layer_digest["sha256:".len()..])
                .exists()
        );
    }
}

#[test]
fn pull_retries_server_errors() {
    let (fake, layer_digest) = fake_registry(true, false, 2);
    let env = Env::new();
    let out = run_ok(&mut env.bale(["pull", &format!("{}/flaky:1", fake.addr)]));
    assert!(
        out.contains(&format!("{}: Pull complete", short(&layer_digest))),
        "{out}"
    );
    let manifest_gets = fake
        .requests()
        .iter()
        .filter(|r| r.target.contains("/manifests/"))
        .count();
    assert_eq!(manifest_gets, 3, "two refusals (503, 429), then the answer");
}
