//! Parsing of `WWW-Authenticate` challenges (RFC 9110 section 11.6.1), as registries send them.
//!
//! A header may hold several challenges, each a scheme followed by either a token68 or a
//! comma-separated list of `name=value` parameters whose values may be quoted strings with
//! backslash escapes. The comma that separates parameters also separates challenges, so a name
//! not followed by `=` starts the next challenge.

/// One authentication challenge: a scheme (`Basic`, `Bearer`) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent; compare with [`Challenge::is`], which ignores case.
    pub scheme: String,
    /// Parameters in the order sent, names lower-cased (they are case-insensitive).
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether the scheme is `scheme`, ignoring case.
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in a `WWW-Authenticate` header value. Malformed parts are skipped
/// rather than rejected: a registry's odd header must not hide the challenges it does carry.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_separators();
        if p.at_end() {
            break;
        }
        let Some(scheme) = p.token() else {
            // Not a token: skip one byte so that garbage cannot stall the parser.
            p.i += 1;
            continue;
        };
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        loop {
            p.skip_ws();
            let mark = p.i;
            let Some(name) = p.token() else {
                // A token68 (e.g. `Basic dXNlcjpw==`) or stray characters: skip to the next comma.
                p.skip_until_comma();
                if p.i == mark && !p.at_end() {
                    p.i += 1;
                }
                if !p.eat(b',') {
                    break;
                }
                continue;
            };
            p.skip_ws();
            if !p.eat(b'=') {
                // A bare name: the next challenge's scheme.
                p.i = mark;
                break;
            }
            p.skip_ws();
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().unwrap_or_default()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            p.skip_ws();
            if !p.eat(b',') {
                break;
            }
        }
        out.push(challenge);
    }
    out
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn skip_until_comma(&mut self) {
        while let Some(b) = self.peek() {
            if b == b',' {
                break;
            }
            if b == b'"' {
                self.quoted();
                continue;
            }
            self.i += 1;
        }
    }

    /// An RFC 9110 token: visible characters except delimiters.
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(b) = self.peek() {
            let delimiter = b"\"(),/:;<=>?@[\\]{} \t".contains(&b);
            if delimiter || !b.is_ascii_graphic() {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A quoted string starting at the opening quote; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut bytes = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        bytes.push(next);
                        self.i += 1;
                    }
                }
                _ => bytes.push(b),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn bearer_with_quoted_params() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("SERVICE"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/busybox:pull,push")
        );
    }

    #[test]
    fn basic_realm() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(params(&c[0]), vec![("realm", "Registry Realm")]);
    }

    #[test]
    fn several_challenges_and_spacing() {
        let c = parse_challenges(
            r#"Basic realm="a, b" , Bearer realm = "https://t/x" , service=reg, error="insufficient_scope", Negotiate"#,
        );
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(params(&c[0]), vec![("realm", "a, b")]);
        assert!(c[1].is("Bearer"));
        assert_eq!(
            params(&c[1]),
            vec![
                ("realm", "https://t/x"),
                ("service", "reg"),
                ("error", "insufficient_scope")
            ]
        );
        assert!(c[2].is("negotiate"));
        assert!(c[2].params.is_empty());
    }

    #[test]
    fn escapes_and_token68() {
        let c = parse_challenges(r#"Custom dXNlcjpwYXNz==, Bearer realm="a\"b\\c""#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].is("custom"));
        assert_eq!(c[1].param("realm"), Some(r#"a"b\c"#));
    }

    #[test]
    fn garbage_does_not_hang_or_panic() {
        for s in [
            "",
            ",,,",
            "\"",
            "=",
            "Bearer realm=\"unterminated",
            "Bearer ,=,=",
            "é Bearer x=y",
        ] {
            let _ = parse_challenges(s);
        }
        assert_eq!(
            parse_challenges("Bearer realm=\"unterminated")[0].param("realm"),
            Some("unterminated")
        );
    }
}
