//! Image references: the distribution reference grammar (`[host[:port]/]path[:tag][@digest]`),
//! docker's normalisation (`busybox` is `docker.io/library/busybox`) and docker's familiar display
//! form (`busybox:latest`), with docker's error messages.
//!
//! The grammar, from the distribution project:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] path-component ['/' path-component]*
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | '[' IPv6address ']'
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := /[a-z0-9]+/ [separator /[a-z0-9]+/]*
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! ```

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry a reference without a domain names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace docker puts single-component names in on [`DEFAULT_DOMAIN`].
pub const OFFICIAL_NAMESPACE: &str = "library";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const NAME_TOTAL_MAX: usize = 255;

/// Why a string is not a valid reference. The messages are docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The text does not match the grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository part has uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// Nothing before the tag.
    #[error("repository name must have at least one component")]
    Empty,
    /// The name is longer than 255 characters.
    #[error("repository name must not be more than 255 characters")]
    TooLong,
    /// A bare 64-hex string, which would be ambiguous with an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    Identifier(String),
    /// A malformed tag.
    #[error("invalid tag format")]
    TagFormat,
    /// A malformed or unsupported digest.
    #[error("invalid digest format")]
    DigestFormat,
}

/// A fully normalised reference: a domain, a repository path, and a tag and/or a digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses what a user typed, normalised as docker does (`ParseNormalizedNamed`):
    /// `busybox` becomes `docker.io/library/busybox` (with no tag; see [`Reference::parse_tagged`]).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_identifier(s) {
            return Err(ReferenceError::Identifier(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase(remote.to_string()));
        }
        parse_full(&format!("{domain}/{remainder}"))
    }

    /// [`Reference::parse`], then `:latest` when neither tag nor digest was given.
    pub fn parse_tagged(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s).map(Reference::with_default_tag)
    }

    /// Adds `:latest` when the reference has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::TagFormat);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with `digest` and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The registry host and port, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, when there is one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when there is one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, e.g. `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as docker shows it: `busybox`, `user/app`, `localhost:5000/app`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The whole reference as docker shows it: `busybox:latest`, `user/app@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// Whether `s` is 64 lowercase hex digits (docker's "identifier").
pub fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Docker's `splitDockerDomain`: the first component is a domain only when it looks like one
/// (has a `.` or `:`, is `localhost`, or has uppercase letters, which a path cannot).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_NAMESPACE}/{remainder}");
    }
    (domain, remainder)
}

/// Parses `domain/path[:tag][@digest]` where the domain is known to be the first component.
fn parse_full(s: &str) -> Result<Reference, ReferenceError> {
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name_tag, None),
    };
    let (domain, path) = name.split_once('/').ok_or(ReferenceError::InvalidFormat)?;
    if path.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let grammar_ok = is_domain(domain)
        && path.split('/').all(is_path_component)
        && tag.is_none_or(is_tag)
        && digest.is_none_or(is_digest_syntax);
    if !grammar_ok {
        let lowered_ok = path
            .split('/')
            .all(|c| is_path_component(&c.to_lowercase()));
        if lowered_ok && path.to_lowercase() != path {
            return Err(ReferenceError::Uppercase(path.to_string()));
        }
        return Err(ReferenceError::InvalidFormat);
    }
    if name.len() > NAME_TOTAL_MAX {
        return Err(ReferenceError::TooLong);
    }
    let digest = digest
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|_| ReferenceError::DigestFormat)
        })
        .transpose()?;
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    let host_ok = host.is_empty() && d.starts_with('[')
        || (!host.is_empty() && host.split('.').all(is_domain_component));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `t` is a valid tag: `[\w][\w.-]{0,127}`.
pub fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.as_bytes()[0].is_ascii_alphabetic()
        && alg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b));
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse_tagged(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(
            full("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(full("localhost:5000/a/b:v"), "localhost:5000/a/b:v");
        assert_eq!(full("quay.io/x/y"), "quay.io/x/y:latest");
        assert_eq!(full("[::1]:5000/app:t"), "[::1]:5000/app:t");
        assert_eq!(full("a--b__c-d_e/f.g"), "docker.io/a--b__c-d_e/f.g:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse_tagged(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }

    #[test]
    fn familiar_forms() {
        let f = |s: &str| Reference::parse_tagged(s).unwrap().familiar();
        assert_eq!(f("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(f("docker.io/user/app:2"), "user/app:2");
        assert_eq!(f("localhost:5000/app:2"), "localhost:5000/app:2");
    }

    #[test]
    fn docker_error_messages() {
        let e = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(e("busybox:"), "invalid reference format");
        assert_eq!(e("a:b:c"), "invalid reference format");
        assert_eq!(e(":tag"), "invalid reference format");
        assert_eq!(e("a..b"), "invalid reference format");
        assert_eq!(e("a___b"), "invalid reference format");
        assert_eq!(e("-a"), "invalid reference format");
        assert_eq!(
            e(&format!("a:{}", "t".repeat(129))),
            "invalid reference format"
        );
        assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
        assert_eq!(
            e(&"a".repeat(64)),
            format!(
                "invalid repository name ({}), cannot specify 64-byte hexadecimal strings",
                "a".repeat(64)
            )
        );
        assert_eq!(
            e(&format!("x/{}", "a".repeat(250))),
            "repository name must not be more than 255 characters"
        );
        assert_eq!(e("busybox@sha256:abc"), "invalid reference format");
        assert_eq!(
            e(&format!("busybox@sha512:{}", "a".repeat(128))),
            "invalid digest format"
        );
        assert_eq!(
            e("localhost:5000/"),
            "repository name must have at least one component"
        );
    }

    #[test]
    fn tags() {
        assert!(is_tag("v1.0-rc_2"));
        assert!(is_tag("_x"));
        assert!(!is_tag(".x"));
        assert!(!is_tag("-x"));
        assert!(!is_tag(""));
        assert!(!is_tag("a/b"));
    }
}
