//! `bale logout`: removes a registry's credentials from docker's `config.json` and from its
//! credential helper.

use std::process::ExitCode;

use bale_registry::{CredentialStore, RegistryHost};

use super::Globals;

/// `bale logout [SERVER]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server to log out from [default: docker.io]
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// Runs `bale logout`.
pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let host = RegistryHost::parse(args.server.as_deref().unwrap_or("docker.io"))?;
    let key = host.credentials_key();
    let mut store = CredentialStore::load_default()?;
    // As docker: "logged in" means an `auths` entry, since the secret may be in a helper.
    let given = args.server.as_deref().unwrap_or(&key);
    if !store.has_entry(&key) && !store.has_entry(given) {
        println!("Not logged in to {key}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Removing login credentials for {key}");
    let erased = store.erase(&key);
    let erased_given = if given != key {
        store.erase(given)
    } else {
        Ok(false)
    };
    store.save()?;
    erased?;
    erased_given?;
    Ok(ExitCode::SUCCESS)
}
