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
