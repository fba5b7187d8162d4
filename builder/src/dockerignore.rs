//! `.dockerignore` with Docker's exact semantics, those of moby's `patternmatcher` and its
//! `ignorefile` reader:
//!
//! - lines starting with `#` are comments (only at the very start of the line), blank lines are
//!   skipped, surrounding whitespace is trimmed, a UTF-8 byte order mark on the first line goes;
//! - each pattern is cleaned like Go's `filepath.Clean` (so `./a/../b` is `b`) and a leading `/`
//!   is dropped: patterns are relative to the context root;
//! - `*` matches within one path component, `?` one character, `[...]` a class, `\` escapes,
//!   and `**` any number of components (including none);
//! - a pattern matching a directory excludes everything below it, and a `!pattern` re-includes
//!   what it matches, even below an excluded directory; the last matching pattern wins.
//!
//! As BuildKit does (and unlike the legacy builder), the Dockerfile and `.dockerignore` are not
//! forced back into the context: the Dockerfile is read on its own, so ignoring it only keeps
//! it out of `COPY . .`. A `<Dockerfile name>.dockerignore` next to the Dockerfile takes
//! precedence over the context's `.dockerignore` ([`Dockerignore::for_build`]).

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::Error;

/// Go's `path.Clean` on a slash-separated path.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    cleaned: String,
    exclusion: bool,
    match_type: MatchType,
    regexp: Option<Regex>,
}

/// Characters with a meaning in a regular expression but none in a Go file path pattern.
fn should_escape(c: char) -> bool {
    ".+()|{}$".contains(c)
}

/// Checks the syntax Go's `filepath.Match` accepts (it validates the whole pattern).
fn validate(pattern: &str) -> Result<(), String> {
    let c: Vec<char> = pattern.chars().collect();
    let bad = || Err("syntax error in pattern".to_string());
    let get_esc = |i: &mut usize| -> Result<(), String> {
        if *i >= c.len() || c[*i] == '-' || c[*i] == ']' {
            return bad();
        }
        if c[*i] == '\\' {
            *i += 1;
            if *i >= c.len() {
                return bad();
            }
        }
        *i += 1;
        Ok(())
    };
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                if i + 1 >= c.len() {
                    return bad();
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if i < c.len() && c[i] == '^' {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if i < c.len() && c[i] == ']' && ranges > 0 {
                        i += 1;
                        break;
                    }
                    get_esc(&mut i)?;
                    if i < c.len() && c[i] == '-' {
                        i += 1;
                        get_esc(&mut i)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

impl Pattern {
    fn compile(cleaned: String, exclusion: bool) -> Result<Pattern, String> {
        let chars: Vec<char> = cleaned.chars().collect();
        let mut re = String::from("^");
        let mut kind = MatchType::Exact;
        let mut in_class = false;
        let mut i = 0;
        let mut index = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            if ch == '*' && !in_class {
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if kind == MatchType::Exact {
                            kind = MatchType::Prefix;
                        } else {
                            re.push_str(".*");
                            kind = MatchType::Regexp;
                        }
                    } else {
                        re.push_str("(.*/)?");
                        kind = MatchType::Regexp;
                    }
                    if index == 0 {
                        kind = MatchType::Suffix;
                    }
                } else {
                    re.push_str("[^/]*");
                    kind = MatchType::Regexp;
                }
            } else if ch == '?' && !in_class {
                re.push_str("[^/]");
                kind = MatchType::Regexp;
            } else if should_escape(ch) {
                re.push('\\');
                re.push(ch);
            } else if ch == '\\' {
                match chars.get(i) {
                    Some(&next) => {
                        i += 1;
                        re.push('\\');
                        re.push(next);
                        kind = MatchType::Regexp;
                    }
                    None => re.push_str("\\\\"),
                }
            } else if ch == '[' || ch == ']' {
                if ch == '[' && in_class {
                    // Go reads `[` inside a class as itself; Rust's engine would nest a class.
                    re.push_str("\\[");
                } else {
                    re.push(ch);
                    in_class = ch == '[';
                    kind = MatchType::Regexp;
                }
            } else if in_class && (ch == '&' || ch == '~') {
                // Rust's class set operators (`&&`, `~~`) are plain characters to Go.
                re.push('\\');
                re.push(ch);
            } else {
                re.push(ch);
            }
            index += 1;
        }
        let regexp = if kind == MatchType::Regexp {
            re.push('$');
            Some(Regex::new(&re).map_err(|_| "syntax error in pattern".to_string())?)
        } else {
            None
        };
        Ok(Pattern {
            cleaned,
            exclusion,
            match_type: kind,
            regexp,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self.match_type {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            MatchType::Regexp => self.regexp.as_ref().is_some_and(|r| r.is_match(path)),
        }
    }
}

/// moby's `PatternMatcher`: an ordered list of patterns and `!` exceptions.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compiles patterns; the error gives the index of the bad one and why.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher, (usize, String)> {
        let mut pm = PatternMatcher::default();
        for (i, p) in patterns.iter().enumerate() {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err((i, "illegal exclusion pattern: \"!\"".to_string()));
                }
                exclusion = true;
                p = rest.to_string();
                pm.exclusions = true;
            }
            validate(&p).map_err(|e| (i, e))?;
            pm.patterns
                .push(Pattern::compile(p, exclusion).map_err(|e| (i, e))?);
        }
        Ok(pm)
    }

    /// Whether any pattern is a `!` exception (then excluded directories must still be walked).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `file` (slash-separated, relative) is excluded: a pattern matches it or one of its
    /// parent directories, and no later exception matches (moby's `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file);
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    if p.matches(&parent_dirs[..=i].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether `file` itself matches, without looking at its parents (moby's `MatchesExact`).
    pub fn matches_exact(&self, file: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            if p.matches(file) {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// Reads an ignore file's patterns with moby's `ignorefile.ReadAll` rules, each with its 1-based
/// line number.
pub fn read_patterns(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push((i + 1, p));
    }
    out
}

/// The ignore rules of a build context: `.dockerignore` patterns plus any `--exclude` ones.
#[derive(Debug, Clone, Default)]
pub struct Dockerignore {
    matcher: PatternMatcher,
    patterns: Vec<String>,
    /// The file the patterns came from, if any.
    pub source: Option<PathBuf>,
}

impl Dockerignore {
    /// Parses the text of an ignore file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Dockerignore, Error> {
        let lines = read_patterns(text);
        let patterns: Vec<String> = lines.iter().map(|(_, p)| p.clone()).collect();
        let matcher = PatternMatcher::new(&patterns).map_err(|(i, reason)| Error::Pattern {
            file: file.to_path_buf(),
            line: lines[i].0,
            pattern: lines[i].1.clone(),
            reason,
        })?;
        Ok(Dockerignore {
            matcher,
            patterns,
            source: Some(file.to_path_buf()),
        })
    }

    /// The rules for a build of `context` with `dockerfile`: `<dockerfile>.dockerignore` if it
    /// exists, else `<context>/.dockerignore`, else nothing is ignored.
    pub fn for_build(context: &Path, dockerfile: Option<&Path>) -> Result<Dockerignore, Error> {
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            let mut name = df.as_os_str().to_os_string();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(context.join(".dockerignore"));
        for c in candidates {
            match std::fs::read(&c) {
                Ok(bytes) => return Dockerignore::parse(&String::from_utf8_lossy(&bytes), &c),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&c, e)),
            }
        }
        Ok(Dockerignore::default())
    }

    /// Adds patterns after the file's (COPY `--exclude`), which therefore win over them.
    pub fn with_excludes<S: AsRef<str>>(&self, excludes: &[S]) -> Result<Dockerignore, Error> {
        let mut patterns = self.patterns.clone();
        patterns.extend(excludes.iter().map(|s| s.as_ref().to_string()));
        let matcher = PatternMatcher::new(&patterns).map_err(|(i, reason)| Error::Pattern {
            file: PathBuf::from("--exclude"),
            line: i.saturating_sub(self.patterns.len()) + 1,
            pattern: patterns[i].clone(),
            reason,
        })?;
        Ok(Dockerignore {
            matcher,
            patterns,
            source: self.source.clone(),
        })
    }

    /// Whether there are no patterns at all (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the relative, slash-separated `path` is left out of the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        path != "." && self.matcher.matches_or_parent_matches(&path)
    }

    /// Whether an excluded directory must still be walked because an exception may re-include
    /// something below it.
    pub fn may_reinclude_below(&self) -> bool {
        self.matcher.has_exclusions()
    }
}

#[cfg(test)]
mod tests;
