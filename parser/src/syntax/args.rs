//! The per-instruction argument parsers (BuildKit's `line_parsers.go`): how the text after the
//! keyword and flags becomes the argument chain of a node.
//!
//! | keyword | parser | arguments |
//! | --- | --- | --- |
//! | FROM, EXPOSE | `parseStringsWhitespaceDelimited` | split on `[\t\v\f\r ]+`, quotes not honoured |
//! | ADD, COPY, VOLUME | `parseMaybeJSONToList` | a JSON array's strings, else as FROM |
//! | RUN, CMD, ENTRYPOINT, SHELL | `parseMaybeJSON` | a JSON array's strings, else the rest verbatim |
//! | HEALTHCHECK | `parseHealthConfig` | the first word, then the remainder as for CMD |
//! | ENV, LABEL | `parseNameVal` | `key, value, sep` triplets; legacy `ENV k v w` gives sep `""` |
//! | ARG | `parseNameOrNameVal` | words split on unquoted blanks, quotes kept |
//! | MAINTAINER, USER, WORKDIR, STOPSIGNAL | `parseString` | the rest verbatim |
//! | ONBUILD | `parseSubCommand` | none: the trigger is a nested node |
//! | anything else | `parseIgnore` | one empty argument |

use super::json::{JsonArray, parse_array};
use super::text::{is_space, is_space_byte, split_blanks, trim_leading_space};

/// Arguments with their byte offsets in the text they were parsed from.
pub type Args = Vec<(String, usize)>;

/// How an instruction's arguments are parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// FROM, EXPOSE.
    Whitespace,
    /// ADD, COPY, VOLUME.
    MaybeJsonToList,
    /// RUN, CMD, ENTRYPOINT, SHELL.
    MaybeJson,
    /// HEALTHCHECK.
    Health,
    /// ENV, LABEL: the keyword is used in the error message.
    NameVal(&'static str),
    /// ARG.
    NameOrNameVal,
    /// MAINTAINER, USER, WORKDIR, STOPSIGNAL.
    String,
    /// ONBUILD.
    SubCommand,
    /// An unknown keyword.
    Ignore,
}

/// The parser BuildKit dispatches `keyword` (any case) to, with the canonical keyword.
pub fn kind_of(keyword: &str) -> (Kind, Option<&'static str>) {
    // Go's `strings.ToLower` maps each character to one character (`İ` to `i`, the Kelvin sign
    // to `k`), where Rust's full mapping would turn `İ` into two.
    let lower: String = keyword
        .chars()
        .map(|c| match c {
            '\u{130}' => 'i',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect();
    let (kind, name) = match lower.as_str() {
        "add" => (Kind::MaybeJsonToList, "ADD"),
        "arg" => (Kind::NameOrNameVal, "ARG"),
        "cmd" => (Kind::MaybeJson, "CMD"),
        "copy" => (Kind::MaybeJsonToList, "COPY"),
        "entrypoint" => (Kind::MaybeJson, "ENTRYPOINT"),
        "env" => (Kind::NameVal("ENV"), "ENV"),
        "expose" => (Kind::Whitespace, "EXPOSE"),
        "from" => (Kind::Whitespace, "FROM"),
        "healthcheck" => (Kind::Health, "HEALTHCHECK"),
        "label" => (Kind::NameVal("LABEL"), "LABEL"),
        "maintainer" => (Kind::String, "MAINTAINER"),
        "onbuild" => (Kind::SubCommand, "ONBUILD"),
        "run" => (Kind::MaybeJson, "RUN"),
        "shell" => (Kind::MaybeJson, "SHELL"),
        "stopsignal" => (Kind::String, "STOPSIGNAL"),
        "user" => (Kind::String, "USER"),
        "volume" => (Kind::MaybeJsonToList, "VOLUME"),
        "workdir" => (Kind::String, "WORKDIR"),
        _ => return (Kind::Ignore, None),
    };
    (kind, Some(name))
}

/// What an argument parser produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The argument chain.
    pub args: Args,
    /// True when the arguments came from a JSON array.
    pub json: bool,
}

/// An argument parser's failure, in BuildKit's words.
pub type ArgError = String;

/// Runs the parser of `kind` (anything but [`Kind::SubCommand`]) over `rest`.
pub fn parse_args(kind: Kind, rest: &str, escape: char) -> Result<Parsed, ArgError> {
    match kind {
        Kind::Whitespace => Ok(plain(whitespace_delimited(rest))),
        Kind::MaybeJsonToList => maybe_json_to_list(rest),
        Kind::MaybeJson => maybe_json(rest),
        Kind::Health => health_config(rest),
        Kind::NameVal(keyword) => name_val(rest, keyword, escape).map(plain),
        Kind::NameOrNameVal => Ok(plain(words(rest, escape))),
        Kind::String => Ok(plain(string(rest))),
        Kind::SubCommand => Ok(Parsed::default()),
        Kind::Ignore => Ok(plain(vec![(String::new(), 0)])),
    }
}

fn plain(args: Args) -> Parsed {
    Parsed { args, json: false }
}

/// `parseStringsWhitespaceDelimited`.
fn whitespace_delimited(rest: &str) -> Args {
    if rest.is_empty() {
        return Vec::new();
    }
    split_blanks(rest, None)
        .into_iter()
        .map(|(s, at)| (s.to_string(), at))
        .collect()
}

/// `parseString`.
fn string(rest: &str) -> Args {
    if rest.is_empty() {
        return Vec::new();
    }
    vec![(rest.to_string(), 0)]
}

/// `parseJSON`: `Ok(Some(..))` for an array of strings, `Ok(None)` when the text is not a JSON
/// array, and an error for an array holding something else.
fn json(rest: &str) -> Result<Option<Args>, ArgError> {
    let trimmed = trim_leading_space(rest);
    if !trimmed.starts_with('[') {
        return Ok(None);
    }
    let at = rest.len() - trimmed.len();
    match parse_array(trimmed) {
        JsonArray::Strings(v) => Ok(Some(v.into_iter().map(|(s, off)| (s, at + off)).collect())),
        JsonArray::NotStrings => Err(
            "when using JSON array syntax, arrays must be comprised of strings only; quote every element"
                .into(),
        ),
        JsonArray::Invalid => Ok(None),
    }
}

/// `parseMaybeJSON`.
fn maybe_json(rest: &str) -> Result<Parsed, ArgError> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    Ok(match json(rest)? {
        Some(args) => Parsed { args, json: true },
        None => plain(vec![(rest.to_string(), 0)]),
    })
}

/// `parseMaybeJSONToList`.
fn maybe_json_to_list(rest: &str) -> Result<Parsed, ArgError> {
    Ok(match json(rest)? {
        Some(args) => Parsed { args, json: true },
        None => plain(whitespace_delimited(rest)),
    })
}

/// `parseHealthConfig`: the type word (found byte by byte, as BuildKit does), then the rest as
/// for CMD.
fn health_config(rest: &str) -> Result<Parsed, ArgError> {
    let b = rest.as_bytes();
    let sep = b.iter().position(|c| is_space_byte(*c)).unwrap_or(b.len());
    let next = b[sep..]
        .iter()
        .position(|c| !is_space_byte(*c))
        .map_or(b.len(), |p| sep + p);
    if sep == 0 {
        return Ok(Parsed::default());
    }
    let typ = String::from_utf8_lossy(&b[..sep]).into_owned();
    let remainder = String::from_utf8_lossy(&b[next..]);
    let mut cmd = maybe_json(&remainder)?;
    for arg in &mut cmd.args {
        arg.1 += next;
    }
    let mut args = vec![(typ, 0)];
    args.append(&mut cmd.args);
    Ok(Parsed {
        args,
        json: cmd.json,
    })
}

/// `parseWords`: words split on unquoted white space, quotes and escapes kept, each with its
/// offset.
pub fn words(rest: &str, escape: char) -> Args {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = rest.char_indices().collect();
    let mut out = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut start = 0;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    let mut ch = '\0';
    while i <= chars.len() {
        if i != chars.len() {
            ch = chars[i].1;
        }
        if phase == Phase::Spaces {
            if i == chars.len() {
                break;
            }
            if is_space(ch) {
                i += 1;
                continue;
            }
            phase = Phase::Word;
            start = chars[i].0;
        }
        if i == chars.len() {
            if blank_ok || !word.is_empty() {
                out.push((word, start));
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    out.push((std::mem::take(&mut word), start));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                ch = chars[i].1;
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            ch = chars[i].1;
        }
        word.push(ch);
        i += 1;
    }
    out
}

/// `parseNameVal`: ENV and LABEL.
fn name_val(rest: &str, keyword: &str, escape: char) -> Result<Args, ArgError> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.0.contains('=') {
        // The legacy form: `KEY name value...`, the value being the rest of the line.
        let parts = split_blanks(rest, Some(2));
        let [(key, key_at), (value, value_at)] = parts.as_slice() else {
            return Err(format!(
                "{keyword} must have two arguments; write {keyword} name=value"
            ));
        };
        return Ok(vec![
            (key.to_string(), *key_at),
            (value.to_string(), *value_at),
            (String::new(), *value_at),
        ]);
    }
    let mut out = Vec::new();
    for (word, at) in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.push((key.to_string(), at));
        out.push((value.to_string(), at + key.len() + 1));
        out.push(("=".to_string(), at + key.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: Result<Parsed, ArgError>) -> (Vec<String>, bool) {
        let p = p.unwrap();
        (p.args.into_iter().map(|a| a.0).collect(), p.json)
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn whitespace_and_json_lists() {
        let k = |s| values(parse_args(Kind::MaybeJsonToList, s, '\\'));
        assert_eq!(k("a  b\tc"), (v(&["a", "b", "c"]), false));
        assert_eq!(k(r#"["a b", "c"]"#), (v(&["a b", "c"]), true));
        assert_eq!(k("['a']"), (v(&["['a']"]), false));
        assert_eq!(k(""), (v(&[]), false));
        assert_eq!(k(r#""a b" c"#), (v(&["\"a", "b\"", "c"]), false));
        assert!(parse_args(Kind::MaybeJsonToList, "[1]", '\\').is_err());
        assert_eq!(
            values(parse_args(Kind::Whitespace, "img AS x", '\\')),
            (v(&["img", "AS", "x"]), false)
        );
    }

    #[test]
    fn maybe_json_falls_back_to_the_verbatim_rest() {
        let k = |s| values(parse_args(Kind::MaybeJson, s, '\\'));
        assert_eq!(k(r#"echo "hi" && ls"#), (v(&[r#"echo "hi" && ls"#]), false));
        assert_eq!(k(r#"["sh", "-c"]"#), (v(&["sh", "-c"]), true));
        assert_eq!(k("[]"), (v(&[]), true));
        assert_eq!(k(r#"["a"] && b"#), (v(&[r#"["a"] && b"#]), false));
        assert_eq!(k(""), (v(&[]), false));
        assert!(parse_args(Kind::MaybeJson, r#"["a", ["b"]]"#, '\\').is_err());
    }

    #[test]
    fn healthcheck_type_then_command() {
        let k = |s| values(parse_args(Kind::Health, s, '\\'));
        assert_eq!(k("CMD   a b"), (v(&["CMD", "a b"]), false));
        assert_eq!(k(r#"CMD ["foo"]"#), (v(&["CMD", "foo"]), true));
        assert_eq!(k("NONE"), (v(&["NONE"]), false));
        assert_eq!(k(""), (v(&[]), false));
        assert_eq!(k("CONNECT TCP 7000"), (v(&["CONNECT", "TCP 7000"]), false));
    }

    #[test]
    fn env_and_label_triplets() {
        let k = |s| values(parse_args(Kind::NameVal("ENV"), s, '\\'));
        assert_eq!(
            k("name value more"),
            (v(&["name", "value more", ""]), false)
        );
        assert_eq!(
            k(r#"a="b c" d=e\ f"#),
            (v(&["a", "\"b c\"", "=", "d", "e\\ f", "="]), false)
        );
        assert_eq!(k("a= b=="), (v(&["a", "", "=", "b", "=", "="]), false));
        assert_eq!(k(""), (v(&[]), false));
        assert_eq!(
            parse_args(Kind::NameVal("ENV"), "PATH", '\\').unwrap_err(),
            "ENV must have two arguments; write ENV name=value"
        );
        assert!(parse_args(Kind::NameVal("LABEL"), "a=b c", '\\').is_err());
        // A Unicode blank separates words but not the legacy key from its value.
        assert!(parse_args(Kind::NameVal("ENV"), "a\u{a0}b", '\\').is_err());
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let w = |s, e| words(s, e).into_iter().map(|a| a.0).collect::<Vec<_>>();
        assert_eq!(w(r#"a="1 2" b"#, '\\'), ["a=\"1 2\"", "b"]);
        assert_eq!(w(r"a\ b c", '\\'), ["a\\ b", "c"]);
        assert_eq!(w(r"a` b c", '`'), ["a` b", "c"]);
        assert_eq!(w(r"'a\'b''", '\\'), ["'a\\'b''"]);
        assert_eq!(w(r#""a\"b""#, '\\'), ["\"a\\\"b\""]);
        assert_eq!(w("\"\" x", '\\'), ["\"\"", "x"]);
        assert_eq!(w("\"open", '\\'), ["\"open"]);
        assert_eq!(w("a\\", '\\'), ["a"]);
        assert_eq!(words("  ab  cd", '\\')[1], ("cd".to_string(), 6));
    }

    #[test]
    fn unknown_keywords_keep_one_empty_argument() {
        assert_eq!(kind_of("RUNN"), (Kind::Ignore, None));
        assert_eq!(kind_of("hEaLtHcHeCk"), (Kind::Health, Some("HEALTHCHECK")));
        assert_eq!(
            kind_of("ENTRYPO\u{130}NT"),
            (Kind::MaybeJson, Some("ENTRYPOINT"))
        );
        assert_eq!(
            kind_of("HEALTHCHEC\u{212a}"),
            (Kind::Health, Some("HEALTHCHECK"))
        );
        assert_eq!(
            values(parse_args(Kind::Ignore, "x y", '\\')),
            (v(&[""]), false)
        );
    }
}
