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

    /// The error as bale prints it: `FILE:LINE:COL: MESSAGE`, then the source line and a caret
    /// under the column. An error about the whole file (line 0) is `FILE: MESSAGE` alone, and one
    /// whose line is not in `source` has no source line.
    ///
    /// ```
    /// use bale_parser::{Error, ErrorKind, Pos};
    /// let e = Error::new(ErrorKind::UnknownInstruction, Pos::new(2, 1), "unknown instruction: RUNN");
    /// assert_eq!(
    ///     e.render("Dockerfile", "FROM a\nRUNN x\n"),
    ///     "Dockerfile:2:1: unknown instruction: RUNN\n   2 | RUNN x\n     | ^\n"
    /// );
    /// ```
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let Pos { line, column } = self.pos;
        let text = (line > 0)
            .then(|| source.split('\n').nth(line - 1))
            .flatten()
            .map(|l| {
                let l = l.strip_suffix('\r').unwrap_or(l);
                if line == 1 {
                    l.strip_prefix('\u{feff}').unwrap_or(l)
                } else {
                    l
                }
            });
        if line == 0 {
            return format!("{file_name}: {}\n", self.message);
        }
        let column = column.max(1);
        let Some(text) = text else {
            return format!("{file_name}:{line}:{column}: {}\n", self.message);
        };
        let number = line.to_string();
        let gutter = " ".repeat(number.len().max(4));
        // Tabs before the column are kept so the caret lines up however the terminal shows them;
        // other control characters would move the cursor and are shown as spaces.
        let shown: String = text
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let pad: String = shown
            .chars()
            .take(column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{file_name}:{line}:{column}: {}\n{number:>width$} | {shown}\n{gutter} | {pad}^\n",
            self.message,
            width = gutter.len(),
        )
    }
}

/// The parser's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_source_and_caret() {
        let e = Error::new(
            ErrorKind::Arguments,
            Pos::new(3, 5),
            "ENV must have two arguments",
        );
        assert_eq!(
            e.render("Dockerfile", "FROM a\r\n# c\r\nENV PATH\r\n"),
            "Dockerfile:3:5: ENV must have two arguments\n   3 | ENV PATH\n     |     ^\n"
        );
    }

    #[test]
    fn whole_file_errors_have_no_position() {
        let e = Error::new(
            ErrorKind::Syntax,
            Pos::new(0, 0),
            "file with no instructions",
        );
        assert_eq!(
            e.render("<stdin>", ""),
            "<stdin>: file with no instructions\n"
        );
    }

    #[test]
    fn tabs_keep_the_caret_aligned_and_bom_is_hidden() {
        let e = Error::new(ErrorKind::Syntax, Pos::new(1, 3), "x");
        assert_eq!(
            e.render("f", "\u{feff}\t\tRUN"),
            "f:1:3: x\n   1 | \t\tRUN\n     | \t\t^\n"
        );
        let e = Error::new(ErrorKind::Syntax, Pos::new(1000, 1), "x");
        assert_eq!(e.render("f", "a\n"), "f:1000:1: x\n");
    }
}
