//! `bale login`: checks credentials against a registry and stores them in docker's
//! `config.json` (or its credential helper), with docker's prompts, warnings and messages.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_registry::{Credential, CredentialStore, Registry, RegistryHost, StoredIn};

use super::Globals;

/// `bale login [SERVER]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server to log in to [default: docker.io]
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
}

/// Runs `bale login`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let mut password = args.password.clone();
    if args.password_stdin {
        if args.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut line = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut line)
            .context("reading the password from stdin")?;
        password = Some(line.trim_end_matches(['\n', '\r']).to_string());
    } else if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }

    let host = RegistryHost::parse(args.server.as_deref().unwrap_or("docker.io"))?;
    let key = host.credentials_key();
    let settings = globals.registry_settings()?;
    let mut store = CredentialStore::load_default()?;

    if args.username.is_none()
        && password.is_none()
        && let Some(existing) = store.get(&key)?
    {
        println!("Authenticating with existing credentials...");
        let registry = Registry::new(host.clone(), settings.clone(), Some(existing));
        match registry.verify_login() {
            Ok(()) => {
                println!("Login Succeeded");
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) if e.is_unauthorized() => {
                eprintln!("Login did not succeed, error: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }

    let username = match args.username {
        Some(u) => u,
        None => prompt_line("Username: ")?,
    };
    if username.trim().is_empty() {
        bail!("Username is required");
    }
    let password = match password {
        Some(p) => p,
        None => prompt_secret("Password: ")?,
    };
    if password.is_empty() {
        bail!("Password is required");
    }

    let credential = Credential::Basic {
        username: username.trim().to_string(),
        password,
    };
    Registry::new(host, settings, Some(credential.clone()))
        .verify_login()
        .map_err(|e| match e.hint() {
            // A refusal is the answer to a login: no advice to log in.
            Some(hint) if !e.is_unauthorized() => anyhow::anyhow!("{e}\n{hint}"),
            _ => e.into(),
        })?;

    let stored = store.store(&key, &credential)?;
    store.save()?;
    if let StoredIn::ConfigFile(path) = stored {
        eprintln!(
            "WARNING! Your credentials are stored unencrypted in '{}'.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/go/credential-store/\n",
            path.display()
        );
    }
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

fn require_terminal() -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("Cannot perform an interactive login from a non TTY device");
    }
    Ok(())
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    require_terminal()?;
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a line from the terminal with echo turned off, restoring the terminal afterwards.
fn prompt_secret(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    require_terminal()?;
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // Echo goes off before the prompt shows, so nothing typed after it can be echoed.
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning off terminal echo")?;
    let mut line = String::new();
    let mut stdout = std::io::stdout();
    let read = write!(stdout, "{prompt}")
        .and_then(|()| stdout.flush())
        .and_then(|()| stdin.lock().read_line(&mut line));
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    println!();
    read?;
    restored.context("restoring the terminal settings")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
