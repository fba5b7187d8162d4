//! Helpers for the `bale build` tests: a store with the busybox base, a context written from
//! text, builds, and running a built image with podman after `bale save`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{Env, have, import_busybox, is_root, run, run_ok, skip};

/// `podman run` as the tests use it: never pulling, no network, and the limits the machines
/// need (the image is named by ID after these).
pub const PODMAN_RUN: [&str; 9] = [
    "run",
    "--rm",
    "--pull=never",
    "--network",
    "none",
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

/// A build environment: a store holding `busybox:local`, and a context folder.
pub struct BuildEnv {
    /// The store and scratch space.
    pub env: Env,
}

impl BuildEnv {
    /// A fresh environment with the busybox base imported, or `None` (after a printed skip)
    /// when RUN cannot work here: not root, or busybox missing.
    pub fn new() -> Option<BuildEnv> {
        if !is_root() {
            skip("bale build runs RUN in namespaces and needs root");
            return None;
        }
        let env = Env::new();
        import_busybox(&env, "busybox:local")?;
        Some(BuildEnv { env })
    }

    /// The context folder `name` (created).
    pub fn context(&self, name: &str) -> PathBuf {
        let p = self.env.path(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes `files` ((relative path, content)) into context `name` and returns its path.
    pub fn write_context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.context(name);
        for (rel, text) in files {
            let p = dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
        }
        dir
    }

    /// `bale build --progress plain ARGS CONTEXT`.
    pub fn build_cmd(&self, context: &Path, args: &[&str]) -> Command {
        let mut cmd = self.env.bale(["build", "--progress", "plain"]);
        cmd.args(args).arg(context);
        cmd
    }

    /// Builds and asserts success; returns (image ID, stderr with the progress).
    pub fn build(&self, context: &Path, args: &[&str]) -> (String, String) {
        let iid = self.env.path("iid");
        let _ = fs::remove_file(&iid);
        let mut cmd = self.build_cmd(context, args);
        cmd.arg("--iidfile").arg(&iid);
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "build failed with {}\nstdout:\n{}\nstderr:\n{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        (fs::read_to_string(&iid).unwrap(), stderr)
    }

    /// Builds and expects failure with exit code 1; returns stderr.
    pub fn build_fails(&self, context: &Path, args: &[&str]) -> String {
        let out = run(&mut self.build_cmd(context, args));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "expected exit 1\nstderr:\n{stderr}"
        );
        stderr
    }

    /// The image config of `image` as `bale inspect` prints it.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = run_ok(&mut self.env.bale(["inspect", image]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// The raw image config blob of `image`.
    pub fn config(&self, image_id: &str) -> serde_json::Value {
        let hex = image_id.trim().trim_start_matches("sha256:");
        serde_json::from_slice(&fs::read(self.env.root().join("blobs/sha256").join(hex)).unwrap())
            .unwrap()
    }

    /// Runs `image` (an ID) with podman after `bale save`, with `cmd` when not empty; returns
    /// stdout, or `None` (after a printed skip) when podman is missing.
    pub fn podman_run(&self, image_id: &str, cmd: &[&str]) -> Option<String> {
        if !have("podman") || !have("runc") {
            skip("podman or runc missing");
            return None;
        }
        let archive = self.env.path("podman-image.tar");
        run_ok(
            self.env
                .bale(["save", "-o"])
                .arg(&archive)
                .arg(image_id.trim()),
        );
        run_ok(&mut self.podman(&["load", "-q", "-i", archive.to_str().unwrap()]));
        let id = image_id.trim().trim_start_matches("sha256:");
        let mut args = PODMAN_RUN.to_vec();
        args.push(id);
        args.extend_from_slice(cmd);
        let out: Output = run(&mut self.podman(&args));
        assert!(
            out.status.success(),
            "podman run failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn podman(&self, args: &[&str]) -> Command {
        crate::util::podman(&self.env, args)
    }
}

/// The progress lines of vertices that are build steps (`[stage n/m] ...`), each with whether
/// it was CACHED: (step name, cached).
pub fn steps(progress: &str) -> Vec<(String, bool)> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut cached = std::collections::HashSet::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, text)) = rest.split_once(' ') else {
            continue;
        };
        if text.starts_with('[')
            && !text.starts_with("[internal]")
            && !names.iter().any(|(i, _)| i == id)
        {
            names.push((id.to_string(), text.to_string()));
        }
        if text == "CACHED" {
            cached.insert(id.to_string());
        }
    }
    names
        .into_iter()
        .map(|(id, text)| (text, cached.contains(&id)))
        .collect()
}

/// Asserts every step of a build's progress was CACHED.
pub fn assert_all_cached(progress: &str) {
    let s = steps(progress);
    assert!(!s.is_empty(), "no steps in\n{progress}");
    let ran: Vec<&String> = s.iter().filter(|(_, c)| !c).map(|(n, _)| n).collect();
    assert!(ran.is_empty(), "steps that ran: {ran:?}\n{progress}");
}
