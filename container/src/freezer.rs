//! The cgroup v1 freezer behind `pause`: each running container gets
//! `/sys/fs/cgroup/freezer/bale/<id>/`, which the sandbox's init joins before it starts the
//! command, so every process of the container is in it, including those it forks while being
//! frozen. Where the host has no v1 freezer hierarchy (or it cannot be written), `pause` falls
//! back to `SIGSTOP` on every process of the container's pid namespace.
//!
//! The cgroup is removed when the container stops (by its supervisor, or by `rm` when the
//! supervisor was killed): a cgroup can only be removed once it is empty.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{Error, Result};

const ROOT: &str = "/sys/fs/cgroup/freezer";

fn dir(id: &str) -> PathBuf {
    PathBuf::from(ROOT).join("bale").join(id)
}

/// Creates the container's freezer cgroup and returns its `cgroup.procs`, or `None` when the
/// host has no usable freezer hierarchy.
pub(crate) fn create(id: &str) -> Option<PathBuf> {
    if !PathBuf::from(ROOT).join("cgroup.procs").exists() {
        return None;
    }
    let d = dir(id);
    fs::create_dir_all(&d).ok()?;
    let procs = d.join("cgroup.procs");
    d.join("freezer.state").exists().then_some(procs)
}

/// Whether the container has a freezer cgroup with processes in it.
pub(crate) fn in_use(id: &str) -> bool {
    fs::read_to_string(dir(id).join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty())
}

fn set_state(id: &str, want: &str) -> Result<()> {
    let state = dir(id).join("freezer.state");
    fs::write(&state, want).map_err(|e| Error::io("writing", &state, e))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = fs::read_to_string(&state).map_err(|e| Error::io("reading", &state, e))?;
        if now.trim() == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::State(format!(
                "the container's processes did not reach {want} within 5 seconds"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Freezes every process of the container and waits until they all are.
pub(crate) fn freeze(id: &str) -> Result<()> {
    set_state(id, "FROZEN")
}

/// Thaws the container's processes.
pub(crate) fn thaw(id: &str) -> Result<()> {
    set_state(id, "THAWED")
}

/// Removes the container's cgroup, once empty (nothing to do when there is none).
pub(crate) fn remove(id: &str) {
    let d = dir(id);
    if d.exists() {
        // A frozen cgroup keeps killed processes alive until thawed.
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        let deadline = Instant::now() + Duration::from_secs(2);
        while fs::remove_dir(&d).is_err() && d.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
