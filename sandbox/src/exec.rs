//! `exec`: one more process in a running sandbox, entering its namespaces with `setns(2)`.
//!
//! The caller names the sandbox by the host pid of its init (what
//! [`crate::Sandbox::run_with_start`] reported). The user is resolved from the sandbox's own
//! `/etc/passwd` and `/etc/group`, read through `/proc/PID/root`. A forked child enters the ipc,
//! uts, net, pid and mount namespaces (the mount namespace last: after it the host's `/proc` is
//! gone), forks the command (a new pid namespace applies to children only) and reports its wait
//! status exactly as the sandbox's init does, so errors read the same.

use std::fs;
use std::io;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use crate::child::{self, Plan};
use crate::{CommandParts, Error, ExitStatus, Pipe, Stdio, cstring, resolve_user, wait_child};

/// A process to start in a running sandbox.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// The command and its arguments (looked up in the env's `PATH` inside the sandbox).
    pub argv: Vec<String>,
    /// `NAME=value` entries; `HOME` is added from `passwd` when missing.
    pub env: Vec<String>,
    /// `name`, `uid`, `name:group`, `uid:gid`; empty for root.
    pub user: String,
    /// Absolute working directory inside the sandbox.
    pub workdir: String,
    /// The process's stdin, stdout and stderr ([`Stdio::Inherit`] keeps the caller's stdout and
    /// stderr, with `/dev/null` as stdin).
    pub stdio: Stdio,
    /// Start a new session with stdin (a terminal) as the controlling terminal.
    pub tty: bool,
}

fn read_root_file(pid: libc::pid_t, path: &str) -> Result<Option<String>, Error> {
    match fs::read(format!("/proc/{pid}/root{path}")) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {path} in the container"), e)),
    }
}

impl crate::Sandbox {
    /// Runs `spec` inside the namespaces of the running sandbox whose init has host pid
    /// `init_pid`, waits for it and returns how it ended.
    pub fn exec(init_pid: libc::pid_t, spec: &ExecSpec) -> Result<ExitStatus, Error> {
        if spec.argv.is_empty() {
            return Err(Error::Spec("no command given".into()));
        }
        if !spec.workdir.starts_with('/') {
            return Err(Error::Spec(format!(
                "the working directory {:?} must be an absolute path",
                spec.workdir
            )));
        }
        let passwd = read_root_file(init_pid, "/etc/passwd")?;
        let group = read_root_file(init_pid, "/etc/group")?;
        let user = resolve_user(&spec.user, passwd.as_deref(), group.as_deref())?;
        let cmd = CommandParts::new(&spec.argv, &spec.env, &user.home)?;

        let mut ns: Vec<OwnedFd> = Vec::new();
        for name in ["ipc", "uts", "net", "pid", "mnt"] {
            let path = format!("/proc/{init_pid}/ns/{name}");
            let f = fs::File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
            ns.push(f.into());
        }
        let ns_fds: Vec<RawFd> = ns.iter().map(AsRawFd::as_raw_fd).collect();

        let mut err_pipe = Pipe::new()?;
        let mut status_pipe = Pipe::new()?;
        let alive_pipe = Pipe::new()?;
        let devnull = fs::File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
        let devnull_out = fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(|e| Error::io("opening /dev/null", e))?;
        let (stdin, stdout, stderr) = match spec.stdio {
            Stdio::Inherit => (devnull.as_raw_fd(), -1, -1),
            Stdio::Null => (
                devnull.as_raw_fd(),
                devnull_out.as_raw_fd(),
                devnull_out.as_raw_fd(),
            ),
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => (stdin, stdout, stderr),
        };
        let mut keep_fds = vec![
            err_pipe.w,
            status_pipe.w,
            alive_pipe.r,
            stdin,
            stdout,
            stderr,
        ];
        keep_fds.extend(&ns_fds);
        keep_fds.retain(|&fd| fd > 2);
        keep_fds.sort_unstable();
        keep_fds.dedup();
        let plan = Plan {
            ops: Vec::new(),
            rootfs: cstring("rootfs", "/")?,
            argv_ptrs: cmd.argv_ptrs,
            _argv: cmd.argv,
            envp_ptrs: cmd.envp_ptrs,
            _envp: cmd.envp,
            exec_candidates: cmd.exec_candidates,
            workdir: cstring("working directory", spec.workdir.as_str())?,
            uid: user.uid,
            gid: user.gid,
            groups: user.groups.clone(),
            rlimits: Vec::new(),
            stdin,
            stdout,
            stderr,
            tty: spec.tty,
            err_w: err_pipe.w,
            status_w: status_pipe.w,
            alive_r: alive_pipe.r,
            alive_w: alive_pipe.w,
            keep_fds,
        };
        // SAFETY: the child only runs `exec_main`, which restricts itself to raw system calls on
        // the plan prepared above, and never returns.
        let pid = unsafe { child::raw_fork(0) };
        if pid == 0 {
            // SAFETY: see above.
            unsafe { child::exec_main(&plan, &ns_fds) };
        }
        if pid < 0 {
            return Err(Error::Setup {
                step: "starting the exec process".into(),
                source: io::Error::last_os_error(),
            });
        }
        drop(ns);
        err_pipe.close_w();
        status_pipe.close_w();
        drop(devnull);
        drop(devnull_out);
        let outcome = wait_child(pid, &err_pipe, &status_pipe, None, None, None, &mut || {});
        drop(alive_pipe);
        crate::outcome_result(outcome?, &spec.argv[0], &spec.workdir, &user, &[])
    }
}
