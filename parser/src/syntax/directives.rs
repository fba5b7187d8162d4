//! Parser directives: the leading `# name=value` lines (`syntax`, `escape`, `check`).
//!
//! BuildKit reads them with the regular expression `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
//! (where `\s` is `[\t\n\f\r ]`) on each line after its leading white space is removed. The first
//! line that does not match, or that names an unknown directive, ends the directives for good: a
//! blank line, any other comment, an instruction. A known directive given twice is an error, and
//! so is an escape token other than `\` or `` ` ``. Names are case-insensitive; values are kept
//! as written, trimmed.

use nom::{
    IResult, Parser,
    bytes::complete::take_while,
    character::complete::{char, satisfy},
    combinator::recognize,
};

/// Go's `\s` in a regular expression: `[\t\n\f\r ]` (no vertical tab).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `#\s*NAME\s*=\s*`, returning the name and what follows the blanks after `=`.
fn directive_head(line: &str) -> IResult<&str, &str> {
    let (rest, (_, _, name, _, _)) = (
        char('#'),
        take_while(is_re_space),
        recognize((
            satisfy(|c| c.is_ascii_alphabetic()),
            take_while(|c: char| c.is_ascii_alphanumeric()),
        )),
        take_while(is_re_space),
        char('='),
    )
        .parse(line)?;
    Ok((rest, name))
}

/// Matches one line against the directive expression: `Some((name, value))`.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let (after_eq, name) = directive_head(line).ok()?;
    // `\s*(.+?)\s*$`: the blanks after `=` are skipped greedily, but the value needs at least
    // one character, so a value of blanks only is the last blank (the expression backtracks).
    let trimmed = after_eq.trim_start_matches(is_re_space);
    let value = if trimmed.is_empty() {
        let last = after_eq.chars().next_back()?;
        &after_eq[after_eq.len() - last.len_utf8()..]
    } else {
        trimmed.trim_end_matches(is_re_space)
    };
    // `.` does not match a newline.
    (!value.contains('\n')).then_some((name, value))
}

/// The directive names BuildKit honours.
const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Why a directive line was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum DirectiveError {
    /// A known directive appeared a second time.
    Repeated(String),
    /// `# escape=` with something other than `\` or `` ` ``.
    InvalidEscape(String),
}

impl std::fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectiveError::Repeated(name) => {
                write!(
                    f,
                    "only one {name} parser directive can be used; remove the repeated line"
                )
            }
            DirectiveError::InvalidEscape(value) => write!(
                f,
                "invalid escape token '{value}' does not match ` or \\, the only escape tokens a Dockerfile can use"
            ),
        }
    }
}

/// The state of directive scanning across the lines of a file (BuildKit's `DirectiveParser`).
#[derive(Debug, Default)]
pub struct DirectiveScanner {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// Looks at one line (newline and leading white space already removed). Returns the
    /// honoured directive's lower-cased name and value, `None` when the line is not one (which
    /// ends the directives), or the error BuildKit raises.
    pub fn scan(&mut self, line: &str) -> Result<Option<(String, String)>, DirectiveError> {
        if self.done {
            return Ok(None);
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(DirectiveError::Repeated(name));
        }
        self.seen.push(name.clone());
        if name == "escape" && value != "\\" && value != "`" {
            return Err(DirectiveError::InvalidEscape(value.to_string()));
        }
        Ok(Some((name, value.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_directive_expression() {
        assert_eq!(match_directive("# escape=`"), Some(("escape", "`")));
        assert_eq!(match_directive("#escape = `  "), Some(("escape", "`")));
        assert_eq!(
            match_directive("#  syntax\t=\tdocker/dockerfile:1 "),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(
            match_directive("# check=skip=all;error=true"),
            Some(("check", "skip=all;error=true"))
        );
        assert_eq!(match_directive("# Key2=a b  c"), Some(("Key2", "a b  c")));
        // A value of blanks only is the last blank.
        assert_eq!(match_directive("# escape=  "), Some(("escape", " ")));
        assert_eq!(match_directive("# escape="), None);
        assert_eq!(match_directive("# 1x=a"), None);
        assert_eq!(match_directive("#! /bin/sh"), None);
        assert_eq!(match_directive("// syntax=x"), None);
        assert_eq!(match_directive("FROM x"), None);
        // Vertical tab is not `\s` in Go's regular expressions, so it stays in the value.
        assert_eq!(match_directive("# syntax=a\x0b"), Some(("syntax", "a\x0b")));
    }

    #[test]
    fn first_non_directive_ends_them() {
        let mut s = DirectiveScanner::default();
        assert_eq!(
            s.scan("# SYNTAX=x").unwrap(),
            Some(("syntax".into(), "x".into()))
        );
        assert_eq!(s.scan("# unknown=1").unwrap(), None);
        assert_eq!(s.scan("# escape=`").unwrap(), None);
        let mut s = DirectiveScanner::default();
        assert_eq!(s.scan("").unwrap(), None);
        assert_eq!(s.scan("# escape=`").unwrap(), None);
    }

    #[test]
    fn repeated_and_invalid_are_errors() {
        let mut s = DirectiveScanner::default();
        s.scan("# escape=\\").unwrap();
        assert_eq!(
            s.scan("# ESCAPE=`"),
            Err(DirectiveError::Repeated("escape".into()))
        );
        let mut s = DirectiveScanner::default();
        assert_eq!(
            s.scan("# escape=x"),
            Err(DirectiveError::InvalidEscape("x".into()))
        );
        let mut s = DirectiveScanner::default();
        assert!(s.scan("# escape=\\\\").is_err());
        let mut s = DirectiveScanner::default();
        s.scan("# check=a").unwrap();
        assert!(s.scan("# check=b").is_err());
    }
}
