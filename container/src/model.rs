//! What a container is: its configuration (fixed when it is created), its state (changed as it
//! runs), and the options `create` takes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The restart policy (`--restart`), enforced by the supervising process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped` (docker writes `""` for none; so do
    /// we when the flag was not given).
    pub name: String,
    /// `on-failure:N`: at most N restarts (0 is no limit).
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// Parses `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
    pub fn parse(s: &str) -> Result<RestartPolicy, Error> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let maximum_retry_count = match (name, count) {
            ("on-failure", Some(c)) => c.parse::<u32>().map_err(|_| {
                Error::Invalid(format!(
                    "invalid restart policy format: maximum retry count must be an integer: {c:?}"
                ))
            })?,
            (_, Some(_)) => {
                return Err(Error::Invalid(
                    "invalid restart policy format: maximum retry count can only be used with 'on-failure'".into(),
                ));
            }
            _ => 0,
        };
        match name {
            "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
                name: name.to_string(),
                maximum_retry_count,
            }),
            "" => Ok(RestartPolicy::default()),
            _ => Err(Error::Invalid(format!(
                "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))),
        }
    }

    /// Whether a command that ended with `code` after `restarts` restarts is started again.
    /// A container stopped by `stop` or `kill` is never restarted.
    pub fn should_restart(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0 && (self.maximum_retry_count == 0 || restarts < self.maximum_retry_count)
            }
            _ => false,
        }
    }
}

/// What a mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A volume in the store (named, or anonymous with a random name).
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

/// One mount of a container, as `inspect` shows it under `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountSpec {
    /// Bind, volume or tmpfs.
    #[serde(rename = "Type")]
    pub kind: MountKind,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path (a bind's source, a volume's `_data` directory; empty for tmpfs).
    pub source: String,
    /// Path inside the container.
    pub destination: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// A volume created for this container only (from the image's `VOLUME` or a `-v /path`),
    /// removed by `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_size: Option<u64>,
}

/// What `create` (and `run`) are asked for; the image's config fills in what is not given.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The image as the user named it.
    pub image: String,
    /// `--name`; a random docker-style name when `None`.
    pub name: Option<String>,
    /// The command (replaces the image's `CMD`).
    pub cmd: Option<Vec<String>>,
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// `-e` and `--env-file` entries, `NAME=value` (a bare `NAME` was resolved by the caller).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `--add-host NAME:IP`, as (name, ip).
    pub extra_hosts: Vec<(String, String)>,
    /// `-v` and `--mount`, parsed.
    pub mounts: Vec<MountSpec>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--network`: `host` (the default) or `none`.
    pub network: String,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `--stop-signal` (else the image's `STOPSIGNAL`, else `SIGTERM`).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (else 10).
    pub stop_timeout: Option<i64>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
}

impl CreateOptions {
    /// Options for a container of `image` with everything else from the image.
    pub fn new(image: impl Into<String>) -> Self {
        CreateOptions {
            image: image.into(),
            network: "host".into(),
            ..CreateOptions::default()
        }
    }
}

/// A container's configuration, fixed at create (`rename` changes only the name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// The 64-hex-digit ID.
    pub id: String,
    /// The name, without docker's leading `/`.
    pub name: String,
    /// When it was created, RFC 3339.
    pub created: String,
    /// The image as the user named it (what `ps` shows).
    pub image: String,
    /// The image ID (`sha256:...`).
    pub image_id: String,
    /// The program.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The entrypoint in effect.
    pub entrypoint: Option<Vec<String>>,
    /// The command in effect.
    pub cmd: Option<Vec<String>>,
    /// The environment: the image's, then `-e`.
    pub env: Vec<String>,
    /// The working directory (`/` when neither image nor `-w` set one).
    pub working_dir: String,
    /// The user (`""` for root).
    pub user: String,
    /// The hostname (the short ID unless `-h`).
    pub hostname: String,
    /// `--add-host`, as (name, ip).
    pub extra_hosts: Vec<(String, String)>,
    /// Mounts in order.
    pub mounts: Vec<MountSpec>,
    /// `--read-only`.
    pub read_only: bool,
    /// `host` or `none`.
    pub network: String,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// The signal `stop` sends, e.g. `SIGTERM`.
    pub stop_signal: String,
    /// Seconds `stop` waits before `SIGKILL`.
    pub stop_timeout: i64,
    /// Labels: the image's, then `--label`.
    pub labels: BTreeMap<String, String>,
    /// The image's config as it was at create (what `commit` starts from).
    pub image_config: bale_image::config::ContainerConfig,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Its command runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// Waiting to be started again by its restart policy.
    Restarting,
    /// Its command ended.
    Exited,
    /// Being removed.
    Removing,
    /// Its supervisor is gone and it could not be cleaned up.
    Dead,
}

impl Status {
    /// docker's word for it (`ps -f status=`, `inspect`'s `State.Status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

/// A container's state, written by the supervisor (and by `pause`, `stop` and the reader that
/// finds the supervisor gone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// The status.
    pub status: Status,
    /// Host pid of the sandbox's init while running, else 0.
    pub pid: i32,
    /// Host pid of the supervisor while running, else 0.
    pub supervisor_pid: i32,
    /// The command's exit code (128 + signal when killed).
    pub exit_code: i32,
    /// Why it could not start, if it could not.
    pub error: String,
    /// When it last started, RFC 3339 (empty when never).
    pub started_at: String,
    /// When it last ended, RFC 3339 (empty when never).
    pub finished_at: String,
    /// How many times the restart policy started it again.
    pub restart_count: u32,
    /// Set by `stop` and `kill`: the restart policy does not apply to this exit.
    #[serde(default)]
    pub stopped_by_user: bool,
}

impl State {
    /// Running or paused (a supervisor owns it).
    pub fn is_running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// A container read from the store.
#[derive(Debug, Clone)]
pub struct Container {
    /// The 64-hex-digit ID.
    pub id: String,
    /// Its directory in the store.
    pub dir: PathBuf,
    /// Its configuration.
    pub config: ContainerConfig,
    /// Its state as of the read (a supervisor found dead already recorded as exited).
    pub state: State,
}

impl Container {
    /// The first 12 hex digits of the ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The overlayfs upper directory: everything the container changed.
    pub fn upper_dir(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// The overlayfs work directory.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Where the supervisor mounts the root filesystem (inside its own mount namespace).
    pub fn rootfs_dir(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The log, in docker's json-file format.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }

    /// The command line as `ps` shows it (program and arguments joined by spaces).
    pub fn command_line(&self) -> String {
        std::iter::once(self.config.path.as_str())
            .chain(self.config.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide() {
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert_eq!(p.maximum_retry_count, 2);
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(!p.should_restart(1, 0, true));
        let a = RestartPolicy::parse("always").unwrap();
        assert!(a.should_restart(0, 100, false));
        assert!(
            !RestartPolicy::parse("no")
                .unwrap()
                .should_restart(1, 0, false)
        );
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
    }
}
