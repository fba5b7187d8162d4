//! Pull and push through a proxy that misbehaves between bale and a real `docker-registry` on
//! 127.0.0.1: it drops the connection in the middle of a blob, answers 500 once, or flips a
//! byte of a blob. bale must retry what is safe to retry, refuse what is wrong with a clear
//! error, and leave no partial image behind, in its store or in the registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::registry_util::{Fault, FaultProxy, RegistryAuth, SeenRequest, TestRegistry, http};
use crate::store::{listing, temp_files};
use crate::util::{Env, run_fail, run_ok};

/// A tar holding one file of `size` incompressible bytes (xorshift noise).
fn noise_tar(size: usize) -> Vec<u8> {
    let mut state = 0x2545f4914f6cdd1du64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "noise.bin", &data[..]).unwrap();
    tar.into_inner().unwrap()
}

/// A store holding the noise image as `name`.
fn env_with_image(name: &str) -> Env {
    let env = Env::new();
    let tar = env.path("noise.tar");
    std::fs::write(&tar, noise_tar(4 << 20)).unwrap();
    run_ok(&mut env.bale(["import", tar.to_str().unwrap(), name]));
    env
}

/// The first time `pick` chooses a request, `fault`; every other request goes through.
fn once(
    pick: impl Fn(&SeenRequest) -> bool + Send + Sync + 'static,
    fault: Fault,
) -> impl Fn(&SeenRequest) -> Fault + Send + Sync + 'static {
    let hits = Arc::new(AtomicUsize::new(0));
    move |req| {
        if pick(req) && hits.fetch_add(1, Ordering::SeqCst) == 0 {
            fault
        } else {
            Fault::Forward
        }
    }
}

/// The manifest status and the layer digest of `repo:tag` in the registry.
fn registry_manifest(reg: &TestRegistry, repo: &str, tag: &str) -> (u16, Option<String>) {
    let (status, _, body) = http(
        "GET",
        &reg.addr,
        &format!("/v2/{repo}/manifests/{tag}"),
        &[(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )],
        b"",
    );
    let layer = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|m| m["layers"][0]["digest"].as_str().map(String::from));
    (status, layer)
}

#[test]
fn pull_through_a_faulty_proxy_retries_resumes_and_refuses_bad_bytes() {
    let env = env_with_image("placeholder:1");
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let direct = format!("{}/faulty:1", reg.addr);
    run_ok(&mut env.bale(["tag", "placeholder:1", &direct]));
    run_ok(&mut env.bale(["push", &direct]));
    let (_, layer) = registry_manifest(&reg, "faulty", "1");
    let layer = layer.expect("a pushed layer");
    let layer_get = {
        let path = format!("/blobs/{layer}");
        move |r: &SeenRequest| r.method == "GET" && r.target.ends_with(&path)
    };

    // The connection drops halfway through the layer: the download resumes where it broke.
    let proxy = FaultProxy::start(
        &reg.addr,
        once(layer_get.clone(), Fault::DropResponseHalfway),
    );
    let fresh = Env::new();
    let out = run_ok(&mut fresh.bale(["pull", &format!("{}/faulty:1", proxy.addr)]));
    assert!(out.contains("Pull complete"), "{out}");
    let gets: Vec<SeenRequest> = proxy
        .requests()
        .into_iter()
        .map(|(r, _)| r)
        .filter(|r| layer_get(r))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        crate::registry_util::header(&gets[1].headers, "range")
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "the second request resumes: {gets:?}"
    );
    assert!(run_ok(&mut fresh.bale(["system", "check"])).contains("consistent"));

    // 500 for the manifest and for the layer, once each: both are asked again.
    let manifest_get = |r: &SeenRequest| r.method == "GET" && r.target.contains("/manifests/");
    let first_manifest = once(manifest_get, Fault::ServerError);
    let first_layer = once(layer_get.clone(), Fault::ServerError);
    let proxy = FaultProxy::start(&reg.addr, move |r| match first_manifest(r) {
        Fault::Forward => first_layer(r),
        fault => fault,
    });
    let fresh = Env::new();
    let out = run_ok(&mut fresh.bale(["pull", &format!("{}/faulty:1", proxy.addr)]));
    assert!(out.contains("Pull complete"), "{out}");
    let errors = proxy
        .requests()
        .iter()
        .filter(|(_, f)| *f == Fault::ServerError)
        .count();
    assert_eq!(errors, 2);

    // The layer's bytes do not match its digest, every time: refused, nothing kept.
    let corrupt = layer_get.clone();
    let proxy = FaultProxy::start(&reg.addr, move |r| {
        if corrupt(r) {
            Fault::CorruptResponse
        } else {
            Fault::Forward
        }
    });
    let fresh = Env::new();
    run_ok(&mut fresh.bale(["images"]));
    let before = listing(&fresh.root());
    let err = run_fail(
        &mut fresh.bale(["pull", &format!("{}/faulty:1", proxy.addr)]),
        1,
    );
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&layer), "the error names the blob: {err}");
    assert_eq!(listing(&fresh.root()), before, "a failed pull left a trace");
    assert!(temp_files(&fresh.root()).is_empty());
}

#[test]
fn push_through_a_faulty_proxy_starts_over_and_refuses_bad_bytes() {
    let probe = Env::new();
    let Some(reg) = TestRegistry::start(&probe.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let upload = |r: &SeenRequest| r.method == "PATCH" && r.target.contains("/blobs/uploads/");

    // The connection drops 64 KiB into the layer's upload: the upload starts over.
    let proxy = FaultProxy::start(&reg.addr, once(upload, Fault::DropRequestAfter(64 << 10)));
    let name = format!("{}/up:1", proxy.addr);
    let env = env_with_image(&name);
    let out = run_ok(&mut env.bale(["push", &name]));
    assert!(out.contains(": Pushed"), "{out}");
    let uploads = proxy.requests().iter().filter(|(r, _)| upload(r)).count();
    assert_eq!(uploads, 2, "one broken upload, one whole");
    assert_eq!(registry_manifest(&reg, "up", "1").0, 200);
    // What arrived is whole: it pulls back, verified, into a fresh store.
    let fresh = Env::new();
    run_ok(&mut fresh.bale(["pull", &format!("{}/up:1", reg.addr)]));

    // 500 when the upload opens and when the manifest goes up, once each.
    let open = |r: &SeenRequest| r.method == "POST" && r.target.contains("/blobs/uploads/");
    let put_manifest = |r: &SeenRequest| r.method == "PUT" && r.target.contains("/manifests/");
    let first_open = once(open, Fault::ServerError);
    let first_put = once(put_manifest, Fault::ServerError);
    let proxy = FaultProxy::start(&reg.addr, move |r| match first_open(r) {
        Fault::Forward => first_put(r),
        fault => fault,
    });
    let name = format!("{}/up:2", proxy.addr);
    let env = env_with_image(&name);
    run_ok(&mut env.bale(["push", &name]));
    let errors = proxy
        .requests()
        .iter()
        .filter(|(_, f)| *f == Fault::ServerError)
        .count();
    assert_eq!(errors, 2);
    assert_eq!(registry_manifest(&reg, "up", "2").0, 200);

    // Every upload arrives with a flipped byte: the registry refuses it, bale says so word
    // for word and pushes no manifest.
    let proxy = FaultProxy::start(&reg.addr, move |r| {
        if upload(r) {
            Fault::CorruptRequest
        } else {
            Fault::Forward
        }
    });
    let name = format!("{}/up:3", proxy.addr);
    let env = env_with_image(&name);
    let err = run_fail(&mut env.bale(["push", &name]), 1);
    assert!(
        err.contains("digest invalid: provided digest did not match uploaded content"),
        "{err}"
    );
    assert_eq!(
        registry_manifest(&reg, "up", "3").0,
        404,
        "no partial image"
    );
    let corrupted = proxy.requests().iter().filter(|(r, _)| upload(r)).count();
    assert_eq!(corrupted, 1, "a refusal is not retried");
}

/// `bale ARGS` on a terminal: run under `script`, which gives it a pseudo-terminal and
/// copies what it draws to our stdout.
fn on_a_terminal(env: &Env, args: &str) -> String {
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} {args}", crate::util::bale_bin().display()),
    ])
    .arg("/dev/null")
    .env("BALE_ROOT", env.root())
    .env("HOME", env.dir.path())
    .env("TERM", "xterm")
    .current_dir(env.dir.path());
    run_ok(&mut cmd)
}

#[test]
fn pull_and_push_draw_live_layer_bars_on_a_terminal() {
    if !crate::util::have("script") {
        crate::util::skip("script (util-linux) is missing");
        return;
    }
    let probe = Env::new();
    let Some(reg) = TestRegistry::start(&probe.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let name = format!("{}/bars:1", reg.addr);
    let env = env_with_image(&name);
    let out = on_a_terminal(&env, &format!("push {name}"));
    for word in [
        "Preparing",
        "Pushing [",
        "/4.2MB",
        "Pushed",
        "1: digest: sha256:",
    ] {
        assert!(out.contains(word), "{word:?} missing from {out:?}");
    }
    // Lines are redrawn in place: the cursor goes back up over the block.
    assert!(out.contains("\x1b[1A"), "{out:?}");

    let fresh = Env::new();
    let out = on_a_terminal(&fresh, &format!("pull {name}"));
    for word in [
        "Pulling fs layer",
        "Downloading [",
        "Pull complete",
        "Digest: sha256:",
    ] {
        assert!(out.contains(word), "{word:?} missing from {out:?}");
    }
    assert!(out.contains("\x1b[1A"), "{out:?}");
    // Not on a terminal: no bars, only docker's final words.
    let fresh = Env::new();
    let out = run_ok(&mut fresh.bale(["pull", &name]));
    assert!(
        !out.contains('\x1b') && !out.contains("Downloading"),
        "{out:?}"
    );
    assert!(out.contains(": Pull complete\n"), "{out}");
}
