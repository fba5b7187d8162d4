//! BuildKit's `BFlags`: the leading `--flags` of one instruction, checked against the flags that
//! instruction declares.
//!
//! String flags need `=` (`--from=build`; `--from build` is not a flag with a value), boolean
//! flags may be bare or `=true`/`=false` (any case), string-array flags may repeat; any other
//! flag may appear once. An unknown flag is an error naming it and listing the allowed ones.

use crate::ast::{Pos, Word};
use crate::error::{Error, ErrorKind, Result};

/// How a declared flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=build`, once.
    String,
    /// `--exclude=a --exclude=b`, any number of times.
    Strings,
}

/// The flags an instruction was given, by declared name, with their values' positions.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, Word)>,
}

impl Flags {
    /// The value of a string flag, if given.
    pub(crate) fn string(&self, name: &str) -> Option<Word> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, w)| w.clone())
    }

    /// The value of a boolean flag, if given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, w)| w.value == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<Word> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, w)| w.clone())
            .collect()
    }
}

fn flag_error(pos: Pos, message: String) -> Error {
    Error::new(ErrorKind::Flag, pos, message)
}

/// Parses `flags` of `keyword` against `declared` (name and kind, in BuildKit's order).
pub(crate) fn parse_flags(
    keyword: &str,
    flags: &[Word],
    declared: &[(&'static str, FlagKind)],
) -> Result<Flags> {
    let mut out = Flags::default();
    for flag in flags {
        let Some(body) = flag.value.strip_prefix("--") else {
            return Err(flag_error(
                flag.pos,
                format!("arg should start with -- : {}", flag.value),
            ));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(decl, kind)) = declared.iter().find(|(n, _)| *n == name) else {
            let allowed = if declared.is_empty() {
                format!("{keyword} takes no flags")
            } else {
                let names: Vec<String> = declared.iter().map(|(n, _)| format!("--{n}")).collect();
                format!("allowed: {}", names.join(", "))
            };
            return Err(flag_error(
                flag.pos,
                format!("unknown flag: --{name} ({allowed})"),
            ));
        };
        if kind != FlagKind::Strings && out.values.iter().any(|(n, _)| *n == decl) {
            return Err(flag_error(
                flag.pos,
                format!("duplicate flag specified: --{name} (give it once)"),
            ));
        }
        let value_pos = Pos::new(flag.pos.line, flag.pos.column + 3 + name.chars().count());
        let value = match kind {
            FlagKind::Bool => match value {
                Some("") => {
                    return Err(flag_error(
                        flag.pos,
                        format!(
                            "missing a value on flag: --{name} (write --{name} or --{name}=true|false)"
                        ),
                    ));
                }
                None => "true".to_string(),
                Some(v) if v.eq_ignore_ascii_case("true") => "true".to_string(),
                Some(v) if v.eq_ignore_ascii_case("false") => "false".to_string(),
                Some(v) => {
                    return Err(flag_error(
                        value_pos,
                        format!("expecting boolean value for flag --{name}, not: {v}"),
                    ));
                }
            },
            FlagKind::String | FlagKind::Strings => match value {
                Some(v) => v.to_string(),
                None => {
                    return Err(flag_error(
                        flag.pos,
                        format!("missing a value on flag: --{name} (write --{name}=VALUE)"),
                    ));
                }
            },
        };
        out.values.push((decl, Word::new(value, value_pos)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &[(&str, FlagKind)] = &[
        ("from", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn words(flags: &[&str]) -> Vec<Word> {
        flags
            .iter()
            .enumerate()
            .map(|(i, f)| Word::new(*f, Pos::new(1, 6 + 10 * i)))
            .collect()
    }

    fn err(flags: &[&str]) -> String {
        parse_flags("COPY", &words(flags), COPY)
            .unwrap_err()
            .message
    }

    #[test]
    fn string_bool_and_repeated_flags() {
        let f = parse_flags(
            "COPY",
            &words(&["--from=build", "--link", "--exclude=a", "--exclude=b"]),
            COPY,
        )
        .unwrap();
        let from = f.string("from").unwrap();
        assert_eq!(from.value, "build");
        assert_eq!(from.pos, Pos::new(1, 13));
        assert_eq!(f.bool("link"), Some(true));
        let ex: Vec<_> = f.strings("exclude").into_iter().map(|w| w.value).collect();
        assert_eq!(ex, ["a", "b"]);
    }

    #[test]
    fn bool_values_any_case() {
        let f = parse_flags("COPY", &words(&["--link=FALSE"]), COPY).unwrap();
        assert_eq!(f.bool("link"), Some(false));
        assert_eq!(
            err(&["--link=yes"]),
            "expecting boolean value for flag --link, not: yes"
        );
        assert!(err(&["--link="]).starts_with("missing a value on flag: --link"));
    }

    #[test]
    fn string_flag_needs_equals() {
        assert!(err(&["--from"]).starts_with("missing a value on flag: --from"));
        let f = parse_flags("COPY", &words(&["--from="]), COPY).unwrap();
        assert_eq!(f.string("from").unwrap().value, "");
    }

    #[test]
    fn unknown_flag_lists_allowed() {
        assert_eq!(
            err(&["--frm=x"]),
            "unknown flag: --frm (allowed: --from, --link, --exclude)"
        );
        let e = parse_flags("USER", &words(&["--x"]), &[]).unwrap_err();
        assert_eq!(e.message, "unknown flag: --x (USER takes no flags)");
        assert_eq!(e.kind, ErrorKind::Flag);
    }

    #[test]
    fn duplicates_only_for_repeatable_flags() {
        assert!(err(&["--from=a", "--from=b"]).starts_with("duplicate flag specified: --from"));
        assert!(err(&["--link", "--link"]).starts_with("duplicate flag specified: --link"));
    }

    #[test]
    fn flags_must_start_with_dashes_and_double_dash_ends() {
        assert_eq!(err(&["-x"]), "arg should start with -- : -x");
        let f = parse_flags("COPY", &words(&["--", "--bogus"]), COPY).unwrap();
        assert!(f.string("from").is_none());
    }
}
