//! Go's `filepath.Match`, which COPY wildcards use (BuildKit resolves them with it), and the
//! "did you mean" suggestion for a missing source.

/// Whether a path holds a wildcard character (`*`, `?`, `[`) that is not escaped.
pub(crate) fn has_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A pattern [`path_match`] cannot read: an unclosed or empty class, a bad range, a trailing
/// `\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `path.Match(pattern, name)` (and `filepath.Match` on Linux), which COPY wildcards and
/// docker's `reference=` filter use: `*` is any run of characters but `/`, `?` one character
/// but `/`, `[...]` a class (`[^...]` negated, `a-z` ranges), `\` escapes. A malformed pattern
/// is an error even where the name already failed to match, as in Go.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    if !well_formed(&p) {
        return Err(BadPattern);
    }
    let n: Vec<char> = name.chars().collect();
    Ok(match_from(&p, &n).unwrap_or(false))
}

/// [`path_match`] for COPY: a malformed pattern matches nothing, as BuildKit ignores Go's
/// error there.
pub(crate) fn go_match(pattern: &str, name: &str) -> bool {
    path_match(pattern, name).unwrap_or(false)
}

fn well_formed(p: &[char]) -> bool {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 == p.len() => return false,
            '\\' => i += 2,
            '[' => match match_class(p, i + 1, None) {
                Some((_, next)) => i = next,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let mut pi = 0;
    let mut ni = 0;
    while pi < p.len() {
        match p[pi] {
            '*' => {
                // Collapse runs of stars, then try every split that stays within a component.
                while pi < p.len() && p[pi] == '*' {
                    pi += 1;
                }
                let rest = &p[pi..];
                let mut k = ni;
                loop {
                    if match_from(rest, &n[k..])? {
                        return Some(true);
                    }
                    if k >= n.len() || n[k] == '/' {
                        return Some(false);
                    }
                    k += 1;
                }
            }
            '?' => {
                if ni >= n.len() || n[ni] == '/' {
                    return Some(false);
                }
                pi += 1;
                ni += 1;
            }
            '[' => {
                let (matched, next) = match_class(p, pi + 1, n.get(ni).copied())?;
                if !matched {
                    return Some(false);
                }
                pi = next;
                ni += 1;
            }
            '\\' => {
                let c = *p.get(pi + 1)?;
                if n.get(ni) != Some(&c) {
                    return Some(false);
                }
                pi += 2;
                ni += 1;
            }
            c => {
                if n.get(ni) != Some(&c) {
                    return Some(false);
                }
                pi += 1;
                ni += 1;
            }
        }
    }
    Some(ni == n.len())
}

/// Matches `c` against the class starting after `[` at `i`; returns (matched, index after `]`),
/// `None` for a malformed class.
fn match_class(p: &[char], mut i: usize, c: Option<char>) -> Option<(bool, usize)> {
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = class_char(p, &mut i)?;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(p, &mut i)?;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
    }
    match c {
        None | Some('/') => Some((false, i)),
        Some(_) => Some((matched != negated, i)),
    }
}

fn class_char(p: &[char], i: &mut usize) -> Option<char> {
    let mut ch = *p.get(*i)?;
    if ch == '-' || ch == ']' {
        return None;
    }
    if ch == '\\' {
        *i += 1;
        ch = *p.get(*i)?;
    }
    *i += 1;
    Some(ch)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment),
/// for suggestions: `scr` is one edit from `src`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The name among `candidates` closest to `wanted`, when it is close enough to be a likely
/// typo (at most a third of the name's length, at least one edit allowed; a difference of
/// case alone always counts).
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty() && *c != wanted)
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(wanted) {
                0
            } else {
                distance(wanted, c)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match_table() {
        // Rows from Go's path/filepath match_test.go.
        let rows: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("*x", "xxx", true),
            ("a?b", "a/b", false),
            ("a[/]b", "a/b", false),
            ("[", "a", false),
            ("[^", "a", false),
            ("a[", "a", false),
            ("*.txt", ".hidden.txt", true),
        ];
        for (p, n, want) in rows {
            assert_eq!(go_match(p, n), *want, "match({p:?}, {n:?})");
        }
    }

    #[test]
    fn malformed_patterns_are_errors_even_after_a_mismatch() {
        for p in ["[", "[^", "a[", "x[", "a\\", "[]a]", "[a-]", "[-a]", "zz[a"] {
            assert_eq!(path_match(p, "a"), Err(BadPattern), "{p:?}");
        }
        // `!` negates nothing in Go: it is one more member of the class.
        assert_eq!(path_match("[!a]x", "bx"), Ok(false));
        assert_eq!(path_match("[!a]x", "!x"), Ok(true));
        assert_eq!(path_match("[^a]x", "bx"), Ok(true));
    }

    #[test]
    fn wildcards_are_found_unless_escaped() {
        assert!(has_wildcards("src/*.rs"));
        assert!(has_wildcards("a?"));
        assert!(has_wildcards("[ab]"));
        assert!(!has_wildcards("src/main.rs"));
        assert!(!has_wildcards("a\\*b"));
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let names = ["main.rs", "lib.rs", "README.md", "Cargo.toml"];
        assert_eq!(closest("mian.rs", names), Some("main.rs"));
        assert_eq!(closest("readme.md", names), Some("README.md"));
        assert_eq!(closest("completely-else", names), None);
        assert_eq!(closest("lib.rs", names), None);
    }
}
