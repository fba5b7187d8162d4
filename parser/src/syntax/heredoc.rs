//! Finding the heredocs a RUN, COPY or ADD line opens (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`).
//!
//! BuildKit splits the whole logical line into shell words with its lexer (quotes and escapes
//! kept, no variable set, unset variables left as written), and every word that matches
//! `^(\d*)<<(-?)\s*([^<]*)$` and whose delimiter is exactly one shell word opens a heredoc (the
//! lexer keeps the blanks after an unquoted `<<` in its word, so `<< EOF` is one word). The
//! delimiter is that word with quotes removed; the body is expanded later unless some part of the
//! delimiter was quoted. If the line cannot be lexed (an unclosed quote, a bad `${`), it opens no
//! heredoc at all; if a delimiter cannot be lexed, the file is rejected.
//!
//! The lexer below is the part of BuildKit's shell lexer these two calls reach: an empty
//! environment with unset variables kept, so every `$` form is copied through as written.

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while},
    character::complete::{char, digit0},
    combinator::{eof, opt},
};

use super::text::is_space;

/// A heredoc opened by a line, before its body is read.
#[derive(Debug, PartialEq, Eq)]
pub struct Opener {
    /// The delimiter, quotes removed.
    pub name: String,
    /// False when part of the delimiter was quoted.
    pub expand: bool,
    /// True for `<<-`.
    pub chomp: bool,
    /// The number before `<<`, 0 when absent (saturating, as Go's `ParseUint` does).
    pub fd: u64,
}

/// Shell words the way BuildKit's lexer splits them (`ProcessWords` with an empty environment
/// and `SkipUnsetEnv`). The escape character is always `\` here, as in BuildKit.
fn shell_words(src: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    shell_words_at(src, raw_quotes, raw_escapes).map(|w| w.into_iter().map(|(w, _)| w).collect())
}

/// [`shell_words`] with the character index where each word starts in `src`.
fn shell_words_at(
    src: &str,
    raw_quotes: bool,
    raw_escapes: bool,
) -> Result<Vec<(String, usize)>, String> {
    let mut lexer = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        raw_quotes,
        raw_escapes,
        depth: 0,
    };
    // Go's text/scanner skips a byte order mark at the very start.
    if lexer.chars.first() == Some(&'\u{feff}') {
        lexer.pos = 1;
    }
    lexer
        .process_stop_on(None, raw_escapes)
        .map(|(_, words)| words)
        .map_err(|e| format!("failed to process {src:?}: {e}"))
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    /// How many `${` are open: each is a level of recursion, so it is bounded.
    depth: usize,
}

/// The deepest `${...${...}}` nesting the lexer follows; Go's growable stacks have no such
/// limit, but no real Dockerfile comes near it and a fixed stack must not overflow.
const MAX_NESTING: usize = 200;

/// Word accumulation (BuildKit's `wordsStruct`), with where each word starts.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<(String, usize)>,
    in_word: bool,
    /// Character index of the current word's start.
    start: usize,
    /// Character index of the piece being added.
    at: usize,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if is_space(c) && self.in_word {
            if !self.word.is_empty() {
                self.words
                    .push((std::mem::take(&mut self.word), self.start));
                self.in_word = false;
            }
        } else if !is_space(c) {
            self.add_raw_char(c);
        }
    }

    fn begin(&mut self) {
        if !self.in_word {
            self.start = self.at;
            self.in_word = true;
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.begin();
        self.word.push(c);
    }

    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.begin();
        self.word.push_str(s);
    }

    fn finish(mut self) -> Vec<(String, usize)> {
        if !self.word.is_empty() {
            self.words.push((self.word, self.start));
        }
        self.words
    }
}

const ESCAPE: char = '\\';

impl Lexer {
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

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<(String, usize)>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<(String, usize)>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            words.at = self.pos;
            if stop == Some(c) {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let s = self.process_dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                '<' => {
                    let s = self.possible_heredoc();
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '\'' | '"' => {
                    let s = if c == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                _ => {
                    self.next();
                    let mut c = c;
                    if c == ESCAPE {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        match self.next() {
                            None => break,
                            Some(n) => c = n,
                        }
                        words.add_raw_char(c);
                    } else {
                        words.add_char(c);
                    }
                    result.push(c);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    /// `<`, or `<<` with the spaces, tabs and carriage returns after it, as one raw piece.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut s = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, ' ' | '\t' | '\r')) {
            s.push(c);
            self.next();
        }
        s
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let s = self.process_dollar()?;
                    result.push_str(&s);
                }
                Some(c) => {
                    self.next();
                    let mut c = c;
                    if c == ESCAPE {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => c = self.next().unwrap_or(c),
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "variables nested more than {MAX_NESTING} levels deep"
            ));
        }
        self.depth += 1;
        let out = self.dollar();
        self.depth -= 1;
        out
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            return Ok(format!("${name}"));
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        // Go reads end of input as the rune -1, which prints as U+FFFD.
        let c = self.next().unwrap_or('\u{fffd}');
        let mut modifier = c.to_string();
        match c {
            '}' => Ok(format!("${{{name}}}")),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let mut c = c;
                if c == ':' {
                    c = self.next().unwrap_or('\u{fffd}');
                    modifier.push(c);
                }
                let raw = c == '#' || c == '%';
                if raw && modifier.starts_with(':') {
                    return Err(format!("unsupported modifier ({modifier}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((word, _)) => word,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                Ok(format!("${{{name}{modifier}{word}}}"))
            }
            '/' => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '/' in ${}".into());
                    }
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }

    /// A variable name: digits only, one special parameter, or letters, digits and `_`.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !c.is_alphabetic() && !c.is_numeric() && c != '_' {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }
}

/// `^(\d*)<<(-?)\s*([^<]*)$`: the descriptor digits, the chomp dash and the delimiter text.
fn opener_word(word: &str) -> IResult<&str, (&str, bool, &str)> {
    let (rest, (fd, _, dash, _, name, _)) = (
        digit0,
        tag("<<"),
        opt(char('-')),
        take_while(|c| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')),
        take_while(|c| c != '<'),
        eof,
    )
        .parse(word)?;
    Ok((rest, (fd, dash.is_some(), name)))
}

/// BuildKit's `ParseHeredoc`: the heredoc a single word opens, if any.
pub fn parse_opener(word: &str) -> Result<Option<Opener>, String> {
    let Ok((_, (fd, chomp, rest))) = opener_word(word) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let fd = if fd.is_empty() {
        0
    } else {
        fd.parse::<u64>().unwrap_or(u64::MAX)
    };
    let words = shell_words(rest, false, false)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = shell_words(rest, true, false)?;
    let [raw] = raw.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    };
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Opener {
        name: name.clone(),
        expand: quotes(name) == quotes(raw),
        chomp,
        fd,
    }))
}

/// BuildKit's `heredocsFromLine`: every heredoc the logical line opens, in order, with the byte
/// offset of its `<<` word in `line`.
pub fn openers(line: &str) -> Result<Vec<(Opener, usize)>, String> {
    let words = shell_words_at(line, true, true).unwrap_or_default();
    let byte_of: Vec<usize> = line.char_indices().map(|(b, _)| b).collect();
    let mut out = Vec::new();
    for (word, start) in words {
        if let Some(opener) = parse_opener(&word)? {
            out.push((opener, byte_of.get(start).copied().unwrap_or(line.len())));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opener(name: &str, expand: bool, chomp: bool, fd: u64) -> Opener {
        Opener {
            name: name.into(),
            expand,
            chomp,
            fd,
        }
    }

    #[test]
    fn lexer_keeps_quotes_escapes_and_variables() {
        assert_eq!(
            shell_words(r#"a "b c" 'd e'\ f $X ${Y:-z w}"#, true, true).unwrap(),
            ["a", "\"b c\"", "'d e'\\ f", "$X", "${Y:-z", "w}"]
        );
        assert_eq!(
            shell_words(r#"a "b c" \x"#, false, false).unwrap(),
            ["a", "b c", "x"]
        );
        assert_eq!(
            shell_words(r#"${a/b/c} ${a//b/c}"#, true, true).unwrap(),
            ["${a/b/c}", "${a/b/c}"]
        );
        assert!(shell_words("\"open", true, true).is_err());
        assert!(shell_words("${", true, true).is_err());
        assert!(shell_words("${}", true, true).is_err());
        assert!(shell_words("${a!}", true, true).is_err());
        assert!(shell_words("${a", true, true).is_err());
        assert!(shell_words("${a:#x}", true, true).is_err());
        assert_eq!(shell_words("${a#x}", true, true).unwrap(), ["${a#x}"]);
        // Blanks after `<<` stay in its word; a lone `<` is an ordinary character.
        assert_eq!(
            shell_words("a <<  EOF b < c", true, true).unwrap(),
            ["a", "<<  EOF", "b", "<", "c"]
        );
    }

    fn openers(line: &str) -> Result<Vec<Opener>, String> {
        super::openers(line).map(|v| v.into_iter().map(|(o, _)| o).collect())
    }

    #[test]
    fn opener_words_know_where_they_start() {
        let v = super::openers("RUN é <<A x\"y\" 3<<-B").unwrap();
        let at: Vec<usize> = v.iter().map(|(_, at)| *at).collect();
        assert_eq!(at, [7, 16]);
    }

    #[test]
    fn openers_of_every_kind() {
        assert_eq!(
            openers("RUN <<EOF").unwrap(),
            [opener("EOF", true, false, 0)]
        );
        assert_eq!(
            openers("RUN <<-EOT cat").unwrap(),
            [opener("EOT", true, true, 0)]
        );
        assert_eq!(
            openers(r#"RUN <<"EOF""#).unwrap(),
            [opener("EOF", false, false, 0)]
        );
        assert_eq!(
            openers("RUN <<'EOF'").unwrap(),
            [opener("EOF", false, false, 0)]
        );
        assert_eq!(
            openers(r#"RUN <<E"O"F"#).unwrap(),
            [opener("EOF", false, false, 0)]
        );
        assert_eq!(
            openers("RUN 3<<EOF").unwrap(),
            [opener("EOF", true, false, 3)]
        );
        assert_eq!(
            openers("COPY <<A <<-B /dest").unwrap(),
            [opener("A", true, false, 0), opener("B", true, true, 0)]
        );
        // An escaped delimiter is not quoted: the body still expands.
        assert_eq!(
            openers(r"RUN <<E\OF").unwrap(),
            [opener("EOF", true, false, 0)]
        );
        assert_eq!(
            openers("RUN 99999999999999999999<<X").unwrap()[0].fd,
            u64::MAX
        );
        // Blanks between `<<` and the delimiter.
        assert_eq!(
            openers("RUN <<  EOF  > foo").unwrap(),
            [opener("EOF", true, false, 0)]
        );
        assert_eq!(
            openers("RUN << -EOF").unwrap(),
            [opener("-EOF", true, false, 0)]
        );
        assert_eq!(
            openers("RUN <<'one two'").unwrap(),
            [opener("one two", false, false, 0)]
        );
        assert_eq!(
            openers("RUN <<$EOF").unwrap(),
            [opener("$EOF", true, false, 0)]
        );
        assert_eq!(
            openers(r"RUN <<eo\'f").unwrap(),
            [opener("eo'f", true, false, 0)]
        );
        assert_eq!(
            openers(r"RUN <<'e'o\'f").unwrap(),
            [opener("eo'f", false, false, 0)]
        );
        assert_eq!(
            parse_opener("<<- EOF").unwrap(),
            Some(opener("EOF", true, true, 0))
        );
        assert!(parse_opener("<<'EOF").is_err());
        assert!(parse_opener("<<EOF\"").is_err());
        assert_eq!(parse_opener("<<EOF sh").unwrap(), None);
        assert_eq!(parse_opener("<<<EOF").unwrap(), None);
    }

    #[test]
    fn words_that_open_nothing() {
        for line in [
            "RUN cat<<EOF",
            "RUN <<",
            "RUN <<-",
            "RUN <<EOF<<X",
            "RUN <<\"\"",
            "RUN echo '<<EOF'",
            "RUN <<EOF \"unterminated",
            "RUN x<<EOF",
        ] {
            assert_eq!(openers(line).unwrap(), [], "{line}");
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!(
            "RUN <<EOF {}x{}",
            "${a:-".repeat(50_000),
            "}".repeat(50_000)
        );
        assert_eq!(openers(&deep).unwrap(), []);
        let ok = format!(
            "{}x{}",
            "${a:-".repeat(MAX_NESTING),
            "}".repeat(MAX_NESTING)
        );
        assert_eq!(shell_words(&ok, true, true).unwrap(), vec![ok]);
    }

    #[test]
    fn a_delimiter_that_cannot_be_lexed_is_an_error() {
        // The line lexes, but `${a:-"x` alone does not.
        assert!(openers(r#"RUN <<${a:-"x y"}"#).is_err());
    }
}
