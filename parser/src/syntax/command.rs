//! Splitting a logical line into keyword, `--flags` and the rest (BuildKit's `splitCommand` and
//! `extractBuilderFlags`).
//!
//! The keyword is everything up to the first run of `[\t\v\f\r ]`. Flags are the following
//! words that start with `--`; a flag word honours `'` and `"` quotes (removed) and the escape
//! token (`\`, or `` ` `` after `# escape=`), and a bare `--` ends the flags and is dropped. BuildKit walks the flags byte by byte and turns each byte into a character, so a
//! non-ASCII byte in a flag becomes its Latin-1 character; that is reproduced here, since the
//! goal is BuildKit's AST and not a nicer one.

use super::text::{is_space_byte, split_blanks, trim_space};

/// A logical line split into its parts, each with its byte offset in the line.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The keyword as written (not case-folded).
    pub keyword: (String, usize),
    /// The flags, quotes removed and escapes applied.
    pub flags: Vec<(String, usize)>,
    /// The arguments after the flags, trimmed.
    pub rest: (String, usize),
}

/// BuildKit's `splitCommand`.
pub fn split_command(line: &str, escape: char) -> Split {
    let (trimmed, start) = trim_space(line);
    let parts = split_blanks(trimmed, Some(2));
    let keyword = (parts[0].0.to_string(), start + parts[0].1);
    let Some(&(after, at)) = parts.get(1) else {
        return Split {
            keyword,
            flags: Vec::new(),
            rest: (String::new(), start + trimmed.len()),
        };
    };
    let (rest_at, flags) = extract_builder_flags(after.as_bytes(), escape);
    let flags = flags
        .into_iter()
        .map(|(f, off)| (f, start + at + off))
        .collect();
    let rest_bytes = &after.as_bytes()[rest_at..];
    // The rest starts at a byte BuildKit took for a non-blank; that can be inside a character
    // only when a 0x85 or 0xA0 byte was read as a blank, and then Go keeps the broken bytes.
    let rest = String::from_utf8_lossy(rest_bytes);
    let (rest_trimmed, lead) = trim_space(&rest);
    Split {
        keyword,
        flags,
        rest: (rest_trimmed.to_string(), start + at + rest_at + lead),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// BuildKit's `extractBuilderFlags`: the byte offset where the arguments start and the flags
/// with their offsets.
fn extract_builder_flags(line: &[u8], escape: char) -> (usize, Vec<(String, usize)>) {
    // The escape token is `\\` or `` ` ``, both ASCII.
    let escape = u8::try_from(escape).unwrap_or(b'\\');
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut word_start = 0;
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut ch = 0u8;
    let mut pos = 0;
    while pos <= line.len() {
        if pos != line.len() {
            ch = line[pos];
        }
        if phase == Phase::Spaces {
            if pos == line.len() {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == line.len() || line[pos + 1] != b'-' {
                return (pos, words);
            }
            phase = Phase::Word;
            word_start = pos;
        }
        if pos == line.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push((word, word_start));
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (pos, words);
                }
                if blank_ok || !word.is_empty() {
                    words.push((std::mem::take(&mut word), word_start));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == escape {
                if pos + 1 == line.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = line[pos];
            }
            word.push(char::from(ch));
            pos += 1;
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == escape {
            if pos + 1 == line.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = line[pos];
        }
        word.push(char::from(ch));
        pos += 1;
    }
    (line.len(), words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String) {
        let s = split_command(line, '\\');
        (
            s.keyword.0,
            s.flags.into_iter().map(|f| f.0).collect(),
            s.rest.0,
        )
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keyword_flags_and_rest() {
        assert_eq!(
            split("  copy --from=build --chown=a:b  src dst "),
            (
                "copy".into(),
                owned(&["--from=build", "--chown=a:b"]),
                "src dst".into()
            )
        );
        assert_eq!(split("RUN"), ("RUN".into(), vec![], "".into()));
        assert_eq!(split("RUN\t x"), ("RUN".into(), vec![], "x".into()));
        assert_eq!(
            split("CMD --doit [ ]"),
            ("CMD".into(), owned(&["--doit"]), "[ ]".into())
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(
            split("COPY --a=1 -- --b c"),
            ("COPY".into(), owned(&["--a=1"]), "--b c".into())
        );
        assert_eq!(split("COPY -- x"), ("COPY".into(), vec![], "x".into()));
        assert_eq!(split("COPY --"), ("COPY".into(), vec![], "".into()));
        // A single dash is an argument.
        assert_eq!(split("RUN -x"), ("RUN".into(), vec![], "-x".into()));
    }

    #[test]
    fn flags_honour_quotes_and_backslashes() {
        assert_eq!(
            split(r#"RUN --mount="type=secret,id=a b" --x='y' --e=a\ b\"c echo"#).1,
            owned(&["--mount=type=secret,id=a b", "--x=y", "--e=a b\"c"])
        );
        assert_eq!(split("RUN --a=''").1, owned(&["--a="]));
        assert_eq!(split("RUN --a=\"x").1, owned(&["--a=x"]));
        assert_eq!(split("RUN --a\\").1, owned(&["--a"]));
    }

    #[test]
    fn flags_use_the_escape_token() {
        let s = split_command(r"COPY --chown=a` b --x=C:\dir src", '`');
        assert_eq!(s.flags[0].0, "--chown=a b");
        assert_eq!(s.flags[1].0, r"--x=C:\dir");
    }

    #[test]
    fn flags_are_read_byte_by_byte() {
        // As in BuildKit, each byte of a flag becomes its Latin-1 character.
        assert_eq!(split("RUN --x=é y").1, owned(&["--x=Ã©"]));
        // A flag ending in U+0805 (bytes E0 A0 85): 0xA0 and 0x85 read as blanks.
        let s = split_command("RUN --x=\u{805} y", '\\');
        assert_eq!(s.flags[0].0, "--x=\u{e0}");
        assert_eq!(s.rest.0, "y");
    }

    #[test]
    fn offsets_point_into_the_line() {
        let s = split_command("  RUN --a=1  echo hi", '\\');
        assert_eq!(s.keyword.1, 2);
        assert_eq!(s.flags[0].1, 6);
        assert_eq!(s.rest.1, 13);
    }
}
