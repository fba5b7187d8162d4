//! A session with one registry: choosing the endpoint (verified TLS, or for insecure registries
//! unverified TLS then plain HTTP), answering its authentication challenge, and sending requests
//! with retries.
//!
//! Authentication follows the challenge of `GET /v2/`: `Basic` sends the stored user name and
//! password with every request; `Bearer` fetches a token from the challenge's realm for the
//! scopes a request needs (`repository:NAME:pull`, `repository:NAME:pull,push`, and for a
//! cross-repository mount also `repository:FROM:pull`), with basic credentials when known and
//! anonymously otherwise, and caches it per set of scopes. A `401` carrying a new scope fetches a
//! new token once.
//!
//! Retries: connection failures, `5xx` and `429` answers are retried with exponential backoff,
//! but only for requests that are safe to repeat (GET, HEAD, PUT, DELETE) and whose body can be
//! sent again.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ureq::http::{self, Method, Response};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use crate::challenge::{Challenge, parse_challenges};
use crate::credentials::{Credential, CredentialStore};
use crate::error::{Error, RegistryErrorEntry, Result};
use crate::host::RegistryHost;
use crate::settings::Settings;

/// How many times a request that is safe to repeat is retried.
const MAX_RETRIES: u32 = 4;
/// The first backoff delay; each retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The most an answer's `Retry-After` may make a retry wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most bytes of an error answer or token read into memory.
const SMALL_BODY_LIMIT: u64 = 1 << 20;

/// The authentication scheme a registry asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// The registry answered `GET /v2/` without asking for credentials.
    None,
    /// HTTP basic authentication.
    Basic,
    /// Tokens from a token server.
    Bearer {
        /// Where tokens are fetched.
        realm: String,
        /// The `service` parameter the token server expects.
        service: Option<String>,
    },
}

/// The endpoint chosen for a registry and the scheme it challenged with.
#[derive(Debug)]
struct Connection {
    base: String,
    agent: Agent,
    auth: AuthScheme,
}

/// A request body.
pub(crate) enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A stream of known or unknown length; it can be sent only once.
    Stream(&'a mut dyn Read, Option<u64>),
}

impl ReqBody<'_> {
    fn repeatable(&self) -> bool {
        !matches!(self, ReqBody::Stream(..))
    }
}

/// A session with one registry. It is `Sync`: transfers may run on several threads at once.
pub struct Registry {
    host: RegistryHost,
    settings: Settings,
    credential: Option<Credential>,
    connection: OnceLock<Connection>,
    tokens: Mutex<HashMap<String, Arc<str>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A session with `host`, authenticating with `credential` when the registry asks.
    pub fn new(host: RegistryHost, settings: Settings, credential: Option<Credential>) -> Self {
        Registry {
            host,
            settings,
            credential,
            connection: OnceLock::new(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A session with `host` using the credentials stored for it in docker's `config.json`.
    pub fn with_stored_credentials(host: RegistryHost, settings: Settings) -> Result<Self> {
        let credential = CredentialStore::load_default()?.get(&host.credentials_key())?;
        Ok(Registry::new(host, settings, credential))
    }

    /// The registry this session talks to.
    pub fn host(&self) -> &RegistryHost {
        &self.host
    }

    /// The base URL (`https://host:port`) chosen by [`Registry::ping`].
    pub fn base_url(&self) -> Result<&str> {
        Ok(&self.connection()?.base)
    }

    /// The scheme the registry challenged with.
    pub fn auth_scheme(&self) -> Result<&AuthScheme> {
        Ok(&self.connection()?.auth)
    }

    /// `GET /v2/` on each candidate endpoint until one answers; remembers the endpoint and its
    /// challenge. Later calls return at once.
    pub fn ping(&self) -> Result<()> {
        self.connection().map(|_| ())
    }

    fn connection(&self) -> Result<&Connection> {
        if let Some(c) = self.connection.get() {
            return Ok(c);
        }
        let connection = self.probe()?;
        // Another thread may have won the race; either answer is as good.
        Ok(self.connection.get_or_init(|| connection))
    }

    fn probe(&self) -> Result<Connection> {
        let host = self.host.api_host();
        let candidates: Vec<(String, bool)> = if self.settings.is_insecure(&self.host) {
            vec![
                (format!("https://{host}"), false),
                (format!("http://{host}"), false),
            ]
        } else {
            vec![(format!("https://{host}"), true)]
        };
        let mut first_error = None;
        for (base, verify) in candidates {
            let agent = build_agent(&self.settings, &self.host, verify)?;
            let url = format!("{base}/v2/");
            let request = http::Request::get(&url)
                .body(())
                .map_err(|e| protocol(&url, e))?;
            // One retry only, and none after a timeout: an endpoint that does not answer
            // must not hold up the fallback to the next one for minutes.
            match with_transport_retries(1, || agent.run(request.clone())) {
                Ok(response) => {
                    let auth = match response.status().as_u16() {
                        200..=299 => AuthScheme::None,
                        401 => scheme_from(&challenges_of(&response)).ok_or_else(|| {
                            Error::Protocol {
                                url: url.clone(),
                                message: "401 without a Basic or Bearer challenge".into(),
                            }
                        })?,
                        _ => return Err(status_error("Get", &url, response)),
                    };
                    return Ok(Connection { base, agent, auth });
                }
                Err(e) => {
                    first_error.get_or_insert(transport_error("Get", &url, &e));
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::Protocol {
            url: host.to_string(),
            message: "no endpoint to try".into(),
        }))
    }

    /// Checks the session's credentials: the registry must accept them for `GET /v2/` (and a
    /// token server must issue a token). A registry that asks for nothing accepts anything.
    pub fn verify_login(&self) -> Result<()> {
        let conn = self.connection()?;
        if conn.auth == AuthScheme::None {
            return Ok(());
        }
        let url = format!("{}/v2/", conn.base);
        // A token server's refusal is reported against `/v2/`, as docker reports it.
        let response = self
            .send(Method::GET, &url, &[], ReqBody::Empty, &[])
            .map_err(|e| match e {
                Error::Status {
                    method,
                    status,
                    errors,
                    ..
                } => Error::Status {
                    method,
                    url: url.clone(),
                    status,
                    errors,
                },
                other => other,
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(status_error("Get", &url, response))
        }
    }

    /// Sends a request to a URL of this registry with the authorization `scopes` need,
    /// retrying what is safe to retry. Error statuses are returned as responses, for the caller
    /// to interpret (a 404 on HEAD is an answer, not a failure).
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        mut body: ReqBody<'_>,
        scopes: &[String],
    ) -> Result<Response<Body>> {
        let conn = self.connection()?;
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let mut scopes: Vec<String> = scopes.to_vec();
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let authorization = self.authorization(conn, &scopes, false)?;
            let mut builder = http::Request::builder().method(method.clone()).uri(url);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            if let Some(auth) = &authorization {
                builder = builder.header("Authorization", auth.as_str());
            }
            let repeatable = body.repeatable();
            let result = match &mut body {
                ReqBody::Empty => builder
                    .body(())
                    .map_err(|e| protocol(url, e))
                    .map(|r| conn.agent.run(r))?,
                ReqBody::Bytes(bytes) => builder
                    .body(*bytes)
                    .map_err(|e| protocol(url, e))
                    .map(|r| conn.agent.run(r))?,
                ReqBody::Stream(reader, len) => {
                    if let Some(len) = len {
                        builder = builder.header("Content-Length", len.to_string());
                    }
                    builder
                        .body(SendBody::from_reader(*reader))
                        .map_err(|e| protocol(url, e))
                        .map(|r| conn.agent.run(r))?
                }
            };
            let can_retry = idempotent && repeatable && attempt < MAX_RETRIES;
            match result {
                Err(e) if can_retry && is_transient(&e) => {
                    sleep_backoff(attempt, None);
                    attempt += 1;
                }
                Err(e) => return Err(transport_error(method_name(&method), url, &e)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401
                        && !refreshed
                        && repeatable
                        && let AuthScheme::Bearer { .. } = conn.auth
                    {
                        // The token may have expired, or the answer names a scope we did
                        // not ask for: fetch a fresh token once.
                        for c in challenges_of(&response) {
                            if c.is("bearer")
                                && let Some(scope) = c.param("scope")
                            {
                                for s in scope.split(' ') {
                                    if !scopes.iter().any(|x| x == s) {
                                        scopes.push(s.to_string());
                                    }
                                }
                            }
                        }
                        refreshed = true;
                        self.authorization(conn, &scopes, true)?;
                        continue;
                    }
                    if can_retry && (status == 429 || status >= 500) {
                        sleep_backoff(attempt, retry_after(&response));
                        attempt += 1;
                        continue;
                    }
                    return Ok(response);
                }
            }
        }
    }

    /// The `Authorization` header value for `scopes`, fetching a token when needed.
    fn authorization(
        &self,
        conn: &Connection,
        scopes: &[String],
        refresh: bool,
    ) -> Result<Option<String>> {
        match &conn.auth {
            AuthScheme::None => Ok(None),
            AuthScheme::Basic => Ok(match &self.credential {
                Some(Credential::Basic { username, password }) => Some(format!(
                    "Basic {}",
                    STANDARD.encode(format!("{username}:{password}"))
                )),
                _ => None,
            }),
            AuthScheme::Bearer { realm, service } => {
                let mut sorted = scopes.to_vec();
                sorted.sort();
                sorted.dedup();
                let key = sorted.join(" ");
                if !refresh && let Some(token) = self.tokens.lock().map_err(poisoned)?.get(&key) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token: Arc<str> = self
                    .fetch_token(conn, realm, service.as_deref(), &sorted)?
                    .into();
                self.tokens
                    .lock()
                    .map_err(poisoned)?
                    .insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Asks the token server for a token covering `scopes`.
    fn fetch_token(
        &self,
        conn: &Connection,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String> {
        let agent = &conn.agent;
        let result = match &self.credential {
            Some(Credential::IdentityToken(refresh_token)) => {
                // OAuth2 refresh-token grant, as docker does with an identity token.
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "bale"),
                    ("refresh_token", refresh_token.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let scope = scopes.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", scope.as_str()));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", query_escape(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let request = http::Request::post(realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.into_bytes())
                    .map_err(|e| protocol(realm, e))?;
                (
                    "Post",
                    realm.to_string(),
                    with_transport_retries(MAX_RETRIES, || agent.run(request.clone())),
                )
            }
            credential => {
                let mut url = realm.to_string();
                let mut sep = if url.contains('?') { '&' } else { '?' };
                let mut push = |k: &str, v: &str| {
                    url.push(sep);
                    url.push_str(k);
                    url.push('=');
                    url.push_str(&query_escape(v));
                    sep = '&';
                };
                if let Some(service) = service {
                    push("service", service);
                }
                for scope in scopes {
                    push("scope", scope);
                }
                let mut builder = http::Request::get(&url);
                if let Some(Credential::Basic { username, password }) = credential {
                    builder = builder.header(
                        "Authorization",
                        format!(
                            "Basic {}",
                            STANDARD.encode(format!("{username}:{password}"))
                        ),
                    );
                }
                let request = builder.body(()).map_err(|e| protocol(&url, e))?;
                (
                    "Get",
                    url.clone(),
                    with_transport_retries(MAX_RETRIES, || agent.run(request.clone())),
                )
            }
        };
        let (method, url, result) = result;
        let mut response = result.map_err(|e| transport_error(method, &url, &e))?;
        if !response.status().is_success() {
            return Err(status_error(method, &url, response));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(SMALL_BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| transport_error(method, &url, &e))?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: format!("the token server's answer from {url}"),
            source,
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Protocol {
                url,
                message: "the token server's answer has no token".into(),
            })
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::Protocol {
        url: String::new(),
        message: "a transfer thread panicked while holding the token cache".into(),
    }
}

/// Builds the agent for one endpoint of `host`: no status-as-error, the host's `certs.d`
/// material, and verification off only for registries the user marked insecure.
pub(crate) fn build_agent(settings: &Settings, host: &RegistryHost, verify: bool) -> Result<Agent> {
    let files = settings.tls_files(host)?;
    let mut tls = TlsConfig::builder();
    if !verify {
        tls = tls.disable_verification(true);
    }
    if !files.ca_certs.is_empty() {
        // A private CA is added to the system's roots, as docker does.
        let mut roots = Vec::new();
        for system in [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ] {
            if let Ok(pem) = std::fs::read(system) {
                roots.extend(certificates_in(&pem));
                break;
            }
        }
        for path in &files.ca_certs {
            let pem = std::fs::read(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let certs = certificates_in(&pem);
            if certs.is_empty() {
                return Err(Error::Certificate {
                    path: path.clone(),
                    message: "no PEM certificate found; the file must hold `-----BEGIN CERTIFICATE-----` blocks".into(),
                });
            }
            roots.extend(certs);
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
    }
    if let Some((cert_path, key_path)) = &files.client {
        let pem = std::fs::read(cert_path).map_err(|source| Error::Io {
            path: cert_path.clone(),
            source,
        })?;
        let chain = certificates_in(&pem);
        if chain.is_empty() {
            return Err(Error::Certificate {
                path: cert_path.clone(),
                message: "no PEM certificate found".into(),
            });
        }
        let key_pem = std::fs::read(key_path).map_err(|source| Error::Io {
            path: key_path.clone(),
            source,
        })?;
        let key = PrivateKey::from_pem(&key_pem).map_err(|e| Error::Certificate {
            path: key_path.clone(),
            message: format!("not a PEM private key: {e}"),
        })?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let mut builder = Agent::config_builder();
    if host.is_loopback() {
        // As Go's ProxyFromEnvironment: a registry on this machine is never reached through
        // a proxy.
        builder = builder.proxy(None);
    }
    let config = builder
        .http_status_as_error(false)
        .user_agent(settings.user_agent.as_str())
        .tls_config(tls.build())
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .build();
    Ok(config.new_agent())
}

fn certificates_in(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// Retries a request (that has no body to lose) up to `retries` times on transient connection
/// errors; with a single retry, timeouts are final.
fn with_transport_retries(
    retries: u32,
    mut send: impl FnMut() -> Result<Response<Body>, ureq::Error>,
) -> Result<Response<Body>, ureq::Error> {
    let mut attempt = 0;
    loop {
        match send() {
            Err(ureq::Error::Timeout(t)) if retries <= 1 => return Err(ureq::Error::Timeout(t)),
            Err(e) if attempt < retries && is_transient(&e) => {
                sleep_backoff(attempt, None);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Errors worth another try: the peer went away or was slow. A refused connection is not one:
/// nothing listens there, and retrying would only delay the answer (and the TLS-to-HTTP
/// fallback of insecure registries).
pub(crate) fn is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::InvalidInput
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

pub(crate) fn sleep_backoff(attempt: u32, retry_after: Option<Duration>) {
    let delay = retry_after.unwrap_or(FIRST_BACKOFF * 2u32.saturating_pow(attempt));
    std::thread::sleep(delay.min(MAX_RETRY_AFTER));
}

fn retry_after(response: &Response<Body>) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn challenges_of(response: &Response<Body>) -> Vec<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

/// Bearer wins over Basic when a registry offers both: tokens limit what a leaked header allows.
fn scheme_from(challenges: &[Challenge]) -> Option<AuthScheme> {
    if let Some(bearer) = challenges.iter().find(|c| c.is("bearer"))
        && let Some(realm) = bearer.param("realm")
    {
        return Some(AuthScheme::Bearer {
            realm: realm.to_string(),
            service: bearer.param("service").map(str::to_string),
        });
    }
    challenges
        .iter()
        .any(|c| c.is("basic"))
        .then_some(AuthScheme::Basic)
}

/// Go's `url.Error` spelling of a method.
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "Get",
        Method::HEAD => "Head",
        Method::PUT => "Put",
        Method::POST => "Post",
        Method::PATCH => "Patch",
        Method::DELETE => "Delete",
        _ => "Request",
    }
}

pub(crate) fn protocol(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Protocol {
        url: url.to_string(),
        message: e.to_string(),
    }
}

pub(crate) fn transport_error(method: &'static str, url: &str, e: &ureq::Error) -> Error {
    Error::Transport {
        method,
        url: url.to_string(),
        message: e.to_string(),
    }
}

/// Turns an error answer into an [`Error::Status`], keeping the registry's `errors` (or a token
/// server's `details`) word for word.
pub(crate) fn status_error(method: &'static str, url: &str, mut response: Response<Body>) -> Error {
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        errors: Vec<RegistryErrorEntry>,
        details: Option<String>,
    }
    let errors = match serde_json::from_slice::<Answer>(&bytes) {
        Ok(Answer { errors, .. }) if !errors.is_empty() => errors,
        Ok(Answer {
            details: Some(details),
            ..
        }) => vec![RegistryErrorEntry {
            code: if status == 401 {
                "UNAUTHORIZED".into()
            } else {
                String::new()
            },
            message: details,
        }],
        _ => Vec::new(),
    };
    Error::Status {
        method,
        url: url.to_string(),
        status,
        errors,
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_preferred() {
        let c = parse_challenges(r#"Basic realm="r", Bearer realm="https://t/token",service="s""#);
        assert_eq!(
            scheme_from(&c),
            Some(AuthScheme::Bearer {
                realm: "https://t/token".into(),
                service: Some("s".into())
            })
        );
        assert_eq!(
            scheme_from(&parse_challenges(r#"Basic realm="r""#)),
            Some(AuthScheme::Basic)
        );
        assert_eq!(scheme_from(&parse_challenges("Negotiate")), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
