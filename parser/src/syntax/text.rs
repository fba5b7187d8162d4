//! Go's notion of white space and the string helpers BuildKit's parser is built from.
//!
//! BuildKit mixes two definitions of a blank: `unicode.IsSpace` (every Unicode white space,
//! which Rust's [`char::is_whitespace`] matches exactly) and the regular expression
//! `[\t\v\f\r ]+` (ASCII only, no newline). Which one applies where changes the AST, so each
//! helper here names the one it uses.

/// Go's `unicode.IsSpace`: the Unicode `White_Space` property, as [`char::is_whitespace`].
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsSpace(rune(b))` applied to one byte, as BuildKit does when it walks a
/// line byte by byte: besides ASCII blanks, the bytes 0x85 and 0xA0 count (they are the
/// Latin-1 code points NEL and NBSP).
pub fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// A member of BuildKit's `[\t\v\f\r ]` class.
pub fn is_token_blank(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Go's `strings.TrimSpace`, with the byte offset of the result in `s`.
pub fn trim_space(s: &str) -> (&str, usize) {
    let start = s.len() - s.trim_start_matches(is_space).len();
    (s[start..].trim_end_matches(is_space), start)
}

/// Go's `bytes.TrimLeftFunc(s, unicode.IsSpace)`.
pub fn trim_leading_space(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// BuildKit's `trimNewline`: every trailing `\r` and `\n`.
pub fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// BuildKit's `isComment`: the first character after leading white space is `#`.
pub fn is_comment(line: &str) -> bool {
    trim_leading_space(line).starts_with('#')
}

/// Go's `regexp.MustCompile("[\t\v\f\r ]+").Split(s, n)` with `n` = 2 (`limit = Some(2)`) or
/// -1 (`None`), returning each piece with its byte offset in `s`.
pub fn split_blanks(s: &str, limit: Option<usize>) -> Vec<(&str, usize)> {
    if s.is_empty() {
        return vec![("", 0)];
    }
    // The separators, as (start, end) byte ranges, at most `limit` of them as Go finds them.
    let mut matches = Vec::new();
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !is_token_blank(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = iter.peek() {
            if !is_token_blank(d) {
                break;
            }
            end = j + d.len_utf8();
            iter.next();
        }
        matches.push((i, end));
        if limit.is_some_and(|n| matches.len() == n) {
            break;
        }
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (m0, m1) in matches {
        if limit.is_some_and(|n| out.len() == n - 1) {
            break;
        }
        end = m0;
        if m1 != 0 {
            out.push((&s[beg..end], beg));
        }
        beg = m1;
    }
    if end != s.len() {
        out.push((&s[beg..], beg));
    }
    out
}

/// The 1-based column of byte offset `byte` in `line`, counting characters. Offsets that fall
/// inside a character (BuildKit splits some lines byte by byte) count the characters started
/// before them.
pub fn column_of(line: &str, byte: usize) -> usize {
    char_starts(&line.as_bytes()[..byte.min(line.len())]) + 1
}

/// How many characters start in `bytes` (bytes that are not UTF-8 continuation bytes).
pub fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xc0) != 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str, limit: Option<usize>) -> Vec<&str> {
        split_blanks(s, limit).into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn split_blanks_matches_go_regexp_split() {
        assert_eq!(pieces("a  b\tc", None), ["a", "b", "c"]);
        assert_eq!(pieces("a b c", Some(2)), ["a", "b c"]);
        assert_eq!(pieces("a", Some(2)), ["a"]);
        assert_eq!(pieces("", None), [""]);
        // A trailing separator leaves an empty last piece, a leading one an empty first piece.
        assert_eq!(pieces("a ", None), ["a", ""]);
        assert_eq!(pieces(" a", None), ["", "a"]);
        // Unicode blanks and newlines are not in the class.
        assert_eq!(pieces("a\u{a0}b\nc", None), ["a\u{a0}b\nc"]);
        assert_eq!(split_blanks("ab  cd", None)[1], ("cd", 4));
    }

    #[test]
    fn trims_follow_go() {
        assert_eq!(trim_space("\u{a0} x \u{3000}"), ("x", 3));
        assert_eq!(trim_newline("x\r\r\n"), "x");
        assert!(is_comment(" \t# x"));
        assert!(!is_comment("x # y"));
        assert!(is_space_byte(0xa0) && !is_space_byte(b'a'));
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(column_of("héllo", 3), 3);
        assert_eq!(column_of("abc", 0), 1);
        assert_eq!(column_of("abc", 99), 4);
        // Inside a two-byte character: counts the character as started.
        assert_eq!(column_of("é", 1), 2);
    }
}
