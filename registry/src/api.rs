//! The distribution API on top of a [`Registry`] session: manifests, blobs (download with
//! digest verification and resumption, upload monolithic, streamed or chunked, and
//! cross-repository mount), tag lists and the catalog with `Link` pagination.
//!
//! Nothing here buffers a blob: downloads are readers, uploads read from the caller's reader.

use std::io::Read;

use sha2::{Digest as _, Sha256};
use ureq::http::Method;
use ureq::{Body, BodyReader};

use crate::client::{
    Registry, ReqBody, is_transient, method_name, sleep_backoff, status_error, transport_error,
};
use crate::error::{Error, Result};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest type bale reads. Registries convert to schema 1 for a client that does not
/// name docker's types, so both families are always sent.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Manifests larger than this are refused (distribution's own limit is 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;
/// How many times a blob download resumes after the connection drops.
const MAX_RESUMES: u32 = 5;

/// The `pull` scope of a repository.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The `pull,push` scope of a repository.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// A manifest as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Its media type, from `Content-Type` or else the document's `mediaType`.
    pub media_type: String,
    /// `sha256:...` of `bytes`.
    pub digest: String,
    /// The exact bytes; the digest covers them, so they must not be re-serialised.
    pub bytes: Vec<u8>,
}

/// What a HEAD request says about a manifest or blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Its media type, when the registry said.
    pub media_type: Option<String>,
    /// Its digest, when the registry said (`Docker-Content-Digest`).
    pub digest: Option<String>,
    /// Its size, when the registry said.
    pub size: Option<u64>,
}

/// An upload session opened by `POST /v2/NAME/blobs/uploads/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The absolute URL to PATCH and PUT to.
    pub location: String,
    repository: String,
}

/// The answer to a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    /// The registry linked the blob; nothing needs uploading.
    Mounted,
    /// The registry could not mount and opened an upload session instead.
    Upload(UploadSession),
}

/// A validated `sha256:<64 hex>` digest.
fn sha256_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| Error::InvalidReference {
            reference: digest.to_string(),
            reason: "a digest must be `sha256:` followed by 64 lower-case hex digits".into(),
        })?;
    Ok(hex)
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn header<'a>(response: &'a ureq::http::Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Registry {
    fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}/v2/{path}", self.base_url()?))
    }

    /// Resolves a `Location` header against the registry's base URL.
    fn absolute(&self, location: &str) -> Result<String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Ok(location.to_string())
        } else if location.starts_with('/') {
            Ok(format!("{}{location}", self.base_url()?))
        } else {
            Ok(format!("{}/{location}", self.base_url()?))
        }
    }

    /// `GET /v2/NAME/manifests/REFERENCE`. When `reference` is a digest, the bytes are checked
    /// against it.
    pub fn get_manifest(&self, repository: &str, reference: &str) -> Result<Manifest> {
        let url = self.url(&format!("{repository}/manifests/{reference}"))?;
        let mut response = self.send(
            Method::GET,
            &url,
            &[("Accept", MANIFEST_ACCEPT)],
            ReqBody::Empty,
            &[pull_scope(repository)],
        )?;
        if !response.status().is_success() {
            return Err(status_error("Get", &url, response));
        }
        let content_type = header(&response, "content-type").map(str::to_string);
        let served_digest = header(&response, "docker-content-digest").map(str::to_string);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MANIFEST_LIMIT)
            .read_to_vec()
            .map_err(|e| transport_error("Get", &url, &e))?;
        let digest = digest_of(&bytes);
        let expected = if reference.contains(':') {
            Some(reference.to_string())
        } else {
            served_digest
        };
        if let Some(expected) = expected
            && expected.starts_with("sha256:")
            && expected != digest
        {
            return Err(Error::DigestMismatch {
                url,
                expected,
                actual: digest,
            });
        }
        let media_type = match content_type {
            Some(ct) if ct.contains("manifest") || ct.contains("image.index") => {
                ct.split(';').next().unwrap_or(&ct).trim().to_string()
            }
            _ => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                .unwrap_or_else(|| OCI_MANIFEST.to_string()),
        };
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// `HEAD /v2/NAME/manifests/REFERENCE`; `None` when the registry does not have it.
    pub fn head_manifest(&self, repository: &str, reference: &str) -> Result<Option<Descriptor>> {
        let url = self.url(&format!("{repository}/manifests/{reference}"))?;
        self.head(
            &url,
            &[("Accept", MANIFEST_ACCEPT)],
            &[pull_scope(repository)],
        )
    }

    /// `PUT /v2/NAME/manifests/REFERENCE`; returns the manifest's digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let url = self.url(&format!("{repository}/manifests/{reference}"))?;
        let response = self.send(
            Method::PUT,
            &url,
            &[("Content-Type", media_type)],
            ReqBody::Bytes(bytes),
            &[push_scope(repository)],
        )?;
        if !response.status().is_success() {
            return Err(status_error("Put", &url, response));
        }
        let digest = digest_of(bytes);
        if let Some(served) = header(&response, "docker-content-digest")
            && served.starts_with("sha256:")
            && served != digest
        {
            return Err(Error::DigestMismatch {
                url,
                expected: digest,
                actual: served.to_string(),
            });
        }
        Ok(digest)
    }

    /// `HEAD /v2/NAME/blobs/DIGEST`; `None` when the registry does not have it.
    pub fn head_blob(&self, repository: &str, digest: &str) -> Result<Option<Descriptor>> {
        sha256_hex(digest)?;
        let url = self.url(&format!("{repository}/blobs/{digest}"))?;
        self.head(&url, &[], &[pull_scope(repository)])
    }

    fn head(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        scopes: &[String],
    ) -> Result<Option<Descriptor>> {
        let response = self.send(Method::HEAD, url, headers, ReqBody::Empty, scopes)?;
        match response.status().as_u16() {
            200..=299 => Ok(Some(Descriptor {
                media_type: header(&response, "content-type").map(str::to_string),
                digest: header(&response, "docker-content-digest").map(str::to_string),
                size: header(&response, "content-length").and_then(|v| v.parse().ok()),
            })),
            404 => Ok(None),
            _ => Err(status_error("Head", url, response)),
        }
    }

    /// `GET /v2/NAME/blobs/DIGEST` as a reader that verifies the digest (and `size`, when
    /// given) before reporting the end of the data, and resumes a dropped connection with a
    /// `Range` request (or by re-reading and skipping what was already delivered when the
    /// registry ignores ranges). Bytes that do not match end in an `InvalidData` error, so a
    /// caller that commits only after a clean end never keeps them.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &str,
        size: Option<u64>,
    ) -> Result<BlobReader<'_>> {
        sha256_hex(digest)?;
        let url = self.url(&format!("{repository}/blobs/{digest}"))?;
        let mut reader = BlobReader {
            registry: self,
            url,
            scope: pull_scope(repository),
            expected: digest.to_string(),
            size,
            inner: None,
            hasher: Sha256::new(),
            received: 0,
            served_total: None,
            resumes: 0,
            finished: false,
        };
        reader.open()?;
        Ok(reader)
    }

    /// `POST /v2/NAME/blobs/uploads/`: opens an upload session.
    pub fn start_upload(&self, repository: &str) -> Result<UploadSession> {
        let url = self.url(&format!("{repository}/blobs/uploads/"))?;
        let response = self.send(
            Method::POST,
            &url,
            &[("Content-Length", "0")],
            ReqBody::Empty,
            &[push_scope(repository)],
        )?;
        self.session_from(repository, "Post", &url, response)
    }

    fn session_from(
        &self,
        repository: &str,
        method: &'static str,
        url: &str,
        response: ureq::http::Response<Body>,
    ) -> Result<UploadSession> {
        if !response.status().is_success() {
            return Err(status_error(method, url, response));
        }
        let location = header(&response, "location").ok_or_else(|| Error::Protocol {
            url: url.to_string(),
            message: "the upload answer has no Location header".into(),
        })?;
        Ok(UploadSession {
            location: self.absolute(location)?,
            repository: repository.to_string(),
        })
    }

    /// `POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=OTHER`: asks the registry to link a blob
    /// it already holds in `from`. The token requested covers `pull` on `from` as well.
    pub fn mount_blob(&self, repository: &str, digest: &str, from: &str) -> Result<MountOutcome> {
        sha256_hex(digest)?;
        let url = self.url(&format!(
            "{repository}/blobs/uploads/?mount={digest}&from={}",
            crate::client::query_escape(from)
        ))?;
        let response = self.send(
            Method::POST,
            &url,
            &[("Content-Length", "0")],
            ReqBody::Empty,
            &[push_scope(repository), pull_scope(from)],
        )?;
        if response.status().as_u16() == 201 {
            return Ok(MountOutcome::Mounted);
        }
        self.session_from(repository, "Post", &url, response)
            .map(MountOutcome::Upload)
    }

    /// Finishes `session` with one `PUT ?digest=` carrying the whole blob (`size` bytes from
    /// `data`).
    pub fn upload_monolithic(
        &self,
        session: &UploadSession,
        digest: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<()> {
        sha256_hex(digest)?;
        let url = with_digest(&session.location, digest);
        let response = self.send(
            Method::PUT,
            &url,
            &[("Content-Type", "application/octet-stream")],
            ReqBody::Stream(data, Some(size)),
            &[push_scope(&session.repository)],
        )?;
        self.finish(&url, response)
    }

    /// Streams `data` of unknown length in one `PATCH`, hashing it on the way, then closes the
    /// session with `PUT ?digest=`. Returns the digest and size of what was sent.
    pub fn upload_streamed(
        &self,
        session: &UploadSession,
        data: &mut dyn Read,
    ) -> Result<(String, u64)> {
        let mut hashing = HashingReader {
            inner: data,
            hasher: Sha256::new(),
            count: 0,
        };
        let response = self.send(
            Method::PATCH,
            &session.location,
            &[("Content-Type", "application/octet-stream")],
            ReqBody::Stream(&mut hashing, None),
            &[push_scope(&session.repository)],
        )?;
        let location = self.next_location(&session.location, "Patch", response)?;
        let digest = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        let size = hashing.count;
        self.close_session(&session.repository, &location, &digest)?;
        Ok((digest, size))
    }

    /// Sends `data` in `PATCH` chunks of at most `chunk_size` bytes with `Content-Range`, then
    /// closes the session with `PUT ?digest=`. One chunk is held in memory at a time.
    pub fn upload_chunked(
        &self,
        session: &UploadSession,
        data: &mut dyn Read,
        chunk_size: usize,
    ) -> Result<(String, u64)> {
        let chunk_size = chunk_size.max(1);
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        let mut location = session.location.clone();
        let mut chunk = vec![0u8; chunk_size];
        loop {
            let filled = read_full(data, &mut chunk).map_err(|source| Error::Io {
                path: "(upload source)".into(),
                source,
            })?;
            if filled == 0 {
                break;
            }
            let part = &chunk[..filled];
            hasher.update(part);
            let range = format!("{}-{}", offset, offset + filled as u64 - 1);
            let response = self.send(
                Method::PATCH,
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", range.as_str()),
                ],
                ReqBody::Bytes(part),
                &[push_scope(&session.repository)],
            )?;
            location = self.next_location(&location, "Patch", response)?;
            offset += filled as u64;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        self.close_session(&session.repository, &location, &digest)?;
        Ok((digest, offset))
    }

    fn next_location(
        &self,
        url: &str,
        method: &'static str,
        response: ureq::http::Response<Body>,
    ) -> Result<String> {
        if !response.status().is_success() {
            return Err(status_error(method, url, response));
        }
        match header(&response, "location") {
            Some(l) => self.absolute(l),
            None => Ok(url.to_string()),
        }
    }

    fn close_session(&self, repository: &str, location: &str, digest: &str) -> Result<()> {
        let url = with_digest(location, digest);
        let response = self.send(
            Method::PUT,
            &url,
            &[("Content-Length", "0")],
            ReqBody::Empty,
            &[push_scope(repository)],
        )?;
        self.finish(&url, response)
    }

    fn finish(&self, url: &str, response: ureq::http::Response<Body>) -> Result<()> {
        if response.status().is_success() {
            Ok(())
        } else {
            Err(status_error("Put", url, response))
        }
    }

    /// Pushes a blob of known digest and size unless the registry already has it. Returns
    /// `false` when it was already there.
    pub fn push_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<bool> {
        if self.head_blob(repository, digest)?.is_some() {
            return Ok(false);
        }
        let session = self.start_upload(repository)?;
        self.upload_monolithic(&session, digest, size, data)?;
        Ok(true)
    }

    /// `GET /v2/NAME/tags/list`, following `Link` pages.
    pub fn list_tags(&self, repository: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let first = self.url(&format!("{repository}/tags/list?n=1000"))?;
        self.paginate(&first, &[pull_scope(repository)], |bytes, url| {
            let page: Page = serde_json::from_slice(bytes).map_err(|source| Error::Json {
                what: format!("the tag list from {url}"),
                source,
            })?;
            tags.extend(page.tags.unwrap_or_default());
            Ok(())
        })?;
        Ok(tags)
    }

    /// `GET /v2/_catalog`, following `Link` pages.
    pub fn catalog(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut repositories = Vec::new();
        let first = self.url("_catalog?n=1000")?;
        self.paginate(&first, &["registry:catalog:*".to_string()], |bytes, url| {
            let page: Page = serde_json::from_slice(bytes).map_err(|source| Error::Json {
                what: format!("the catalog from {url}"),
                source,
            })?;
            repositories.extend(page.repositories.unwrap_or_default());
            Ok(())
        })?;
        Ok(repositories)
    }

    fn paginate(
        &self,
        first: &str,
        scopes: &[String],
        mut each: impl FnMut(&[u8], &str) -> Result<()>,
    ) -> Result<()> {
        let mut next = Some(first.to_string());
        // A registry whose Link points back at a page already read must not loop forever.
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                break;
            }
            let mut response = self.send(Method::GET, &url, &[], ReqBody::Empty, scopes)?;
            if !response.status().is_success() {
                return Err(status_error("Get", &url, response));
            }
            next = header(&response, "link")
                .and_then(next_link)
                .map(|l| self.absolute(&l))
                .transpose()?;
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MANIFEST_LIMIT * 4)
                .read_to_vec()
                .map_err(|e| transport_error("Get", &url, &e))?;
            each(&bytes, &url)?;
        }
        Ok(())
    }
}

/// The target of the `rel="next"` entry of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{sep}digest={}",
        crate::client::query_escape(digest)
    )
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    count: u64,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A blob being downloaded; see [`Registry::get_blob`].
pub struct BlobReader<'r> {
    registry: &'r Registry,
    url: String,
    scope: String,
    expected: String,
    size: Option<u64>,
    inner: Option<BodyReader<'static>>,
    hasher: Sha256,
    received: u64,
    /// The blob's length as the registry last announced it.
    served_total: Option<u64>,
    resumes: u32,
    finished: bool,
}

impl std::fmt::Debug for BlobReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("url", &self.url)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl BlobReader<'_> {
    /// The size announced by the caller or the registry, if known.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// (Re)opens the download at the current offset.
    fn open(&mut self) -> Result<()> {
        let range = format!("bytes={}-", self.received);
        let headers: Vec<(&str, &str)> = if self.received > 0 {
            vec![("Range", range.as_str())]
        } else {
            Vec::new()
        };
        let response = self.registry.send(
            Method::GET,
            &self.url,
            &headers,
            ReqBody::Empty,
            std::slice::from_ref(&self.scope),
        )?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(method_name(&Method::GET), &self.url, response));
        }
        self.served_total = if status == 206 {
            header(&response, "content-range")
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse().ok())
        } else {
            header(&response, "content-length").and_then(|v| v.parse().ok())
        };
        if self.size.is_none() {
            self.size = self.served_total;
        }
        let mut body = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        if self.received > 0 && status == 200 {
            // The registry ignored the range and sent everything again: skip what the caller
            // already has (it is already in the hash).
            let skipped = std::io::copy(&mut (&mut body).take(self.received), &mut std::io::sink())
                .map_err(|source| Error::Io {
                    path: self.url.clone().into(),
                    source,
                })?;
            if skipped < self.received {
                return Err(Error::Protocol {
                    url: self.url.clone(),
                    message: "the blob is shorter than the part already received".into(),
                });
            }
        }
        self.inner = Some(body);
        Ok(())
    }

    fn verify(&self) -> std::io::Result<()> {
        if let Some(size) = self.size
            && self.received != size
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: received {} bytes, expected {size}",
                    self.url, self.received
                ),
            ));
        }
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if actual != self.expected {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                Error::DigestMismatch {
                    url: self.url.clone(),
                    expected: self.expected.clone(),
                    actual,
                },
            ));
        }
        Ok(())
    }

    fn resume(&mut self, cause: std::io::Error) -> std::io::Result<()> {
        if self.resumes >= MAX_RESUMES {
            return Err(cause);
        }
        sleep_backoff(self.resumes, None);
        self.resumes += 1;
        self.inner = None;
        self.open().map_err(std::io::Error::other)
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(inner) = self.inner.as_mut() else {
                self.open().map_err(std::io::Error::other)?;
                continue;
            };
            match inner.read(buf) {
                Ok(0) => {
                    // Short of the expected size: resume, unless the registry says the blob
                    // is complete, in which case the size (and so the blob) is wrong.
                    if self.size.is_some_and(|s| self.received < s)
                        && self.served_total != Some(self.received)
                    {
                        let cause = std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("{}: the connection ended early", self.url),
                        );
                        self.resume(cause)?;
                        continue;
                    }
                    self.verify()?;
                    self.finished = true;
                    return Ok(0);
                }
                Ok(n) => {
                    if self.size.is_some_and(|s| self.received + n as u64 > s) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{}: more bytes than the expected size", self.url),
                        ));
                    }
                    self.hasher.update(&buf[..n]);
                    self.received += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let transient = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_none_or(is_transient);
                    if !transient {
                        return Err(e);
                    }
                    self.resume(e)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/a>; rel="prev", <https://x/b>; rel = "next""#).as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
    }

    #[test]
    fn digests() {
        assert!(sha256_hex("sha256:abc").is_err());
        assert!(sha256_hex(&digest_of(b"")).is_ok());
        assert_eq!(
            with_digest("http://h/u?_state=x", "sha256:00"),
            "http://h/u?_state=x&digest=sha256%3A00"
        );
    }
}
