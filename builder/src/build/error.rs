//! The error a build fails with: what went wrong and, when an instruction is to blame, where in
//! the Dockerfile, so the CLI can print the line with a caret under the column.

use bale_parser::{ErrorKind, Pos};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// Where in the Dockerfile; `None` when no instruction is to blame (an option, the store).
    pub pos: Option<Pos>,
    /// What went wrong and what to do.
    pub message: String,
}

/// The build's result type.
pub type BuildResult<T> = Result<T, BuildError>;

impl BuildError {
    /// An error about the instruction (or word) at `pos`.
    pub fn at(pos: Pos, message: impl Into<String>) -> BuildError {
        BuildError {
            pos: Some(pos),
            message: message.into(),
        }
    }

    /// An error no instruction is to blame for.
    pub fn new(message: impl Into<String>) -> BuildError {
        BuildError {
            pos: None,
            message: message.into(),
        }
    }

    /// Places an unplaced error at `pos`; an error that has a place keeps it.
    pub fn or_at(mut self, pos: Pos) -> BuildError {
        self.pos.get_or_insert(pos);
        self
    }

    /// The error as bale prints it: `FILE:LINE:COL: MESSAGE`, the Dockerfile line and a caret,
    /// or the message alone when no instruction is to blame.
    ///
    /// ```
    /// use bale_builder::build::BuildError;
    /// use bale_parser::Pos;
    /// let e = BuildError::at(Pos::new(2, 1), "unknown stage");
    /// assert_eq!(
    ///     e.render("Dockerfile", "FROM a\nCOPY --from=x / /\n"),
    ///     "Dockerfile:2:1: unknown stage\n   2 | COPY --from=x / /\n     | ^\n"
    /// );
    /// ```
    pub fn render(&self, file_name: &str, source: &str) -> String {
        match self.pos {
            Some(pos) => bale_parser::Error::new(ErrorKind::Arguments, pos, self.message.clone())
                .render(file_name, source),
            None => format!("{}\n", self.message),
        }
    }
}

impl From<bale_parser::Error> for BuildError {
    fn from(e: bale_parser::Error) -> Self {
        BuildError {
            pos: (e.pos.line > 0).then_some(e.pos),
            message: e.message,
        }
    }
}

impl From<bale_image::Error> for BuildError {
    fn from(e: bale_image::Error) -> Self {
        BuildError::new(e.to_string())
    }
}

impl From<crate::Error> for BuildError {
    fn from(e: crate::Error) -> Self {
        BuildError::new(e.to_string())
    }
}
