//! The syntax layer: Dockerfile text to [`Dockerfile`], exactly as BuildKit's
//! `frontend/dockerfile/parser.Parse` reads it.
//!
//! The text is read line by line (a line ends at `\n`; `\r` before it is dropped; a line longer
//! than 65535 bytes is an error, as BuildKit's scanner has that limit). A UTF-8 byte order mark
//! on the first line is skipped. Leading `# name=value` lines are parser directives
//! (`directives`). Every other line that is neither blank nor a comment starts an instruction;
//! an escape token (`\`, or `` ` `` after `# escape=`) at its end, before optional blanks,
//! continues it on the next line, where comment lines and blank lines are dropped (blank ones with
//! a warning). The joined logical line is split into keyword, `--flags` and the rest
//! (`command`), the rest is parsed as the keyword's parser dictates (`args`), and for RUN,
//! COPY and ADD in shell form the heredocs it opens are read from the following lines
//! (`heredoc`). Nothing is expanded and nothing is validated beyond what BuildKit's parser
//! itself rejects; unknown keywords are kept.
//!
//! One limit is bale's own: ONBUILD triggers nest at most [`MAX_ONBUILD_DEPTH`] levels
//! (BuildKit's parser has none, but its next stage rejects any `ONBUILD ONBUILD`).

mod args;
mod command;
mod directives;
mod heredoc;
mod json;
mod text;

use std::cell::Cell;

use crate::ast::{Directive, Directives, Dockerfile, Heredoc, Node, Pos, Warning, Word};
use crate::error::{Error, ErrorKind, Result};

use args::{Kind, kind_of, parse_args};
use command::split_command;
use directives::DirectiveScanner;
use text::{char_starts, column_of, is_comment, trim_leading_space, trim_newline, trim_space};

/// The longest line BuildKit's scanner accepts, in bytes, without its `\n`.
pub const MAX_LINE_BYTES: usize = 65_535;

/// How deep ONBUILD triggers may nest (`ONBUILD ONBUILD ...`).
pub const MAX_ONBUILD_DEPTH: usize = 100;

/// Parses a Dockerfile's text as BuildKit's parser does.
///
/// ```
/// let df = bale_parser::parse("FROM alpine\nRUN echo \\\n  hi\n").unwrap();
/// assert_eq!(df.nodes[1].keyword, "RUN");
/// assert_eq!(df.nodes[1].args[0].value, "echo   hi");
/// assert_eq!((df.nodes[1].line(), df.nodes[1].end_line), (2, 3));
/// ```
pub fn parse(text: &str) -> Result<Dockerfile> {
    Parser::new(text).run()
}

/// Physical lines, each with its line ending, checked against the length limit.
struct Lines<'a> {
    rest: &'a str,
    /// The number of lines handed out so far.
    count: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<Result<&'a str>> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.count += 1;
        let content = line.strip_suffix('\n').unwrap_or(line);
        if content.len() > MAX_LINE_BYTES {
            return Some(Err(Error::new(
                ErrorKind::Syntax,
                Pos::new(self.count, 1),
                format!(
                    "dockerfile line greater than max allowed size of {MAX_LINE_BYTES} bytes; split it with line continuations"
                ),
            )));
        }
        Some(Ok(line))
    }
}

/// A piece of a logical line and where it sits in the file, to turn offsets into positions.
struct Segment<'a> {
    /// Byte offset of the piece in the logical line.
    logical: usize,
    /// 1-based physical line.
    line: usize,
    /// The physical line (without line ending or byte order mark).
    text: &'a str,
    /// Byte offset of the piece in `text`.
    offset: usize,
}

/// Maps byte offsets in a logical line to file positions.
struct Locator<'a> {
    segments: Vec<Segment<'a>>,
    /// The last answer as (segment, byte in its text, column): words come in increasing order,
    /// so counting on from it keeps a line with many words linear.
    last: Cell<(usize, usize, usize)>,
}

impl<'a> Locator<'a> {
    fn new(first: Segment<'a>) -> Self {
        Locator {
            segments: vec![first],
            last: Cell::new((0, 0, 1)),
        }
    }

    fn pos(&self, logical: usize) -> Pos {
        // Segments are in increasing logical order; find the last one starting at or before.
        let index = self
            .segments
            .partition_point(|s| s.logical <= logical)
            .saturating_sub(1);
        let Some(s) = self.segments.get(index) else {
            return Pos::new(0, 0);
        };
        let byte = (s.offset + logical.saturating_sub(s.logical)).min(s.text.len());
        let (last_index, last_byte, last_column) = self.last.get();
        let column = if last_index == index && last_byte <= byte {
            last_column + char_starts(&s.text.as_bytes()[last_byte..byte])
        } else {
            column_of(s.text, byte)
        };
        self.last.set((index, byte, column));
        Pos::new(s.line, column)
    }
}

struct Parser<'a> {
    lines: Lines<'a>,
    directives: DirectiveScanner,
    honoured: Directives,
    escape: char,
    nodes: Vec<Node>,
    warnings: Vec<Warning>,
    comments: Vec<String>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            lines: Lines {
                rest: text,
                count: 0,
            },
            directives: DirectiveScanner::default(),
            honoured: Directives::default(),
            escape: '\\',
            nodes: Vec::new(),
            warnings: Vec::new(),
            comments: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Dockerfile> {
        while let Some(raw) = self.lines.next() {
            let mut raw = raw?;
            let number = self.lines.count;
            if number == 1 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            self.instruction(raw, number)?;
        }
        if self.nodes.is_empty() {
            return Err(Error::new(
                ErrorKind::Syntax,
                Pos::new(0, 0),
                "file with no instructions; a Dockerfile needs at least a FROM instruction",
            ));
        }
        Ok(Dockerfile {
            directives: self.honoured,
            nodes: self.nodes,
            warnings: self.warnings,
        })
    }

    /// Records a comment line as BuildKit does (it drops the line's first byte, which is the
    /// `#` unless the comment is indented).
    fn note_comment(&mut self, raw: &str) {
        if !is_comment(raw) {
            return;
        }
        let comment = String::from_utf8_lossy(&raw.as_bytes()[1..]);
        let (comment, _) = trim_space(&comment);
        if comment.is_empty() {
            self.comments.clear();
        } else {
            self.comments.push(comment.to_string());
        }
    }

    /// Feeds one line to the directive scanner, applying `# escape=`. Returns whether the line
    /// was an honoured directive.
    fn directive(&mut self, token: &str, pos: Pos) -> Result<bool> {
        let found = self
            .directives
            .scan(token)
            .map_err(|e| Error::new(ErrorKind::Syntax, pos, e.to_string()))?;
        let Some((name, value)) = found else {
            return Ok(false);
        };
        if name == "escape" {
            self.escape = value.chars().next().unwrap_or('\\');
        }
        let directive = Some(Directive {
            value,
            line: pos.line,
        });
        match name.as_str() {
            "syntax" => self.honoured.syntax = directive,
            "escape" => self.honoured.escape = directive,
            _ => self.honoured.check = directive,
        }
        Ok(true)
    }

    /// BuildKit's line continuation test: the escape token at the end of the line (before
    /// blanks), not itself escaped. Returns the line without it and whether the line ends the
    /// instruction.
    fn trim_continuation<'t>(&self, line: &'t str) -> (&'t str, bool) {
        let t = line.trim_end_matches([' ', '\t']);
        let Some(before) = t.strip_suffix(self.escape) else {
            return (line, true);
        };
        if before.ends_with(self.escape) {
            return (line, true);
        }
        (before, false)
    }

    /// Handles the line `raw` (number `number`) and, if it starts an instruction, every line the
    /// instruction spans.
    fn instruction(&mut self, raw: &'a str, number: usize) -> Result<()> {
        self.note_comment(raw);
        let untrimmed = trim_newline(raw);
        let token = trim_leading_space(untrimmed);
        let lead = untrimmed.len() - token.len();
        let start_pos = Pos::new(number, column_of(untrimmed, lead));
        if self.directive(token, start_pos)? {
            self.comments.pop();
        }
        let token = if is_comment(token) { "" } else { token };
        let (first, mut ended) = self.trim_continuation(token);
        if ended && first.is_empty() {
            return Ok(());
        }
        let mut line = first.to_string();
        let mut locator = Locator::new(Segment {
            logical: 0,
            line: number,
            text: untrimmed,
            offset: lead,
        });
        let mut first_empty = None;
        while !ended {
            let Some(next) = self.lines.next() else {
                break;
            };
            let next = next?;
            let n = self.lines.count;
            let token = trim_newline(next);
            self.directive(token, Pos::new(n, 1))?;
            if is_comment(next) {
                continue;
            }
            if trim_leading_space(token).is_empty() {
                first_empty.get_or_insert(n);
                continue;
            }
            let (piece, end) = self.trim_continuation(token);
            locator.segments.push(Segment {
                logical: line.len(),
                line: n,
                text: token,
                offset: 0,
            });
            line.push_str(piece);
            ended = end;
        }
        if let Some(n) = first_empty {
            self.warnings.push(Warning {
                pos: Pos::new(n, 1),
                message: format!("Empty continuation line found in: {line}"),
            });
        }
        let mut node = self.node(&line, 0, &locator, 0)?;
        if node.pos.line != number {
            // Lines holding only the escape token came first: the instruction starts with them.
            node.pos = start_pos;
        }
        node.comments = std::mem::take(&mut self.comments);
        self.read_heredocs(&mut node, &line, &locator)?;
        let end_line = self.lines.count;
        node.end_line = end_line;
        let mut trigger = node.onbuild.as_deref_mut();
        while let Some(t) = trigger {
            t.end_line = end_line;
            trigger = t.onbuild.as_deref_mut();
        }
        self.nodes.push(node);
        Ok(())
    }

    /// BuildKit's `newNodeFromLine` over `line`, which sits at byte `base` of the logical line.
    fn node(&self, line: &str, base: usize, locator: &Locator, depth: usize) -> Result<Node> {
        let split = split_command(line, self.escape);
        let (kind, canonical) = kind_of(&split.keyword.0);
        let keyword = canonical.map_or_else(|| split.keyword.0.to_uppercase(), str::to_string);
        let pos = locator.pos(base + split.keyword.1);
        let flags = split
            .flags
            .into_iter()
            .map(|(f, at)| Word::new(f, locator.pos(base + at)))
            .collect();
        let (rest, rest_at) = split.rest;
        let rest_base = base + rest_at;
        let mut node = Node {
            keyword,
            pos,
            end_line: pos.line,
            flags,
            args: Vec::new(),
            json: false,
            heredocs: Vec::new(),
            onbuild: None,
            original: line.to_string(),
            comments: Vec::new(),
        };
        if kind == Kind::SubCommand {
            if !rest.is_empty() {
                if depth + 1 >= MAX_ONBUILD_DEPTH {
                    return Err(Error::new(
                        ErrorKind::Syntax,
                        pos,
                        format!(
                            "ONBUILD triggers nested more than {MAX_ONBUILD_DEPTH} levels deep"
                        ),
                    ));
                }
                node.onbuild = Some(Box::new(self.node(&rest, rest_base, locator, depth + 1)?));
            }
            return Ok(node);
        }
        let parsed = parse_args(kind, &rest, self.escape).map_err(|message| {
            let at = if rest.is_empty() {
                pos
            } else {
                locator.pos(rest_base)
            };
            Error::new(ErrorKind::Arguments, at, message)
        })?;
        node.json = parsed.json;
        node.args = parsed
            .args
            .into_iter()
            .map(|(a, at)| Word::new(a, locator.pos(rest_base + at)))
            .collect();
        Ok(node)
    }

    /// Reads the bodies of the heredocs `line` opens, if `node` may have heredocs.
    fn read_heredocs(&mut self, node: &mut Node, line: &str, locator: &Locator) -> Result<()> {
        let target = match node.onbuild.as_deref_mut() {
            Some(trigger) if node.keyword == "ONBUILD" => trigger,
            _ => node,
        };
        if !matches!(target.keyword.as_str(), "RUN" | "COPY" | "ADD")
            || target.json
            || !line.contains("<<")
        {
            return Ok(());
        }
        let openers =
            heredoc::openers(line).map_err(|m| Error::new(ErrorKind::Syntax, target.pos, m))?;
        for (opener, at) in openers {
            let mut content = String::new();
            let mut terminated = false;
            while let Some(body) = self.lines.next() {
                let body = body?;
                let mut candidate = trim_newline(body);
                if opener.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == opener.name {
                    terminated = true;
                    break;
                }
                content.push_str(body);
            }
            if !terminated {
                return Err(Error::new(
                    ErrorKind::Syntax,
                    locator.pos(at),
                    format!(
                        "unterminated heredoc: no line reads `{}` to close it before the end of the file",
                        opener.name
                    ),
                ));
            }
            target.heredocs.push(Heredoc {
                name: opener.name,
                content,
                expand: opener.expand,
                chomp: opener.chomp,
                fd: opener.fd,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
