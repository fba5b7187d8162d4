//! Containers from images, without a daemon.
//!
//! This crate owns container state in the image store: each container is a directory
//! `ROOT/bale/containers/<id>/` holding its `config.json` (what it runs, fixed at create),
//! its `state.json` (created, running, exited...), its overlayfs `upper/` and `work/`
//! directories, and its log. It also owns the read-only root filesystem cached per image
//! (`ROOT/bale/rootfs/<image id>/`) that every container of that image shares as its overlayfs
//! lower directory, and the volumes (`ROOT/bale/volumes/<name>/_data`).
//!
//! A container runs under a small supervising process: `bale run` in the foreground is itself
//! the supervisor, `bale run -d` and `bale start` fork one. The supervisor mounts the overlay in
//! a private mount namespace of its own, runs the command in the RUN sandbox
//! ([`bale_sandbox::Sandbox`]), writes the output to the log, records the exit and enforces the
//! restart policy. Every mount lives in namespaces that die with the supervisor and the
//! sandbox, so a supervisor killed with `kill -9` leaves no mount and no process behind: the
//! sandbox's init dies with it (parent-death signal), and the next reader of the state sees the
//! supervisor's lock released and records the container as exited.
//!
//! It knows nothing of the command line: `cli/` turns flags into a [`CreateOptions`] and
//! results into text.
//!
//! ```no_run
//! use bale_container::{Containers, CreateOptions};
//! let store = bale_image::Store::open("/var/lib/bale")?;
//! let containers = Containers::open(&store)?;
//! let mut opts = CreateOptions::new("busybox");
//! opts.cmd = Some(vec!["true".into()]);
//! let c = containers.create(&opts)?;
//! println!("{}", c.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod changes;
mod control;
mod copy;
mod error;
mod freezer;
mod logs;
mod model;
mod names;
mod rootfs;
mod store;
mod supervise;
mod terminal;
mod volumes;

pub use bale_sandbox::Error as SandboxError;
pub use changes::{Change, ChangeKind, CommitOptions};
pub use control::{ExecOptions, ProcessTable, parse_signal};
pub use copy::CopyDirection;
pub use error::Error;
pub use logs::{LogLine, LogOptions};
pub use model::{
    Container, ContainerConfig, CreateOptions, MountKind, MountSpec, RestartPolicy, State, Status,
};
pub use rootfs::{prune_rootfs_caches, rootfs_cache_size, rootfs_size_of};
pub use store::Containers;
pub use supervise::{Attach, RunOutcome};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
