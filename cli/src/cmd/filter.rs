//! `--filter key=value` as docker reads it for images and prune: repeated keys accumulate,
//! unknown keys are refused, and the matching rules of each key (`reference` uses Go's
//! `path.Match` on the familiar name, `until` takes a timestamp or a Go duration).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};

/// Parsed filters: each key with its values, in the order given.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses `key=value` arguments, accepting only `allowed` keys (docker's messages).
    pub fn parse(args: &[String], allowed: &[&str]) -> anyhow::Result<Filters> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            let key = key.trim().to_lowercase();
            if !allowed.contains(&key.as_str()) {
                bail!("invalid filter '{key}'");
            }
            map.entry(key).or_default().push(value.trim().to_string());
        }
        Ok(Filters(map))
    }

    /// The values given for `key`.
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Adds a value, as the positional `REPOSITORY[:TAG]` of `images` adds a reference filter.
    pub fn add(&mut self, key: &str, value: &str) {
        self.0.entry(key.into()).or_default().push(value.into());
    }

    /// `dangling=true|false`: `None` when absent; docker's error for another value.
    pub fn dangling(&self) -> anyhow::Result<Option<bool>> {
        let mut result = None;
        for v in self.get("dangling") {
            let b = match v.to_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("invalid filter 'dangling={v}'"),
            };
            if result.is_some_and(|r| r != b) {
                bail!("invalid filter 'dangling': conflicting values true and false");
            }
            result = Some(b);
        }
        Ok(result)
    }

    /// Whether `labels` satisfy every `label=KEY` and `label=KEY=VALUE` (and, for `key`
    /// `label!`, none of them).
    pub fn labels_match(&self, key: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        let matches = |f: &String| {
            let (k, v) = match f.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (f.as_str(), None),
            };
            match (labels.and_then(|l| l.get(k)), v) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(actual), Some(want)) => actual == want,
            }
        };
        if key == "label!" {
            !self.get(key).iter().any(matches)
        } else {
            self.get(key).iter().all(matches)
        }
    }
}

/// Go's `path.Match`, as docker's `reference=` filter uses it.
pub fn path_match(pattern: &str, name: &str) -> anyhow::Result<bool> {
    Ok(bale_builder::copy::path_match(pattern, name)?)
}

/// A `until=` or `since`-like timestamp as docker accepts it: RFC 3339 (with or without
/// seconds or zone), `2006-01-02`, Unix seconds with optional fraction, or a Go duration
/// (`24h`, `1h30m`, `90s`) counted back from now.
pub fn parse_timestamp(value: &str, now: SystemTime) -> anyhow::Result<SystemTime> {
    let bad = || {
        anyhow!(
            "invalid filter 'until={value}': expected a timestamp (RFC 3339, a date or Unix seconds) or a duration such as 24h"
        )
    };
    if let Some(d) = parse_go_duration(value) {
        return now.checked_sub(d).ok_or_else(bad);
    }
    if let Some(t) = bale_image::time::parse_rfc3339(value) {
        return Ok(t);
    }
    for (suffix, len) in [(":00Z", 16), ("T00:00:00Z", 10)] {
        if value.len() == len
            && let Some(t) = bale_image::time::parse_rfc3339(&format!("{value}{suffix}"))
        {
            return Ok(t);
        }
    }
    if value.len() == 19
        && let Some(t) = bale_image::time::parse_rfc3339(&format!("{value}Z"))
    {
        return Ok(t);
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if let Ok(s) = secs.parse::<u64>()
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let nanos: u32 = format!("{:0<9}", &frac[..frac.len().min(9)])
            .parse()
            .unwrap_or(0);
        return Ok(UNIX_EPOCH + Duration::new(s, nanos));
    }
    Err(bad())
}

/// A Go duration string (`1h30m`, `90s`, `1.5h`, `300ms`).
fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() || s == "0" {
        return (s == "0").then_some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_match_follows_go() {
        assert!(path_match("busybox", "busybox").unwrap());
        assert!(path_match("busy*", "busybox").unwrap());
        assert!(path_match("*:latest", "busybox:latest").unwrap());
        assert!(!path_match("*", "library/busybox").unwrap());
        assert!(path_match("*/*", "library/busybox").unwrap());
        assert!(path_match("b?sybox", "busybox").unwrap());
        assert!(!path_match("b?sybox", "bsybox").unwrap());
        assert!(path_match("[a-c]usybox", "busybox").unwrap());
        assert!(!path_match("[^a-c]usybox", "busybox").unwrap());
        assert!(path_match("app:1.*", "app:1.0").unwrap());
        assert!(!path_match("app:1.*", "app:2.0").unwrap());
        assert!(path_match("a\\*b", "a*b").unwrap());
        assert!(!path_match("a\\*b", "axb").unwrap());
        assert!(path_match("[", "a").is_err());
    }

    #[test]
    fn filters_accumulate_and_refuse_unknown_keys() {
        let f = Filters::parse(
            &["label=a".into(), "label=b=c".into(), "dangling=true".into()],
            &["label", "dangling"],
        )
        .unwrap();
        assert_eq!(f.get("label"), ["a", "b=c"]);
        assert_eq!(f.dangling().unwrap(), Some(true));
        let e = Filters::parse(&["color=red".into()], &["label"]).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'color'");
        let e = Filters::parse(&["label".into()], &["label"]).unwrap_err();
        assert_eq!(e.to_string(), "bad format of filter (expected name=value)");
        let bad = Filters::parse(&["dangling=maybe".into()], &["dangling"]).unwrap();
        assert!(bad.dangling().is_err());
    }

    #[test]
    fn labels_match_key_and_key_value() {
        let f = Filters::parse(&["label=a".into(), "label=b=c".into()], &["label"]).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "x".to_string());
        assert!(!f.labels_match("label", Some(&labels)));
        labels.insert("b".to_string(), "c".to_string());
        assert!(f.labels_match("label", Some(&labels)));
        labels.insert("b".to_string(), "d".to_string());
        assert!(!f.labels_match("label", Some(&labels)));
        assert!(!f.labels_match("label", None));
        assert!(Filters::default().labels_match("label", None));
    }

    #[test]
    fn timestamps_and_durations() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_timestamp("1h", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_000_000 - 3600)
        );
        assert_eq!(
            parse_timestamp("1h30m", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_000_000 - 5400)
        );
        assert_eq!(
            parse_timestamp("1700000000", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_timestamp("1970-01-02", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:01:00Z", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(60)
        );
        assert!(parse_timestamp("yesterday", now).is_err());
    }
}
