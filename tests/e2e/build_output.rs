//! `bale build --progress plain` prints BuildKit's plain shape, and `-o` writes the built image
//! where it says: an OCI archive skopeo reads, the root filesystem as a directory.

use std::fs;
use std::process::Command;

use crate::util::{Env, have, import_busybox, is_root, run, run_fail, skip};

/// A context whose build runs one RUN that writes to both streams and copies one file.
fn context(env: &Env) -> std::path::PathBuf {
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo hello && echo oops >&2 && mkdir /out && echo made > /out/file\nCOPY note.txt /note.txt\n",
    )
    .unwrap();
    fs::write(ctx.join("note.txt"), "note\n").unwrap();
    ctx
}

fn ready(env: &Env) -> bool {
    if !is_root() && skip("bale build runs RUN in namespaces, which needs root") {
        return false;
    }
    import_busybox(env, "busybox:latest").is_some()
}

/// The step number of the line `#N {rest}`.
fn step_of<'a>(lines: &[&'a str], rest: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (n, r) = l.strip_prefix('#')?.split_once(' ')?;
        (r == rest && n.bytes().all(|b| b.is_ascii_digit())).then_some(n)
    })
}

#[test]
fn plain_progress_numbers_every_line_and_marks_the_cache() {
    let env = Env::new();
    if !ready(&env) {
        return;
    }
    let ctx = context(&env);
    let build = |env: &Env| {
        let out = run(env
            .bale(["build", "--progress", "plain", "-t", "app:1"])
            .arg(&ctx));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    };
    let text = build(&env);
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines {
        let numbered = l
            .strip_prefix('#')
            .and_then(|r| r.split_once(' '))
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            l.is_empty() || numbered,
            "unnumbered line {l:?} in:\n{text}"
        );
    }
    let run_step = step_of(
        &lines,
        "[2/3] RUN echo hello && echo oops >&2 && mkdir /out && echo made > /out/file",
    )
    .unwrap_or_else(|| panic!("no RUN header in:\n{text}"));
    // Output lines carry the seconds since the step started, with three decimals.
    for word in ["hello", "oops"] {
        assert!(
            lines.iter().any(|l| {
                l.strip_prefix(&format!("#{run_step} "))
                    .and_then(|r| r.split_once(' '))
                    .is_some_and(|(t, w)| {
                        w == word && t.split_once('.').is_some_and(|(_, d)| d.len() == 3)
                    })
            }),
            "no timed {word:?} line for #{run_step} in:\n{text}"
        );
    }
    assert!(
        lines.iter().any(|l| l
            .strip_prefix(&format!("#{run_step} DONE "))
            .is_some_and(|t| t.ends_with('s'))),
        "no DONE for #{run_step} in:\n{text}"
    );
    // A blank line comes before each step's header, never two in a row.
    assert!(!text.contains("\n\n\n"), "{text}");
    assert!(text.starts_with('#'), "{text}");

    let again = build(&env);
    let lines: Vec<&str> = again.lines().collect();
    let run_step = step_of(
        &lines,
        "[2/3] RUN echo hello && echo oops >&2 && mkdir /out && echo made > /out/file",
    )
    .unwrap_or_else(|| panic!("no RUN header in:\n{again}"));
    assert!(
        lines.contains(&format!("#{run_step} CACHED").as_str()),
        "the rebuild did not say CACHED:\n{again}"
    );
}

#[test]
fn oci_output_is_an_archive_skopeo_reads() {
    let env = Env::new();
    if !ready(&env) {
        return;
    }
    let ctx = context(&env);
    let dest = env.path("app.oci.tar");
    let out = run(env
        .bale(["build", "--progress", "quiet", "-t", "app:2", "-o"])
        .arg(format!("type=oci,dest={}", dest.display()))
        .arg(&ctx));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut members = Vec::new();
    let mut archive = tar::Archive::new(fs::File::open(&dest).unwrap());
    for e in archive.entries().unwrap() {
        members.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(members.iter().any(|m| m == "index.json"), "{members:?}");
    assert!(members.iter().any(|m| m == "oci-layout"), "{members:?}");
    if !have("skopeo") && skip("skopeo is not installed") {
        return;
    }
    let inspect = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", dest.display()))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    // busybox, the RUN and the COPY.
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3, "{v}");
}

#[test]
fn local_output_is_the_final_rootfs_and_bad_outputs_are_refused() {
    let env = Env::new();
    if !ready(&env) {
        return;
    }
    let ctx = context(&env);
    let dest = env.path("rootfs");
    let out = run(env
        .bale(["build", "--progress", "plain", "-o"])
        .arg(&dest)
        .arg(&ctx));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(dest.join("out/file")).unwrap(), "made\n");
    assert_eq!(fs::read_to_string(dest.join("note.txt")).unwrap(), "note\n");
    assert!(dest.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(dest.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );

    let err = run_fail(env.bale(["build", "-o", "type=tar,name=x"]).arg(&ctx), 1);
    assert!(err.contains("unknown key \"name\" for type=tar"), "{err}");
    let err = run_fail(env.bale(["build", "-o", "a", "-o", "b"]).arg(&ctx), 1);
    assert!(err.contains("multiple outputs"), "{err}");
}
