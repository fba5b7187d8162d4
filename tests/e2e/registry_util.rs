//! Registries for the end-to-end tests, all on 127.0.0.1: the real `docker-registry`
//! (distribution) with plain HTTP, TLS from a throwaway CA, htpasswd or token auth; a tiny
//! scriptable HTTP server for fakes (Docker Hub's search API, token servers); and a raw HTTP
//! client to seed registries without going through bale.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::util;

/// A free TCP port on 127.0.0.1 (bound then released; the race with other tests is harmless
/// in practice since the kernel hands out ports round-robin).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCa {
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
    /// The CA's private key (PEM), to sign more.
    pub ca_key: PathBuf,
}

/// Makes a CA and a server certificate in `dir` with openssl.
pub fn make_ca(dir: &Path) -> TestCa {
    std::fs::create_dir_all(dir).expect("cert dir");
    let p = |n: &str| dir.join(n);
    sh(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=bale test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    sh(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    sh(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt")));
    TestCa {
        ca_cert: p("ca.crt"),
        server_cert: p("server.crt"),
        server_key: p("server.key"),
        ca_key: p("ca.key"),
    }
}

/// A client certificate and key signed by `ca`, written as `client.cert` and `client.key` in
/// `dir` (docker's `certs.d` names).
pub fn make_client_cert(ca: &TestCa, dir: &Path) {
    std::fs::create_dir_all(dir).expect("client cert dir");
    let csr = dir.join("client.csr");
    sh(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=bale client",
        ])
        .arg("-keyout")
        .arg(dir.join("client.key"))
        .arg("-out")
        .arg(&csr));
    let ext = dir.join("client-ext.cnf");
    std::fs::write(
        &ext,
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .expect("client ext");
    sh(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca.ca_cert)
        .arg("-CAkey")
        .arg(&ca.ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(dir.join("client.cert")));
    std::fs::remove_file(&csr).expect("remove csr");
    std::fs::remove_file(&ext).expect("remove ext");
}

/// How a test registry authenticates.
pub enum RegistryAuth {
    /// Anyone may do anything.
    None,
    /// htpasswd with one user.
    Htpasswd {
        /// The user.
        user: String,
        /// Their password.
        password: String,
    },
    /// Bearer tokens from `realm`, signed by a key whose certificate `root_bundle` holds.
    Token {
        /// The token server.
        realm: String,
        /// The `service` the tokens are for.
        service: String,
        /// The `iss` the tokens carry.
        issuer: String,
        /// The certificate bundle the registry trusts for token signatures.
        root_bundle: PathBuf,
    },
}

/// A running `docker-registry`, killed when dropped.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its storage, config and log live here.
    pub dir: PathBuf,
    /// Whether it serves TLS.
    pub tls: bool,
    /// The `Authorization` header seeding requests send (htpasswd registries).
    pub seed_auth: Option<String>,
}

impl TestRegistry {
    /// Starts a registry with `auth`, over TLS with `tls` when given. Returns `None` (after
    /// [`util::skip`]) when `docker-registry` is not installed.
    pub fn start(dir: &Path, auth: RegistryAuth, tls: Option<&TestCa>) -> Option<TestRegistry> {
        Self::start_with(dir, auth, tls, false)
    }

    /// [`TestRegistry::start`]; with `client_certs`, TLS clients must show a certificate the
    /// CA signed.
    pub fn start_with(
        dir: &Path,
        auth: RegistryAuth,
        tls: Option<&TestCa>,
        client_certs: bool,
    ) -> Option<TestRegistry> {
        if !util::have("docker-registry") {
            util::skip("docker-registry is not installed (apt-get install docker-registry)");
            return None;
        }
        std::fs::create_dir_all(dir.join("storage")).expect("storage dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n",
            dir.join("storage").display()
        );
        if let Some(ca) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.server_cert.display(),
                ca.server_key.display()
            ));
            if client_certs {
                config.push_str(&format!(
                    "    clientcas:\n      - {}\n",
                    ca.ca_cert.display()
                ));
            }
        }
        let mut seed_auth = None;
        match auth {
            RegistryAuth::None => {}
            RegistryAuth::Htpasswd { user, password } => {
                use base64::Engine;
                seed_auth = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ));
                let out = Command::new("htpasswd")
                    .args(["-Bbn", &user, &password])
                    .output()
                    .expect("htpasswd (apache2-utils) runs");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.join("htpasswd");
                std::fs::write(&file, &out.stdout).expect("htpasswd file");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    file.display()
                ));
            }
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                root_bundle,
            } => {
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    \
                     issuer: {issuer}\n    rootcertbundle: {}\n",
                    root_bundle.display()
                ));
            }
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let registry = TestRegistry {
            child,
            addr: addr.clone(),
            dir: dir.to_path_buf(),
            tls: tls.is_some(),
            seed_auth,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr}:\n{}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Uploads a small image (one tar layer holding `hello.txt`, one config) as `repo:tag`
    /// over plain HTTP, bypassing bale. Returns the manifest's digest and the layer's digest.
    pub fn seed_image(&self, repo: &str, tag: &str) -> (String, String) {
        self.seed_platform_image(repo, tag, "amd64")
    }

    /// [`TestRegistry::seed_image`] for an `architecture` (the layer's content names it).
    pub fn seed_platform_image(
        &self,
        repo: &str,
        tag: &str,
        architecture: &str,
    ) -> (String, String) {
        let layer = tar_with(&format!("hello from {repo}:{tag} on {architecture}\n"));
        let layer_digest = self.seed_blob(repo, &layer);
        let config = format!(
            r#"{{"architecture":"{architecture}","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"history":[{{"created_by":"seed"}}]}}"#
        )
        .into_bytes();
        let config_digest = self.seed_blob(repo, &config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        self.seed_manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        );
        (sha256(manifest.as_bytes()), layer_digest)
    }

    /// Puts a manifest or index as `repo:reference`.
    pub fn seed_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let mut headers = vec![("Content-Type", media_type)];
        if let Some(a) = &self.seed_auth {
            headers.push(("Authorization", a.as_str()));
        }
        let (status, _, body) = http(
            "PUT",
            &self.addr,
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            bytes,
        );
        assert_eq!(
            status,
            201,
            "manifest PUT: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Uploads one blob to `repo`; returns its digest.
    pub fn seed_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let auth: Vec<(&str, &str)> = self
            .seed_auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let (status, headers, _) = http(
            "POST",
            &self.addr,
            &format!("/v2/{repo}/blobs/uploads/"),
            &auth,
            b"",
        );
        assert_eq!(status, 202, "blob upload POST");
        let location = header(&headers, "location").expect("Location");
        let path = location
            .strip_prefix(&format!("http://{}", self.addr))
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut put_headers = vec![("Content-Type", "application/octet-stream")];
        put_headers.extend(auth.iter().copied());
        let (status, _, body) = http(
            "PUT",
            &self.addr,
            &format!("{path}{sep}digest={digest}"),
            &put_headers,
            data,
        );
        assert_eq!(status, 201, "blob PUT: {}", String::from_utf8_lossy(&body));
        digest
    }
}

/// A tar archive holding one file, `hello.txt`, with `content`.
pub fn tar_with(content: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "hello.txt", content.as_bytes())
        .expect("tar entry");
    builder.into_inner().expect("tar archive")
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The value of header `name` (case-insensitive).
pub fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// One plain HTTP/1.1 request to `addr`; returns status, headers and body.
pub fn http(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        request.push_str(&format!("{n}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut response_headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            response_headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    match header(&response_headers, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(len) => {
            body.resize(len, 0);
            reader.read_exact(&mut body).expect("body");
        }
        None => {
            let _ = reader.read_to_end(&mut body);
        }
    }
    (status, response_headers, body)
}

/// A request a [`FakeServer`] received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

/// A header a [`FakeServer`] handler adds to send only the first N bytes of its body.
pub const TRUNCATE: &str = "X-Fake-Truncate";

/// An answer from a [`FakeServer`] handler: status, headers, body.
pub type FakeAnswer = (u16, Vec<(String, String)>, Vec<u8>);

/// A plain HTTP server on 127.0.0.1 answering each request with `handler`, one connection at
/// a time, `Connection: close`. Bytes that are not HTTP (a TLS handshake) get a 400.
pub struct FakeServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every request received, in order.
    pub seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl FakeServer {
    /// Starts the server on a thread that lives as long as the test process.
    pub fn start(handler: impl Fn(&SeenRequest) -> FakeAnswer + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        let addr = listener.local_addr().expect("address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = serve_one(stream, &handler, &log);
            }
        });
        FakeServer { addr, seen }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("request log").clone()
    }
}

fn serve_one(
    stream: TcpStream,
    handler: &impl Fn(&SeenRequest) -> FakeAnswer,
    log: &Mutex<Vec<SeenRequest>>,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() || !first.ends_with("\r\n") {
        writer.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if let Some(len) = header(&headers, "content-length").and_then(|l| l.parse::<u64>().ok()) {
        std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink())?;
    }
    let request = SeenRequest {
        method,
        target,
        headers,
    };
    log.lock().expect("request log").push(request.clone());
    let (status, answer_headers, body) = handler(&request);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    // `X-Fake-Truncate: N` sends only the first N bytes of the body, then hangs up.
    let mut send = body.len();
    for (n, v) in answer_headers {
        if n == TRUNCATE {
            send = v.parse().unwrap_or(send).min(body.len());
            continue;
        }
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&body[..send])?;
    writer.flush()?;
    writer.shutdown(std::net::Shutdown::Both)
}

/// A token server for distribution's `auth.token`: it checks basic credentials (`user`,
/// `password`; anonymous callers get a token granting nothing) and issues JWTs granting the
/// requested scopes, signed RS256 by the CA's key with the CA certificate as `x5c`, which the
/// registry trusts through `rootcertbundle`.
pub fn start_token_server(
    ca: &TestCa,
    issuer: &str,
    service: &str,
    user: &str,
    password: &str,
) -> FakeServer {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let pem = std::fs::read_to_string(&ca.ca_cert).expect("CA certificate");
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = ca.ca_key.clone();
    let issuer = issuer.to_string();
    let service = service.to_string();
    let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    FakeServer::start(move |req| {
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        let mut scopes = Vec::new();
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("scope=") {
                scopes.push(percent_decode(v));
            }
        }
        let auth = header(&req.headers, "authorization");
        let known = auth.as_deref() == Some(expected.as_str());
        if auth.is_some() && !known {
            return (
                401,
                vec![],
                br#"{"details":"incorrect username or password"}"#.to_vec(),
            );
        }
        let access: Vec<serde_json::Value> = if known {
            scopes
                .iter()
                .filter_map(|s| {
                    let (kind, rest) = s.split_once(':')?;
                    let (name, actions) = rest.rsplit_once(':')?;
                    Some(serde_json::json!({
                        "type": kind,
                        "name": name,
                        "actions": actions.split(',').collect::<Vec<_>>(),
                    }))
                })
                .collect()
        } else {
            Vec::new()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let head = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der_b64]});
        let claims = serde_json::json!({
            "iss": issuer, "sub": "alice", "aud": service, "exp": now + 300,
            "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{}", scopes.len()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(head.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl signs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(signing_input.as_bytes())
            .expect("signing input");
        let out = child.wait_with_output().expect("signature");
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(out.stdout));
        (
            200,
            vec![],
            serde_json::json!({"token": token, "expires_in": 300})
                .to_string()
                .into_bytes(),
        )
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a [`FaultProxy`] does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass it to the registry and its answer back.
    Forward,
    /// Answer `500 Internal Server Error` without asking the registry.
    ServerError,
    /// Read this many bytes of the request body, then hang up without answering.
    DropRequestAfter(usize),
    /// Pass the request on, then send the client the answer's head and half its body, and
    /// hang up.
    DropResponseHalfway,
    /// Flip one byte in the middle of the request body before passing it on.
    CorruptRequest,
    /// Flip one byte in the middle of the answer's body before passing it back.
    CorruptResponse,
}

/// An HTTP proxy on 127.0.0.1 in front of a real registry that misbehaves on request: for
/// every request, `decide` picks a [`Fault`]. The `Host` header is passed on unchanged, so
/// the registry's `Location` headers point back at the proxy. One request per connection.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every request received with the fault it got, in order.
    pub seen: Arc<Mutex<Vec<(SeenRequest, Fault)>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a thread that lives as long as the test process.
    pub fn start(
        upstream: &str,
        decide: impl Fn(&SeenRequest) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let upstream = upstream.to_string();
        let decide = Arc::new(decide);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (upstream, decide, log) = (upstream.clone(), decide.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = proxy_one(stream, &upstream, &*decide, &log);
                });
            }
        });
        FaultProxy { addr, seen }
    }

    /// The requests received so far, with what the proxy did.
    pub fn requests(&self) -> Vec<(SeenRequest, Fault)> {
        self.seen.lock().expect("request log").clone()
    }
}

/// Reads a request or answer head: the first line and the headers.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((first.trim_end().to_string(), headers))
}

/// Reads a body framed by `Content-Length` or chunked transfer coding; `None` for neither.
fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
) -> std::io::Result<Option<Vec<u8>>> {
    if header(headers, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                return Ok(Some(body));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    }
    match header(headers, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(len) => {
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body)?;
            Ok(Some(body))
        }
        None => Ok(None),
    }
}

fn proxy_one(
    stream: TcpStream,
    upstream: &str,
    decide: &(dyn Fn(&SeenRequest) -> Fault + Send + Sync),
    log: &Mutex<Vec<(SeenRequest, Fault)>>,
) -> std::io::Result<()> {
    let mut client = stream.try_clone()?;
    // A TLS handshake (bale tries TLS first, then plain HTTP on loopback): hang up at once.
    let mut first_byte = [0u8; 1];
    if stream.peek(&mut first_byte)? == 0 || first_byte[0] == 0x16 {
        return client.shutdown(std::net::Shutdown::Both);
    }
    let mut reader = BufReader::new(stream);
    let (first, headers) = read_head(&mut reader)?;
    let mut parts = first.split_whitespace();
    let request = SeenRequest {
        method: parts.next().unwrap_or_default().to_string(),
        target: parts.next().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect(),
    };
    let fault = decide(&request);
    log.lock()
        .expect("request log")
        .push((request.clone(), fault));
    if let Fault::DropRequestAfter(n) = fault {
        let mut got = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match reader.read(&mut got[filled..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => filled += k,
            }
        }
        return client.shutdown(std::net::Shutdown::Both);
    }
    let mut body = read_body(&mut reader, &headers)?.unwrap_or_default();
    if fault == Fault::ServerError {
        let answer = br#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#;
        write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            answer.len()
        )?;
        client.write_all(answer)?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    if fault == Fault::CorruptRequest && !body.is_empty() {
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
    }
    // To the registry: the same request, framed by length, on a connection of its own.
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{first}\r\n");
    for (n, v) in &headers {
        let lower = n.to_ascii_lowercase();
        if [
            "connection",
            "content-length",
            "transfer-encoding",
            "keep-alive",
        ]
        .contains(&lower.as_str())
        {
            continue;
        }
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut up_reader = BufReader::new(up);
    let (status_line, answer_headers) = read_head(&mut up_reader)?;
    let is_head = request.method == "HEAD";
    let mut answer = if is_head {
        Vec::new()
    } else {
        match read_body(&mut up_reader, &answer_headers)? {
            Some(b) => b,
            None => {
                let mut rest = Vec::new();
                up_reader.read_to_end(&mut rest)?;
                rest
            }
        }
    };
    if fault == Fault::CorruptResponse && !answer.is_empty() {
        let mid = answer.len() / 2;
        answer[mid] ^= 0xff;
    }
    let mut out = format!("{status_line}\r\n");
    for (n, v) in &answer_headers {
        let lower = n.to_ascii_lowercase();
        if ["connection", "transfer-encoding", "keep-alive"].contains(&lower.as_str())
            || (!is_head && lower == "content-length")
        {
            continue;
        }
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !is_head {
        out.push_str(&format!("Content-Length: {}\r\n", answer.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    client.write_all(out.as_bytes())?;
    let send = if fault == Fault::DropResponseHalfway {
        answer.len() / 2
    } else {
        answer.len()
    };
    client.write_all(&answer[..send])?;
    client.flush()?;
    client.shutdown(std::net::Shutdown::Both)
}
