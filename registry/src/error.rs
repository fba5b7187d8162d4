//! The errors of the registry client. A registry's own explanation (the `errors` array of its
//! JSON answers) is kept word for word, in the shape the docker CLI prints it.

use std::path::PathBuf;

/// One entry of a registry's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegistryErrorEntry {
    /// `UNAUTHORIZED`, `DENIED`, `MANIFEST_UNKNOWN`, ...
    #[serde(default)]
    pub code: String,
    /// The registry's sentence.
    #[serde(default)]
    pub message: String,
}

impl std::fmt::Display for RegistryErrorEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Docker prints an error code as lower-case words: `MANIFEST_UNKNOWN` is
        // `manifest unknown`.
        let code = self.code.to_ascii_lowercase().replace('_', " ");
        match (code.is_empty(), self.message.is_empty()) {
            (true, _) => f.write_str(&self.message),
            (false, true) => f.write_str(&code),
            (false, false) => write!(f, "{code}: {}", self.message),
        }
    }
}

/// Everything that can go wrong talking to a registry or handling credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server address that is not `host[:port]`.
    #[error("invalid registry address {server:?}: {reason}")]
    InvalidRegistry {
        /// What the user gave.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An image reference that cannot be parsed.
    #[error("invalid reference format {reference:?}: {reason}")]
    InvalidReference {
        /// What the user gave.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry answered with an error status.
    #[error("{method} {url:?}: {}", describe(*status, errors))]
    Status {
        /// `Get`, `Head`, `Put`, ... as Go's `url.Error` spells them.
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's `errors` array; empty when the body had none.
        errors: Vec<RegistryErrorEntry>,
    },
    /// The connection failed (refused, reset, TLS, timeout).
    #[error("{method} {url:?}: {message}")]
    Transport {
        /// `Get`, `Head`, ...
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The registry answered, but not as the distribution API says it must.
    #[error("{url}: {message}")]
    Protocol {
        /// The URL asked for.
        url: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// Content whose digest is not the one asked for.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The URL the content came from.
        url: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON file or answer that does not parse.
    #[error("{what}: {source}")]
    Json {
        /// Which file or answer.
        what: String,
        /// Where and why it does not parse.
        source: serde_json::Error,
    },
    /// A `docker-credential-*` helper failed.
    #[error("error {action} credentials with docker-credential-{helper}: {message}")]
    CredentialHelper {
        /// The helper's name without the `docker-credential-` prefix.
        helper: String,
        /// `getting`, `storing` or `erasing`.
        action: &'static str,
        /// What it said or why it could not run.
        message: String,
    },
    /// The image store refused or failed.
    #[error(transparent)]
    Store(#[from] bale_image::Error),
    /// A TLS certificate or key under `certs.d` that cannot be used.
    #[error("{}: {message}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
}

fn describe(status: u16, errors: &[RegistryErrorEntry]) -> String {
    match errors {
        [] => format!("unexpected status code {status}{}", reason_phrase(status)),
        [one] => one.to_string(),
        many => many
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        405 => " Method Not Allowed",
        416 => " Range Not Satisfiable",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

impl Error {
    /// The HTTP status of a registry error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's own words for an error answer (`manifest unknown: manifest unknown`),
    /// without the request.
    pub fn registry_message(&self) -> Option<String> {
        match self {
            Error::Status { status, errors, .. } => Some(describe(*status, errors)),
            _ => None,
        }
    }

    /// Whether the registry answered with error code `code` (`MANIFEST_UNKNOWN`, ...).
    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, Error::Status { errors, .. } if errors.iter().any(|e| e.code == code))
    }

    /// Whether the registry refused for lack of (valid) credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Status { status: 401, .. })
            || matches!(self, Error::Status { errors, .. }
                if errors.iter().any(|e| e.code == "UNAUTHORIZED"))
    }

    /// Whether the same operation, started again from the beginning, may well succeed: the
    /// connection broke, or the registry answered `5xx` or `429`. A refusal (`4xx`), content
    /// that does not match its digest, or a local failure is final.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }

    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Status { errors, status, .. }
                if *status == 401
                    || *status == 403
                    || errors
                        .iter()
                        .any(|e| e.code == "DENIED" || e.code == "UNAUTHORIZED") =>
            {
                Some(
                    "the registry refused the credentials bale sent (or none were stored): \
                     run `bale login SERVER`, and check that the repository exists and you may use it",
                )
            }
            Error::Transport { message, .. }
                if message.contains("certificate") || message.contains("tls") =>
            {
                Some(
                    "put the registry's CA certificate in /etc/docker/certs.d/HOST:PORT/ca.crt, \
                     or mark it insecure with --insecure-registry HOST:PORT",
                )
            }
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_shape() {
        let e = Error::Status {
            method: "Get",
            url: "https://127.0.0.1:5000/v2/".into(),
            status: 401,
            errors: vec![RegistryErrorEntry {
                code: "UNAUTHORIZED".into(),
                message: "authentication required".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            r#"Get "https://127.0.0.1:5000/v2/": unauthorized: authentication required"#
        );
        assert!(e.is_unauthorized());
        assert!(!e.is_transient());
        let e = Error::Status {
            method: "Put",
            url: "http://h/v2/x/blobs/uploads/u".into(),
            status: 500,
            errors: vec![],
        };
        assert!(e.is_transient());
        let e = Error::Status {
            method: "Head",
            url: "http://h/v2/x/manifests/y".into(),
            status: 404,
            errors: vec![],
        };
        assert_eq!(
            e.to_string(),
            r#"Head "http://h/v2/x/manifests/y": unexpected status code 404 Not Found"#
        );
    }
}
