//! Shell-word expansion, BuildKit's `frontend/dockerfile/shell` lexer: `$VAR`, `${VAR}` and its
//! modifiers, single and double quotes, the escape token, and word splitting.
//!
//! Pure code: the environment is handed in through [`Env`]. Errors carry the message BuildKit
//! prints, so conformance tables compare them verbatim.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Variables visible to an expansion.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Later entries win, as in a `KEY=VALUE` list where a name is set twice.
impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

/// An expansion failure: BuildKit's message and the character offset in the word it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ShellError {
    /// BuildKit's message, e.g. `VAR: is not allowed to be unset`.
    pub message: String,
    /// Character offset in the word where the problem was found (best effort).
    pub offset: usize,
}

/// The lexer's configuration: escape token and BuildKit's optional modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_unset: bool,
}

/// Which variables an expansion looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// Names that were looked up and set.
    pub used: BTreeSet<String>,
    /// Names that were looked up and unset.
    pub unset: BTreeSet<String>,
}

impl Lexer {
    /// A lexer with the escape token `escape` (`\` or `` ` ``).
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// Keep quote characters in the output (BuildKit `RawQuotes`).
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape tokens in the output (BuildKit `RawEscapes`).
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Leave references to unset variables as written (BuildKit `SkipUnsetEnv`).
    pub fn skip_unset(mut self, on: bool) -> Self {
        self.skip_unset = on;
        self
    }

    /// Expands `word` into one string (BuildKit `ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        self.run(word, env).map(|(s, _, _)| s)
    }

    /// Expands `word` and splits the result into words (BuildKit `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.run(word, env).map(|(_, w, _)| w)
    }

    /// Expands `word` and reports the variables it looked up (BuildKit `ProcessWordWithMatches`).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(String, Matches), ShellError> {
        self.run(word, env).map(|(s, _, m)| (s, m))
    }

    /// Expands a COPY/ADD heredoc body as dockerfile2llb does: variables are substituted, quotes
    /// and escapes are kept as written.
    pub fn expand_heredoc(&self, body: &str, env: &dyn Env) -> Result<String, ShellError> {
        let lexer = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            ..self.clone()
        };
        lexer.process_word(body, env)
    }

    fn run(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>, Matches), ShellError> {
        let mut sw = ShellWord {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape: self.escape,
            raw_quotes: self.raw_quotes,
            raw_escapes: self.raw_escapes,
            skip_unset: self.skip_unset,
            matches: Matches::default(),
        };
        let (s, words) = sw.process_stop_on(None, self.raw_escapes)?;
        Ok((s, words, sw.matches))
    }
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.words.push(self.word);
        }
        self.words
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_unset: bool,
    matches: Matches,
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
    fn err(&self, message: impl Into<String>) -> ShellError {
        ShellError {
            message: message.into(),
            offset: self.pos,
        }
    }
    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matches.used.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.matches.unset.insert(name.to_string());
                None
            }
        }
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ShellError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ShellError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' | '"' | '$' => {
                    let tmp = match ch {
                        '\'' => self.single_quote()?,
                        '"' => self.double_quote()?,
                        _ => self.dollar()?,
                    };
                    result.push_str(&tmp);
                    if ch == '$' {
                        words.add_string(&tmp);
                    } else {
                        words.add_raw_string(&tmp);
                    }
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_string("");
                            result.push(ch);
                        }
                        let Some(c) = self.next() else { break };
                        words.add_raw_char(c);
                        result.push(c);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(s) = stop {
            return Err(self.err(format!(
                "unexpected end of statement while looking for matching {s}"
            )));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, ShellError> {
        self.next();
        let mut out = String::new();
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(self.err(
                        "unexpected end of statement while looking for matching single-quote",
                    ));
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ShellError> {
        self.next();
        let mut out = String::new();
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            let Some(ch) = self.peek() else {
                return Err(
                    self.err("unexpected end of statement while looking for matching double-quote")
                );
            };
            if ch == '"' {
                self.next();
                if self.raw_quotes {
                    out.push('"');
                }
                return Ok(out);
            }
            if ch == '$' {
                let v = self.dollar()?;
                out.push_str(&v);
                continue;
            }
            self.next();
            let mut c = ch;
            if ch == self.escape {
                if self.raw_escapes {
                    out.push(ch);
                }
                match self.peek() {
                    None => continue,
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        c = n;
                        self.next();
                    }
                    Some(_) => {}
                }
            }
            out.push(c);
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ShellError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(self.err("syntax error: missing '}'")),
            Some('{' | '}' | ':') => return Err(self.err("syntax error: bad substitution")),
            _ => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err(self.err("syntax error: missing '}'"));
        };
        let mut chs = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => {
                let v = self.get_env(&name);
                Ok(match v {
                    Some(v) => v,
                    None if self.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if ch == ':' {
                    null_is_unset = true;
                    match self.next() {
                        Some(c) => {
                            ch = c;
                            chs.push(c);
                        }
                        None => return Err(self.err("syntax error: missing '}'")),
                    }
                }
                let raw = ch == '#' || ch == '%';
                if null_is_unset && raw {
                    return Err(self.err(format!("unsupported modifier ({chs}) in substitution")));
                }
                if !matches!(ch, '+' | '-' | '?' | '#' | '%') {
                    return Err(self.err(format!("unsupported modifier ({chs}) in substitution")));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(self.err("syntax error: missing '}'"));
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                let Some(v) = value else {
                    if self.skip_unset {
                        return Ok(format!("${{{name}{chs}{word}}}"));
                    }
                    return match ch {
                        '-' => Ok(word),
                        '+' => Ok(String::new()),
                        '?' => Err(self.err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        ))),
                        _ => Ok(String::new()),
                    };
                };
                match ch {
                    '-' => Ok(if null_is_unset && v.is_empty() {
                        word
                    } else {
                        v
                    }),
                    '+' => Ok(if null_is_unset && v.is_empty() {
                        String::new()
                    } else {
                        word
                    }),
                    '?' => {
                        if null_is_unset && v.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            };
                            Err(self.err(format!("{name}: {m}")))
                        } else {
                            Ok(v)
                        }
                    }
                    _ => {
                        let (greedy, pat) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let pat = Pattern::parse(&pat);
                        Ok(if ch == '%' {
                            pat.trim_suffix(&v, greedy)
                        } else {
                            pat.trim_prefix(&v, greedy)
                        })
                    }
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(self.err("syntax error: missing '/' in ${}"));
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(self.err("syntax error: missing '}'"));
                        }
                        return Err(e);
                    }
                };
                let Some(v) = self.get_env(&name) else {
                    if self.skip_unset {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return Ok(String::new());
                };
                Ok(Pattern::parse(&pattern).replace(&v, &replacement, all))
            }
            _ => Err(self.err(format!("unsupported modifier ({chs}) in substitution"))),
        }
    }
}

/// One element of a shell pattern.
#[derive(Debug, Clone)]
enum Pat {
    Lit(char),
    Any,
    Star,
    Class {
        negate: bool,
        items: Vec<(char, char)>,
    },
}

/// A shell pattern (`*`, `?`, `[...]`, `\x`) as used by `${VAR#p}` and `${VAR/p/r}`.
#[derive(Debug, Clone)]
struct Pattern(Vec<Pat>);

impl Pattern {
    fn parse(s: &str) -> Self {
        let cs: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            match cs[i] {
                '*' => out.push(Pat::Star),
                '?' => out.push(Pat::Any),
                '\\' if i + 1 < cs.len() => {
                    i += 1;
                    out.push(Pat::Lit(cs[i]));
                }
                '[' => {
                    let mut j = i + 1;
                    let negate = matches!(cs.get(j), Some('!' | '^'));
                    if negate {
                        j += 1;
                    }
                    let mut items = Vec::new();
                    let start = j;
                    let mut closed = false;
                    while j < cs.len() {
                        if cs[j] == ']' && j > start {
                            closed = true;
                            break;
                        }
                        let mut lo = cs[j];
                        if lo == '\\' && j + 1 < cs.len() {
                            j += 1;
                            lo = cs[j];
                        }
                        if cs.get(j + 1) == Some(&'-') && j + 2 < cs.len() && cs[j + 2] != ']' {
                            items.push((lo, cs[j + 2]));
                            j += 3;
                        } else {
                            items.push((lo, lo));
                            j += 1;
                        }
                    }
                    if closed {
                        out.push(Pat::Class { negate, items });
                        i = j;
                    } else {
                        out.push(Pat::Lit('['));
                    }
                }
                c => out.push(Pat::Lit(c)),
            }
            i += 1;
        }
        Pattern(out)
    }

    fn matches(&self, s: &[char]) -> bool {
        let p = &self.0;
        let (mut pi, mut si) = (0, 0);
        let mut back: Option<(usize, usize)> = None;
        while si < s.len() {
            let ok = match p.get(pi) {
                Some(Pat::Star) => {
                    back = Some((pi, si));
                    pi += 1;
                    continue;
                }
                Some(Pat::Any) => true,
                Some(Pat::Lit(c)) => *c == s[si],
                Some(Pat::Class { negate, items }) => {
                    items.iter().any(|&(lo, hi)| lo <= s[si] && s[si] <= hi) != *negate
                }
                None => false,
            };
            if ok {
                pi += 1;
                si += 1;
            } else if let Some((bp, bs)) = back {
                pi = bp + 1;
                si = bs + 1;
                back = Some((bp, bs + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|x| matches!(x, Pat::Star))
    }

    fn trim_prefix(&self, v: &str, greedy: bool) -> String {
        let cs: Vec<char> = v.chars().collect();
        let mut lens: Vec<usize> = (0..=cs.len()).collect();
        if greedy {
            lens.reverse();
        }
        for n in lens {
            if self.matches(&cs[..n]) {
                return cs[n..].iter().collect();
            }
        }
        v.to_string()
    }

    fn trim_suffix(&self, v: &str, greedy: bool) -> String {
        let cs: Vec<char> = v.chars().collect();
        let mut starts: Vec<usize> = (0..=cs.len()).rev().collect();
        if greedy {
            starts.reverse();
        }
        for st in starts {
            if self.matches(&cs[st..]) {
                return cs[..st].iter().collect();
            }
        }
        v.to_string()
    }

    /// Leftmost match, longest at that position.
    fn find(&self, cs: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=cs.len()).find_map(|st| {
            (st..=cs.len())
                .rev()
                .find(|&en| self.matches(&cs[st..en]))
                .map(|en| (st, en))
        })
    }

    fn replace(&self, v: &str, rep: &str, all: bool) -> String {
        let cs: Vec<char> = v.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        while let Some((st, en)) = self.find(&cs, pos) {
            out.extend(&cs[pos..st]);
            out.push_str(rep);
            if en == st {
                if st < cs.len() {
                    out.push(cs[st]);
                }
                pos = st + 1;
            } else {
                pos = en;
            }
            if !all || pos > cs.len() {
                break;
            }
        }
        if pos <= cs.len() {
            out.extend(&cs[pos..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("EMPTY", ""),
            ("ARCH", "amd64"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn w(s: &str) -> Result<String, String> {
        Lexer::new('\\')
            .process_word(s, &env())
            .map_err(|e| e.message)
    }

    #[test]
    fn expands_forms_and_modifiers() {
        assert_eq!(w("$PWD/x").unwrap(), "/home/x");
        assert_eq!(w("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(w("${EMPTY-def}").unwrap(), "");
        assert_eq!(w("${NOPE:+x}").unwrap(), "");
        assert_eq!(w("${SHELL:+x}").unwrap(), "x");
        assert_eq!(w("'$PWD' \"$PWD\"").unwrap(), "$PWD /home");
        assert_eq!(
            w("${NOPE?}").unwrap_err(),
            "NOPE: is not allowed to be unset"
        );
        assert_eq!(w("${EMPTY:?oops}").unwrap_err(), "EMPTY: oops");
        assert_eq!(w("${PWD#/h*}").unwrap(), "ome");
        assert_eq!(w("${PWD##/h*}").unwrap(), "");
        assert_eq!(w("${ARCH%6*}").unwrap(), "amd");
        assert_eq!(w("${ARCH/d/D}").unwrap(), "amD64");
        assert_eq!(w("${SHELL//[ab]/X}").unwrap(), "XXsh");
    }

    #[test]
    fn splits_words() {
        let l = Lexer::new('\\');
        let mut e = env();
        e.push(("V".into(), "a b".into()));
        assert_eq!(
            l.process_words("x $V \"$V\"", &e).unwrap(),
            ["x", "a", "b", "a b"]
        );
    }

    #[test]
    fn never_panics_on_truncated_input() {
        for s in [
            "${", "${A", "${A:", "${A/", "${A/x", "\"", "'", "\\", "${A:-", "$",
        ] {
            let _ = w(s);
        }
    }

    /// BuildKit lex_test.go `TestProcessWithMatches`: pattern removal and substitution.
    #[test]
    fn buildkit_pattern_table() {
        /// Word, variables, expected result (`None`: an error).
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            (
                r"${FOO#()[]{\}^$.\*\?|\\}",
                &[("FOO", r"()[]{}^$.*?|\x")],
                Some("x"),
            ),
            (r"${FOO%%\**}", &[("FOO", "xx**")], Some("xx")),
            ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
            ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
            ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
            (r"${FOO#?\?}", &[("FOO", "???y")], Some("?y")),
            (
                "${ABC:-.}${FOO%x}${ABC:-.}",
                &[("FOO", "xxyy")],
                Some(".xxyy."),
            ),
            (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], Some("a")),
            (
                "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
                &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
                Some("/foo.*/*.txt - /foo..*.txt"),
            ),
            (
                "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
                &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
                Some("/tmp/bar.txt - /bar.txt"),
            ),
            (
                "${FOO/$N/$R} - ${FOO//$N/$R}",
                &[("FOO", "/a/foo/b/c.txt"), ("N", "/?/"), ("R", "/")],
                Some("/foo/b/c.txt - /foo/c.txt"),
            ),
            (
                r"${FOO//\//\/}",
                &[("FOO", "/tmp/foo.txt")],
                Some(r"\/tmp\/foo.txt"),
            ),
            (
                "${FOO/$BAR/ww}",
                &[("FOO", "xxyy"), ("BAR", "")],
                Some("wwxxyy"),
            ),
            ("${FOO//ww}", &[("FOO", "xxyy")], None),
            ("${FOO//}", &[("FOO", "xxyy")], None),
            ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO=aaa}", &[("FOO", "xxx")], None),
            ("${BAR?bbb}", &[("BAR", "")], Some("")),
            ("${BAR:?bbb}", &[("BAR", "")], None),
        ];
        for (word, vars, want) in cases {
            let e: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let got = Lexer::new('\\').process_word(word, &e).ok();
            assert_eq!(got.as_deref(), *want, "{word}");
        }
    }
}
