//! `bale build` against what a real builder produces, fixture by fixture.
//!
//! Each folder of `fixtures/peer/` holds a Dockerfile and its context, and two goldens that
//! `fixtures/peer/golden.sh` made with Buildah, corrected to BuildKit where the two differ
//! (each correction carries a `# buildkit:` comment line): `expected.txt`, the normalised
//! config, history and root filesystem of the image, and `output.txt`, what the image's default
//! command prints. For every fixture this test builds it on a busybox base made with
//! `bale import`, saves the image, normalises it with the same `normalize.py`, and compares;
//! loads the archive into podman and compares what it prints; then builds again and checks that
//! every step comes from the cache and the image ID is the same.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, fixture, have, import_busybox, is_root, podman, run, run_ok, skip};

/// Files of a fixture folder that are goldens or build settings, not build context.
const NOT_CONTEXT: &[&str] = &[
    "expected.txt",
    "output.txt",
    "buildkit.patch",
    "build-args",
    "target",
];

/// Copies the fixture's context as git checks it out under umask 022, without the goldens, so
/// file modes do not depend on the checkout (golden.sh prepares its copy the same way).
fn copy_context(from: &Path, to: &Path, top: bool) {
    fs::create_dir_all(to).expect("create context dir");
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("chmod context dir");
    let mut entries: Vec<_> = fs::read_dir(from)
        .expect("read fixture dir")
        .map(|e| e.expect("fixture entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if top && NOT_CONTEXT.iter().any(|n| name == *n) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let meta = fs::symlink_metadata(&src).expect("stat fixture entry");
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&src).expect("read fixture link");
            std::os::unix::fs::symlink(target, &dst).expect("copy fixture link");
        } else if meta.is_dir() {
            copy_context(&src, &dst, false);
        } else {
            fs::copy(&src, &dst).expect("copy fixture file");
            let mode = if meta.permissions().mode() & 0o100 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).expect("chmod file");
        }
    }
}

/// The lines of a golden without its `#` comments.
fn golden_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

/// A readable account of how `actual` differs from `expected`: the lines each lacks.
fn difference(expected: &[&str], actual: &[&str]) -> String {
    let mut out = String::new();
    for l in expected {
        if !actual.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in actual {
        if !expected.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(the same lines in another order)\n");
    }
    out
}

/// `bale build` of the fixture in `ctx`, with its build args and target, writing the image ID
/// to `iidfile`; returns the combined progress output.
fn build(env: &Env, dir: &Path, ctx: &Path, tag: &str, iidfile: &Path) -> String {
    let mut cmd = env.bale(["build", "--progress", "plain", "-t", tag]);
    cmd.arg("--iidfile").arg(iidfile);
    if let Ok(args) = fs::read_to_string(dir.join("build-args")) {
        for kv in args.lines().filter(|l| !l.is_empty()) {
            cmd.args(["--build-arg", kv]);
        }
    }
    if let Ok(target) = fs::read_to_string(dir.join("target")) {
        cmd.args(["--target", target.trim()]);
    }
    cmd.arg("-f").arg(ctx.join("Dockerfile")).arg(ctx);
    let out = run(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The instruction vertices of a plain progress log (`#N [stage i/n] INSTR`) that did not end
/// `#N CACHED`. A FROM resolves an image and runs nothing, so it may end either way.
fn uncached_steps(log: &str) -> Vec<String> {
    let mut steps = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, name)) = rest.split_once(' ') else {
            continue;
        };
        let is_step = name.starts_with('[')
            && name.split_once(']').is_some_and(|(inside, _)| {
                inside.rsplit(' ').next().is_some_and(|n| {
                    n.contains('/') && n.split('/').all(|p| p.parse::<u32>().is_ok())
                })
            });
        if is_step
            && !name
                .split_once("] ")
                .is_some_and(|(_, i)| i.starts_with("FROM "))
        {
            steps.push((id.to_string(), name.to_string()));
        }
    }
    steps
        .into_iter()
        .filter(|(id, _)| !log.lines().any(|l| l == format!("#{id} CACHED")))
        .map(|(_, name)| name)
        .collect()
}

/// What one test of a fixture checks.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    /// The saved image, normalised, against `expected.txt`.
    Image,
    /// What the image prints under podman against `output.txt`, then a rebuild that must come
    /// entirely from the cache and give the same image ID.
    Behaviour,
}

/// Builds `fixtures/peer/NAME` and checks `part` of it. Every check of the part runs and the
/// test reports all that failed, so one run shows the whole difference from the golden.
fn check(name: &str, part: Part) {
    if !is_root() {
        skip("bale build runs RUN steps in namespaces: needs root");
        return;
    }
    if !have("python3") || !have("podman") {
        skip("python3 or podman missing");
        return;
    }
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let dir: PathBuf = fixture(&format!("peer/{name}"));
    let ctx = env.path("context");
    copy_context(&dir, &ctx, true);
    let tag = format!("peer-{name}:latest");

    let iid = env.path("iid");
    build(&env, &dir, &ctx, &tag, &iid);
    let id = fs::read_to_string(&iid).expect("iidfile written");
    let image = env.path("image.tar");
    run_ok(env.bale(["save", "-o"]).arg(&image).arg(&tag));
    let mut failures = Vec::new();

    if part == Part::Image {
        let base = env.path("base.tar");
        run_ok(env.bale(["save", "-o"]).arg(&base).arg("busybox"));
        let actual = run_ok(
            Command::new("python3")
                .arg(fixture("peer/normalize.py"))
                .arg("--base")
                .arg(&base)
                .arg(&image),
        );
        let expected = fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
        let (want, got) = (golden_lines(&expected), golden_lines(&actual));
        if want != got {
            failures.push(format!(
                "the image differs from fixtures/peer/{name}/expected.txt:\n{}",
                difference(&want, &got)
            ));
        }
    }

    if part == Part::Behaviour {
        run_ok(&mut podman(
            &env,
            &["load", "-q", "-i", image.to_str().unwrap()],
        ));
        // By ID (the config digest, which podman keeps), so no name resolution can send
        // podman to a registry.
        let image_id = id.trim().trim_start_matches("sha256:").to_string();
        let mut args = crate::build_util::PODMAN_RUN.to_vec();
        args.push(&image_id);
        let printed = run(&mut podman(&env, &args));
        let stdout = String::from_utf8_lossy(&printed.stdout);
        let output = fs::read_to_string(dir.join("output.txt")).expect("output.txt");
        if !printed.status.success() || stdout != output {
            failures.push(format!(
                "podman run exited with {} and printed\n{stdout}\ninstead of \
                 fixtures/peer/{name}/output.txt:\n{output}\nstderr:\n{}",
                printed.status,
                String::from_utf8_lossy(&printed.stderr)
            ));
        }

        let iid2 = env.path("iid2");
        let log = build(&env, &dir, &ctx, &tag, &iid2);
        let uncached = uncached_steps(&log);
        if !uncached.is_empty() {
            failures.push(format!(
                "a rebuild with nothing changed ran {uncached:?}:\n{log}"
            ));
        }
        let id2 = fs::read_to_string(&iid2).expect("iidfile written");
        if id2 != id {
            failures.push(format!(
                "a cached rebuild gave image {id2}, the first build {id}"
            ));
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

/// Two tests per fixture: the first compares the image with `expected.txt`, the second runs it
/// and rebuilds it.
macro_rules! peer {
    ($($image:ident, $runs:ident => $name:literal;)*) => {
        $(
            #[test]
            fn $image() {
                check($name, Part::Image);
            }

            #[test]
            fn $runs() {
                check($name, Part::Behaviour);
            }
        )*
    };
}

peer! {
    add_archives_image, add_archives_runs => "add-archives";
    arg_scope_image, arg_scope_runs => "arg-scope";
    cmd_before_entrypoint_image, cmd_before_entrypoint_runs => "cmd-before-entrypoint";
    cmd_inherited_image, cmd_inherited_runs => "cmd-inherited";
    config_image, config_runs => "config";
    copy_chown_chmod_image, copy_chown_chmod_runs => "copy-chown-chmod";
    copy_from_image, copy_from_runs => "copy-from";
    copy_symlinks_image, copy_symlinks_runs => "copy-symlinks";
    copy_wildcards_image, copy_wildcards_runs => "copy-wildcards";
    dockerignore_image, dockerignore_runs => "dockerignore";
    entrypoint_shell_image, entrypoint_shell_runs => "entrypoint-shell";
    env_arg_image, env_arg_runs => "env-arg";
    expose_range_image, expose_range_runs => "expose-range";
    healthcheck_image, healthcheck_runs => "healthcheck";
    healthcheck_none_image, healthcheck_none_runs => "healthcheck-none";
    multistage_target_image, multistage_target_runs => "multistage-target";
    onbuild_image, onbuild_runs => "onbuild";
    run_forms_image, run_forms_runs => "run-forms";
    scratch_image, scratch_runs => "scratch";
    shell_image, shell_runs => "shell";
    user_workdir_image, user_workdir_runs => "user-workdir";
    whiteouts_image, whiteouts_runs => "whiteouts";
}

/// Every fixture folder has a test above, and every test a folder.
#[test]
fn every_peer_fixture_has_a_test() {
    let source = include_str!("build_peer.rs");
    let mut folders: Vec<String> = fs::read_dir(fixture("peer"))
        .expect("fixtures/peer")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert!(folders.len() >= 20, "{folders:?}");
    for f in &folders {
        assert!(
            source.contains(&format!("=> \"{f}\"")),
            "fixtures/peer/{f} has no test in build_peer.rs"
        );
        for golden in ["Dockerfile", "expected.txt", "output.txt"] {
            assert!(
                fixture(&format!("peer/{f}/{golden}")).is_file(),
                "fixtures/peer/{f}/{golden} missing"
            );
        }
    }
}

/// The base the tests import is the base the goldens were made on: `cmd-inherited` changes no
/// file, so its golden root filesystem is the base's, and bale's imported busybox must
/// normalise to exactly those lines.
#[test]
fn the_imported_base_is_the_goldens_base() {
    if !have("python3") {
        skip("python3 missing");
        return;
    }
    let env = Env::new();
    if import_busybox(&env, "busybox").is_none() {
        return;
    }
    let base = env.path("base.tar");
    run_ok(env.bale(["save", "-o"]).arg(&base).arg("busybox"));
    let actual = run_ok(
        Command::new("python3")
            .arg(fixture("peer/normalize.py"))
            .arg(&base),
    );
    let expected =
        fs::read_to_string(fixture("peer/cmd-inherited/expected.txt")).expect("expected.txt");
    let rootfs = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("rootfs: "))
            .map(String::from)
            .collect()
    };
    let (want, got) = (rootfs(&expected), rootfs(&actual));
    assert!(want.len() > 5, "{want:?}");
    let want_ref: Vec<&str> = want.iter().map(String::as_str).collect();
    let got_ref: Vec<&str> = got.iter().map(String::as_str).collect();
    assert!(want == got, "{}", difference(&want_ref, &got_ref));
}

#[test]
fn uncached_steps_reads_buildkit_plain_progress() {
    let log = "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\
               #2 [1/3] FROM docker.io/library/busybox:latest\n#2 DONE 0.0s\n\
               #3 [2/3] RUN echo hi\n#3 CACHED\n\
               #4 [app 3/3] COPY a /b\n#4 DONE 0.1s\n";
    assert_eq!(uncached_steps(log), ["[app 3/3] COPY a /b"]);
    let cached = "#3 [2/3] RUN echo hi\n#3 CACHED\n";
    assert!(uncached_steps(cached).is_empty());
}
