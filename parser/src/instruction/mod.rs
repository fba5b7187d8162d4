//! The instruction layer: syntax-tree [`Node`]s to typed [`Instruction`]s, as BuildKit's
//! `frontend/dockerfile/instructions` package reads them.
//!
//! Each instruction's `--flags` are parsed here into typed fields (mounts, durations, modes,
//! ports), its arguments checked (count, form, names), and every error BuildKit's instruction
//! layer raises is raised here with the line and column it is about. Variables are not expanded:
//! that needs the build-time scope. [`Instruction::expand`] applies expansion later, exactly
//! where BuildKit does. [`stages`] groups instructions into build stages.
//!
//! This module must not read files or know about images; it only sees nodes.

mod flags;
mod mount;
mod stage;
mod values;

use std::time::Duration;

use crate::ast::{Dockerfile, Heredoc, Node, Pos, Warning, Word};
use crate::error::{Error, ErrorKind, Result};
use flags::{FlagKind, Flags, parse_flags};

pub use mount::{Mount, MountSpec, MountType, Network, Security, Sharing};
pub use stage::{Stage, stages};
pub use values::{FileMode, ModeClause, PortRange, Protocol, parse_go_duration};

/// Where an instruction is: its keyword's position and its last physical line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Where the keyword starts.
    pub pos: Pos,
    /// The last line it consumed (continuations and heredoc bodies included).
    pub end_line: usize,
}

/// A command line in shell form (one string, run by the SHELL) or exec form (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandLine {
    /// `RUN echo hi`: the text as written, quotes and escapes kept.
    Shell(Word),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<Word>),
}

impl CommandLine {
    fn from_node(args: &[Word], json: bool, pos: Pos) -> CommandLine {
        if json {
            CommandLine::Exec(args.to_vec())
        } else {
            let text = args
                .iter()
                .map(|w| w.value.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            CommandLine::Shell(Word::new(text, args.first().map_or(pos, |w| w.pos)))
        }
    }

    /// True when the command is empty (`CMD []`, a bare `CMD`).
    pub fn is_empty(&self) -> bool {
        match self {
            CommandLine::Shell(w) => w.value.is_empty(),
            CommandLine::Exec(v) => v.is_empty(),
        }
    }
}

/// A `key=value` of ENV or LABEL. The value keeps its quotes and escapes until expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The name.
    pub key: Word,
    /// The value as written.
    pub value: Word,
}

/// `FROM [--platform=P] IMAGE [AS NAME]`: starts a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct From {
    /// Where it is.
    pub loc: Location,
    /// `--platform`.
    pub platform: Option<Word>,
    /// The base: an image reference, a stage name or `scratch`.
    pub image: Word,
    /// The stage name after `AS`, lower-cased as BuildKit does.
    pub name: Option<Word>,
}

/// `RUN [--mount=...] [--network=...] [--security=...] COMMAND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Where it is.
    pub loc: Location,
    /// `--mount`, in order.
    pub mounts: Vec<MountSpec>,
    /// `--network`.
    pub network: Option<Network>,
    /// `--security`.
    pub security: Option<Security>,
    /// The command.
    pub command: CommandLine,
    /// Heredocs the command opens.
    pub heredocs: Vec<Heredoc>,
}

/// `CMD` or `ENTRYPOINT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Where it is.
    pub loc: Location,
    /// The command.
    pub command: CommandLine,
}

/// `LABEL` or `ENV`: one or more pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    /// Where it is.
    pub loc: Location,
    /// The pairs, in order.
    pub pairs: Vec<KeyValue>,
}

/// `MAINTAINER NAME` (deprecated; see [`warnings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Maintainer {
    /// Where it is.
    pub loc: Location,
    /// The text.
    pub name: Word,
}

/// One EXPOSE entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExposedPort {
    /// As written.
    pub raw: Word,
    /// The ports, unless the entry holds a variable (read after expansion).
    pub range: Option<PortRange>,
}

/// `EXPOSE PORT[/PROTO] ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expose {
    /// Where it is.
    pub loc: Location,
    /// The entries.
    pub ports: Vec<ExposedPort>,
}

/// A source of ADD or COPY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A path, URL or glob.
    Path(Word),
    /// An inline file from a heredoc (`COPY <<EOF /dst`).
    Heredoc(Heredoc),
}

/// `--chmod`: as written, and read unless it holds a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chmod {
    /// As written.
    pub raw: Word,
    /// The mode, `None` until expansion when the value holds a variable.
    pub mode: Option<FileMode>,
}

/// `COPY` or `ADD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Where it is.
    pub loc: Location,
    /// The sources.
    pub sources: Vec<Source>,
    /// The destination.
    pub dest: Word,
    /// True when the arguments were a JSON array.
    pub json: bool,
    /// `--from` (COPY only).
    pub from: Option<Word>,
    /// `--chown`.
    pub chown: Option<Word>,
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude`, in order.
    pub exclude: Vec<Word>,
    /// `--checksum` (ADD only).
    pub checksum: Option<Word>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--unpack` (ADD only): `None` when not given (archives from the context are unpacked,
    /// URLs are not).
    pub unpack: Option<bool>,
}

/// `VOLUME PATH ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Where it is.
    pub loc: Location,
    /// The paths.
    pub paths: Vec<Word>,
}

/// An instruction taking one word: USER, WORKDIR, STOPSIGNAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Single {
    /// Where it is.
    pub loc: Location,
    /// The word.
    pub value: Word,
}

/// One `ARG` declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: Word,
    /// The default, as written.
    pub default: Option<Word>,
}

/// `ARG NAME[=DEFAULT] ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Where it is.
    pub loc: Location,
    /// The declarations.
    pub args: Vec<ArgDecl>,
}

/// `ONBUILD INSTRUCTION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Onbuild {
    /// Where it is.
    pub loc: Location,
    /// The trigger, typed; it runs in the stages built on this image.
    pub trigger: Box<Instruction>,
    /// The trigger's text, as stored in the image config.
    pub expression: String,
}

/// The test of a HEALTHCHECK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disables the base image's check.
    None,
    /// `HEALTHCHECK [OPTIONS] CMD ...`.
    Cmd {
        /// The command.
        command: CommandLine,
        /// `--interval`; `None` for the default.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`; `None` for the default.
        retries: Option<u32>,
    },
}

/// `HEALTHCHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    /// Where it is.
    pub loc: Location,
    /// The check.
    pub health: Health,
}

/// `SHELL ["executable", "parameters"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shell {
    /// Where it is.
    pub loc: Location,
    /// The shell and its arguments.
    pub shell: Vec<Word>,
}

/// One typed Dockerfile instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    /// FROM.
    From(From),
    /// RUN.
    Run(Run),
    /// CMD.
    Cmd(Command),
    /// LABEL.
    Label(Pairs),
    /// MAINTAINER.
    Maintainer(Maintainer),
    /// EXPOSE.
    Expose(Expose),
    /// ENV.
    Env(Pairs),
    /// ADD.
    Add(Copy),
    /// COPY.
    Copy(Copy),
    /// ENTRYPOINT.
    Entrypoint(Command),
    /// VOLUME.
    Volume(Volume),
    /// USER.
    User(Single),
    /// WORKDIR.
    Workdir(Single),
    /// ARG.
    Arg(Arg),
    /// ONBUILD.
    Onbuild(Onbuild),
    /// STOPSIGNAL.
    Stopsignal(Single),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// SHELL.
    Shell(Shell),
}

/// Every instruction keyword, for "did you mean" suggestions.
pub const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

impl Instruction {
    /// The instruction's location.
    pub fn loc(&self) -> Location {
        match self {
            Instruction::From(i) => i.loc,
            Instruction::Run(i) => i.loc,
            Instruction::Cmd(i) | Instruction::Entrypoint(i) => i.loc,
            Instruction::Label(i) | Instruction::Env(i) => i.loc,
            Instruction::Maintainer(i) => i.loc,
            Instruction::Expose(i) => i.loc,
            Instruction::Add(i) | Instruction::Copy(i) => i.loc,
            Instruction::Volume(i) => i.loc,
            Instruction::User(i) | Instruction::Workdir(i) | Instruction::Stopsignal(i) => i.loc,
            Instruction::Arg(i) => i.loc,
            Instruction::Onbuild(i) => i.loc,
            Instruction::Healthcheck(i) => i.loc,
            Instruction::Shell(i) => i.loc,
        }
    }

    /// The keyword, upper-case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Arg(_) => "ARG",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
        }
    }
}

fn args_error(pos: Pos, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Arguments, pos, message)
}

fn flag_error(pos: Pos, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Flag, pos, message)
}

/// Levenshtein distance over characters, case-insensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_uppercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_uppercase).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, when it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Types one node.
///
/// `escape` is the file's escape character. Typing needs it only to pass it on to ONBUILD
/// triggers, which are typed with the same; the words themselves were unescaped by the syntax
/// layer where BuildKit unescapes them.
#[allow(
    clippy::only_used_in_recursion,
    reason = "the escape character is part of the layer's interface; triggers receive it too"
)]
pub fn type_node(node: &Node, escape: char) -> Result<Instruction> {
    let loc = Location {
        pos: node.pos,
        end_line: node.end_line,
    };
    let kw = node.keyword.to_ascii_uppercase();
    let declared: &[(&'static str, FlagKind)] = match kw.as_str() {
        "FROM" => &[("platform", FlagKind::String)],
        "RUN" => &[
            ("mount", FlagKind::Strings),
            ("network", FlagKind::String),
            ("security", FlagKind::String),
        ],
        "COPY" => &[
            ("from", FlagKind::String),
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("parents", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ],
        "ADD" => &[
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::String),
            ("unpack", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ],
        "HEALTHCHECK" => {
            // BuildKit declares the options for every type but NONE, and never reads the flags
            // of HEALTHCHECK NONE at all.
            let is_none = node
                .args
                .first()
                .is_some_and(|w| w.value.eq_ignore_ascii_case("NONE"));
            if !is_none {
                &[
                    ("interval", FlagKind::String),
                    ("timeout", FlagKind::String),
                    ("start-period", FlagKind::String),
                    ("start-interval", FlagKind::String),
                    ("retries", FlagKind::String),
                ]
            } else {
                &[]
            }
        }
        k if KEYWORDS.contains(&k) => &[],
        _ => return Err(unknown_instruction(node)),
    };
    let healthcheck_none = kw == "HEALTHCHECK"
        && node
            .args
            .first()
            .is_some_and(|w| w.value.eq_ignore_ascii_case("NONE"));
    let flags = if healthcheck_none {
        Flags::default()
    } else {
        parse_flags(&kw, &node.flags, declared)?
    };
    let args = &node.args;
    let first_extra = |n: usize| args.get(n).map_or(node.pos, |w| w.pos);
    let exactly_one = |name: &str| -> Result<Word> {
        match args.len() {
            1 => Ok(args[0].clone()),
            0 => Err(args_error(
                node.pos,
                format!("{name} requires exactly one argument"),
            )),
            _ => Err(args_error(
                first_extra(1),
                format!("{name} requires exactly one argument, got {}", args.len()),
            )),
        }
    };
    let at_least_one = |name: &str| -> Result<()> {
        if args.is_empty() {
            Err(args_error(
                node.pos,
                format!("{name} requires at least one argument"),
            ))
        } else {
            Ok(())
        }
    };
    Ok(match kw.as_str() {
        "FROM" => Instruction::From(type_from(node, loc, &flags)?),
        "RUN" => Instruction::Run(type_run(node, loc, &flags)?),
        "CMD" | "ENTRYPOINT" => {
            let c = Command {
                loc,
                command: CommandLine::from_node(args, node.json, node.pos),
            };
            if kw == "CMD" {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            }
        }
        "LABEL" | "ENV" => {
            at_least_one(&kw)?;
            let p = Pairs {
                loc,
                pairs: key_values(&kw, args, node.pos)?,
            };
            if kw == "ENV" {
                Instruction::Env(p)
            } else {
                Instruction::Label(p)
            }
        }
        "MAINTAINER" => Instruction::Maintainer(Maintainer {
            loc,
            name: exactly_one("MAINTAINER")?,
        }),
        "EXPOSE" => {
            at_least_one("EXPOSE")?;
            // BuildKit sorts the entries.
            let mut sorted: Vec<&Word> = args.iter().collect();
            sorted.sort_by(|a, b| a.value.cmp(&b.value));
            let ports = sorted
                .into_iter()
                .map(|w| {
                    let range = if w.value.contains('$') {
                        None
                    } else {
                        Some(PortRange::parse(&w.value).map_err(|e| args_error(w.pos, e))?)
                    };
                    Ok(ExposedPort {
                        raw: w.clone(),
                        range,
                    })
                })
                .collect::<Result<_>>()?;
            Instruction::Expose(Expose { loc, ports })
        }
        "ADD" | "COPY" => {
            let c = type_copy(&kw, node, loc, &flags)?;
            if kw == "ADD" {
                Instruction::Add(c)
            } else {
                Instruction::Copy(c)
            }
        }
        "VOLUME" => {
            at_least_one("VOLUME")?;
            let mut paths = Vec::with_capacity(args.len());
            for w in args {
                let path = w.value.trim();
                if path.is_empty() {
                    return Err(args_error(
                        w.pos,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                paths.push(Word::new(path, w.pos));
            }
            Instruction::Volume(Volume { loc, paths })
        }
        "USER" => Instruction::User(Single {
            loc,
            value: exactly_one("USER")?,
        }),
        "WORKDIR" => Instruction::Workdir(Single {
            loc,
            value: exactly_one("WORKDIR")?,
        }),
        "STOPSIGNAL" => Instruction::Stopsignal(Single {
            loc,
            value: exactly_one("STOPSIGNAL")?,
        }),
        "ARG" => {
            at_least_one("ARG")?;
            let mut decls = Vec::new();
            for w in args {
                let (name, default) = match w.value.split_once('=') {
                    Some((n, v)) => {
                        let vpos = Pos::new(w.pos.line, w.pos.column + n.chars().count() + 1);
                        (n, Some(Word::new(v, vpos)))
                    }
                    None => (w.value.as_str(), None),
                };
                if name.is_empty() {
                    return Err(args_error(
                        w.pos,
                        "ARG names can not be blank (write ARG NAME=VALUE)",
                    ));
                }
                decls.push(ArgDecl {
                    name: Word::new(name, w.pos),
                    default,
                });
            }
            Instruction::Arg(Arg { loc, args: decls })
        }
        "ONBUILD" => {
            let Some(trigger) = node.onbuild.as_deref() else {
                return Err(args_error(
                    node.pos,
                    "ONBUILD requires at least one argument",
                ));
            };
            let tkw = trigger.keyword.to_ascii_uppercase();
            match tkw.as_str() {
                "ONBUILD" => {
                    return Err(args_error(
                        trigger.pos,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ));
                }
                "MAINTAINER" | "FROM" => {
                    return Err(args_error(
                        trigger.pos,
                        format!("{tkw} isn't allowed as an ONBUILD trigger"),
                    ));
                }
                _ => {}
            }
            let typed = type_node(trigger, escape)?;
            Instruction::Onbuild(Onbuild {
                loc,
                trigger: Box::new(typed),
                expression: trigger_text(node),
            })
        }
        "HEALTHCHECK" => Instruction::Healthcheck(type_healthcheck(node, loc, &flags)?),
        "SHELL" => {
            if args.is_empty() {
                return Err(args_error(node.pos, "SHELL requires at least one argument"));
            }
            if !node.json {
                return Err(args_error(
                    args[0].pos,
                    "SHELL requires the arguments to be in JSON form, such as SHELL [\"/bin/sh\", \"-c\"]",
                ));
            }
            Instruction::Shell(Shell {
                loc,
                shell: args.clone(),
            })
        }
        // Only the keywords above pass the flag table.
        _ => return Err(unknown_instruction(node)),
    })
}

/// `unknown instruction: RUNN (did you mean RUN?)`, or the list of instructions when no keyword
/// is close.
fn unknown_instruction(node: &Node) -> Error {
    let hint = match suggest(&node.keyword, &KEYWORDS) {
        Some(s) => format!(" (did you mean {s}?)"),
        None => format!(" (instructions are {})", KEYWORDS.join(", ")),
    };
    Error::new(
        ErrorKind::UnknownInstruction,
        node.pos,
        format!("unknown instruction: {}{hint}", node.keyword),
    )
}

/// The trigger's text as BuildKit stores it in the image: the ONBUILD line without its keyword
/// and the blanks after it, then each heredoc's body and terminator.
fn trigger_text(node: &Node) -> String {
    let orig = node.original.trim_start();
    let rest = orig
        .get(..7)
        .filter(|k| k.eq_ignore_ascii_case("ONBUILD"))
        .map_or(orig, |_| &orig[7..]);
    let mut text = rest.trim_start().to_string();
    let heredocs = node.onbuild.as_deref().map_or(&node.heredocs, |t| {
        if t.heredocs.is_empty() {
            &node.heredocs
        } else {
            &t.heredocs
        }
    });
    for h in heredocs {
        text.push('\n');
        text.push_str(&h.content);
        text.push_str(&h.name);
    }
    text
}

fn key_values(kw: &str, args: &[Word], pos: Pos) -> Result<Vec<KeyValue>> {
    if !args.len().is_multiple_of(3) {
        return Err(args_error(
            pos,
            format!("Bad input to {kw}, too many arguments"),
        ));
    }
    args.chunks(3)
        .map(|c| {
            if c[0].value.is_empty() {
                return Err(args_error(
                    c[0].pos,
                    format!("{kw} names can not be blank (write {kw} NAME=VALUE)"),
                ));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
            })
        })
        .collect()
}

fn valid_stage_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn type_from(node: &Node, loc: Location, flags: &Flags) -> Result<From> {
    let args = &node.args;
    let name = match args.len() {
        1 => None,
        3 if args[1].value.eq_ignore_ascii_case("AS") => {
            let lower = args[2].value.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(args_error(
                    args[2].pos,
                    format!(
                        "invalid name for build stage: \"{}\", name can't start with a number or contain symbols (use letters, digits, -, _ and .)",
                        args[2].value
                    ),
                ));
            }
            Some(Word::new(lower, args[2].pos))
        }
        3 => {
            return Err(args_error(
                args[1].pos,
                format!(
                    "FROM expects AS before the stage name, got \"{}\" (write FROM IMAGE AS NAME)",
                    args[1].value
                ),
            ));
        }
        0 => {
            return Err(args_error(
                node.pos,
                "FROM requires either one or three arguments (FROM IMAGE [AS NAME])",
            ));
        }
        n => {
            return Err(args_error(
                args[1.min(n - 1)].pos,
                "FROM requires either one or three arguments (FROM IMAGE [AS NAME])",
            ));
        }
    };
    Ok(From {
        loc,
        platform: flags.string("platform"),
        image: args[0].clone(),
        name,
    })
}

fn type_run(node: &Node, loc: Location, flags: &Flags) -> Result<Run> {
    let mounts = flags
        .strings("mount")
        .into_iter()
        .map(|w| {
            let pos = w.pos;
            MountSpec::parse(w).map_err(|e| flag_error(pos, format!("--mount: {e}")))
        })
        .collect::<Result<_>>()?;
    let network = flags
        .string("network")
        .map(|w| Network::parse(&w.value).map_err(|e| flag_error(w.pos, e)))
        .transpose()?;
    let security = flags
        .string("security")
        .map(|w| Security::parse(&w.value).map_err(|e| flag_error(w.pos, e)))
        .transpose()?;
    Ok(Run {
        loc,
        mounts,
        network,
        security,
        command: CommandLine::from_node(&node.args, node.json, node.pos),
        heredocs: node.heredocs.clone(),
    })
}

/// The name of the heredoc `word` opens (`<<EOF`, `<<-EOF`, `3<<"EOF"` give `EOF`), if any.
fn heredoc_name(word: &str) -> Option<String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name: String = rest.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
    (!name.is_empty()).then_some(name)
}

/// True for the sources ADD fetches rather than reads from the context: HTTP(S) URLs and Git
/// repositories.
fn is_remote(src: &str) -> bool {
    let lower = src.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("git://")
        || lower.starts_with("git@")
        || lower.starts_with("ssh://")
        || lower.ends_with(".git")
        || lower.contains(".git#")
}

fn type_copy(kw: &str, node: &Node, loc: Location, flags: &Flags) -> Result<Copy> {
    let args = &node.args;
    if args.len() < 2 {
        return Err(args_error(
            args.first().map_or(node.pos, |w| w.pos),
            format!(
                "{kw} requires at least two arguments, but only {} provided: the destination could not be determined (write {kw} SRC... DEST)",
                if args.is_empty() {
                    "none was".to_string()
                } else {
                    "one was".to_string()
                }
            ),
        ));
    }
    let dest = &args[args.len() - 1];
    if !node.json && heredoc_name(&dest.value).is_some() && !node.heredocs.is_empty() {
        return Err(args_error(
            dest.pos,
            format!("{kw} cannot accept a heredoc as a destination (write {kw} <<EOF /path)"),
        ));
    }
    // BuildKit looks a source heredoc up by its name.
    let sources: Vec<Source> = args[..args.len() - 1]
        .iter()
        .map(|w| {
            if !node.json
                && let Some(name) = heredoc_name(&w.value)
                && let Some(h) = node.heredocs.iter().rev().find(|h| h.name == name)
            {
                return Source::Heredoc(h.clone());
            }
            Source::Path(w.clone())
        })
        .collect();
    let chmod = flags
        .string("chmod")
        .map(|w| {
            let mode = if w.value.contains('$') {
                None
            } else {
                Some(FileMode::parse(&w.value).map_err(|e| flag_error(w.pos, e))?)
            };
            Ok::<_, Error>(Chmod { raw: w, mode })
        })
        .transpose()?;
    let checksum = flags.string("checksum");
    if let Some(sum) = &checksum
        && let Some(local) = sources.iter().find_map(|s| match s {
            Source::Path(w) if !w.value.contains('$') && !is_remote(&w.value) => Some(w),
            _ => None,
        })
    {
        return Err(flag_error(
            sum.pos,
            format!(
                "checksum can't be specified for non-HTTP(S) sources: {} is a local path (drop --checksum or use a URL)",
                local.value
            ),
        ));
    }
    let unpack = flags.bool("unpack");
    Ok(Copy {
        loc,
        sources,
        dest: dest.clone(),
        json: node.json,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod,
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
        checksum,
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack,
    })
}

fn type_healthcheck(node: &Node, loc: Location, flags: &Flags) -> Result<Healthcheck> {
    let args = &node.args;
    let Some(kind) = args.first() else {
        return Err(args_error(
            node.pos,
            "HEALTHCHECK requires at least one argument (HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE)",
        ));
    };
    let health = match kind.value.to_ascii_uppercase().as_str() {
        "NONE" => {
            if args.len() != 1 {
                return Err(args_error(
                    args[1].pos,
                    "HEALTHCHECK NONE takes no arguments",
                ));
            }
            Health::None
        }
        "CMD" => {
            let rest = &args[1..];
            if rest.is_empty() || (!node.json && rest.iter().all(|w| w.value.trim().is_empty())) {
                return Err(args_error(
                    kind.pos,
                    "Missing command after HEALTHCHECK CMD",
                ));
            }
            let interval = |name: &str| -> Result<Option<Duration>> {
                match flags.string(name) {
                    Some(w) if !w.value.is_empty() => {
                        values::parse_interval(name, &w.value).map_err(|e| flag_error(w.pos, e))
                    }
                    _ => Ok(None),
                }
            };
            let retries = match flags.string("retries") {
                Some(w) if !w.value.is_empty() => {
                    let n: i64 = w.value.parse().map_err(|_| {
                        flag_error(
                            w.pos,
                            format!("--retries must be a whole number, got \"{}\"", w.value),
                        )
                    })?;
                    if n < 0 {
                        return Err(flag_error(
                            w.pos,
                            format!("--retries cannot be negative ({n})"),
                        ));
                    }
                    let n = u32::try_from(n)
                        .ok()
                        .filter(|n| *n <= i32::MAX as u32)
                        .ok_or_else(|| {
                            flag_error(w.pos, format!("--retries is too large ({n})"))
                        })?;
                    // BuildKit keeps 0 as "the default".
                    (n > 0).then_some(n)
                }
                _ => None,
            };
            Health::Cmd {
                command: CommandLine::from_node(rest, node.json, kind.pos),
                interval: interval("interval")?,
                timeout: interval("timeout")?,
                start_period: interval("start-period")?,
                start_interval: interval("start-interval")?,
                retries,
            }
        }
        other => {
            return Err(args_error(
                kind.pos,
                format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD or NONE)"),
            ));
        }
    };
    Ok(Healthcheck { loc, health })
}

/// Types every instruction of a parsed Dockerfile, in order; the first error stops.
///
/// ```
/// use bale_parser::{Instruction, parse, type_dockerfile};
/// let df = parse("FROM alpine AS base\nCOPY --chmod=0755 run.sh /usr/bin/\n").unwrap();
/// let typed = type_dockerfile(&df).unwrap();
/// let Instruction::Copy(copy) = &typed[1] else { unreachable!() };
/// assert_eq!(copy.dest.value, "/usr/bin/");
///
/// let df = parse("FROM alpine\nRUNN make\n").unwrap();
/// let err = type_dockerfile(&df).unwrap_err();
/// assert_eq!(err.to_string(), "2:1: unknown instruction: RUNN (did you mean RUN?)");
/// ```
pub fn type_dockerfile(df: &Dockerfile) -> Result<Vec<Instruction>> {
    let escape = df.directives.escape_char();
    df.nodes.iter().map(|n| type_node(n, escape)).collect()
}

/// True for the instruction errors that BuildKit's own parser corpus still treats as a valid
/// Dockerfile syntax: an unknown `--flag` (the parser keeps flags verbatim) on any instruction but
/// FROM, and a HEALTHCHECK without a known type or without a command. A syntax check (`bale
/// parse`) reports them as warnings; a build must reject them.
pub fn syntax_tolerates(node: &Node, err: &Error) -> bool {
    let keyword = node.keyword.to_ascii_uppercase();
    if keyword == "FROM" {
        return false;
    }
    let unknown_flag = err.kind == ErrorKind::Flag && err.message.starts_with("unknown flag: ");
    let incomplete_healthcheck = keyword == "HEALTHCHECK"
        && err.kind == ErrorKind::Arguments
        && node
            .args
            .first()
            .is_none_or(|t| !t.value.eq_ignore_ascii_case("CMD") || node.args.len() == 1)
        && !node
            .args
            .first()
            .is_some_and(|t| t.value.eq_ignore_ascii_case("NONE"));
    unknown_flag || incomplete_healthcheck
}

/// What BuildKit accepts in the instruction layer but warns about (MAINTAINER).
pub fn warnings(instructions: &[Instruction]) -> Vec<Warning> {
    instructions
        .iter()
        .filter_map(|i| match i {
            Instruction::Maintainer(m) => Some(Warning {
                pos: m.loc.pos,
                message: "MAINTAINER instruction is deprecated in favor of using label (write LABEL org.opencontainers.image.authors=...)".into(),
            }),
            _ => None,
        })
        .collect()
}

/// Expands variables in words of an instruction. bale's shell lexer implements it with the
/// build-time scope; tests use a map.
pub trait Expander {
    /// Expands `word` to one word, quotes removed, no splitting (BuildKit's `ProcessWord`).
    fn word(&self, word: &str) -> std::result::Result<String, String>;
    /// Expands `word` and splits the result into words (BuildKit's `ProcessWords`).
    fn words(&self, word: &str) -> std::result::Result<Vec<String>, String>;
    /// Expands the body of a heredoc whose delimiter was not quoted: variables only, quotes and
    /// escapes kept (BuildKit's lexer with `RawQuotes` and `RawEscapes`).
    fn heredoc(&self, body: &str) -> std::result::Result<String, String>;
}

fn expand_word(ex: &dyn Expander, w: &Word) -> Result<Word> {
    ex.word(&w.value)
        .map(|v| Word::new(v, w.pos))
        .map_err(|e| Error::new(ErrorKind::Expansion, w.pos, e))
}

fn expand_opt(ex: &dyn Expander, w: &Option<Word>) -> Result<Option<Word>> {
    w.as_ref().map(|w| expand_word(ex, w)).transpose()
}

impl Instruction {
    /// The instruction with variables expanded where BuildKit expands them: ADD and COPY
    /// (sources, destination, `--chown`, `--chmod`, ADD's `--checksum`, and the bodies of
    /// heredocs whose delimiter was not quoted), ENV and LABEL (names and values), EXPOSE (each
    /// entry split into words), FROM (the image and `--platform`, not the stage name), ARG
    /// defaults, STOPSIGNAL, USER, VOLUME, WORKDIR, and RUN's `--mount` values except `from=`.
    ///
    /// Left as written, as BuildKit leaves them: COPY `--from` (a stage reference is static),
    /// `--exclude` patterns, RUN, CMD and ENTRYPOINT commands in either form and RUN heredoc
    /// bodies (the shell expands those when it runs), HEALTHCHECK, SHELL, MAINTAINER and ONBUILD
    /// (its trigger is expanded in the stage that runs it). Errors carry the word's position.
    ///
    /// The per-stage scope that supplies the variables is [`crate::scope`].
    pub fn expand(&self, ex: &dyn Expander) -> Result<Instruction> {
        Ok(match self {
            Instruction::From(f) => Instruction::From(From {
                loc: f.loc,
                platform: expand_opt(ex, &f.platform)?,
                image: expand_word(ex, &f.image)?,
                name: f.name.clone(),
            }),
            Instruction::Run(r) => {
                let mounts = r
                    .mounts
                    .iter()
                    .map(|m| {
                        let pos = m.raw.pos;
                        m.expand_with(&mut |v| ex.word(v)).map_err(|e| {
                            Error::new(ErrorKind::Expansion, pos, format!("--mount: {e}"))
                        })
                    })
                    .collect::<Result<_>>()?;
                Instruction::Run(Run {
                    mounts,
                    ..r.clone()
                })
            }
            Instruction::Label(p) => Instruction::Label(expand_pairs(ex, p)?),
            Instruction::Env(p) => Instruction::Env(expand_pairs(ex, p)?),
            Instruction::Expose(e) => {
                let mut ports = Vec::new();
                for p in &e.ports {
                    let words = ex
                        .words(&p.raw.value)
                        .map_err(|m| Error::new(ErrorKind::Expansion, p.raw.pos, m))?;
                    for w in words {
                        let range = PortRange::parse(&w).map_err(|m| args_error(p.raw.pos, m))?;
                        ports.push(ExposedPort {
                            raw: Word::new(w, p.raw.pos),
                            range: Some(range),
                        });
                    }
                }
                Instruction::Expose(Expose { loc: e.loc, ports })
            }
            Instruction::Add(c) => Instruction::Add(expand_copy(ex, c)?),
            Instruction::Copy(c) => Instruction::Copy(expand_copy(ex, c)?),
            Instruction::Volume(v) => Instruction::Volume(Volume {
                loc: v.loc,
                paths: v
                    .paths
                    .iter()
                    .map(|w| {
                        let path = expand_word(ex, w)?;
                        if path.value.is_empty() {
                            return Err(args_error(
                                w.pos,
                                format!(
                                    "VOLUME specified can not be an empty string: {} expanded to nothing (give the variable a value)",
                                    w.value
                                ),
                            ));
                        }
                        Ok(path)
                    })
                    .collect::<Result<_>>()?,
            }),
            Instruction::User(s) => Instruction::User(expand_single(ex, s)?),
            Instruction::Workdir(s) => Instruction::Workdir(expand_single(ex, s)?),
            Instruction::Stopsignal(s) => Instruction::Stopsignal(expand_single(ex, s)?),
            Instruction::Arg(a) => Instruction::Arg(Arg {
                loc: a.loc,
                args: a
                    .args
                    .iter()
                    .map(|d| {
                        Ok(ArgDecl {
                            name: d.name.clone(),
                            default: expand_opt(ex, &d.default)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            }),
            other @ (Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Maintainer(_)
            | Instruction::Onbuild(_)
            | Instruction::Healthcheck(_)
            | Instruction::Shell(_)) => other.clone(),
        })
    }
}

fn expand_single(ex: &dyn Expander, s: &Single) -> Result<Single> {
    Ok(Single {
        loc: s.loc,
        value: expand_word(ex, &s.value)?,
    })
}

fn expand_pairs(ex: &dyn Expander, p: &Pairs) -> Result<Pairs> {
    Ok(Pairs {
        loc: p.loc,
        pairs: p
            .pairs
            .iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: expand_word(ex, &kv.key)?,
                    value: expand_word(ex, &kv.value)?,
                })
            })
            .collect::<Result<_>>()?,
    })
}

fn expand_copy(ex: &dyn Expander, c: &Copy) -> Result<Copy> {
    let sources = c
        .sources
        .iter()
        .map(|s| {
            Ok(match s {
                Source::Path(w) => Source::Path(expand_word(ex, w)?),
                Source::Heredoc(h) if h.expand => {
                    let content = ex
                        .heredoc(&h.content)
                        .map_err(|e| Error::new(ErrorKind::Expansion, c.loc.pos, e))?;
                    Source::Heredoc(Heredoc {
                        content,
                        ..h.clone()
                    })
                }
                Source::Heredoc(h) => Source::Heredoc(h.clone()),
            })
        })
        .collect::<Result<_>>()?;
    let chmod = match &c.chmod {
        Some(m) => {
            let raw = expand_word(ex, &m.raw)?;
            let mode = FileMode::parse(&raw.value).map_err(|e| flag_error(raw.pos, e))?;
            Some(Chmod {
                raw,
                mode: Some(mode),
            })
        }
        None => None,
    };
    Ok(Copy {
        loc: c.loc,
        sources,
        dest: expand_word(ex, &c.dest)?,
        json: c.json,
        // BuildKit resolves `--from` before any variable is known: it stays as written.
        from: c.from.clone(),
        chown: expand_opt(ex, &c.chown)?,
        chmod,
        link: c.link,
        parents: c.parents,
        // BuildKit hands `--exclude` patterns to the copy unexpanded.
        exclude: c.exclude.clone(),
        checksum: expand_opt(ex, &c.checksum)?,
        keep_git_dir: c.keep_git_dir,
        unpack: c.unpack,
    })
}

#[cfg(test)]
mod tests;
