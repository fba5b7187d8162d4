//! A RUN end to end: snapshot a busybox rootfs, run a command in the sandbox, snapshot again and
//! check the layer. Needs root and `/bin/busybox`; without them it says so and returns.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use bale_builder::layer::{LayerOptions, write_diff_layer};
use bale_builder::snapshot::{Snapshot, diff};
use bale_sandbox::{Sandbox, SandboxSpec, Stdio};

/// Prints why a test cannot run here, or fails it on CI, where nothing may be skipped.
fn skip(reason: &str) {
    let on_ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
    assert!(!on_ci, "cannot skip on CI: {reason}");
    eprintln!("skipped: {reason}");
}

fn usable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0 && Path::new("/bin/busybox").exists();
    if !ok {
        skip("needs root and /bin/busybox");
    }
    ok
}

/// A rootfs without /proc, /dev, /sys or /etc/hosts: the sandbox creates those mount targets.
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in [
        "bin", "usr/bin", "sbin", "usr/sbin", "etc", "tmp", "home/app",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if !root.join(applet).exists() {
            symlink("/bin/busybox", root.join(applet)).unwrap();
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    dir
}

fn run(root: &Path, user: &str, workdir: &str, script: &str) {
    let mut spec = SandboxSpec::new(root, ["/bin/sh", "-c", script]);
    spec.env.push("PATH=/usr/sbin:/usr/bin:/sbin:/bin".into());
    spec.user = user.into();
    spec.workdir = workdir.into();
    spec.stdio = Stdio::Null;
    assert!(Sandbox::run(&spec).unwrap().success());
}

fn names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            format!(
                "{} {:o} {}:{}",
                String::from_utf8_lossy(&e.path_bytes()),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_run_that_changes_nothing_gives_an_empty_diff() {
    if !usable() {
        return;
    }
    let root = rootfs();
    let before = Snapshot::take(root.path()).unwrap();
    run(
        root.path(),
        "",
        "/",
        "cat /etc/hosts /etc/resolv.conf > /dev/null; ls /proc /sys > /dev/null",
    );
    let after = Snapshot::take(root.path()).unwrap();
    let changes = diff(&before, &after).changes;
    assert!(
        changes.is_empty(),
        "{:?}",
        changes
            .iter()
            .map(|c| String::from_utf8_lossy(&c.0).into_owned())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_run_becomes_its_layer() {
    if !usable() {
        return;
    }
    let root = rootfs();
    let before = Snapshot::take(root.path()).unwrap();
    run(
        root.path(),
        "app",
        "/home/app/work",
        "echo hi > note && mkdir -p /tmp/cache && touch /tmp/cache/x && rm -rf /tmp/cache",
    );
    run(
        root.path(),
        "",
        "/",
        "rm /etc/group && chmod 600 /etc/passwd && mkdir /srv",
    );
    let after = Snapshot::take(root.path()).unwrap();
    let mut tar = Vec::new();
    write_diff_layer(&before, &after, &mut tar, &LayerOptions::default()).unwrap();
    assert_eq!(
        names(&tar),
        vec![
            "etc/ 755 0:0",
            "etc/.wh.group 0 0:0",
            "etc/passwd 600 0:0",
            "home/ 755 0:0",
            "home/app/ 755 0:0",
            "home/app/work/ 755 1000:1000",
            "home/app/work/note 644 1000:1000",
            "srv/ 755 0:0",
            "tmp/ 1777 0:0",
        ]
    );
}
