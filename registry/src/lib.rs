//! bale's client for the OCI distribution API, and the credentials it authenticates with.
//!
//! The crate owns everything between bale and a registry, and nothing of the image store:
//!
//! - [`host`]: how a registry is named (`docker.io` and its aliases, `host:port`).
//! - [`settings`]: insecure registries and `certs.d` TLS material.
//! - [`challenge`]: `WWW-Authenticate` parsing.
//! - [`credentials`]: docker's `config.json` and `docker-credential-*` helpers.
//! - [`client`]: a [`Registry`] session: endpoint choice, authentication, retries.
//! - [`api`]: manifests, blobs, uploads, mounts, tags and the catalog.
//! - [`pull`]: a registry image into the store.
//! - [`push`]: a store image to a registry, compressing layers on the way.
//! - [`search`]: Docker Hub's search and a catalog search for other registries.
//!
//! ```
//! use bale_registry::{RegistryHost, challenge::parse_challenges};
//!
//! let hub = RegistryHost::parse("https://index.docker.io/v1/").unwrap();
//! assert_eq!(hub.name(), "docker.io");
//! assert_eq!(hub.api_host(), "registry-1.docker.io");
//!
//! let c = parse_challenges(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#);
//! assert_eq!(c[0].param("service"), Some("registry.docker.io"));
//! ```

pub mod api;
pub mod challenge;
pub mod client;
mod counting;
pub mod credentials;
pub mod error;
pub mod host;
pub mod pull;
pub mod push;
pub mod search;
pub mod settings;

pub use client::{AuthScheme, Registry};
pub use credentials::{Credential, CredentialStore, StoredIn};
pub use error::{Error, RegistryErrorEntry, Result};
pub use host::RegistryHost;
pub use settings::Settings;
