//! Dockerfile text to typed instructions, with BuildKit's semantics.
//!
//! The crate owns three steps of a Dockerfile's way through bale, each in its own module:
//!
//! - [`ast`]: the syntax tree, BuildKit's `parser.Node`: directives, continuations, comments,
//!   heredocs, JSON and shell forms, `--flags`. No expansion, no validation.
//! - [`shell`]: BuildKit's shell-word lexer: `$VAR`/`${VAR...}` expansion, quotes, word splitting.
//! - [`error`]: the error every step raises, with the line and column it is about.
//!
//! It does no I/O beyond reading the text it is given and knows nothing of images.

pub mod ast;
pub mod error;
pub mod shell;

pub use ast::{Directive, Directives, Dockerfile, Heredoc, Node, Pos, Word};
pub use error::{Error, ErrorKind, Result};
pub use shell::{Env, Lexer, Matches, ShellError};
