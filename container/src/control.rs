//! Acting on a running container from outside its supervisor: signals (`kill`, `stop`),
//! freezing (`pause`, `unpause`), listing its processes (`top`) and starting more of them
//! (`exec`).
//!
//! A signal other than `SIGKILL` goes to the sandbox's init, which forwards it to the command;
//! `SIGKILL` goes to the command itself (init cannot catch it to forward it), and the command's
//! end makes init exit, which kills everything else in the container. Pausing freezes the
//! container's freezer cgroup ([`crate::freezer`]), or, where the host has none, sends
//! `SIGSTOP` to every process of the container's pid namespace; unpausing undoes either.

use std::fs;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bale_sandbox::{ExecSpec, ExitStatus, Sandbox, Stdio};

use crate::model::{Container, Status};
use crate::store::merge_env;
use crate::supervise::container_env;
use crate::terminal::{self, Pty, RawMode};
use crate::{Containers, Error, Result};

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// `-e` entries added to the container's environment.
    pub env: Vec<String>,
    /// `-u` (else the container's user).
    pub user: Option<String>,
    /// `-w` (else the container's working directory).
    pub workdir: Option<String>,
    /// `-i`: pass stdin.
    pub stdin: bool,
    /// `-t`: a pseudo-terminal.
    pub tty: bool,
}

/// `ps` output restricted to a container's processes: the header and the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessTable {
    /// Column titles.
    pub titles: Vec<String>,
    /// One row per process, one cell per title.
    pub rows: Vec<Vec<String>>,
}

/// Parses a signal as docker does: `SIGTERM`, `TERM`, or a number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Invalid(format!("Invalid signal: {s}")));
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::Invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

/// The pid namespace inode of a process, if it still exists.
fn pid_ns(pid: i32) -> Option<std::path::PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Host pids of every process in the pid namespace of `init`, init first.
fn namespace_pids(init: i32) -> Vec<i32> {
    let Some(ns) = pid_ns(init) else {
        return Vec::new();
    };
    let mut pids = vec![init];
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid != init && pid_ns(pid).as_ref() == Some(&ns) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// The state letter of a process (`T` when stopped), or `None` when it is gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(") ").next()?.chars().next()
}

/// Stops every process of the pid namespace of `init` and waits until each is stopped, as a
/// cgroup freezer would: a process forked while the others were being stopped is found by the
/// next scan, and a signal is delivered a moment after `kill` returns.
fn freeze(init: i32) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stopped: Vec<i32> = Vec::new();
    loop {
        let pids = namespace_pids(init);
        let new: Vec<i32> = pids.into_iter().filter(|p| !stopped.contains(p)).collect();
        for &pid in &new {
            send(pid, libc::SIGSTOP)?;
        }
        stopped.extend(&new);
        let settled = stopped
            .iter()
            .all(|&p| matches!(proc_state(p), None | Some('T' | 't' | 'Z' | 'X')));
        if new.is_empty() && settled {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::State(
                "the processes of the container did not all stop within 5 seconds".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The command: init's first child.
fn command_pid(init: i32) -> Option<i32> {
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn send(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill(2) with a pid read from the state; a vanished one gives ESRCH.
    if unsafe { libc::kill(pid, sig) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(Error::sys(format!("sending signal {sig} to {pid}"), e));
        }
    }
    Ok(())
}

impl Containers<'_> {
    fn running(&self, c: &Container, what: &str) -> Result<Container> {
        let now = self.load(&c.id)?;
        if !now.state.is_running() || now.state.pid <= 0 {
            return Err(Error::State(format!(
                "{what}: container {} is not running",
                c.id
            )));
        }
        Ok(now)
    }

    /// Sends `sig` to the container's command (`bale kill`); the restart policy does not
    /// bring it back.
    pub fn kill(&self, c: &Container, sig: i32) -> Result<()> {
        let now = self.running(c, &format!("cannot kill container: {}", c.config.name))?;
        self.update_state(c, |s| s.stopped_by_user = true)?;
        self.signal(&now, sig)
    }

    fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        let init = c.state.pid;
        if sig == libc::SIGKILL {
            if let Some(cmd) = command_pid(init) {
                send(cmd, libc::SIGKILL)?;
            }
            if c.state.status == Status::Paused {
                // A frozen process dies of SIGKILL only once thawed.
                if crate::freezer::in_use(&c.id) {
                    crate::freezer::thaw(&c.id)?;
                }
                for pid in namespace_pids(init) {
                    send(pid, libc::SIGCONT)?;
                }
            }
            return Ok(());
        }
        send(init, sig)
    }

    /// Stops the container: its stop signal, then `SIGKILL` after `timeout` (the container's
    /// own when `None`). Stopping a stopped container does nothing, as with docker.
    pub fn stop(&self, c: &Container, timeout: Option<i64>) -> Result<()> {
        let now = self.load(&c.id)?;
        if !now.state.is_running() {
            return Ok(());
        }
        self.update_state(c, |s| s.stopped_by_user = true)?;
        let timeout = timeout.unwrap_or(c.config.stop_timeout);
        if now.state.pid > 0 && now.state.status != Status::Restarting {
            let sig = parse_signal(&c.config.stop_signal).unwrap_or(libc::SIGTERM);
            if now.state.status == Status::Paused {
                self.unpause(&now)?;
            }
            self.signal(&now, sig)?;
            if timeout >= 0 && self.wait_stopped(c, Duration::from_secs(timeout as u64))? {
                return Ok(());
            }
            if timeout < 0 {
                while self.load(&c.id)?.state.is_running() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return Ok(());
            }
            let now = self.load(&c.id)?;
            if now.state.is_running() && now.state.pid > 0 {
                self.signal(&now, libc::SIGKILL)?;
            }
        }
        self.wait_stopped(c, Duration::from_secs(10))?;
        Ok(())
    }

    /// Waits until the container is no longer running; false on timeout.
    pub fn wait_stopped(&self, c: &Container, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.load(&c.id)?.state.is_running() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Freezes every process of the container.
    pub fn pause(&self, c: &Container) -> Result<()> {
        let now = self.running(c, &format!("Container {}", c.id))?;
        if now.state.status == Status::Paused {
            return Err(Error::State(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        if crate::freezer::in_use(&c.id) {
            crate::freezer::freeze(&c.id)?;
        } else {
            freeze(now.state.pid)?;
        }
        self.update_state(c, |s| {
            if s.status == Status::Running {
                s.status = Status::Paused;
            }
        })?;
        Ok(())
    }

    /// Resumes a paused container.
    pub fn unpause(&self, c: &Container) -> Result<()> {
        let now = self.load(&c.id)?;
        if now.state.status != Status::Paused {
            return Err(Error::State(format!("Container {} is not paused", c.id)));
        }
        if crate::freezer::in_use(&c.id) {
            crate::freezer::thaw(&c.id)?;
        }
        for pid in namespace_pids(now.state.pid) {
            send(pid, libc::SIGCONT)?;
        }
        self.update_state(c, |s| {
            if s.status == Status::Paused {
                s.status = Status::Running;
            }
        })?;
        Ok(())
    }

    /// The container's processes as `ps ARGS` (default `-ef`) shows them, as `docker top`.
    pub fn top(&self, c: &Container, ps_args: &[String]) -> Result<ProcessTable> {
        let now = self.running(c, &format!("Container {}", c.id))?;
        let pids = namespace_pids(now.state.pid);
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| Error::sys("running ps", e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::Invalid("Couldn't find PID field in ps output".into()))?;
        let mut rows = Vec::new();
        for line in lines {
            // The last column (the command) may hold spaces.
            let cells: Vec<String> = line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>();
            if cells.len() < titles.len() {
                continue;
            }
            let Ok(pid) = cells[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) || pid == now.state.pid {
                continue;
            }
            let mut row: Vec<String> = cells[..titles.len() - 1].to_vec();
            row.push(cells[titles.len() - 1..].join(" "));
            rows.push(row);
        }
        Ok(ProcessTable { titles, rows })
    }

    /// Runs a command in the running container (`bale exec`) and waits for it.
    pub fn exec(&self, c: &Container, opts: ExecOptions) -> Result<ExitStatus> {
        let ExecOptions {
            argv,
            env,
            user,
            workdir,
            stdin,
            tty,
        } = opts;
        let now = self.load(&c.id)?;
        if !now.state.is_running() || now.state.pid <= 0 {
            return Err(Error::State(format!("container {} is not running", c.id)));
        }
        if now.state.status == Status::Paused {
            return Err(Error::State(format!(
                "container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        let mut full_env = container_env(&now);
        merge_env(&mut full_env, &env);
        let mut spec = ExecSpec {
            argv,
            env: full_env,
            user: user.unwrap_or_else(|| now.config.user.clone()),
            workdir: workdir.unwrap_or_else(|| now.config.working_dir.clone()),
            stdio: Stdio::Inherit,
            tty,
        };
        let devnull =
            fs::File::open("/dev/null").map_err(|e| Error::io("opening", "/dev/null", e))?;
        if !tty {
            spec.stdio = Stdio::Fds {
                stdin: if stdin { 0 } else { devnull.as_raw_fd() },
                stdout: 1,
                stderr: 2,
            };
            return Ok(Sandbox::exec(now.state.pid, &spec)?);
        }
        let pty = Pty::open()?;
        let slave = pty.slave.as_raw_fd();
        spec.stdio = Stdio::Fds {
            stdin: slave,
            stdout: slave,
            stderr: slave,
        };
        let master = std::fs::File::from(pty.master);
        let out = terminal::dup_file(master.as_raw_fd())?;
        let _raw = if stdin { RawMode::enter(0) } else { None };
        if stdin {
            let mut input = master;
            std::thread::spawn(move || {
                terminal::pump(std::io::stdin().lock(), |d| {
                    terminal::write_flush(&mut input, d)
                })
            });
        }
        let pump = std::thread::spawn(move || {
            terminal::pump(out, |d| {
                terminal::write_flush(&mut std::io::stdout().lock(), d)
            })
        });
        // The slave must be closed here once the process has it, or the pump never ends:
        // Sandbox::exec returns after the process ends, so close it after.
        let status = Sandbox::exec(now.state.pid, &spec);
        drop(pty.slave);
        let _ = pump.join();
        Ok(status?)
    }
}
