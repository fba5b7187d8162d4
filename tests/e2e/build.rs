//! `bale build` end to end on the busybox base: the demo, multi-stage and `--target`, the
//! cache (CACHED rebuilds with the same ID, touched and changed files, miss reasons), and
//! reproducible builds with SOURCE_DATE_EPOCH across two stores.

use std::fs;

use crate::build_util::{BuildEnv, assert_all_cached, steps};
use crate::util::{fixture, run_ok};

#[test]
fn demo_builds_runs_and_rebuilds_from_the_cache() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = fixture("demo");
    let (id, progress) = b.build(&ctx, &["-t", "demo:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(
        progress.contains("[build 4/4] RUN --mount=type=cache"),
        "{progress}"
    );
    assert!(
        progress.contains("naming to docker.io/library/demo:1"),
        "{progress}"
    );
    let (again, progress) = b.build(&ctx, &["-t", "demo:1"]);
    assert_eq!(again, id);
    assert_all_cached(&progress);
    let config = b.config(&id);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/app/out.txt"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/app");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.title"],
        "bale demo"
    );
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        history.contains(&"COPY /src/out.txt /app/out.txt # buildkit"),
        "{history:?}"
    );
    assert!(
        history.contains(&"CMD [\"cat\" \"/app/out.txt\"]"),
        "{history:?}"
    );
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(out, "hello from the demo\nbuilt by bale\n");
    }
}

#[test]
fn every_step_of_a_rebuild_is_cached_and_config_steps_keep_their_times() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local\nARG GREETING=hi\nENV WHO=world\nRUN echo \"$GREETING $WHO\" > /greeting\nLABEL a=b\nUSER app\nWORKDIR /home/app/work\nRUN touch made-by-app\nCMD [\"cat\", \"/greeting\"]\n",
            ),
        ],
    );
    let (id, first) = b.build(&ctx, &["-t", "greet"]);
    assert!(
        first.contains("cache miss: no earlier build of this step"),
        "{first}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (again, progress) = b.build(&ctx, &[]);
    assert_eq!(
        again, id,
        "a rebuild with nothing changed gives the same image ID"
    );
    assert_all_cached(&progress);
    assert_eq!(steps(&progress).len(), 4);
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(out, "hi world\n");
    }
    if let Some(out) = b.podman_run(
        &id,
        &[
            "sh",
            "-c",
            "stat -c '%U %a' /home/app/work made-by-app; pwd",
        ],
    ) {
        assert_eq!(out, "app 755\napp 644\n/home/app/work\n");
    }
    // A build argument reruns the RUN that sees it, and says so.
    let (other, progress) = b.build(&ctx, &["--build-arg", "GREETING=hello"]);
    assert_ne!(other, id);
    assert!(
        progress.contains(
            "cache miss: build argument GREETING changed (GREETING=hi became GREETING=hello)"
        ),
        "{progress}"
    );
    if let Some(out) = b.podman_run(&other, &[]) {
        assert_eq!(out, "hello world\n");
    }
}

#[test]
fn touching_a_file_keeps_the_cache_and_changing_one_reruns_from_its_first_use() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local\nRUN echo base > /base\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-of-a\nCOPY b.txt /data/b.txt\nRUN cat /a.txt /data/b.txt > /both\n",
            ),
            ("a.txt", "a1\n"),
            ("b.txt", "b1\n"),
        ],
    );
    let (id, _) = b.build(&ctx, &[]);
    // Touch: new times, same content.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let f = fs::File::options()
        .write(true)
        .open(ctx.join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    drop(f);
    let (again, progress) = b.build(&ctx, &[]);
    assert_eq!(again, id);
    assert_all_cached(&progress);

    fs::write(ctx.join("b.txt"), "b2\n").unwrap();
    let (changed, progress) = b.build(&ctx, &[]);
    assert_ne!(changed, id);
    let s = steps(&progress);
    let cached: Vec<bool> = s.iter().map(|(_, c)| *c).collect();
    assert_eq!(
        cached,
        vec![true, true, true, true, false, false],
        "{progress}"
    );
    // The miss names the context file, not where it lands in the image.
    assert!(progress.contains("cache miss: b.txt changed"), "{progress}");
    assert!(
        progress.contains("cache miss: an earlier step or the base image changed"),
        "{progress}"
    );
    if let Some(out) = b.podman_run(&changed, &["cat", "/both"]) {
        assert_eq!(out, "a1\nb2\n");
    }
}

/// Every path of a directory tree with its type, mode, owner and content (times left out: a
/// RUN's files get the time it ran).
fn tree(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let m = fs::symlink_metadata(e.path()).unwrap();
            let what = if m.is_dir() {
                todo.push(e.path());
                String::new()
            } else if m.file_type().is_symlink() {
                fs::read_link(e.path()).unwrap().display().to_string()
            } else {
                let bytes = fs::read(e.path()).unwrap();
                match String::from_utf8(bytes) {
                    Ok(text) if text.len() < 2000 => text,
                    Ok(text) => format!("{} bytes", text.len()),
                    Err(e) => format!("{} bytes", e.as_bytes().len()),
                }
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            out.push(format!(
                "{rel} {:o} {}:{} {what:?}",
                m.mode(),
                m.uid(),
                m.gid()
            ));
        }
    }
    out.sort();
    out
}

/// A rebuild after one file changed starts from the rootfs the last build kept, rolled back:
/// its result must be the files a build in an empty store makes.
#[test]
fn a_rebuild_from_a_kept_rootfs_makes_the_same_files_as_a_fresh_store() {
    let Some(b) = BuildEnv::new() else { return };
    let Some(fresh) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local
                 RUN mkdir -p /app/lib && echo lib > /app/lib/a && chown 10:20 /app/lib/a && chmod 700 /app/lib
                 COPY src/ /app/src/
                 RUN ls -a /app /app/src > /app/seen && stat -c '%n %a %u %g' /app /app/lib >> /app/seen && cat /app/src/* > /app/all && mkdir /app/out && ln -s ../all /app/out/link && chmod 751 /app && chown 5:5 /app && chmod 750 /app/lib && chown 7:7 /app/lib && touch -d @86400 /app/lib
                 COPY extra.txt /app/
                 RUN echo more >> /app/extra.txt && find /app -exec stat -c '%n %a %u %g %s' {} + | sort > /tmp/listing && mv /tmp/listing /app/listing
",
            ),
            ("src/one.txt", "one
"),
            ("src/two.txt", "two
"),
            ("extra.txt", "extra
"),
        ],
    );
    b.build(&ctx, &[]);
    fs::write(
        ctx.join("src/one.txt"),
        "one, edited
",
    )
    .unwrap();
    let kept = b.env.root().join("bale/cache/rootfs");
    assert!(
        fs::read_dir(&kept).unwrap().next().is_some(),
        "the first build kept its rootfs"
    );
    let a = b.env.path("out-incremental");
    let (_, progress) = b.build(&ctx, &["-o", &format!("type=local,dest={}", a.display())]);
    assert!(
        progress.contains("cache miss: src/one.txt changed"),
        "{progress}"
    );
    let f = fresh.env.path("out-fresh");
    fresh.build(&ctx, &["-o", &format!("type=local,dest={}", f.display())]);
    let (ta, tf) = (tree(&a), tree(&f));
    let only_a: Vec<&String> = ta.iter().filter(|l| !tf.contains(l)).collect();
    let only_f: Vec<&String> = tf.iter().filter(|l| !ta.contains(l)).collect();
    assert!(
        only_a.is_empty() && only_f.is_empty(),
        "incremental build only: {only_a:#?}\nfresh build only: {only_f:#?}"
    );
    assert_eq!(
        fs::read_to_string(a.join("app/all")).unwrap(),
        "one, edited\ntwo\n"
    );
}

/// A rootfs whose files no longer match its layers in a way no layer records is not kept.
#[test]
fn a_rootfs_a_run_left_unrecordable_changes_in_is_not_kept() {
    let Some(b) = BuildEnv::new() else { return };
    let kept = b.env.root().join("bale/cache/rootfs");
    let count = || fs::read_dir(&kept).map_or(0, |d| d.count());
    let cases = [
        ("plain", "RUN echo kept > /kept", 1),
        // Extraction would take this file for a whiteout.
        ("whiteout-name", "RUN touch /tmp/.wh.odd", 0),
        // No layer holds the root directory itself.
        ("root-mode", "RUN chmod 711 /", 0),
        // The image's tree bound into the RUN is not kept (a privileged command could have
        // written through it); the stage's own is.
        (
            "mounted",
            "RUN --mount=type=bind,from=busybox:local,target=/b true",
            1,
        ),
    ];
    for (name, run, want) in cases {
        run_ok(&mut b.env.bale(["builder", "prune", "-a", "-f"]));
        let text = format!("FROM busybox:local\n{run}\n");
        let ctx = b.write_context(name, &[("Dockerfile", text.as_str())]);
        b.build(&ctx, &[]);
        assert_eq!(count(), want, "{name}");
    }
}

#[test]
fn target_builds_only_the_stages_it_needs_and_stages_run_in_parallel() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local AS one\nRUN --mount=type=cache,id=rendezvous,target=/rv touch /rv/one && for i in $(seq 300); do [ -e /rv/two ] && echo one > /one && exit 0; sleep 0.1; done; exit 1\n\
             FROM busybox:local AS two\nRUN --mount=type=cache,id=rendezvous,target=/rv touch /rv/two && for i in $(seq 300); do [ -e /rv/one ] && echo two > /two && exit 0; sleep 0.1; done; exit 1\n\
             FROM busybox:local AS never\nRUN exit 9\n\
             FROM busybox:local AS final\nCOPY --from=one /one /one\nCOPY --from=1 /two /two\nCMD cat /one /two\n\
             FROM busybox:local AS last\nRUN exit 7\n",
        )],
    );
    // Each RUN of the two independent stages waits for the other to start (through a shared
    // cache mount): the build only finishes when they run at the same time.
    let (id, progress) = b.build(&ctx, &["--target", "final", "-t", "t:final"]);
    assert!(!progress.contains("[never"), "{progress}");
    assert!(!progress.contains("[last"), "{progress}");
    assert!(
        progress.contains("[one 2/2] RUN --mount=type=cache,id=rendezvous"),
        "{progress}"
    );
    assert!(
        progress.contains("[final 3/3] COPY --from=1 /two /two"),
        "{progress}"
    );
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(out, "one\ntwo\n");
    }
}

#[test]
fn source_date_epoch_gives_the_same_manifest_in_two_stores() {
    let Some(a) = BuildEnv::new() else { return };
    let Some(b) = BuildEnv::new() else { return };
    // The same base in both stores.
    let base = a.env.path("base.tar");
    run_ok(a.env.bale(["save", "-o"]).arg(&base).arg("busybox:local"));
    run_ok(b.env.bale(["load", "-i"]).arg(&base));
    let text = "FROM busybox:local\nRUN mkdir -p /out && echo x > /out/x && touch /out/y\nCOPY f.txt /f.txt\nENV A=1\n";
    let mut digests = Vec::new();
    for env in [&a, &b] {
        let ctx = env.write_context("ctx2", &[("Dockerfile", text), ("f.txt", "same\n")]);
        let mut cmd = env.build_cmd(&ctx, &["-t", "repro:2"]);
        cmd.env("SOURCE_DATE_EPOCH", "1700000000");
        run_ok(&mut cmd);
        let inspected = env.inspect("repro:2");
        assert_eq!(inspected["Created"], "2023-11-14T22:13:20Z");
        digests.push(inspected["RepoDigests"][0].as_str().unwrap().to_string());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn warnings_and_unused_build_args_are_reported() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[("Dockerfile", "FROM busybox:local\nENV A=$UNDEFINED_X\n")],
    );
    let (_, progress) = b.build(&ctx, &["--build-arg", "NOBODY=1"]);
    assert!(
        progress.contains("[Warning] One or more build-args [NOBODY] were not consumed"),
        "{progress}"
    );
    assert!(
        progress.contains(
            " 1 warning found:\n - UndefinedVar: Usage of undefined variable '$UNDEFINED_X' (line 2)\n"
        ),
        "{progress}"
    );
}
