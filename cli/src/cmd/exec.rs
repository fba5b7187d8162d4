//! `bale exec`: one more command in a running container's namespaces; bale exits with its
//! code (126 and 127 when it cannot be executed or found).

use std::process::ExitCode;

use bale_container::{Containers, ExecOptions};

use super::Globals;

/// Execute a command in a running container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

/// Runs `bale exec`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = match containers.get(&args.container) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut env = Vec::new();
    for e in &args.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    if args.detach {
        // The exec's process is ours: run it in a child that outlives this command.
        // SAFETY: bale has one thread here; the child only continues this program.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            anyhow::bail!("starting the exec: {}", std::io::Error::last_os_error());
        }
        if pid > 0 {
            return Ok(ExitCode::SUCCESS);
        }
        // SAFETY: a new session, so the caller's terminal signals do not reach it, and stdio on
        // /dev/null, so nobody waiting for the caller's output waits for this.
        unsafe {
            libc::setsid();
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
        let opts = ExecOptions {
            argv: args.command,
            env,
            user: args.user,
            workdir: args.workdir,
            stdin: false,
            tty: false,
        };
        let _ = containers.exec(&c, opts);
        // SAFETY: ending the child without the caller's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let opts = ExecOptions {
        argv: args.command,
        env,
        user: args.user,
        workdir: args.workdir,
        stdin: args.interactive,
        tty: args.tty,
    };
    match containers.exec(&c, opts) {
        Ok(status) => Ok(ExitCode::from(status.code().clamp(0, 255) as u8)),
        Err(e) => {
            let code = match &e {
                bale_container::Error::Sandbox(bale_sandbox_err) => sandbox_code(bale_sandbox_err),
                _ => 1,
            };
            eprintln!("Error response from daemon: {e}");
            Ok(ExitCode::from(code))
        }
    }
}

/// docker's codes for an exec that could not start: 127 not found, 126 not executable.
fn sandbox_code(e: &bale_container::SandboxError) -> u8 {
    match e {
        bale_container::SandboxError::NotFound(_) => 127,
        bale_container::SandboxError::Exec { .. } => 126,
        _ => 126,
    }
}
