//! The RUN sandbox: one process run in a rootfs directory, inside new mount, pid, uts and ipc
//! namespaces (and a new network namespace with only `lo` for [`Network::None`]).
//!
//! It owns the namespaces, the mounts (`/proc`, a minimal `/dev`, `/dev/shm`, `/sys`, the
//! `/etc/resolv.conf`, `/etc/hosts` and `/etc/hostname` bind mounts and the mounts a spec lists),
//! `USER` resolution, `WORKDIR` creation, rlimits, and the process's exit. It knows nothing of
//! layers or Dockerfiles.
//!
//! # Design
//!
//! [`Sandbox::run`] prepares everything in the parent (paths resolved inside the rootfs, the
//! user resolved from the rootfs's `passwd`, every string turned into a C string), then `clone`s
//! a child with the new namespaces. That child is pid 1 of the new pid namespace: it does the
//! mounts, `pivot_root`s, forks the command and waits for it. When the command exits, init
//! reports its wait status on a pipe and exits, and the kernel kills whatever is left in the pid
//! namespace. Init has `PR_SET_PDEATHSIG(SIGKILL)` and, unlike the command, never changes
//! credentials or execs (either would clear it), so nothing outlives bale. Every mount lives only
//! in the child's mount namespace: it vanishes with the last process in it, even on a crash, and
//! the host's mount table is never touched.
//!
//! Forking the bale process (instead of re-executing `bale` with a hidden subcommand) avoids an
//! `execve` of a large binary and its dynamic loading, and needs no hidden entry point in the
//! CLI: a whole RUN of `true`, setup and teardown included, takes about 2 ms
//! (`examples/run_startup.rs`). The price is that the children may only make raw system calls on
//! data prepared before the fork (see `child.rs`); that discipline is contained in one file.
//!
//! `Sandbox::run` blocks; call it from a thread that lives until it returns (the kernel's
//! parent-death signal follows the thread that forked). The build should install
//! [`install_interrupt_handler`] so that Ctrl-C also removes what the sandbox created.
//!
//! What the sandbox creates in the rootfs (missing mount targets such as `/etc/resolv.conf` or
//! `/proc`) is removed afterwards and the times of the directories it was created in restored, so
//! a snapshot diff of the rootfs sees nothing of it. A missing `WORKDIR` is created and kept: it
//! belongs in the layer, as with docker.
//!
//! ```no_run
//! use bale_sandbox::{Sandbox, SandboxSpec};
//! let mut spec = SandboxSpec::new("/var/lib/rootfs", ["/bin/sh", "-c", "echo hi"]);
//! spec.env.push("PATH=/usr/bin:/bin".into());
//! let status = Sandbox::run(&spec).expect("sandbox");
//! assert!(status.success());
//! ```

mod child;
mod exec;
mod interrupt;
mod rootpath;
mod user;

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;
use std::path::{Path, PathBuf};

pub use exec::ExecSpec;
pub use interrupt::{InterruptGuard, install_interrupt_handler, interrupted};
pub use user::{ExecUser, resolve_user};

use child::{Op, Plan};
use rootpath::{Create, Root};

/// The `PATH` used to find the command when the environment has none (docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors of the sandbox. The command's own failure is not one: it is an [`ExitStatus`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `USER` names a user the rootfs's `/etc/passwd` does not have.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// The `USER` names a group the rootfs's `/etc/group` does not have.
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    /// A numeric id outside `0..=2147483647`.
    #[error("user or group id {0} is out of range (0 to 2147483647)")]
    IdRange(String),
    /// The spec cannot be run as given.
    #[error("invalid sandbox spec: {0}")]
    Spec(String),
    /// The command was not found in `PATH` (as runc says it).
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    /// The command was found but could not be executed.
    #[error("exec: \"{program}\": {source}")]
    Exec {
        /// The program as given.
        program: String,
        /// Why `execve` failed.
        source: io::Error,
    },
    /// A namespace, mount or credential step failed before the command started.
    #[error("sandbox setup failed: {step}: {source}")]
    Setup {
        /// What was being done.
        step: String,
        /// The system error.
        source: io::Error,
    },
    /// A host-side operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The system error.
        source: io::Error,
    },
    /// bale received this signal; the command was killed and everything cleaned up.
    #[error(
        "interrupted by {}: the command and every process it started were killed",
        signal_name(*.0)
    )]
    Interrupted(i32),
}

/// A signal's name as `kill -l` gives it (`SIGINT`), or `signal N` for one without a common name.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The code a shell would report: the exit code, or 128 plus the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// The network the command sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The host's network namespace (docker build's default).
    #[default]
    Host,
    /// A new network namespace with only the loopback interface, up.
    None,
}

/// How `/sys` is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sys {
    /// A fresh read-only sysfs.
    #[default]
    ReadOnly,
    /// Nothing is mounted on `/sys`.
    None,
}

/// Where the command's stdout and stderr go when run with [`Sandbox::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// bale's own stdout and stderr (stdin is `/dev/null`).
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// These descriptors of the caller become the command's stdin, stdout and stderr; the
    /// caller keeps them open until the run returns. A container's supervisor passes pipes to
    /// its log, or a terminal.
    Fds {
        /// Becomes fd 0.
        stdin: RawFd,
        /// Becomes fd 1.
        stdout: RawFd,
        /// Becomes fd 2.
        stderr: RawFd,
    },
}

/// Which of the command's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What is mounted at a [`Mount`]'s target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host file or directory (RUN `--mount=type=bind|cache|secret`).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A fresh tmpfs (RUN `--mount=type=tmpfs`).
    Tmpfs {
        /// Size limit in bytes (the kernel's default, half the RAM, when `None`).
        size: Option<u64>,
        /// Mode of its root (1777 when `None`).
        mode: Option<u32>,
    },
}

/// An extra mount over a path of the rootfs, created if missing and removed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub target: String,
    /// What to mount there.
    pub kind: MountKind,
}

/// A resource limit (`--ulimit name=soft[:hard]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ulimit {
    /// The `RLIMIT_*` resource.
    pub resource: i32,
    /// Soft limit (`u64::MAX` is unlimited).
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

const ULIMIT_NAMES: [(&str, libc::__rlimit_resource_t); 15] = [
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

impl Ulimit {
    /// Parses docker's `--ulimit` value: `name=soft[:hard]`, `-1` for unlimited.
    pub fn parse(s: &str) -> Result<Ulimit, Error> {
        let bad = |why: &str| Error::Spec(format!("invalid ulimit {s:?}: {why}"));
        let (name, limits) = s
            .split_once('=')
            .ok_or_else(|| bad("expected name=soft[:hard]"))?;
        let resource = ULIMIT_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| *r as i32)
            .ok_or_else(|| bad("unknown resource name"))?;
        let value = |v: &str| -> Result<u64, Error> {
            match v.parse::<i64>() {
                Ok(-1) => Ok(u64::MAX),
                Ok(n) if n >= 0 => Ok(n as u64),
                _ => Err(bad("limits must be numbers or -1")),
            }
        };
        let (soft, hard) = match limits.split_once(':') {
            Some((a, b)) => (value(a)?, value(b)?),
            None => (value(limits)?, value(limits)?),
        };
        if soft > hard {
            return Err(bad("soft limit must not exceed the hard limit"));
        }
        Ok(Ulimit {
            resource,
            soft,
            hard,
        })
    }
}

/// Everything about one run.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// The rootfs directory on the host.
    pub rootfs: PathBuf,
    /// The command and its arguments; a program without `/` is looked up in the env's `PATH`
    /// (or [`DEFAULT_PATH`]) inside the rootfs.
    pub argv: Vec<String>,
    /// `NAME=value` entries. `HOME` is added from `passwd` when missing, as docker does.
    pub env: Vec<String>,
    /// `USER`: `name`, `uid`, `name:group`, `uid:gid`; empty for root.
    pub user: String,
    /// `WORKDIR`, absolute; created (owned by the user) when missing.
    pub workdir: String,
    /// The hostname inside.
    pub hostname: String,
    /// The network namespace.
    pub network: Network,
    /// `--add-host` entries as (host name, address), appended to `/etc/hosts`.
    pub extra_hosts: Vec<(String, String)>,
    /// Extra mounts, applied in order after the standard ones.
    pub mounts: Vec<Mount>,
    /// Resource limits.
    pub ulimits: Vec<Ulimit>,
    /// Size of the `/dev/shm` tmpfs in bytes.
    pub shm_size: u64,
    /// How `/sys` is provided.
    pub sys: Sys,
    /// Where output goes with [`Sandbox::run`].
    pub stdio: Stdio,
    /// The command starts a new session and its stdin (a terminal) becomes its controlling
    /// terminal, as with `docker run -t`.
    pub tty: bool,
    /// The rootfs is remounted read-only once the other mounts are in place (`--read-only`).
    pub readonly_rootfs: bool,
    /// A cgroup's `cgroup.procs` file: init joins that cgroup before anything else, so every
    /// process of the sandbox is in it (a container's freezer cgroup, for `pause`).
    pub cgroup_procs: Option<PathBuf>,
}

impl SandboxSpec {
    /// A spec running `argv` as root in `/` of `rootfs`, with docker build's defaults.
    pub fn new<I, S>(rootfs: impl Into<PathBuf>, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SandboxSpec {
            rootfs: rootfs.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            user: String::new(),
            workdir: "/".to_string(),
            hostname: "buildkitsandbox".to_string(),
            network: Network::Host,
            extra_hosts: Vec::new(),
            mounts: Vec::new(),
            ulimits: Vec::new(),
            shm_size: 64 << 20,
            sys: Sys::ReadOnly,
            stdio: Stdio::Inherit,
            tty: false,
            readonly_rootfs: false,
            cgroup_procs: None,
        }
    }
}

/// Runs commands in sandboxes.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Runs the spec's command with its output going where [`SandboxSpec::stdio`] says, and
    /// waits for it. Returns how it ended; an error means it could not be started (or bale was
    /// interrupted, see [`install_interrupt_handler`]).
    pub fn run(spec: &SandboxSpec) -> Result<ExitStatus, Error> {
        run(spec, None, &mut |_| {})
    }

    /// Like [`Sandbox::run`], calling `on_start` with the host pid of the sandbox's init once
    /// the command is running (its `execve` succeeded; it is not called when the command could
    /// not be started). A container's supervisor records it: signals sent to init (other than
    /// `SIGKILL` and `SIGSTOP`) are forwarded to the command, and `/proc/PID/ns/*` are the
    /// namespaces [`Sandbox::exec`] enters.
    pub fn run_with_start(
        spec: &SandboxSpec,
        on_start: &mut dyn FnMut(libc::pid_t),
    ) -> Result<ExitStatus, Error> {
        run(spec, None, on_start)
    }

    /// Like [`Sandbox::run`], but stdout and stderr are piped to the caller, which receives each
    /// line (without its `\n`; a last line without one is delivered too) as it arrives.
    pub fn run_with_output(
        spec: &SandboxSpec,
        on_line: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<ExitStatus, Error> {
        run(spec, Some(on_line), &mut |_| {})
    }
}

fn cstring(what: &str, s: impl Into<Vec<u8>>) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} contains a NUL byte")))
}

fn cpath(p: &Path) -> Result<CString, Error> {
    cstring("path", p.as_os_str().as_bytes())
}

/// A pipe whose ends are closed on drop.
struct Pipe {
    r: RawFd,
    w: RawFd,
}

impl Pipe {
    fn new() -> Result<Pipe, Error> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Error::io("creating a pipe", io::Error::last_os_error()));
        }
        Ok(Pipe {
            r: fds[0],
            w: fds[1],
        })
    }

    fn close_w(&mut self) {
        close_fd(&mut self.w);
    }
}

fn close_fd(fd: &mut RawFd) {
    if *fd >= 0 {
        // SAFETY: the descriptor is owned here and closed once.
        unsafe { libc::close(*fd) };
        *fd = -1;
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        close_fd(&mut self.r);
        close_fd(&mut self.w);
    }
}

/// Host-side state removed when a run ends, however it ends: only what was created in the
/// rootfs. There is no temporary directory on the host: the contents of `/etc/hosts`,
/// `/etc/resolv.conf` and `/etc/hostname` are written by the sandbox's init into its own `/dev`
/// tmpfs, bind-mounted, and unlinked, so they vanish with the mount namespace even when bale is
/// killed outright.
struct Cleanup {
    root: Root,
}

impl Cleanup {
    fn finish(&mut self) -> Result<(), Error> {
        self.root.cleanup()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn read_in_root(root: &mut Root, path: &str) -> Result<Option<String>, Error> {
    match root.resolve(path, Create::Nothing) {
        // Only a regular file is read: a FIFO planted by an image would block the build.
        Ok(p) if !fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) => Err(Error::Spec(format!(
            "{path} in the rootfs is not a regular file"
        ))),
        Ok(p) => match fs::read(&p) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {path} in the rootfs"), e)),
        },
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn hosts_file(hostname: &str, extra: &[(String, String)]) -> String {
    let mut s =
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (host, ip) in extra {
        s.push_str(&format!("{ip}\t{host}\n"));
    }
    s
}

fn resolv_conf() -> String {
    match fs::read_to_string("/etc/resolv.conf") {
        Ok(s) if s.lines().any(|l| l.trim_start().starts_with("nameserver")) => s,
        _ => "nameserver 8.8.8.8\nnameserver 8.8.4.4\n".to_string(),
    }
}

struct Builder {
    ops: Vec<Op>,
    steps: Vec<String>,
}

impl Builder {
    fn mount(
        &mut self,
        step: String,
        source: Option<&[u8]>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<(), Error> {
        self.ops.push(Op::Mount {
            source: source.map(|s| cstring("mount source", s)).transpose()?,
            target: cpath(target)?,
            fstype: fstype.map(|s| cstring("fstype", s)).transpose()?,
            flags,
            data: data.map(|s| cstring("mount options", s)).transpose()?,
        });
        self.steps.push(step);
        Ok(())
    }

    fn op(&mut self, step: String, op: Op) {
        self.ops.push(op);
        self.steps.push(step);
    }
}

fn run(
    spec: &SandboxSpec,
    on_line: Option<LineSink<'_>>,
    on_start: &mut dyn FnMut(libc::pid_t),
) -> Result<ExitStatus, Error> {
    if spec.argv.is_empty() {
        return Err(Error::Spec("no command given".into()));
    }
    if !spec.workdir.starts_with('/') {
        return Err(Error::Spec(format!(
            "WORKDIR {:?} must be an absolute path",
            spec.workdir
        )));
    }
    let mut cleanup = Cleanup {
        root: Root::new(&spec.rootfs)?,
    };

    let passwd = read_in_root(&mut cleanup.root, "/etc/passwd")?;
    let group = read_in_root(&mut cleanup.root, "/etc/group")?;
    let user = resolve_user(&spec.user, passwd.as_deref(), group.as_deref())?;

    // WORKDIR stays (it belongs in the layer): resolve it without recording what is created.
    cleanup.root.record = false;
    let workdir = cleanup.root.resolve(
        &spec.workdir,
        Create::Dir {
            uid: user.uid,
            gid: user.gid,
        },
    );
    cleanup.root.record = true;
    let workdir = workdir?;
    if !workdir.is_dir() {
        return Err(Error::Spec(format!(
            "WORKDIR {} is not a directory",
            spec.workdir
        )));
    }

    let etc_files = [
        ("hosts", hosts_file(&spec.hostname, &spec.extra_hosts)),
        ("resolv.conf", resolv_conf()),
        ("hostname", format!("{}\n", spec.hostname)),
    ];

    let root_path = cleanup.root.root.clone();
    let mut b = Builder {
        ops: Vec::new(),
        steps: Vec::new(),
    };
    let dir = Create::Dir { uid: 0, gid: 0 };
    if let Some(procs) = &spec.cgroup_procs {
        b.op(
            format!("joining the cgroup of {}", procs.display()),
            Op::JoinCgroup(cpath(procs)?),
        );
    }
    b.mount(
        "making / private".into(),
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;
    b.mount(
        format!("bind-mounting {}", root_path.display()),
        Some(root_path.as_os_str().as_bytes()),
        &root_path,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    let proc_dir = cleanup.root.resolve("/proc", dir)?;
    b.mount(
        "mounting /proc".into(),
        Some(b"proc"),
        &proc_dir,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;

    let dev = cleanup.root.resolve("/dev", dir)?;
    b.mount(
        "mounting /dev".into(),
        Some(b"tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        b.op(format!("creating /dev/{name}"), Op::Touch(cpath(&target)?));
        let host = format!("/dev/{name}");
        b.mount(
            format!("bind-mounting {host}"),
            Some(host.as_bytes()),
            &target,
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    b.op(
        "creating /dev/pts".into(),
        Op::Mkdir(cpath(&dev.join("pts"))?),
    );
    b.mount(
        "mounting /dev/pts".into(),
        Some(b"devpts"),
        &dev.join("pts"),
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    b.op(
        "creating /dev/shm".into(),
        Op::Mkdir(cpath(&dev.join("shm"))?),
    );
    b.mount(
        "mounting /dev/shm".into(),
        Some(b"shm"),
        &dev.join("shm"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(&format!("mode=1777,size={}", spec.shm_size)),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        b.op(
            format!("creating /dev/{link}"),
            Op::Symlink {
                target: cstring("link", target)?,
                link: cpath(&dev.join(link))?,
            },
        );
    }
    if spec.sys == Sys::ReadOnly {
        let sys = cleanup.root.resolve("/sys", dir)?;
        b.mount(
            "mounting /sys".into(),
            Some(b"sysfs"),
            &sys,
            Some("sysfs"),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?;
    }
    for (name, content) in etc_files {
        let target = cleanup
            .root
            .resolve(&format!("/etc/{name}"), Create::File)?;
        // Written into the fresh /dev tmpfs, bound over the target, then unlinked: the bind
        // mount keeps the file alive, and nothing of it exists outside the mount namespace.
        let source = cpath(&dev.join(format!(".bale-{name}")))?;
        b.op(
            format!("writing /etc/{name}"),
            Op::WriteFile {
                path: source.clone(),
                data: content.into_bytes(),
            },
        );
        b.mount(
            format!("bind-mounting /etc/{name}"),
            Some(source.as_bytes()),
            &target,
            None,
            libc::MS_BIND,
            None,
        )?;
        b.op(
            format!("unlinking the source of /etc/{name}"),
            Op::Unlink(source),
        );
    }
    let mut dev_made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for m in &spec.mounts {
        if !m.target.starts_with('/') {
            return Err(Error::Spec(format!(
                "mount target {:?} must be an absolute path",
                m.target
            )));
        }
        match &m.kind {
            MountKind::Bind { source, readonly } => {
                let meta = fs::metadata(source)
                    .map_err(|e| Error::io(format!("mount source {}", source.display()), e))?;
                let create = if meta.is_dir() { dir } else { Create::File };
                let target = match m.target.strip_prefix("/dev/") {
                    // /dev is a fresh tmpfs by the time extra mounts are made (BuildKit mounts a
                    // RUN heredoc script under /dev/pipes/): the target is made inside it, never
                    // in the rootfs, where the tmpfs would hide it.
                    Some(rest) => {
                        let parts: Vec<&str> = rest.split('/').filter(|c| !c.is_empty()).collect();
                        let mut p = dev.clone();
                        for (i, c) in parts.iter().enumerate() {
                            p = p.join(c);
                            let last = i + 1 == parts.len();
                            if (i == 0 && matches!(*c, "pts" | "shm"))
                                || !dev_made.insert(p.clone())
                            {
                                continue;
                            }
                            let op = if last && !meta.is_dir() {
                                Op::Touch(cpath(&p)?)
                            } else {
                                Op::Mkdir(cpath(&p)?)
                            };
                            b.op(format!("creating {}", m.target), op);
                        }
                        p
                    }
                    None => cleanup.root.resolve(&m.target, create)?,
                };
                let src = fs::canonicalize(source)
                    .map_err(|e| Error::io(format!("mount source {}", source.display()), e))?;
                b.mount(
                    format!("bind-mounting {} on {}", source.display(), m.target),
                    Some(src.as_os_str().as_bytes()),
                    &target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )?;
                if *readonly {
                    b.mount(
                        format!("making {} read-only", m.target),
                        None,
                        &target,
                        None,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        None,
                    )?;
                }
            }
            MountKind::Tmpfs { size, mode } => {
                let target = cleanup.root.resolve(&m.target, dir)?;
                let mut data = format!("mode={:o}", mode.unwrap_or(0o1777));
                if let Some(size) = size {
                    data.push_str(&format!(",size={size}"));
                }
                b.mount(
                    format!("mounting a tmpfs on {}", m.target),
                    Some(b"tmpfs"),
                    &target,
                    Some("tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(&data),
                )?;
            }
        }
    }
    if spec.readonly_rootfs {
        b.mount(
            "making the rootfs read-only".into(),
            None,
            &root_path,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            None,
        )?;
    }
    if spec.network == Network::None {
        b.op("bringing up lo".into(), Op::LoopbackUp);
    }
    b.op(
        "setting the hostname".into(),
        Op::Hostname(cstring("hostname", spec.hostname.as_str())?),
    );

    let cmd = CommandParts::new(&spec.argv, &spec.env, &user.home)?;
    let program = &spec.argv[0];

    let mut err_pipe = Pipe::new()?;
    let mut status_pipe = Pipe::new()?;
    let alive_pipe = Pipe::new()?;
    let mut out_pipe = if on_line.is_some() {
        Some(Pipe::new()?)
    } else {
        None
    };
    let mut errout_pipe = if on_line.is_some() {
        Some(Pipe::new()?)
    } else {
        None
    };
    let stdin = fs::File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
    let devnull_out = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("opening /dev/null", e))?;
    use std::os::unix::io::AsRawFd;
    let (stdout, stderr) = match (&out_pipe, &errout_pipe, spec.stdio) {
        (Some(o), Some(e), _) => (o.w, e.w),
        (_, _, Stdio::Null) => (devnull_out.as_raw_fd(), devnull_out.as_raw_fd()),
        (_, _, Stdio::Fds { stdout, stderr, .. }) => (stdout, stderr),
        _ => (-1, -1),
    };
    let stdin_fd = match spec.stdio {
        Stdio::Fds { stdin, .. } => stdin,
        _ => stdin.as_raw_fd(),
    };
    let mut keep_fds = vec![
        err_pipe.w,
        status_pipe.w,
        alive_pipe.r,
        stdin_fd,
        stdout,
        stderr,
    ];
    keep_fds.retain(|&fd| fd > 2);
    keep_fds.sort_unstable();
    keep_fds.dedup();

    let plan = Plan {
        ops: b.ops,
        rootfs: cpath(&root_path)?,
        argv_ptrs: cmd.argv_ptrs,
        _argv: cmd.argv,
        envp_ptrs: cmd.envp_ptrs,
        _envp: cmd.envp,
        exec_candidates: cmd.exec_candidates,
        workdir: cstring("WORKDIR", spec.workdir.as_str())?,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        rlimits: spec
            .ulimits
            .iter()
            .map(|u| {
                let lim = |v: u64| {
                    if v == u64::MAX {
                        libc::RLIM_INFINITY
                    } else {
                        v
                    }
                };
                (
                    u.resource,
                    libc::rlimit {
                        rlim_cur: lim(u.soft),
                        rlim_max: lim(u.hard),
                    },
                )
            })
            .collect(),
        stdin: stdin_fd,
        stdout,
        stderr,
        tty: spec.tty,
        err_w: err_pipe.w,
        status_w: status_pipe.w,
        alive_r: alive_pipe.r,
        alive_w: alive_pipe.w,
        keep_fds,
    };
    let steps = b.steps;

    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if spec.network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: the child only runs `init_main`, which restricts itself to raw system calls on
    // the plan prepared above, and never returns.
    let pid = unsafe { child::raw_fork(flags as libc::c_ulong) };
    if pid == 0 {
        // SAFETY: see above.
        unsafe { child::init_main(&plan) };
    }
    if pid < 0 {
        return Err(Error::Setup {
            step: "creating the namespaces".into(),
            source: io::Error::last_os_error(),
        });
    }
    err_pipe.close_w();
    status_pipe.close_w();
    if let Some(p) = out_pipe.as_mut() {
        p.close_w();
    }
    if let Some(p) = errout_pipe.as_mut() {
        p.close_w();
    }
    drop(devnull_out);
    drop(stdin);

    let result = wait_child(
        pid,
        &err_pipe,
        &status_pipe,
        out_pipe.as_ref().map(|p| p.r),
        errout_pipe.as_ref().map(|p| p.r),
        on_line,
        &mut || on_start(pid),
    );
    drop(alive_pipe);
    let cleaned = cleanup.finish();
    let outcome = result?;
    cleaned?;
    outcome_result(outcome, program, &spec.workdir, &user, &steps)
}

/// The command's program, arguments and environment as C strings, prepared before the fork.
pub(crate) struct CommandParts {
    exec_candidates: Vec<CString>,
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl CommandParts {
    /// `HOME` is added from `home` when `env` has none, as docker does; a program without `/`
    /// is tried in every directory of the env's `PATH` (or [`DEFAULT_PATH`]).
    pub(crate) fn new(argv: &[String], env: &[String], home: &str) -> Result<Self, Error> {
        let mut env = env.to_vec();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
        let path_var = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let program = &argv[0];
        let exec_candidates: Vec<CString> = if program.contains('/') {
            vec![cstring("command", program.as_str())?]
        } else {
            path_var
                .split(':')
                .map(|d| if d.is_empty() { "." } else { d })
                .map(|d| cstring("PATH", format!("{d}/{program}")))
                .collect::<Result<_, _>>()?
        };
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| cstring("argument", a.as_str()))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = env
            .iter()
            .map(|a| cstring("environment", a.as_str()))
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(CommandParts {
            exec_candidates,
            argv_ptrs: ptrs(&argv),
            argv,
            envp_ptrs: ptrs(&envp),
            envp,
        })
    }
}

/// Turns what the children reported into the run's result.
fn outcome_result(
    outcome: Outcome,
    program: &str,
    workdir: &str,
    user: &ExecUser,
    steps: &[String],
) -> Result<ExitStatus, Error> {
    match outcome {
        Outcome::Interrupted(sig) => Err(Error::Interrupted(sig)),
        Outcome::Failed { stage, errno } => {
            let source = io::Error::from_raw_os_error(errno);
            Err(match stage {
                child::STAGE_EXEC if errno == libc::ENOENT => Error::NotFound(program.to_string()),
                child::STAGE_EXEC => Error::Exec {
                    program: program.to_string(),
                    source,
                },
                s => {
                    let step = match s {
                        child::STAGE_PIVOT => "pivot_root".to_string(),
                        child::STAGE_FORK => "starting the command".to_string(),
                        child::STAGE_STDIO => "setting up stdio".to_string(),
                        child::STAGE_RLIMIT => "setting ulimits".to_string(),
                        child::STAGE_CHDIR => format!("entering WORKDIR {}", workdir),
                        child::STAGE_SETGROUPS => "setting supplementary groups".to_string(),
                        child::STAGE_SETGID => format!("setting gid {}", user.gid),
                        child::STAGE_SETUID => format!("setting uid {}", user.uid),
                        child::STAGE_SETNS => "entering the container's namespaces".to_string(),
                        child::STAGE_CAPS => "dropping capabilities".to_string(),
                        i => steps
                            .get(i as usize)
                            .cloned()
                            .unwrap_or_else(|| format!("step {i}")),
                    };
                    Error::Setup { step, source }
                }
            })
        }
        Outcome::Status(st) => Ok(if libc::WIFSIGNALED(st) {
            ExitStatus::Signaled(libc::WTERMSIG(st))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(st))
        }),
        Outcome::InitDied(st) => Err(Error::Setup {
            step: format!("the sandbox's init ended unexpectedly (wait status {st:#x})"),
            source: io::Error::from_raw_os_error(libc::ECHILD),
        }),
    }
}

/// The caller's per-line callback.
type LineSink<'a> = &'a mut dyn FnMut(Stream, &[u8]);

enum Outcome {
    Status(i32),
    Failed { stage: u32, errno: i32 },
    Interrupted(i32),
    InitDied(i32),
}

/// Splits a stream into lines for the caller.
struct LineSplitter {
    stream: Stream,
    buf: Vec<u8>,
}

impl LineSplitter {
    fn feed(&mut self, data: &[u8], cb: &mut dyn FnMut(Stream, &[u8])) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            cb(self.stream, &self.buf[start..start + pos]);
            start += pos + 1;
        }
        self.buf.drain(..start);
    }

    fn flush(&mut self, cb: &mut dyn FnMut(Stream, &[u8])) {
        if !self.buf.is_empty() {
            cb(self.stream, &self.buf);
            self.buf.clear();
        }
    }
}

fn wait_child(
    pid: libc::pid_t,
    err_pipe: &Pipe,
    status_pipe: &Pipe,
    out_r: Option<RawFd>,
    err_r: Option<RawFd>,
    mut on_line: Option<LineSink<'_>>,
    on_exec: &mut dyn FnMut(),
) -> Result<Outcome, Error> {
    // Slots: 0 error records, 1 status, 2 stdout, 3 stderr, 4 the interrupt self-pipe.
    let mut fds: [RawFd; 5] = [
        err_pipe.r,
        status_pipe.r,
        out_r.unwrap_or(-1),
        err_r.unwrap_or(-1),
        interrupt::wake_fd(),
    ];
    let mut err_rec = Vec::new();
    let mut status_rec = Vec::new();
    let mut splitters = [
        LineSplitter {
            stream: Stream::Stdout,
            buf: Vec::new(),
        },
        LineSplitter {
            stream: Stream::Stderr,
            buf: Vec::new(),
        },
    ];
    let mut killed: Option<i32> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let check_interrupt = |killed: &mut Option<i32>, fds: &mut [RawFd; 5]| {
        if killed.is_none()
            && let Some(sig) = interrupt::interrupted()
        {
            // SAFETY: `pid` is our child, not yet reaped, so the pid cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            *killed = Some(sig);
            fds[4] = -1;
        }
    };
    check_interrupt(&mut killed, &mut fds);
    while fds[..4].iter().any(|&fd| fd >= 0) {
        let mut pfds: Vec<libc::pollfd> = fds
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `pfds` is a valid array of pollfd; negative fds are ignored by poll.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                check_interrupt(&mut killed, &mut fds);
                continue;
            }
            return Err(Error::io("waiting for the sandbox", e));
        }
        for (i, p) in pfds.iter().enumerate() {
            if p.fd < 0 || p.revents == 0 {
                continue;
            }
            if i == 4 {
                check_interrupt(&mut killed, &mut fds);
                continue;
            }
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("reading from the sandbox", e));
            }
            let data = &buf[..n as usize];
            if n == 0 {
                fds[i] = -1;
                // The error pipe is close-on-exec in the command: its end with no failure
                // record means the execve succeeded.
                if i == 0 && err_rec.is_empty() {
                    on_exec();
                }
                if (2..4).contains(&i)
                    && let Some(cb) = on_line.as_deref_mut()
                {
                    splitters[i - 2].flush(cb);
                }
                continue;
            }
            match i {
                0 => err_rec.extend_from_slice(data),
                1 => status_rec.extend_from_slice(data),
                _ => {
                    if let Some(cb) = on_line.as_deref_mut() {
                        splitters[i - 2].feed(data, cb);
                    }
                }
            }
        }
    }
    let mut init_status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut init_status, libc::__WALL) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if r < 0 && e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::io("waiting for the sandbox", e));
        }
    }
    if let Some(sig) = killed {
        return Ok(Outcome::Interrupted(sig));
    }
    if err_rec.len() >= 8 {
        let stage = u32::from_ne_bytes(err_rec[..4].try_into().unwrap_or_default());
        let errno = i32::from_ne_bytes(err_rec[4..8].try_into().unwrap_or_default());
        return Ok(Outcome::Failed { stage, errno });
    }
    if status_rec.len() >= 4 {
        return Ok(Outcome::Status(i32::from_ne_bytes(
            status_rec[..4].try_into().unwrap_or_default(),
        )));
    }
    Ok(Outcome::InitDied(init_status))
}

#[cfg(test)]
mod tests;
