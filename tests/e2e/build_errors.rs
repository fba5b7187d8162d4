//! Build errors: each names the Dockerfile line with a caret, exits 1, and tags nothing. And
//! the sandbox's promises, tried from a RUN: no write reaches the host, no host process is
//! visible.

use crate::build_util::BuildEnv;
use crate::util::run;

fn assert_untagged(b: &BuildEnv, tag: &str) {
    let out = run(&mut b.env.bale(["inspect", tag]));
    assert!(!out.status.success(), "{tag} was tagged");
}

#[test]
fn missing_copy_source_names_the_closest_file() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox:local\nCOPY src/mian.rs /app/\n"),
            ("src/main.rs", "fn main() {}\n"),
        ],
    );
    let err = b.build_fails(&ctx, &["-t", "broken:1"]);
    assert!(
        err.contains(
            "ERROR: Dockerfile:2:1: file not found in build context: src/mian.rs (did you mean src/main.rs?)\n   2 | COPY src/mian.rs /app/\n     | ^\n"
        ),
        "{err}"
    );
    assert_untagged(&b, "broken:1");
}

#[test]
fn failing_run_reports_its_command_and_exit_code() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local\nRUN echo partial > /x\nRUN echo about to fail && exit 3\n",
        )],
    );
    let err = b.build_fails(&ctx, &["-t", "broken:2"]);
    assert!(
        err.contains(
            "ERROR: Dockerfile:3:1: process \"/bin/sh -c echo about to fail && exit 3\" did not complete successfully: exit code: 3\n   3 | RUN echo about to fail && exit 3\n     | ^\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("about to fail"),
        "the command's output is shown: {err}"
    );
    assert_untagged(&b, "broken:2");
}

#[test]
fn sources_outside_the_context_are_refused() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[("Dockerfile", "FROM busybox:local\nCOPY ../secret /x\n")],
    );
    std::fs::write(b.env.path("secret"), "no\n").unwrap();
    let err = b.build_fails(&ctx, &[]);
    assert!(err.contains("Dockerfile:2:1: "), "{err}");
    assert!(
        err.contains("only files inside the build context can be copied"),
        "{err}"
    );

    std::os::unix::fs::symlink("/etc", ctx.join("etc-link")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nCOPY etc-link/passwd /x\n",
    )
    .unwrap();
    let err = b.build_fails(&ctx, &[]);
    assert!(err.contains("Dockerfile:2:1: "), "{err}");
    assert!(
        err.contains("only files inside the build context can be copied"),
        "{err}"
    );
}

#[test]
fn unknown_stages_cycles_and_targets_are_errors() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local AS build\nRUN echo > /x\nFROM busybox:local\nCOPY --from=buld /x /x\n",
        )],
    );
    let err = b.build_fails(&ctx, &["-t", "broken:3"]);
    assert!(
        err.contains("ERROR: Dockerfile:4:1: unknown stage or image \"buld\": no stage is named so (did you mean build?)"),
        "{err}"
    );
    assert!(err.contains("   4 | COPY --from=buld /x /x\n"), "{err}");
    assert_untagged(&b, "broken:3");

    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM b AS a\nRUN true\nFROM a AS b\nRUN true\n",
    )
    .unwrap();
    let err = b.build_fails(&ctx, &[]);
    assert!(
        err.contains("ERROR: Dockerfile:1:6: circular dependency detected on stage: b"),
        "{err}"
    );
    assert!(err.contains("   1 | FROM b AS a\n     |      ^\n"), "{err}");

    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local AS build\n").unwrap();
    let err = b.build_fails(&ctx, &["--target", "buidl"]);
    assert!(
        err.contains("target stage \"buidl\" could not be found"),
        "{err}"
    );
}

#[test]
fn run_cannot_write_outside_its_rootfs_or_see_host_processes() {
    let Some(b) = BuildEnv::new() else { return };
    let marker = format!("bale-escape-{}", std::process::id());
    let text = format!(
        "FROM busybox:local\n\
         RUN echo x > /../../../tmp/{marker} && echo y > /proc/1/root/tmp/{marker}-2 && echo z > /proc/self/root/tmp/{marker}-3\n\
         RUN n=$(ls /proc | grep -c '^[0-9]'); echo \"processes: $n\"; test \"$n\" -le 8\n\
         RUN ! kill -0 1 2>/dev/null || test \"$(cat /proc/1/comm)\" != systemd\n\
         RUN grep CapEff /proc/self/status; mkdir -p /mnt/t; ! mount -t tmpfs none /mnt/t && ! mknod /tmp/disk b 8 0 && ! ip link set lo down && echo confined\n"
    );
    let ctx = b.write_context("ctx", &[("Dockerfile", text.as_str())]);
    let (id, progress) = b.build(&ctx, &[]);
    for suffix in ["", "-2", "-3"] {
        assert!(
            !std::path::Path::new(&format!("/tmp/{marker}{suffix}")).exists(),
            "a RUN wrote /tmp/{marker}{suffix} on the host"
        );
    }
    assert!(progress.contains("processes: "), "{progress}");
    // Docker's default capabilities less CAP_MKNOD: no mount, no device node, no network
    // administration.
    assert!(progress.contains("CapEff:\t00000000a00425fb"), "{progress}");
    assert!(progress.contains(" confined\n"), "{progress}");
    // The writes stayed in the image.
    if let Some(out) = b.podman_run(
        &id,
        &[
            "sh",
            "-c",
            &format!("cat /tmp/{marker} /tmp/{marker}-2 /tmp/{marker}-3"),
        ],
    ) {
        assert_eq!(out, "x\ny\nz\n");
    }
}

/// Processes whose command line contains `needle`.
fn processes_matching(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

#[test]
fn ctrl_c_or_sigterm_kills_the_run_and_leaves_nothing_behind() {
    let Some(b) = BuildEnv::new() else { return };
    let root = b.env.root();
    for (n, signal) in [("INT", "-INT"), ("TERM", "-TERM")] {
        let marker = format!("42{}{}", std::process::id() % 1000, n.len());
        let text = format!(
            "FROM busybox:local\nRUN echo started > /x; sleep {marker} & sleep {marker}1\n"
        );
        let ctx = b.write_context(&format!("ctx-{n}"), &[("Dockerfile", text.as_str())]);
        let tag = format!("interrupted-{}:1", n.to_ascii_lowercase());
        let child = b
            .build_cmd(&ctx, &["-t", &tag])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            eventually(30, || processes_matching(&format!("sleep {marker}1")).len()
                == 1),
            "the RUN never started"
        );
        let st = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "SIG{n}: the build succeeded: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "interrupted by SIG{n}: the command and every process it started were killed"
            )),
            "SIG{n}: {stderr}"
        );
        // Every process of the RUN is gone with bale, and so is every mount and rootfs.
        assert!(
            eventually(5, || processes_matching(&format!("sleep {marker}"))
                .is_empty()),
            "SIG{n}: {:?}",
            processes_matching(&format!("sleep {marker}"))
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(root.to_str().unwrap()),
            "SIG{n}: mounts left under the store: {mounts}"
        );
        let tmp = root.join("bale/tmp");
        let trash = root.join("bale/trash");
        let empty =
            |d: &std::path::Path| std::fs::read_dir(d).map_or(true, |mut r| r.next().is_none());
        assert!(
            eventually(10, || empty(&tmp) && empty(&trash)),
            "SIG{n}: left in the store: {:?} {:?}",
            std::fs::read_dir(&tmp).map(|r| r.count()),
            std::fs::read_dir(&trash).map(|r| r.count())
        );
        assert_untagged(&b, &tag);
    }
}
