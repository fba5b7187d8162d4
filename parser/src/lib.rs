//! Dockerfile text to typed instructions, with BuildKit's semantics.
//!
//! The crate owns three steps of a Dockerfile's way through bale, each in its own module:
//!
//! - [`ast`]: the syntax tree, BuildKit's `parser.Node`: directives, continuations, comments,
//!   heredocs, JSON and shell forms, `--flags`. No expansion, no validation.
//! - [`syntax`]: text to that tree, exactly as BuildKit's parser reads it ([`parse`]).
//! - [`instruction`]: nodes to typed instructions with their flags parsed and checked, as
//!   BuildKit's instruction layer ([`type_dockerfile`], [`stages`]); expansion where BuildKit
//!   expands ([`Instruction::expand`]).
//! - [`shell`]: BuildKit's shell-word lexer: `$VAR`/`${VAR...}` expansion, quotes, word splitting.
//! - [`scope`]: which ARG and ENV values each instruction sees: the global scope of FROM lines,
//!   each stage's scope, RUN's environment and the build args of its history and cache key.
//! - [`error`]: the error every step raises, with the line and column it is about.
//!
//! It does no I/O beyond reading the text it is given and knows nothing of images.

pub mod ast;
pub mod error;
pub mod instruction;
pub mod scope;
pub mod shell;
pub mod syntax;

pub use ast::{Directive, Directives, Dockerfile, Heredoc, Node, Pos, Warning, Word};
pub use error::{Error, ErrorKind, Result};
pub use instruction::{
    Expander, Instruction, Location, Stage, stages, syntax_tolerates, type_dockerfile, type_node,
    warnings,
};
pub use scope::{BuildInputs, GlobalScope, Platform, StageScope};
pub use shell::{Env, Lexer, Matches, ShellError};
pub use syntax::parse;
