//! Build stages: the instructions from one FROM to the next, as BuildKit's
//! `instructions.Parse` groups them, with the ARGs before the first FROM kept apart as the
//! global (meta) arguments.

use std::collections::HashMap;

use super::{Arg, From, Instruction};
use crate::ast::Word;
use crate::error::{Error, ErrorKind, Result};

/// One build stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages; `COPY --from=0` refers to it.
    pub index: usize,
    /// The name after `AS`, lower-cased.
    pub name: Option<Word>,
    /// The FROM that starts the stage (base image, `--platform`, location).
    pub from: From,
    /// The stage's instructions after its FROM, in order.
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// The base: an image reference, an earlier stage's name or `scratch` (unexpanded).
    pub fn base(&self) -> &Word {
        &self.from.image
    }
}

/// Groups `instructions` into stages. Returns the global ARGs (those before the first FROM) and
/// the stages. Anything but ARG before the first FROM is an error, as is a stage name used twice.
pub fn stages(instructions: &[Instruction]) -> Result<(Vec<Arg>, Vec<Stage>)> {
    let mut globals = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for ins in instructions {
        match ins {
            Instruction::From(f) => {
                if let Some(name) = &f.name
                    && let Some(line) = names.insert(name.value.clone(), f.loc.pos.line)
                {
                    return Err(Error::new(
                        ErrorKind::Arguments,
                        name.pos,
                        format!(
                            "duplicate stage name \"{}\": already used on line {line} (give each stage its own name)",
                            name.value
                        ),
                    ));
                }
                stages.push(Stage {
                    index: stages.len(),
                    name: f.name.clone(),
                    from: f.clone(),
                    instructions: Vec::new(),
                });
            }
            other => match stages.last_mut() {
                Some(stage) => stage.instructions.push(other.clone()),
                None => match other {
                    Instruction::Arg(a) => globals.push(a.clone()),
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Arguments,
                            other.loc().pos,
                            format!(
                                "{} before the first FROM: no build stage in current context (only ARG may come before FROM)",
                                other.keyword()
                            ),
                        ));
                    }
                },
            },
        }
    }
    Ok((globals, stages))
}
