//! How bale reaches registries: which ones may be spoken to without verified TLS, where
//! private CA certificates and client certificates live, and the user agent.
//!
//! Insecure registries come from `--insecure-registry HOST[:PORT]` and from the
//! `insecure-registries` list of bale's configuration file, `$XDG_CONFIG_HOME/bale/config.json`
//! (default `~/.config/bale/config.json`), the same key docker's `daemon.json` uses:
//!
//! ```json
//! { "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"] }
//! ```
//!
//! Entries are `host[:port]` names, or CIDR ranges that match registries named by IP address.
//! Loopback registries (`localhost`, `127.0.0.0/8`, `::1`) are insecure too, as in docker,
//! unless `BALE_LOOPBACK_INSECURE=false`: then they get verified TLS like any other registry,
//! which is how a private CA setup can be tried out on one machine.
//!
//! TLS material follows docker's `certs.d` layout: `DIR/HOST[:PORT]/*.crt` are extra CA
//! certificates, `*.cert` with the matching `*.key` a client certificate. The folders searched
//! are `$BALE_CERTS_D` when set, else `/etc/docker/certs.d` and
//! `$XDG_CONFIG_HOME/docker/certs.d` (docker's rootless location).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::host::RegistryHost;

/// Settings shared by every registry connection.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Registries (`host[:port]`) or CIDR ranges that may use unverified TLS or plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `certs.d` folders, searched in order.
    pub certs_dirs: Vec<PathBuf>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Whether loopback registries are insecure without being listed (docker's default).
    pub loopback_insecure: bool,
    /// Docker Hub's search endpoint: [`crate::search::DOCKER_HUB_SEARCH`], or
    /// `$BALE_HUB_SEARCH_URL` when set (a mirror, or a fake in tests).
    pub hub_search_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            insecure_registries: Vec::new(),
            certs_dirs: default_certs_dirs(),
            user_agent: format!("bale/{}", env!("CARGO_PKG_VERSION")),
            loopback_insecure: std::env::var("BALE_LOOPBACK_INSECURE")
                .map(|v| !matches!(v.as_str(), "0" | "false" | "no"))
                .unwrap_or(true),
            hub_search_url: std::env::var("BALE_HUB_SEARCH_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| crate::search::DOCKER_HUB_SEARCH.to_string()),
        }
    }
}

fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
}

/// bale's configuration file: `$XDG_CONFIG_HOME/bale/config.json`.
pub fn config_file() -> Option<PathBuf> {
    config_home().map(|d| d.join("bale").join("config.json"))
}

fn default_certs_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("BALE_CERTS_D").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = vec![PathBuf::from("/etc/docker/certs.d")];
    if let Some(home) = config_home() {
        dirs.push(home.join("docker").join("certs.d"));
    }
    dirs
}

impl Settings {
    /// The defaults plus the `insecure-registries` of bale's configuration file, if it exists,
    /// plus `extra_insecure` (from the command line).
    pub fn load(extra_insecure: &[String]) -> Result<Self> {
        let mut settings = Settings::default();
        if let Some(path) = config_file() {
            settings
                .insecure_registries
                .extend(read_insecure_list(&path)?);
        }
        settings
            .insecure_registries
            .extend(extra_insecure.iter().cloned());
        Ok(settings)
    }

    /// Whether `host` may be reached without verified TLS.
    pub fn is_insecure(&self, host: &RegistryHost) -> bool {
        if self.loopback_insecure && host.is_loopback() {
            return true;
        }
        let ip = host.hostname().parse::<IpAddr>().ok();
        self.insecure_registries.iter().any(|entry| {
            let entry = entry.trim();
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/'))
                && let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u8>())
            {
                return in_cidr(ip, net, bits);
            }
            RegistryHost::parse(entry).is_ok_and(|e| e == *host)
        })
    }

    /// The TLS material for `host` found under the `certs.d` folders.
    pub fn tls_files(&self, host: &RegistryHost) -> Result<TlsFiles> {
        let mut files = TlsFiles::default();
        for root in &self.certs_dirs {
            let dir = root.join(host.api_host());
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Io { path: dir, source }),
            };
            let mut names: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            for path in names {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("crt") => files.ca_certs.push(path),
                    Some("cert") => {
                        let key = path.with_extension("key");
                        if !key.is_file() {
                            return Err(Error::Certificate {
                                path,
                                message: "client certificate without its .key file; add the key or remove the certificate".into(),
                            });
                        }
                        files.client = Some((path, key));
                    }
                    _ => {}
                }
            }
        }
        Ok(files)
    }
}

/// TLS files for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Extra CA certificates (PEM).
    pub ca_certs: Vec<PathBuf>,
    /// A client certificate chain and its private key (PEM).
    pub client: Option<(PathBuf, PathBuf)>,
}

fn read_insecure_list(path: &Path) -> Result<Vec<String>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "insecure-registries", default)]
        insecure_registries: Vec<String>,
    }
    let file: File = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })?;
    Ok(file.insecure_registries)
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_matching() {
        let s = Settings {
            insecure_registries: vec!["reg.lan:5000".into(), "10.1.0.0/16".into()],
            loopback_insecure: true,
            ..Settings::default()
        };
        let h = |n: &str| RegistryHost::parse(n).unwrap();
        assert!(s.is_insecure(&h("reg.lan:5000")));
        assert!(!s.is_insecure(&h("reg.lan:5001")));
        assert!(s.is_insecure(&h("10.1.2.3:443")));
        assert!(!s.is_insecure(&h("10.2.0.1")));
        assert!(s.is_insecure(&h("localhost:5000")));
        assert!(s.is_insecure(&h("127.0.0.1")));
        assert!(!s.is_insecure(&h("docker.io")));
    }

    #[test]
    fn certs_d_layout() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("reg:5000");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "x").unwrap();
        std::fs::write(host.join("client.cert"), "x").unwrap();
        let s = Settings {
            certs_dirs: vec![dir.path().to_path_buf()],
            ..Settings::default()
        };
        let reg = RegistryHost::parse("reg:5000").unwrap();
        assert!(s.tls_files(&reg).is_err(), "a certificate without its key");
        std::fs::write(host.join("client.key"), "x").unwrap();
        let files = s.tls_files(&reg).unwrap();
        assert_eq!(files.ca_certs, vec![host.join("ca.crt")]);
        assert_eq!(
            files.client,
            Some((host.join("client.cert"), host.join("client.key")))
        );
    }
}
