//! The parser's one error type: a message and the place in the Dockerfile it is about.
//!
//! Every error the parser raises, whether from the syntax layer, the instruction layer or
//! expansion, carries a [`Pos`], so that the CLI (and later the builder) can print
//! `Dockerfile:12:5: message` with the source line and a caret under the column.

use crate::ast::Pos;

/// What kind of problem the parser found. The CLI only needs the message; callers that react
/// differently (tests, the fuzzer, the builder) match on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text cannot be read as a Dockerfile (bad directive, unterminated heredoc, a line too
    /// long, no instructions, ...).
    Syntax,
    /// An instruction keyword that does not exist.
    UnknownInstruction,
    /// A `--flag` that the instruction does not take, or a flag with a bad value.
    Flag,
    /// An instruction whose arguments are wrong (count, form or value).
    Arguments,
    /// Variable expansion failed (`${VAR:?msg}`, bad substitution, unterminated quote, ...).
    Expansion,
}

/// A parse error at a place in the Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pos_line}:{pos_col}: {message}", pos_line = pos.line, pos_col = pos.column)]
pub struct Error {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// Where it is; line 0 when the problem concerns the whole file.
    pub pos: Pos,
    /// What is wrong and, where it helps, what to do: `unknown instruction: RUNN (did you mean
    /// RUN?)`.
    pub message: String,
}

impl Error {
    /// An error of `kind` at `pos`.
    pub fn new(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> Self {
        Error {
            kind,
            pos,
            message: message.into(),
        }
    }
}

/// The parser's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
