//! Registry addressing: how a name the user types (`docker.io`, `localhost:5000`,
//! `https://index.docker.io/v1/`) maps to the host bale talks to, the key its credentials are
//! stored under, and whether plain HTTP may be used.
//!
//! Docker Hub has three names: `docker.io` (what users type and images are named with),
//! `registry-1.docker.io` (where its API answers) and `https://index.docker.io/v1/` (the key of
//! its credentials in `config.json`, kept for compatibility with the docker CLI).

use std::net::IpAddr;

use crate::error::{Error, Result};

/// The registry used when a name has no registry part.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's distribution API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker Hub credentials are stored under in `config.json`.
pub const DOCKER_HUB_CREDENTIALS_KEY: &str = "https://index.docker.io/v1/";

/// A registry, named by its normalised `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryHost {
    name: String,
}

impl RegistryHost {
    /// Docker Hub.
    pub fn docker_hub() -> Self {
        RegistryHost {
            name: DOCKER_HUB.to_string(),
        }
    }

    /// Parses a server address as `docker login` accepts it: `host[:port]`, optionally with an
    /// `http://` or `https://` scheme and a path, which are dropped (docker's
    /// `ConvertToHostname`). Docker Hub's aliases all become `docker.io`.
    pub fn parse(server: &str) -> Result<Self> {
        let trimmed = server.trim();
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed);
        let host = rest.split('/').next().unwrap_or_default();
        validate_host(host).map_err(|reason| Error::InvalidRegistry {
            server: server.to_string(),
            reason,
        })?;
        let lower = host.to_ascii_lowercase();
        let name = match lower.as_str() {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => host.to_string(),
        };
        Ok(RegistryHost { name })
    }

    /// The name as images use it: `docker.io` or `host[:port]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.name == DOCKER_HUB
    }

    /// The `host[:port]` the distribution API is reached at.
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API
        } else {
            &self.name
        }
    }

    /// The key credentials for this registry are stored under in `config.json`.
    pub fn credentials_key(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_CREDENTIALS_KEY.to_string()
        } else {
            self.name.clone()
        }
    }

    /// The host part without the port (brackets of an IPv6 literal removed).
    pub fn hostname(&self) -> &str {
        let name = self.api_host();
        if let Some(rest) = name.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        match name.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => name,
        }
    }

    /// Whether the registry is on this machine: `localhost`, `127.0.0.0/8` or `::1`. Docker
    /// treats these as insecure registries without being told.
    pub fn is_loopback(&self) -> bool {
        let host = self.hostname();
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

fn validate_host(host: &str) -> std::result::Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address lacks its closing `]`".to_string())?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
        match after {
            "" => return Ok(()),
            _ => (
                "",
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("unexpected `{after}` after the IPv6 address"))?,
            ),
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, p),
            None => (host, ""),
        }
    };
    if !host.starts_with('[') {
        if name.is_empty() {
            return Err("the host is empty".into());
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_'))
        {
            return Err(format!("`{bad}` is not allowed in a host name"));
        }
    }
    if host.contains(':') && (port.is_empty() || port.parse::<u16>().is_err()) {
        return Err(format!("`{port}` is not a port number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases() {
        for s in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "http://docker.io",
        ] {
            let h = RegistryHost::parse(s).unwrap();
            assert!(h.is_docker_hub(), "{s}");
            assert_eq!(h.api_host(), "registry-1.docker.io");
            assert_eq!(h.credentials_key(), "https://index.docker.io/v1/");
        }
    }

    #[test]
    fn private_registries() {
        let h = RegistryHost::parse("https://reg.example.com:5000/v2/").unwrap();
        assert_eq!(h.name(), "reg.example.com:5000");
        assert_eq!(h.credentials_key(), "reg.example.com:5000");
        assert_eq!(h.hostname(), "reg.example.com");
        assert!(!h.is_loopback());
        assert!(RegistryHost::parse("127.0.0.1:5000").unwrap().is_loopback());
        assert!(RegistryHost::parse("127.4.5.6").unwrap().is_loopback());
        assert!(RegistryHost::parse("localhost:80").unwrap().is_loopback());
        let v6 = RegistryHost::parse("[::1]:5000").unwrap();
        assert_eq!(v6.hostname(), "::1");
        assert!(v6.is_loopback());
    }

    #[test]
    fn invalid_addresses() {
        for s in [
            "",
            "host:port",
            "a b",
            "[::1",
            "host:",
            "host:99999",
            "ho$t",
        ] {
            assert!(RegistryHost::parse(s).is_err(), "{s:?} accepted");
        }
    }
}
