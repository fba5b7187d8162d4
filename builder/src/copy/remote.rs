//! ADD from an http(s) URL: the file is downloaded into the plan's temporary directory, hashed
//! on the way, checked against `--checksum`, and named as docker names it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::Error;

/// A downloaded ADD source.
#[derive(Debug, Clone)]
pub(crate) struct Download {
    /// The file in the temporary directory.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// `sha256:<hex>` of its content.
    pub digest: String,
    /// The name it gets when the destination is a directory.
    pub name: String,
    /// `Last-Modified`, seconds since the epoch.
    pub mtime: Option<i64>,
}

/// Whether `src` is a git source, which ADD could clone but bale does not.
pub(crate) fn is_git(src: &str) -> bool {
    let lower = src.to_ascii_lowercase();
    lower.starts_with("git://")
        || lower.starts_with("git@")
        || lower.starts_with("ssh://")
        || ((lower.starts_with("http://") || lower.starts_with("https://"))
            && (lower
                .split(['#', '?'])
                .next()
                .unwrap_or("")
                .ends_with(".git")))
}

/// Whether `src` is an http(s) URL.
pub(crate) fn is_url(src: &str) -> bool {
    let lower = src.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The name BuildKit gives a URL's file: the last element of its path, else `__unnamed__`.
/// Like docker's legacy builder, a `Content-Disposition` filename is used when the path has
/// no name of its own.
pub(crate) fn url_name(url: &str, disposition: Option<&str>) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest
        .find('/')
        .map_or("", |i| &rest[i..])
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let trimmed = path.trim_end_matches('/');
    if !path.ends_with('/')
        && let Some(base) = trimmed.rsplit('/').next()
        && !base.is_empty()
        && base != "."
        && base != ".."
    {
        return percent_decode(base);
    }
    if let Some(d) = disposition.and_then(disposition_filename) {
        return d;
    }
    UNNAMED.to_string()
}

/// The name of a URL's file when neither its path nor the server gives one.
pub(crate) const UNNAMED: &str = "__unnamed__";

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The base name of `filename=` in a `Content-Disposition` value.
fn disposition_filename(v: &str) -> Option<String> {
    for part in v.split(';').skip(1) {
        let (k, val) = part.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case("filename") {
            let val = val.trim().trim_matches('"');
            if val.ends_with('/') {
                return None;
            }
            let base = val.rsplit(['/', '\\']).next()?;
            if !base.is_empty() && base != "." && base != ".." {
                return Some(base.to_string());
            }
        }
    }
    None
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 7231's preferred form).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() != 6 || f[5] != "GMT" {
        return None;
    }
    let day: i64 = f[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == f[2])? as i64
        + 1;
    let year: i64 = f[3].parse().ok()?;
    let t: Vec<i64> = f[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if t.len() != 3 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha384(h) => format!("sha384:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// Checks a `--checksum` value's form (`sha256:<64 hex>`, or sha384/sha512).
pub(crate) fn parse_checksum(sum: &str) -> Result<(), Error> {
    let bad = || {
        Error::Invalid(format!(
            "invalid checksum {sum:?}: write ALGORITHM:HEX, e.g. --checksum=sha256:<64 hex digits>"
        ))
    };
    let (alg, hex) = sum.split_once(':').ok_or_else(bad)?;
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    Ok(())
}

/// Downloads `url` into `dir`, mode 0600, checking `checksum` when given.
pub(crate) fn download(url: &str, checksum: Option<&str>, dir: &Path) -> Result<Download, Error> {
    let fail = |reason: String| Error::Download {
        url: url.to_string(),
        reason,
    };
    if let Some(sum) = checksum {
        parse_checksum(sum)?;
    }
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("bale/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)));
    let host = url.split_once("://").map_or("", |(_, r)| r);
    let host = host.split(['/', '?', '#']).next().unwrap_or("");
    let hostname = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if hostname.starts_with("127.")
        || hostname.starts_with("localhost")
        || hostname.starts_with("[::1]")
    {
        builder = builder.proxy(None);
    }
    let agent = builder.build().new_agent();
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| fail(format!("request failed: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}; check the URL")));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let name = url_name(url, header("content-disposition").as_deref());
    let mtime = header("last-modified").as_deref().and_then(parse_http_date);
    let expected = checksum.map(str::to_string);
    let mut hasher = match expected
        .as_deref()
        .and_then(|s| s.split_once(':'))
        .map(|(a, _)| a)
    {
        Some("sha384") => Hasher::Sha384(Sha384::new()),
        Some("sha512") => Hasher::Sha512(Sha512::new()),
        _ => Hasher::Sha256(Sha256::new()),
    };
    let mut sha256 = Sha256::new();
    let path = dir.join(format!("download-{}", std::process::id()));
    let path = unique(path);
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("reading the body: {e}"))),
        };
        hasher.update(&buf[..n]);
        sha256.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(&path, e))?;
        size += n as u64;
    }
    out.flush().map_err(|e| Error::io(&path, e))?;
    let actual = hasher.finish();
    if let Some(expected) = expected
        && actual != expected
    {
        let _ = fs::remove_file(&path);
        return Err(Error::Checksum {
            url: url.to_string(),
            expected,
            actual,
        });
    }
    Ok(Download {
        path,
        size,
        digest: format!("sha256:{}", hex::encode(sha256.finalize())),
        name,
        mtime,
    })
}

fn unique(base: PathBuf) -> PathBuf {
    let mut p = base.clone();
    let mut i = 0;
    while p.exists() {
        i += 1;
        let mut s = base.as_os_str().to_os_string();
        s.push(format!("-{i}"));
        p = PathBuf::from(s);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_path_then_the_disposition() {
        assert_eq!(
            url_name("https://example.com/a/b.tar.gz?x=1", None),
            "b.tar.gz"
        );
        assert_eq!(url_name("https://example.com/", None), "__unnamed__");
        assert_eq!(url_name("https://example.com", None), "__unnamed__");
        assert_eq!(
            url_name(
                "https://example.com/dir/",
                Some("attachment; filename=\"f.txt\"")
            ),
            "f.txt"
        );
        assert_eq!(
            url_name(
                "https://example.com/x",
                Some("attachment; filename=\"f.txt\"")
            ),
            "x"
        );
        assert_eq!(
            url_name(
                "http://h/",
                Some("attachment; filename=\"../../etc/passwd\"")
            ),
            "passwd"
        );
        assert_eq!(url_name("http://h/a%20b", None), "a b");
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn git_and_urls() {
        assert!(is_git("https://github.com/moby/buildkit.git"));
        assert!(is_git("git@github.com:moby/buildkit.git"));
        assert!(is_git("https://github.com/moby/buildkit.git#v0.12"));
        assert!(!is_git("https://example.com/file.tar"));
        assert!(is_url("HTTPS://example.com/x"));
        assert!(!is_url("src/x"));
    }

    #[test]
    fn checksums_are_validated() {
        assert!(parse_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("md5:{}", "a".repeat(32))).is_err());
    }
}
