//! Shared helpers for the end-to-end tests: a throwaway store, the binary, fixtures, and the
//! rule for skipping a test whose prerequisites are missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (the parent of `cli/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// A fixture file or folder under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace().join("fixtures").join(rel)
}

/// `../shared/conformance` beside the workspace, when it exists.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = workspace().join("../shared/conformance");
    dir.is_dir()
        .then(|| dir.canonicalize().expect("canonical conformance path"))
}

/// The `bale` binary under test.
pub fn bale_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bale"))
}

/// True on CI, where nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
}

/// Skips the calling test with a printed reason, or fails it on CI where everything must run.
/// Returns `true` when the caller should return early.
pub fn skip(reason: &str) -> bool {
    if on_ci() {
        panic!("cannot skip on CI: {reason}");
    }
    eprintln!("skipped: {reason}");
    true
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // Read from /proc so the tests need no libc binding.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A throwaway store and working directory for one test.
pub struct Env {
    /// Holds the temporary directory alive.
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A fresh, empty environment.
    pub fn new() -> Self {
        Env {
            dir: tempfile::Builder::new()
                .prefix("bale-e2e-")
                .tempdir()
                .expect("temporary directory"),
        }
    }

    /// The store root bale uses in this environment.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path inside the environment's scratch space.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `bale ARGS` with this environment's store, run in its directory.
    pub fn bale<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(bale_bin());
        cmd.args(args)
            .env("BALE_ROOT", self.root())
            .env("HOME", self.dir.path())
            .env_remove("DOCKER_CONFIG")
            .current_dir(self.dir.path());
        cmd
    }
}

/// Runs `cmd` and returns its output, panicking with the command line if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, asserts it succeeded, and returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `cmd`, asserts it failed with `code`, and returns its stderr.
pub fn run_fail(cmd: &mut Command, code: i32) -> String {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).expect("stderr is UTF-8")
}

/// Writes a busybox root filesystem as a tar to `path`: `/bin/busybox` (from Debian's
/// busybox-static), a symlink in `/bin` for every applet `busybox --list` names, `/etc/passwd`
/// and `/etc/group` with `root`, `nobody` and `app` (uid and gid 1000), `/root`, `/home/app`
/// and `/tmp` (mode 1777). Owners are numeric and times fixed, so the same busybox always gives
/// the same tar. Returns false (after [`skip`]) when busybox is missing.
pub fn busybox_rootfs_tar(path: &Path) -> bool {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return !skip("/bin/busybox is missing (install busybox-static)");
    }
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list runs");
    let mut applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(String::from)
        .collect();
    applets.sort();
    applets.dedup();

    let file = std::fs::File::create(path).expect("create rootfs tar");
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mtime = 1_700_000_000;
    let header = |kind: tar::EntryType, mode: u32, uid: u64, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(size);
        h.set_mtime(mtime);
        h
    };
    let dir = |tar: &mut tar::Builder<_>, name: &str, mode: u32, uid: u64| {
        let mut h = header(tar::EntryType::Directory, mode, uid, 0);
        tar.append_data(&mut h, name, std::io::empty())
            .expect("dir entry");
    };
    for (name, mode, uid) in [
        ("bin/", 0o755, 0),
        ("etc/", 0o755, 0),
        ("home/", 0o755, 0),
        ("home/app/", 0o755, 1000),
        ("root/", 0o700, 0),
        ("tmp/", 0o1777, 0),
        ("var/", 0o755, 0),
    ] {
        dir(&mut tar, name, mode, uid);
    }
    let bytes = std::fs::read(busybox).expect("read busybox");
    let mut h = header(tar::EntryType::Regular, 0o755, 0, bytes.len() as u64);
    tar.append_data(&mut h, "bin/busybox", &bytes[..])
        .expect("busybox entry");
    for applet in applets {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\n\
                  nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
                  app:x:1000:1000:app:/home/app:/bin/sh\n";
    let group = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n";
    for (name, text) in [("etc/passwd", passwd), ("etc/group", group)] {
        let mut h = header(tar::EntryType::Regular, 0o644, 0, text.len() as u64);
        tar.append_data(&mut h, name, text.as_bytes())
            .expect("etc entry");
    }
    tar.into_inner()
        .expect("finish tar")
        .into_inner()
        .expect("flush tar");
    true
}

/// Imports the busybox root filesystem ([`busybox_rootfs_tar`]) into `env`'s store as `name`
/// (e.g. `busybox:latest`) and returns the image ID bale printed (`sha256:...`), or `None` when
/// the test should stop because busybox is missing.
pub fn import_busybox(env: &Env, name: &str) -> Option<String> {
    let tar = env.path("busybox-rootfs.tar");
    if !tar.exists() && !busybox_rootfs_tar(&tar) {
        return None;
    }
    let out = run_ok(&mut env.bale(["import".as_ref(), tar.as_os_str(), name.as_ref()]));
    Some(out.trim().to_string())
}

/// A `registries.conf` in `env` that blocks the public registries, so peer tools can reach only
/// 127.0.0.1.
pub fn registries_conf(env: &Env) -> PathBuf {
    let path = env.path("registries.conf");
    std::fs::write(
        &path,
        "unqualified-search-registries = []\n\
         [[registry]]\nlocation = \"docker.io\"\nblocked = true\n\
         [[registry]]\nlocation = \"quay.io\"\nblocked = true\n",
    )
    .expect("write registries.conf");
    path
}

/// `podman ARGS` with its store in `env` and the flags that work on these hosts (vfs, runc,
/// cgroupfs, file events; see PEERS.md), the public registries blocked.
pub fn podman(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_REGISTRIES_CONF", registries_conf(env))
        .arg("--root")
        .arg(env.path("podman-root"))
        .arg("--runroot")
        .arg(env.path("podman-runroot"))
        .args([
            "--storage-driver",
            "vfs",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .args(args);
    c
}
