//! The syntax tree: what a Dockerfile says before any instruction is typed or any variable is
//! expanded.
//!
//! It mirrors BuildKit's `parser.Node` one to one, so that `bale parse --format json` can print
//! exactly BuildKit's AST: the keyword, the leading `--flags`, the argument chain, whether the
//! arguments came from a JSON array, the heredocs, and for ONBUILD the nested trigger. Every node
//! keeps where it came from so that later stages can point at the line and column of a problem.

use serde::Serialize;

/// A place in the source text. Lines and columns are 1-based; a column counts characters, not
/// bytes, so a caret lines up under the right character in a terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    /// 1-based physical line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Pos {
    /// A position at `line`, `column`.
    pub const fn new(line: usize, column: usize) -> Self {
        Pos { line, column }
    }
}

/// A parsed Dockerfile: its honoured directives and its instructions in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// The parser directives that were honoured.
    pub directives: Directives,
    /// The instructions, in file order.
    pub nodes: Vec<Node>,
    /// Problems BuildKit reports as warnings rather than errors (empty continuation lines, ...).
    pub warnings: Vec<Warning>,
}

/// The leading `# name=value` lines that BuildKit honours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Directives {
    /// `# syntax=`: the frontend image; bale reads every Dockerfile itself and only records it.
    pub syntax: Option<Directive>,
    /// `# escape=`: `\` or `` ` ``.
    pub escape: Option<Directive>,
    /// `# check=`: build check configuration, recorded as written.
    pub check: Option<Directive>,
}

impl Directives {
    /// The escape token in force: the `# escape=` value, or `\` by default.
    pub fn escape_char(&self) -> char {
        self.escape
            .as_ref()
            .and_then(|d| d.value.chars().next())
            .unwrap_or('\\')
    }
}

/// One directive: its value, trimmed, and the line it was written on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// The value after `=`, with surrounding blanks trimmed.
    pub value: String,
    /// 1-based line of the directive.
    pub line: usize,
}

/// A word of an instruction (a flag or an argument) and where it starts in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Word {
    /// The text, as BuildKit's AST holds it (for flags: quotes removed and escapes applied; for
    /// arguments: see [`Node::args`]).
    pub value: String,
    /// Where the word starts in the source, continuation lines included (a JSON array element
    /// starts at its opening quote). A word BuildKit builds rather than reads, such as the empty
    /// separator of a legacy `ENV k v`, is placed where its value starts.
    pub pos: Pos,
}

impl Word {
    /// A word with the given text at `pos`.
    pub fn new(value: impl Into<String>, pos: Pos) -> Self {
        Word {
            value: value.into(),
            pos,
        }
    }
}

/// A heredoc attached to a RUN, COPY or ADD instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter with its quotes removed.
    pub name: String,
    /// The body exactly as in the file, each line with its line ending, not chomped.
    pub content: String,
    /// False when any part of the delimiter was quoted: the body is then taken literally.
    pub expand: bool,
    /// True for `<<-`: leading tabs are stripped from each body line when the body is used.
    pub chomp: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when absent.
    pub fd: u64,
}

/// One instruction as written: BuildKit's `parser.Node`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The keyword, upper-cased (`from` in the file gives `FROM`).
    pub keyword: String,
    /// Where the keyword starts (or, when lines holding only the escape token precede it, where
    /// the first of them starts: BuildKit's start line).
    pub pos: Pos,
    /// 1-based last physical line consumed: continuations, comments and blank lines inside
    /// them, heredoc bodies and their terminators included.
    pub end_line: usize,
    /// The leading `--flags`, quotes removed and escapes applied. A bare `--` ends the flags and
    /// is dropped.
    pub flags: Vec<Word>,
    /// BuildKit's argument chain (`Node.Next` values); see `bale parse`'s contract.
    pub args: Vec<Word>,
    /// True when the arguments came from a JSON array (exec form).
    pub json: bool,
    /// Heredocs, for RUN, COPY and ADD in shell form (and such ONBUILD triggers).
    pub heredocs: Vec<Heredoc>,
    /// For ONBUILD: the trigger instruction.
    pub onbuild: Option<Box<Node>>,
    /// The logical line with continuations joined, as BuildKit's `Node.Original`.
    pub original: String,
    /// Comment lines directly above the instruction, without the `#`.
    pub comments: Vec<String>,
}

impl Node {
    /// The 1-based line where the instruction starts.
    pub fn line(&self) -> usize {
        self.pos.line
    }
}

/// Something BuildKit accepts but warns about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Where it applies.
    pub pos: Pos,
    /// What is wrong, in BuildKit's words.
    pub message: String,
}
