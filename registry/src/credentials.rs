//! Credentials in docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), shared with the docker CLI, podman and skopeo.
//!
//! Reading goes through the `docker_credential` crate (`auths`, `credHelpers`, `credsStore`).
//! Writing is ours: `auths` entries are replaced and every other key of the file is kept as it
//! was; the file is written to a temporary file, given mode 0600, synced and renamed into place.
//! When a credential helper is configured for a registry, the secret goes to the helper
//! (`docker-credential-NAME store`) and `auths` only records an empty entry, as docker does, so
//! that `logout` knows the registry was logged in to.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What a registry may be authenticated with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or access token used as a password).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth refresh token the registry's token server issued earlier.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs or panics.
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Where [`CredentialStore::store`] put a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    /// Base64 in `config.json` itself, unencrypted.
    ConfigFile(PathBuf),
    /// A credential helper, named without its `docker-credential-` prefix.
    Helper(String),
}

/// docker's `config.json`, loaded for reading and editing its credentials.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
    doc: Map<String, Value>,
}

/// The folder of docker's client configuration: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker"))
}

impl CredentialStore {
    /// Loads `config.json` from [`docker_config_dir`]; a missing file is an empty configuration.
    pub fn load_default() -> Result<Self> {
        let dir = docker_config_dir().ok_or_else(|| Error::Io {
            path: PathBuf::from("~/.docker/config.json"),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "neither DOCKER_CONFIG nor HOME is set; set one of them",
            ),
        })?;
        Self::load(&dir.join("config.json"))
    }

    /// Loads the given `config.json`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(Error::Protocol {
                        url: path.display().to_string(),
                        message: "the file is not a JSON object; fix or remove it".into(),
                    });
                }
                Err(source) => {
                    return Err(Error::Json {
                        what: format!("{} (fix or remove it)", path.display()),
                        source,
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(CredentialStore {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper responsible for `key`: its `credHelpers` entry, else `credsStore`.
    pub fn helper_for(&self, key: &str) -> Option<String> {
        let per_registry = self
            .doc
            .get("credHelpers")
            .and_then(|h| h.get(key).or_else(|| h.get(hostname_of(key))))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        per_registry
            .or_else(|| self.doc.get("credsStore").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The credential stored for `key` (a [`crate::RegistryHost::credentials_key`]), asking the
    /// credential helper when one is configured. `None` when nothing is stored.
    pub fn get(&self, key: &str) -> Result<Option<Credential>> {
        let json = serde_json::to_vec(&self.doc).map_err(|source| Error::Json {
            what: self.path.display().to_string(),
            source,
        })?;
        use docker_credential::{CredentialRetrievalError as E, DockerCredential};
        match docker_credential::get_credential_from_reader(json.as_slice(), key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                // Helpers return an identity token with the user name `<token>`.
                if username == "<token>" {
                    Ok(Some(Credential::IdentityToken(password)))
                } else {
                    Ok(Some(Credential::Basic { username, password }))
                }
            }
            Ok(DockerCredential::IdentityToken(token)) => {
                Ok(Some(Credential::IdentityToken(token)))
            }
            Err(E::NoCredentialConfigured) => Ok(None),
            Err(E::HelperFailure { stdout, .. })
                if stdout
                    .to_ascii_lowercase()
                    .contains("credentials not found") =>
            {
                Ok(None)
            }
            Err(E::HelperFailure {
                helper,
                stdout,
                stderr,
            }) => Err(Error::CredentialHelper {
                helper: helper
                    .strip_prefix("docker-credential-")
                    .unwrap_or(&helper)
                    .to_string(),
                action: "getting",
                message: first_nonempty(&stdout, &stderr),
            }),
            Err(other) => Err(Error::CredentialHelper {
                helper: self.helper_for(key).unwrap_or_else(|| "config.json".into()),
                action: "getting",
                message: other.to_string(),
            }),
        }
    }

    /// Whether `auths` has an entry for `key` or one of its `http://`/`https://` spellings
    /// (docker's test for "logged in", since secrets may live in a helper).
    pub fn has_entry(&self, key: &str) -> bool {
        self.auths()
            .is_some_and(|auths| key_spellings(key).iter().any(|k| auths.contains_key(k)))
    }

    /// Stores `credential` for `key`, in the configured helper or else in the file (call
    /// [`CredentialStore::save`] afterwards).
    pub fn store(&mut self, key: &str, credential: &Credential) -> Result<StoredIn> {
        let (username, secret) = match credential {
            Credential::Basic { username, password } => (username.as_str(), password.as_str()),
            Credential::IdentityToken(token) => ("<token>", token.as_str()),
        };
        if let Some(helper) = self.helper_for(key) {
            let payload = serde_json::json!({
                "ServerURL": key,
                "Username": username,
                "Secret": secret,
            });
            run_helper(&helper, "store", "storing", payload.to_string().as_bytes())?;
            self.auths_mut()
                .insert(key.to_string(), Value::Object(Map::new()));
            return Ok(StoredIn::Helper(helper));
        }
        let mut entry = Map::new();
        match credential {
            Credential::Basic { username, password } => {
                entry.insert(
                    "auth".into(),
                    Value::String(STANDARD.encode(format!("{username}:{password}"))),
                );
            }
            Credential::IdentityToken(token) => {
                entry.insert("identitytoken".into(), Value::String(token.clone()));
            }
        }
        self.auths_mut()
            .insert(key.to_string(), Value::Object(entry));
        Ok(StoredIn::ConfigFile(self.path.clone()))
    }

    /// Removes the credentials of `key` (every spelling of it) from `auths` and from the
    /// helper. Returns whether the file had an entry.
    pub fn erase(&mut self, key: &str) -> Result<bool> {
        let spellings = key_spellings(key);
        let mut had = false;
        let mut helper_error = None;
        for k in &spellings {
            let present = self.auths().is_some_and(|a| a.contains_key(k));
            if !present {
                continue;
            }
            had = true;
            if let Some(helper) = self.helper_for(k)
                && let Err(e) = run_helper(&helper, "erase", "erasing", k.as_bytes())
            {
                helper_error = Some(e);
            }
            self.auths_mut().remove(k);
        }
        match helper_error {
            Some(e) => Err(e),
            None => Ok(had),
        }
    }

    /// Writes the file atomically with mode 0600, creating its folder when missing. A symlinked
    /// `config.json` is written through to its target.
    pub fn save(&self) -> Result<()> {
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let io = |source| Error::Io {
            path: target.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(&self.doc, &mut ser).map_err(|source| Error::Json {
            what: target.display().to_string(),
            source,
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(io)?;
        tmp.write_all(&text).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&target).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(map) => map,
            _ => unreachable!("replaced by an object just above"),
        }
    }
}

/// The spellings docker also logs out of: the key, its host, and the host behind each scheme.
fn key_spellings(key: &str) -> Vec<String> {
    let host = hostname_of(key);
    let mut v = vec![
        key.to_string(),
        host.to_string(),
        format!("http://{host}"),
        format!("https://{host}"),
    ];
    v.dedup();
    v
}

fn hostname_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn first_nonempty(a: &str, b: &str) -> String {
    let a = a.trim();
    if a.is_empty() {
        b.trim().to_string()
    } else {
        a.to_string()
    }
}

/// Runs `docker-credential-HELPER VERB` with `input` on its stdin (docker's helper protocol).
fn run_helper(helper: &str, verb: &str, action: &'static str, input: &[u8]) -> Result<String> {
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| Error::CredentialHelper {
        helper: helper.to_string(),
        action,
        message,
    };
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {program}: {e}; install it or fix config.json"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| fail(format!("cannot write to {program}: {e}")))?;
    }
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("{program} did not finish: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(first_nonempty(&stdout, &stderr)));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn store_keeps_other_keys_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"other:5000":{"auth":"eDp5"}},"psFormat":"table {{.ID}}","proxies":{"default":{}}}"#,
        )
        .unwrap();
        let mut store = CredentialStore::load(&path).unwrap();
        let cred = Credential::Basic {
            username: "alice".into(),
            password: "s3cret:x".into(),
        };
        assert_eq!(
            store.store("127.0.0.1:5000", &cred).unwrap(),
            StoredIn::ConfigFile(path.clone())
        );
        store.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        assert_eq!(doc["proxies"]["default"], serde_json::json!({}));
        assert_eq!(doc["auths"]["other:5000"]["auth"], "eDp5");
        assert_eq!(
            doc["auths"]["127.0.0.1:5000"]["auth"],
            STANDARD.encode("alice:s3cret:x")
        );
        let again = CredentialStore::load(&path).unwrap();
        assert_eq!(again.get("127.0.0.1:5000").unwrap(), Some(cred));
        assert!(again.has_entry("https://127.0.0.1:5000"));
        assert_eq!(again.get("nowhere:1").unwrap(), None);
    }

    #[test]
    fn erase_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://h:1":{"auth":"eDp5"},"h:1":{"auth":"eDp5"},"k:2":{}}}"#,
        )
        .unwrap();
        let mut store = CredentialStore::load(&path).unwrap();
        assert!(store.erase("h:1").unwrap());
        assert!(!store.erase("h:1").unwrap());
        assert!(!store.has_entry("h:1"));
        assert!(store.has_entry("k:2"));
    }

    #[test]
    fn helper_choice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credsStore":"desktop","credHelpers":{"reg.example:5000":"ecr","quay.io":""}}"#,
        )
        .unwrap();
        let store = CredentialStore::load(&path).unwrap();
        assert_eq!(store.helper_for("reg.example:5000").as_deref(), Some("ecr"));
        assert_eq!(
            store.helper_for("https://reg.example:5000").as_deref(),
            Some("ecr")
        );
        assert_eq!(store.helper_for("other:1").as_deref(), Some("desktop"));
        // An empty entry falls back to the store, as docker does.
        assert_eq!(store.helper_for("quay.io").as_deref(), Some("desktop"));
    }

    #[test]
    fn malformed_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{\"auths\": ").unwrap();
        let err = CredentialStore::load(&path).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }
}
