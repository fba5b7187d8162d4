//! The plan: which stages a build needs and in what order.
//!
//! Stages form a graph. A stage depends on another when its `FROM` names it, when a `COPY
//! --from` or `ADD --from` names it (by name or index), and when a `RUN --mount=from=` names it.
//! `--target` selects the stage to build (the last one by default); only the stages it needs
//! are planned, so the others never run. A name that is no stage is an image (or a named
//! `--build-context`). A cycle is an error at the reference that closes it.
//!
//! The plan does not expand anything but a FROM's base, which may use the global ARGs; the
//! caller hands those in already expanded.

use std::collections::{BTreeMap, HashMap};

use bale_parser::instruction::{MountSpec, Onbuild};
use bale_parser::{Instruction, Pos, Stage};

use super::error::{BuildError, BuildResult};

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An empty filesystem.
    Scratch,
    /// An earlier (or any other) stage of the same Dockerfile.
    Stage(usize),
    /// A named `--build-context`.
    Context(String),
    /// An image reference, as written after expansion.
    Image(String),
}

/// Where a `COPY --from`, `ADD --from` or `RUN --mount=from=` takes its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A stage.
    Stage(usize),
    /// A named `--build-context`.
    Context(String),
    /// An image reference.
    Image(String),
}

/// One stage of the plan.
#[derive(Debug, Clone)]
pub struct PlannedStage {
    /// The stage as parsed.
    pub stage: Stage,
    /// Its base.
    pub base: Base,
    /// The stages it needs built first, each with where the reference is.
    pub deps: Vec<(usize, Pos)>,
}

impl PlannedStage {
    /// The name BuildKit shows in progress lines: the stage name, or `stage-N`.
    pub fn display_name(&self) -> String {
        self.stage.name.as_ref().map_or_else(
            || format!("stage-{}", self.stage.index),
            |n| n.value.clone(),
        )
    }
}

/// Which stages to build, in an order where each comes after the stages it needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every stage of the Dockerfile.
    pub stages: Vec<PlannedStage>,
    /// The stages the target needs, dependencies first, the target last.
    pub order: Vec<usize>,
    /// The stage whose result is the image.
    pub target: usize,
}

/// Resolves a `--from` value: a build context, a stage name, a stage index, else an image.
pub fn resolve_source(
    from: &str,
    names: &HashMap<String, usize>,
    stage_count: usize,
    contexts: &BTreeMap<String, ()>,
) -> Source {
    if contexts.contains_key(from) {
        return Source::Context(from.to_string());
    }
    if let Some(&i) = names.get(&from.to_ascii_lowercase()) {
        return Source::Stage(i);
    }
    if let Ok(i) = from.parse::<usize>()
        && i < stage_count
    {
        return Source::Stage(i);
    }
    Source::Image(from.to_string())
}

/// The `from=` of a RUN mount, when it has one (mount `from=` values are never expanded).
fn mount_from(spec: &MountSpec) -> Option<String> {
    match &spec.mount {
        Some(m) => m.from.clone(),
        None => {
            spec.expand_with(&mut |v| Ok(v.to_string()))
                .ok()?
                .mount?
                .from
        }
    }
}

/// Every `--from` an instruction names, with its position.
pub fn instruction_sources(ins: &Instruction) -> Vec<(String, Pos)> {
    match ins {
        Instruction::Copy(c) | Instruction::Add(c) => {
            c.from.iter().map(|w| (w.value.clone(), w.pos)).collect()
        }
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter_map(|m| mount_from(m).map(|f| (f, m.raw.pos)))
            .collect(),
        Instruction::Onbuild(Onbuild { .. }) => Vec::new(),
        _ => Vec::new(),
    }
}

/// Plans the build of `target` (the last stage when `None`). `bases` are the stages' FROM
/// values after expansion with the global ARGs, in stage order; `contexts` the names of the
/// `--build-context`s.
pub fn plan(
    stages: Vec<Stage>,
    bases: &[String],
    target: Option<&str>,
    contexts: &BTreeMap<String, ()>,
) -> BuildResult<Plan> {
    if stages.is_empty() {
        return Err(BuildError::new(
            "the Dockerfile has no FROM: a build needs at least one stage",
        ));
    }
    let names: HashMap<String, usize> = stages
        .iter()
        .filter_map(|s| {
            s.name
                .as_ref()
                .map(|n| (n.value.to_ascii_lowercase(), s.index))
        })
        .collect();
    let count = stages.len();
    let mut planned = Vec::with_capacity(count);
    for (stage, base_text) in stages.into_iter().zip(bases) {
        let base = if contexts.contains_key(base_text.as_str()) {
            Base::Context(base_text.clone())
        } else if let Some(&i) = names.get(&base_text.to_ascii_lowercase()) {
            Base::Stage(i)
        } else if base_text.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else {
            Base::Image(base_text.clone())
        };
        let mut deps = Vec::new();
        if let Base::Stage(i) = base {
            deps.push((i, stage.from.image.pos));
        }
        for ins in &stage.instructions {
            for (from, pos) in instruction_sources(ins) {
                if let Source::Stage(i) = resolve_source(&from, &names, count, contexts) {
                    deps.push((i, pos));
                }
            }
        }
        planned.push(PlannedStage { stage, base, deps });
    }
    let target = match target {
        None => count - 1,
        Some(t) => *names.get(&t.to_ascii_lowercase()).ok_or_else(|| {
            let known: Vec<&str> = planned
                .iter()
                .filter_map(|s| s.stage.name.as_ref().map(|n| n.value.as_str()))
                .collect();
            let hint = match bale_parser::instruction::suggest(t, &known) {
                Some(s) => format!(" (did you mean {s}?)"),
                None if known.is_empty() => {
                    " (no stage has a name: name one with FROM ... AS NAME)".to_string()
                }
                None => format!(" (stages: {})", known.join(", ")),
            };
            BuildError::new(format!("target stage \"{t}\" could not be found{hint}"))
        })?,
    };
    let mut order = Vec::new();
    let mut state = vec![Visit::New; count];
    visit(target, &planned, &mut state, &mut order)?;
    Ok(Plan {
        stages: planned,
        order,
        target,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    Active,
    Done,
}

fn visit(
    i: usize,
    stages: &[PlannedStage],
    state: &mut [Visit],
    order: &mut Vec<usize>,
) -> BuildResult<()> {
    state[i] = Visit::Active;
    for &(dep, pos) in &stages[i].deps {
        match state[dep] {
            Visit::Done => {}
            Visit::Active => {
                return Err(BuildError::at(
                    pos,
                    format!(
                        "circular dependency detected on stage: {} (a stage cannot use itself or a stage that uses it)",
                        stages[dep].display_name()
                    ),
                ));
            }
            Visit::New => visit(dep, stages, state, order)?,
        }
    }
    state[i] = Visit::Done;
    order.push(i);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(text: &str, target: Option<&str>) -> BuildResult<Plan> {
        let df = bale_parser::parse(text).unwrap();
        let ins = bale_parser::type_dockerfile(&df).unwrap();
        let (_, stages) = bale_parser::stages(&ins).unwrap();
        let bases: Vec<String> = stages.iter().map(|s| s.base().value.clone()).collect();
        plan(stages, &bases, target, &BTreeMap::new())
    }

    #[test]
    fn target_builds_only_what_it_needs() {
        let text = "FROM busybox AS a\nFROM busybox AS b\nFROM a AS c\nCOPY --from=b /x /x\nFROM busybox AS d\n";
        let p = planned(text, Some("c")).unwrap();
        assert_eq!(p.order, vec![0, 1, 2]);
        assert_eq!(p.target, 2);
        let p = planned(text, None).unwrap();
        assert_eq!(p.order, vec![3]);
        let p = planned("FROM scratch\nFROM busybox\nCOPY --from=0 / /\n", None).unwrap();
        assert_eq!(p.order, vec![0, 1]);
        assert_eq!(p.stages[0].base, Base::Scratch);
        assert_eq!(p.stages[1].base, Base::Image("busybox".into()));
    }

    #[test]
    fn mounts_from_stages_are_dependencies() {
        let text = "FROM busybox AS tools\nFROM busybox\nRUN --mount=from=tools,target=/t ls /t\n";
        let p = planned(text, None).unwrap();
        assert_eq!(p.order, vec![0, 1]);
    }

    #[test]
    fn cycles_and_unknown_targets_are_errors() {
        let e = planned("FROM b AS a\nFROM a AS b\n", None).unwrap_err();
        assert_eq!(e.pos, Some(Pos::new(1, 6)));
        assert!(
            e.message
                .contains("circular dependency detected on stage: b"),
            "{e}"
        );
        let e = planned("FROM busybox AS build\n", Some("buld")).unwrap_err();
        assert_eq!(
            e.message,
            "target stage \"buld\" could not be found (did you mean build?)"
        );
    }
}
