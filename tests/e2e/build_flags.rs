//! `bale build`'s flags: -q, --label, -f -, a context on STDIN, --build-context, --add-host,
//! --ulimit, --shm-size, --platform, --no-cache-filter, `builder prune`, and FROM pulling from a
//! registry on 127.0.0.1.

use std::io::Write;
use std::process::Stdio;

use serde_json::json;

use crate::build_util::{BuildEnv, assert_all_cached, steps};
use crate::registry_util::{RegistryAuth, TestRegistry};
use crate::util::{run, run_ok};

#[test]
fn quiet_labels_and_dockerfile_on_stdin() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context("ctx", &[("hello.txt", "hi\n")]);
    let mut cmd = b.env.bale([
        "build",
        "-q",
        "-f",
        "-",
        "--label",
        "team=core",
        "--label",
        "empty",
        "-t",
        "q:1",
    ]);
    cmd.arg(&ctx)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"FROM busybox:local\nCOPY hello.txt /hello.txt\nLABEL team=dockerfile other=x\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("sha256:") && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = b.config(stdout.trim());
    assert_eq!(
        c["config"]["Labels"],
        json!({"team": "core", "empty": "", "other": "x"})
    );

    // A Dockerfile alone on STDIN: no context.
    let mut cmd = b.env.bale(["build", "-q", "-"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM busybox:local\nRUN echo from-stdin > /f\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A context tar on STDIN.
    let tar_path = b.env.path("ctx.tar");
    {
        let mut t = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        for (name, body) in [
            (
                "Dockerfile",
                "FROM busybox:local\nCOPY in-tar.txt /in-tar.txt\n",
            ),
            ("in-tar.txt", "from the tar\n"),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        t.finish().unwrap();
    }
    let out = run(b
        .env
        .bale(["build", "-q", "-"])
        .stdin(std::fs::File::open(&tar_path).unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    if let Some(out) = b.podman_run(id.trim(), &["cat", "/in-tar.txt"]) {
        assert_eq!(out, "from the tar\n");
    }
}

#[test]
fn build_contexts_hosts_ulimits_shm_and_platform() {
    let Some(b) = BuildEnv::new() else { return };
    let extra = b.write_context("extra", &[("note.txt", "named context\n")]);
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM base AS b\nRUN echo from-image-context > /b\n\
             FROM busybox:local\n\
             COPY --from=notes note.txt /note.txt\n\
             COPY --from=b /b /b\n\
             RUN grep -q 'db.internal' /etc/hosts && echo hosts-ok > /hosts\n\
             RUN ulimit -n > /nofile\n\
             RUN df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\n",
        )],
    );
    let notes = format!("notes={}", extra.display());
    let (id, _) = b.build(
        &ctx,
        &[
            "--build-context",
            &notes,
            "--build-context",
            "base=docker-image://busybox:local",
            "--add-host",
            "db.internal:10.1.2.3",
            "--ulimit",
            "nofile=512:512",
            "--shm-size",
            "16m",
        ],
    );
    if let Some(out) = b.podman_run(
        &id,
        &["cat", "/note.txt", "/b", "/hosts", "/nofile", "/shm"],
    ) {
        assert_eq!(
            out,
            "named context\nfrom-image-context\nhosts-ok\n512\n16384\n"
        );
    }
    let err = run(&mut b.build_cmd(&ctx, &["--platform", "linux/s390x"]));
    assert_eq!(err.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("--platform linux/s390x is not supported"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
}

#[test]
fn no_cache_filter_and_builder_prune() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local AS deps\nRUN echo deps > /deps\nFROM busybox:local AS app\nCOPY --from=deps /deps /deps\nRUN echo app > /app\n",
        )],
    );
    b.build(&ctx, &[]);
    // The rebuilt stage's results replace its records: later builds reuse them.
    let (id, progress) = b.build(&ctx, &["--no-cache-filter", "app", "-t", "app:1"]);
    let s = steps(&progress);
    for (name, cached) in &s {
        if name.starts_with("[deps") {
            assert!(cached, "{name} should be cached\n{progress}");
        } else if !name.contains("FROM") {
            assert!(!cached, "{name} should run\n{progress}");
        }
    }
    assert!(
        progress.contains("cache miss: the cache is disabled"),
        "{progress}"
    );

    // The cache's layers survive rmi and prune...
    run_ok(&mut b.env.bale(["rmi", "app:1"]));
    run_ok(&mut b.env.bale(["image", "prune", "-f"]));
    let (again, progress) = b.build(&ctx, &["-t", "app:1"]);
    assert_eq!(again, id);
    assert_all_cached(&progress);
    // ...until `builder prune` removes the records no image uses, and the root filesystems
    // kept for the next build.
    let kept = b.env.root().join("bale/cache/rootfs");
    assert!(
        std::fs::read_dir(&kept).is_ok_and(|mut d| d.next().is_some()),
        "a RUN's rootfs is kept for the next build"
    );
    run_ok(&mut b.env.bale(["rmi", "app:1"]));
    let out = run_ok(&mut b.env.bale(["builder", "prune", "-f"]));
    assert!(
        !kept.exists(),
        "builder prune removes the kept root filesystems"
    );
    assert!(out.starts_with("Deleted build cache objects:\n"), "{out}");
    assert!(out.contains("Total:"), "{out}");
    let (_, progress) = b.build(&ctx, &[]);
    assert!(
        steps(&progress)
            .iter()
            .any(|(n, c)| n.contains("RUN") && !c),
        "{progress}"
    );
    assert!(
        progress.contains("cache miss: the cached result was pruned or the cache was bypassed"),
        "{progress}"
    );
    // `-a` empties the whole build cache, cache mounts and notes included.
    let out = run_ok(&mut b.env.bale(["builder", "prune", "-a", "-f"]));
    assert!(out.contains("Total:"), "{out}");
    assert!(
        std::fs::read_dir(b.env.root().join("bale/cache")).map_or(0, |d| d.count()) == 0,
        "the build cache folder is empty"
    );
}

#[test]
fn from_pulls_a_missing_image_from_a_registry() {
    let Some(b) = BuildEnv::new() else { return };
    let Some(reg) = TestRegistry::start(&b.env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    let name = format!("{}/base/busybox:1", reg.addr);
    run_ok(&mut b.env.bale(["tag", "busybox:local", &name]));
    run_ok(&mut b.env.bale(["push", &name]));
    run_ok(&mut b.env.bale(["rmi", &name]));
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {name}\nRUN echo pulled-base > /p\nCMD [\"cat\", \"/p\"]\n"),
        )],
    );
    let (id, progress) = b.build(&ctx, &[]);
    assert!(progress.contains(&format!("FROM {name}")), "{progress}");
    assert!(progress.contains(": pull complete"), "{progress}");
    assert!(
        run_ok(
            &mut b
                .env
                .bale(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        )
        .contains(&format!("{}/base/busybox:1", reg.addr)),
        "the base was pulled into the store"
    );
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(out, "pulled-base\n");
    }
    let (_, progress) = b.build(&ctx, &["--pull"]);
    assert!(
        steps(&progress)
            .iter()
            .all(|(n, c)| *c || !n.contains("RUN")),
        "{progress}"
    );
}

#[test]
fn network_none_isolates_every_run() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local\nRUN ip -o link | wc -l > /links\nCMD [\"cat\", \"/links\"]\n",
        )],
    );
    let (isolated, _) = b.build(&ctx, &["--network", "none"]);
    let (host, _) = b.build(&ctx, &["--network", "host"]);
    assert_ne!(isolated, host, "the network is part of the RUN's cache key");
    let Some(out) = b.podman_run(&isolated, &[]) else {
        return;
    };
    assert_eq!(out, "1\n", "only lo");
    let host_links = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count()
        - 2;
    let out = b.podman_run(&host, &[]).unwrap();
    assert_eq!(out.trim(), host_links.to_string());
}
