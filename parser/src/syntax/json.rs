//! The exec form: a JSON array of strings, read exactly as Go's `json.Unmarshal` reads it.
//!
//! BuildKit decides between exec and shell form by trying `json.Unmarshal` into `[]any`: any
//! syntax error (trailing text, single quotes, an unterminated string, nesting deeper than Go's
//! 10000 levels) or a number out of `float64` range sends the line back to the shell form,
//! while a valid array holding anything but strings is an error. Strings decode as Go decodes
//! them, lone UTF-16 surrogates becoming U+FFFD. The nesting is walked with an explicit stack,
//! so no input can exhaust the call stack.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::tag,
    character::complete::{char, digit0, digit1, one_of},
    combinator::{opt, recognize},
};

/// What a would-be JSON array turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonArray {
    /// A valid array of strings: the exec form, each string with the byte offset of its opening
    /// quote.
    Strings(Vec<(String, usize)>),
    /// A valid array with an element that is not a string: an error in BuildKit.
    NotStrings,
    /// Not valid JSON (or not an array): the shell form applies.
    Invalid,
}

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Go's JSON white space.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A JSON number, by the grammar Go's scanner accepts.
fn number(s: &str) -> IResult<&str, &str> {
    recognize((
        opt(char('-')),
        alt((tag("0"), recognize((one_of("123456789"), digit0)))),
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(s)
}

/// Four hex digits after `\u`.
fn hex4(b: &[u8]) -> Option<u32> {
    let digits = b.get(..4)?;
    let mut v = 0;
    for d in digits {
        v = v * 16 + (*d as char).to_digit(16)?;
    }
    Some(v)
}

/// A JSON string starting at `s[0] == '"'`: its decoded value and the bytes it spans.
fn string(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    let mut run = 1;
    loop {
        let c = *b.get(i)?;
        match c {
            b'"' => {
                out.push_str(&s[run..i]);
                return Some((out, i + 1));
            }
            b'\\' => {
                out.push_str(&s[run..i]);
                let e = *b.get(i + 1)?;
                i += 2;
                match e {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'b' => out.push('\x08'),
                    b'f' => out.push('\x0c'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let r = hex4(&b[i..])?;
                        i += 4;
                        if (0xd800..0xe000).contains(&r) {
                            // A high surrogate followed by an escaped low one is a pair;
                            // anything else is a replacement character, as in Go.
                            let low = (r < 0xdc00
                                && b.get(i) == Some(&b'\\')
                                && b.get(i + 1) == Some(&b'u'))
                            .then(|| hex4(&b[i + 2..]))
                            .flatten()
                            .filter(|l| (0xdc00..0xe000).contains(l));
                            match low {
                                Some(l) => {
                                    let c = 0x10000 + ((r - 0xd800) << 10) + (l - 0xdc00);
                                    out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                    i += 6;
                                }
                                None => out.push('\u{fffd}'),
                            }
                        } else {
                            out.push(char::from_u32(r).unwrap_or('\u{fffd}'));
                        }
                    }
                    _ => return None,
                }
                run = i;
            }
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// What the parser expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    ValueOrClose,
    Value,
    CommaOrClose,
    KeyOrClose,
    Key,
}

/// Reads `s` (left-trimmed, starting with `[`) as Go's `json.Unmarshal` into `[]any` would.
pub fn parse_array(s: &str) -> JsonArray {
    match walk(s) {
        Some((items, overflow)) if !overflow => match items.into_iter().collect() {
            Some(strings) => JsonArray::Strings(strings),
            None => JsonArray::NotStrings,
        },
        _ => JsonArray::Invalid,
    }
}

/// A top-level element: a string and its offset, or `None` for anything else.
type Item = Option<(String, usize)>;

/// Validates the whole text; returns the top-level elements and whether some number overflowed
/// `float64`.
fn walk(s: &str) -> Option<(Vec<Item>, bool)> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut stack = vec![b'['];
    let mut items = Vec::new();
    let mut overflow = false;
    let mut expect = Expect::ValueOrClose;
    i += 1;
    loop {
        i = skip_ws(b, i);
        let c = *b.get(i)?;
        let top_level = stack.len() == 1;
        let mut value_done = false;
        match expect {
            Expect::ValueOrClose | Expect::Value => {
                if expect == Expect::ValueOrClose && c == b']' {
                    stack.pop();
                    i += 1;
                    value_done = true;
                } else {
                    match c {
                        b'"' => {
                            let (v, n) = string(&s[i..])?;
                            if top_level {
                                items.push(Some((v, i)));
                            }
                            i += n;
                            value_done = true;
                        }
                        b'[' | b'{' => {
                            if top_level {
                                items.push(None);
                            }
                            stack.push(c);
                            if stack.len() > MAX_DEPTH {
                                return None;
                            }
                            i += 1;
                            expect = if c == b'[' {
                                Expect::ValueOrClose
                            } else {
                                Expect::KeyOrClose
                            };
                        }
                        b't' | b'f' | b'n' => {
                            let lit = ["true", "false", "null"]
                                .into_iter()
                                .find(|l| s[i..].starts_with(l))?;
                            if top_level {
                                items.push(None);
                            }
                            i += lit.len();
                            value_done = true;
                        }
                        b'-' | b'0'..=b'9' => {
                            let (_, num) = number(&s[i..]).ok()?;
                            overflow |= num.parse::<f64>().map_or(true, f64::is_infinite);
                            if top_level {
                                items.push(None);
                            }
                            i += num.len();
                            value_done = true;
                        }
                        _ => return None,
                    }
                }
            }
            Expect::KeyOrClose | Expect::Key => {
                if expect == Expect::KeyOrClose && c == b'}' {
                    stack.pop();
                    i += 1;
                    value_done = true;
                } else {
                    if c != b'"' {
                        return None;
                    }
                    let (_, n) = string(&s[i..])?;
                    i = skip_ws(b, i + n);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i += 1;
                    expect = Expect::Value;
                }
            }
            Expect::CommaOrClose => {
                let open = *stack.last()?;
                match (c, open) {
                    (b',', b'[') => expect = Expect::Value,
                    (b',', _) => expect = Expect::Key,
                    (b']', b'[') | (b'}', b'{') => {
                        stack.pop();
                        value_done = true;
                    }
                    _ => return None,
                }
                i += 1;
            }
        }
        if value_done {
            if stack.is_empty() {
                return (skip_ws(b, i) == b.len()).then_some((items, overflow));
            }
            expect = Expect::CommaOrClose;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn parse_strings(s: &str) -> Vec<String> {
        match parse_array(s) {
            JsonArray::Strings(v) => v.into_iter().map(|(s, _)| s).collect(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn arrays_of_strings() {
        assert_eq!(parse_strings("[]"), strings(&[]));
        assert_eq!(parse_strings("[ \"a\" , \"b\" ]\n"), strings(&["a", "b"]));
        assert_eq!(
            parse_strings(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u00e9"]"#),
            strings(&["\" \\ / \x08 \x0c \n \r \t \0 é"])
        );
        assert_eq!(parse_strings(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
        assert_eq!(parse_strings(r#"["\ud83d"]"#), strings(&["\u{fffd}"]));
        assert_eq!(
            parse_strings(r#"["\ude00\ud83d x"]"#),
            strings(&["\u{fffd}\u{fffd} x"])
        );
    }

    #[test]
    fn elements_know_their_offsets() {
        match parse_array(r#"[ "a",  "é" ]"#) {
            JsonArray::Strings(v) => assert_eq!(v, [("a".into(), 2), ("é".into(), 8)]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_strings_are_reported() {
        assert_eq!(parse_array("[1]"), JsonArray::NotStrings);
        assert_eq!(
            parse_array(r#"["echo", ["nested"]]"#),
            JsonArray::NotStrings
        );
        assert_eq!(
            parse_array(r#"["a", {"k": [1, true]}, null]"#),
            JsonArray::NotStrings
        );
        assert_eq!(parse_array("[-0.5e+3, false]"), JsonArray::NotStrings);
    }

    #[test]
    fn malformed_is_invalid() {
        for s in [
            "['a']",
            r#"["a""#,
            r#"["a"] x"#,
            r#"["a",]"#,
            r#"["a" "b"]"#,
            "[01]",
            "[1.]",
            "[tru]",
            "[\"a\tb\"]",
            r#"["\x"]"#,
            r#"[{"a" 1}]"#,
            r#"[{1: 2}]"#,
            "[1e999]",
            "[\"a\"]\x0b",
            "x",
        ] {
            assert_eq!(parse_array(s), JsonArray::Invalid, "{s}");
        }
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(parse_array(&ok), JsonArray::NotStrings);
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_array(&deep), JsonArray::Invalid);
        assert_eq!(parse_array(&"[".repeat(60_000)), JsonArray::Invalid);
    }
}
