//! Variable scoping: which `ARG` and `ENV` values each instruction of a build sees, as
//! BuildKit's `dockerfile2llb` dispatches them.
//!
//! This module owns the values, not the words: [`Instruction::expand`] decides which words of an
//! instruction are expanded, and the shell lexer ([`Lexer`]) how. Here is decided with what:
//!
//! - **Global scope** ([`GlobalScope`]): the ARGs before the first FROM (meta ARGs) and the
//!   predefined platform args (`BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`,
//!   `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, `TARGETSTAGE`). Only FROM lines
//!   see it ([`GlobalScope::expand_from`]: the image and `--platform`, never the `AS` name).
//!   A `--build-arg` overrides a meta ARG's default and a predefined arg's value.
//! - **Stage scope** ([`StageScope`]): starts from the base image's `Env` (plus BuildKit's default
//!   `PATH` when the image has none). A global value is visible inside the stage only once the
//!   stage redeclares it with `ARG NAME`. An `ARG` takes, in this order, the `--build-arg` value,
//!   its own default (expanded in the stage), or the global value; with none of them it stays
//!   unset, so `${NAME-x}` gives `x`. ARG and ENV values go into one ordered environment, the later
//!   assignment of a name replacing the earlier, so an ENV after an ARG of the same name overrides
//!   it. All words of one instruction are expanded before it takes effect (`ENV A=2 B=$A` sees
//!   the old `A`).
//! - **Stages built on stages**: `FROM earlier` continues the earlier stage's scope
//!   ([`StageScope::child`]): its ENV and, as BuildKit does (and unlike the classic builder), its
//!   declared ARGs.
//! - **RUN** sees [`StageScope::run_env`]: the stage environment (image `Env`, ENV, ARG values, in
//!   BuildKit's order), then the proxy build-args (`HTTP_PROXY`, `HTTPS_PROXY`, `FTP_PROXY`,
//!   `NO_PROXY`, `ALL_PROXY`, in either case) in both cases, which need no declaration and are
//!   kept out of history ([`StageScope::history_args`]) and cache keys
//!   ([`StageScope::cache_args`]).
//! - Build-args that no ARG declared are reported by [`GlobalScope::unused_build_args`].
//! - BuildKit's lint warnings about variables: `UndefinedVar` ([`StageScope::warnings`]) and
//!   `UndefinedArgInFrom` ([`GlobalScope::check_from`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use bale_parser::scope::{BuildInputs, GlobalScope, Platform};
//! use bale_parser::{Instruction, parse, stages, type_dockerfile};
//!
//! let df = parse(concat!(
//!     "ARG TAG=3.20\n",
//!     "FROM alpine:$TAG AS base\n",
//!     "ARG TAG\n",
//!     "ARG MODE=release\n",
//!     "ENV DIR=/src/$MODE\n",
//!     "WORKDIR $DIR\n",
//!     "RUN make\n",
//! ))
//! .unwrap();
//! let typed = type_dockerfile(&df).unwrap();
//! let (meta, stages) = stages(&typed).unwrap();
//! let inputs = BuildInputs {
//!     build_args: BTreeMap::from([("MODE".into(), "debug".into()), ("X".into(), "1".into())]),
//!     platform: Platform::host(),
//!     target_stage: None,
//! };
//! let global = GlobalScope::new(&inputs, &meta, &stages, df.directives.escape_char()).unwrap();
//! assert_eq!(global.expand_from(&stages[0].from).unwrap().image.value, "alpine:3.20");
//!
//! let mut scope = global.stage(&["PATH=/bin".to_string()]);
//! let mut workdir = None;
//! for ins in &stages[0].instructions {
//!     if let Instruction::Workdir(w) = scope.apply(ins).unwrap() {
//!         workdir = Some(w.value.value);
//!     }
//! }
//! assert_eq!(workdir.as_deref(), Some("/src/debug"));
//! assert_eq!(scope.env(), ["PATH=/bin", "DIR=/src/debug"]);
//! assert_eq!(scope.run_env(), ["PATH=/bin", "TAG=3.20", "MODE=debug", "DIR=/src/debug"]);
//! assert_eq!(
//!     scope.run_history(&["/bin/sh".into(), "-c".into(), "make".into()]),
//!     "|2 TAG=3.20 MODE=debug /bin/sh -c make"
//! );
//! assert_eq!(global.unused_build_args(), ["X"]);
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::ast::{Pos, Warning, Word};
use crate::error::{Error, ErrorKind, Result};
use crate::instruction::{Arg, ArgDecl, Expander, From, Instruction, Stage, suggest};
use crate::shell::{Env, Lexer, ShellError};

/// The `PATH` BuildKit gives a stage whose image sets none (Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The proxy build-args that need no ARG declaration. BuildKit passes them to RUN only, in
/// upper and lower case, and keeps them out of history and cache keys.
pub const PROXY_ARGS: [&str; 5] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// The args BuildKit defines in the global scope before any meta ARG.
pub const PLATFORM_ARGS: [&str; 9] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// Args BuildKit keeps out of the environment (they configure SBOM scanning, not the build).
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// An OS, architecture and optional variant: `linux/amd64`, `linux/arm/v7`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ...
    pub arch: String,
    /// `v7`, or empty.
    pub variant: String,
}

impl Platform {
    /// The platform bale runs on, named as OCI names it (`x86_64` is `amd64`).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
            variant: String::new(),
        }
    }

    /// Reads `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> std::result::Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            format!(
                "invalid platform \"{s}\": write OS/ARCH or OS/ARCH/VARIANT (linux/amd64, linux/arm/v7)"
            )
        };
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        if !parts.iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            arch: parts[1].to_ascii_lowercase(),
            variant: parts
                .get(2)
                .map_or(String::new(), |v| v.to_ascii_lowercase()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// What the user gives a build that variables depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInputs {
    /// `--build-arg NAME=VALUE`, by name.
    pub build_args: BTreeMap<String, String>,
    /// The target platform (`TARGETPLATFORM`); the build platform is always the host.
    pub platform: Platform,
    /// `--target`; `None` builds the last stage.
    pub target_stage: Option<String>,
}

/// An ordered environment in which setting a name again replaces its value in place: BuildKit's
/// `llb.EnvList` and the image config's `Env` both behave so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct EnvList(Vec<(String, String)>);

impl EnvList {
    fn from_strings(entries: &[String]) -> EnvList {
        let mut env = EnvList::default();
        for e in entries {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            env.set(k, v);
        }
        env
    }

    fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl Env for EnvList {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What every stage of one build shares.
#[derive(Debug)]
struct Shared {
    escape: char,
    build_args: BTreeMap<String, String>,
    /// Platform args, then meta ARGs with a value.
    globals: EnvList,
    /// Names the meta ARGs declare, with or without a value.
    meta_names: BTreeSet<String>,
    /// `KEY=VALUE` for RUN, from the proxy build-args.
    proxy_env: Vec<(String, String)>,
    /// Names some ARG declared, globally or in a stage.
    declared: Mutex<BTreeSet<String>>,
}

impl Shared {
    fn declare(&self, name: &str) {
        // A poisoned lock only means another stage panicked; the set itself is still sound.
        let mut set = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(name.to_string());
    }
}

/// The global scope of a build: predefined args and meta ARGs, used by FROM lines, and the
/// source of every stage's scope.
#[derive(Clone, Debug)]
pub struct GlobalScope {
    shared: Arc<Shared>,
}

fn expansion_error(pos: Pos, e: ShellError) -> Error {
    Error::new(ErrorKind::Expansion, pos, e.message)
}

impl GlobalScope {
    /// The global scope for `inputs`: the predefined args (a `--build-arg` of the same name
    /// overrides each), then `meta_args` (the ARGs before the first FROM, as [`crate::stages`]
    /// returns them) in order, each taking its `--build-arg` value or else its default expanded
    /// against the args before it. `stages` gives `TARGETSTAGE` its default, the last stage's
    /// name. `escape` is the file's escape token.
    pub fn new(
        inputs: &BuildInputs,
        meta_args: &[Arg],
        stages: &[Stage],
        escape: char,
    ) -> Result<GlobalScope> {
        let build = Platform::host();
        let target = &inputs.platform;
        let target_stage = inputs.target_stage.clone().unwrap_or_else(|| {
            stages
                .last()
                .and_then(|s| s.name.as_ref())
                .map_or(String::new(), |n| n.value.clone())
        });
        let defaults = [
            ("BUILDPLATFORM", build.to_string()),
            ("BUILDOS", build.os.clone()),
            ("BUILDARCH", build.arch.clone()),
            ("BUILDVARIANT", build.variant.clone()),
            ("TARGETPLATFORM", target.to_string()),
            ("TARGETOS", target.os.clone()),
            ("TARGETARCH", target.arch.clone()),
            ("TARGETVARIANT", target.variant.clone()),
            ("TARGETSTAGE", target_stage),
        ];
        let mut globals = EnvList::default();
        for (k, v) in defaults {
            let v = inputs.build_args.get(k).cloned().unwrap_or(v);
            globals.set(k, &v);
        }
        let lexer = Lexer::new(escape);
        let mut declared = BTreeSet::new();
        for arg in meta_args {
            for decl in &arg.args {
                let name = &decl.name.value;
                declared.insert(name.clone());
                let value = match (inputs.build_args.get(name), &decl.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(
                        lexer
                            .process_word(&d.value, &globals)
                            .map_err(|e| expansion_error(d.pos, e))?,
                    ),
                    (None, None) => None,
                };
                if let Some(v) = value {
                    globals.set(name, &v);
                }
            }
        }
        // BuildKit matches the proxy names case-insensitively; when both spellings are given,
        // the later in name order (the lower-case one) wins here, deterministically.
        let mut proxy_env = Vec::new();
        for name in PROXY_ARGS {
            let value = inputs
                .build_args
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .next_back();
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                proxy_env.push((name.to_string(), v.clone()));
                proxy_env.push((name.to_ascii_lowercase(), v.clone()));
            }
        }
        Ok(GlobalScope {
            shared: Arc::new(Shared {
                escape,
                build_args: inputs.build_args.clone(),
                meta_names: declared.clone(),
                globals,
                proxy_env,
                declared: Mutex::new(declared),
            }),
        })
    }

    /// The value of a global arg, `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.shared.globals.get(name)
    }

    /// The global args with a value, in definition order, as `KEY=VALUE`.
    pub fn args(&self) -> Vec<String> {
        self.shared.globals.strings()
    }

    /// A FROM line with its image and `--platform` expanded in the global scope. The `AS` name
    /// is never expanded. An image that expands to nothing, or a platform that expands to
    /// nothing or to something that is not `os/arch[/variant]`, is an error at that word.
    pub fn expand_from(&self, from: &From) -> Result<From> {
        let lexer = Lexer::new(self.shared.escape);
        let env = &self.shared.globals;
        let image = lexer
            .process_word(&from.image.value, env)
            .map_err(|e| expansion_error(from.image.pos, e))?;
        if image.is_empty() {
            return Err(Error::new(
                ErrorKind::Arguments,
                from.image.pos,
                format!(
                    "base name ({}) should not be blank: give the variable a default or pass --build-arg",
                    from.image.value
                ),
            ));
        }
        let platform = match &from.platform {
            Some(w) => {
                let value = lexer
                    .process_word(&w.value, env)
                    .map_err(|e| expansion_error(w.pos, e))?;
                if value.is_empty() {
                    return Err(Error::new(
                        ErrorKind::Arguments,
                        w.pos,
                        format!("empty platform value from expression {}", w.value),
                    ));
                }
                Platform::parse(&value).map_err(|e| {
                    Error::new(
                        ErrorKind::Arguments,
                        w.pos,
                        format!("failed to parse platform {}: {e}", w.value),
                    )
                })?;
                Some(Word::new(value, w.pos))
            }
            None => None,
        };
        Ok(From {
            loc: from.loc,
            platform,
            image: Word::new(image, from.image.pos),
            name: from.name.clone(),
        })
    }

    /// BuildKit's `UndefinedArgInFrom` check: the variables `from`'s image and `--platform`
    /// use that neither a meta ARG nor a predefined arg declares, as warnings at the FROM:
    /// `FROM argument 'VERSION' is not declared (did you mean VERSIONS?)`.
    pub fn check_from(&self, from: &From) -> Vec<Warning> {
        let lexer = Lexer::new(self.shared.escape);
        let mut unset = BTreeSet::new();
        for w in std::iter::once(&from.image).chain(from.platform.as_ref()) {
            if let Ok((_, m)) = lexer.process_word_with_matches(&w.value, &self.shared.globals) {
                unset.extend(m.unset);
            }
        }
        let known: Vec<&str> = self
            .shared
            .meta_names
            .iter()
            .map(String::as_str)
            .chain(self.shared.globals.0.iter().map(|(k, _)| k.as_str()))
            .collect();
        unset
            .into_iter()
            .filter(|name| !known.contains(&name.as_str()))
            .map(|name| {
                let hint = suggest(&name, &known)
                    .map_or(String::new(), |s| format!(" (did you mean {s}?)"));
                Warning {
                    pos: from.loc.pos,
                    message: format!(
                        "UndefinedArgInFrom: FROM argument '{name}' is not declared{hint}"
                    ),
                }
            })
            .collect()
    }

    /// The scope of a stage built FROM an image (or `scratch`, with an empty `base_env`):
    /// `base_env` is the image config's `Env` (`KEY=VALUE`). BuildKit's default `PATH` is added
    /// when it sets none. For a stage built FROM an earlier stage use [`StageScope::child`].
    pub fn stage(&self, base_env: &[String]) -> StageScope {
        let mut config = EnvList::from_strings(base_env);
        if !config.contains("PATH") {
            config.set("PATH", DEFAULT_PATH);
        }
        StageScope {
            shared: Arc::clone(&self.shared),
            state: config.clone(),
            config,
            args: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The `--build-arg` names no ARG declared (in the global scope or in any stage applied so
    /// far), sorted. The predefined args (proxies, platform args, `TARGETSTAGE`) never count as
    /// unused. Ask once every stage has been applied.
    pub fn unused_build_args(&self) -> Vec<String> {
        let declared = self
            .shared
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.shared
            .build_args
            .keys()
            .filter(|k| !declared.contains(*k))
            .filter(|k| !PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(k)))
            .filter(|k| !PLATFORM_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }

    /// docker's warning for [`GlobalScope::unused_build_args`], or `None` when all were used:
    /// `[Warning] One or more build-args [A B] were not consumed`.
    pub fn unused_build_args_warning(&self) -> Option<String> {
        let unused = self.unused_build_args();
        (!unused.is_empty()).then(|| {
            format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            )
        })
    }
}

/// The variables of one stage as its instructions are applied in order.
#[derive(Clone, Debug)]
pub struct StageScope {
    shared: Arc<Shared>,
    /// What instructions expand against and RUN sees: image Env, ENV and ARG values.
    state: EnvList,
    /// The image config's Env: base image Env and ENV only.
    config: EnvList,
    /// The ARGs declared so far (inherited ones first), with their values; a name may repeat.
    args: Vec<(String, Option<String>)>,
    /// `UndefinedVar` warnings of the instructions applied so far.
    warnings: Vec<Warning>,
}

/// The stage environment as an [`Expander`] for [`Instruction::expand`].
/// It notes the unset variables that single words and heredocs use, which BuildKit reports as
/// `UndefinedVar`; EXPOSE's word lists are not checked, as in BuildKit.
struct StageExpander<'a> {
    lexer: Lexer,
    env: &'a EnvList,
    unset: RefCell<BTreeSet<String>>,
}

impl Expander for StageExpander<'_> {
    fn word(&self, word: &str) -> std::result::Result<String, String> {
        let (out, m) = self
            .lexer
            .process_word_with_matches(word, self.env)
            .map_err(|e| e.message)?;
        self.unset.borrow_mut().extend(m.unset);
        Ok(out)
    }

    fn words(&self, word: &str) -> std::result::Result<Vec<String>, String> {
        self.lexer
            .process_words(word, self.env)
            .map_err(|e| e.message)
    }

    fn heredoc(&self, body: &str) -> std::result::Result<String, String> {
        // BuildKit expands heredoc bodies with a lexer of its own whose escape token is always
        // the backslash, whatever `# escape=` says.
        let (out, m) = Lexer::new('\\')
            .raw_quotes(true)
            .raw_escapes(true)
            .process_word_with_matches(body, self.env)
            .map_err(|e| e.message)?;
        self.unset.borrow_mut().extend(m.unset);
        Ok(out)
    }
}

impl StageScope {
    /// The scope of a stage built FROM this one: it continues with this stage's environment,
    /// its image config's `Env` reapplied over it, and its declared ARGs, as BuildKit's stage
    /// inheritance does.
    pub fn child(&self) -> StageScope {
        let mut state = self.state.clone();
        for (k, v) in &self.config.0 {
            state.set(k, v);
        }
        StageScope {
            shared: Arc::clone(&self.shared),
            state,
            config: self.config.clone(),
            args: self.args.clone(),
            warnings: Vec::new(),
        }
    }

    /// Applies one instruction of the stage: returns it with variables expanded where BuildKit
    /// expands them ([`Instruction::expand`]) and, for ARG and ENV, updates the scope.
    ///
    /// An ARG comes back with each declaration's `default` set to the value it took (the
    /// `--build-arg`, its expanded default, or the global value) or `None` when it stays
    /// unset, which is what BuildKit writes in the image history (`ARG A=1 B`). A default is
    /// not expanded when a `--build-arg` replaces it, so an error in it does not matter then.
    /// A FROM is expanded in the global scope.
    pub fn apply(&mut self, ins: &Instruction) -> Result<Instruction> {
        match ins {
            Instruction::Arg(a) => self.apply_arg(a).map(Instruction::Arg),
            Instruction::From(f) => GlobalScope {
                shared: Arc::clone(&self.shared),
            }
            .expand_from(f)
            .map(Instruction::From),
            other => {
                let ex = StageExpander {
                    lexer: Lexer::new(self.shared.escape),
                    env: &self.state,
                    unset: RefCell::default(),
                };
                let expanded = other.expand(&ex)?;
                let unset = ex.unset.into_inner();
                self.report_undefined(other.loc().pos, unset);
                if let Instruction::Env(p) = &expanded {
                    for kv in &p.pairs {
                        self.state.set(&kv.key.value, &kv.value.value);
                        self.config.set(&kv.key.value, &kv.value.value);
                    }
                }
                Ok(expanded)
            }
        }
    }

    fn apply_arg(&mut self, a: &Arg) -> Result<Arg> {
        let mut out = Vec::with_capacity(a.args.len());
        for decl in &a.args {
            let name = decl.name.value.as_str();
            self.shared.declare(name);
            let value = if let Some(v) = self.shared.build_args.get(name) {
                Some(v.clone())
            } else if let Some(d) = &decl.default {
                let (v, m) = Lexer::new(self.shared.escape)
                    .process_word_with_matches(&d.value, &self.state)
                    .map_err(|e| expansion_error(d.pos, e))?;
                self.report_undefined(a.loc.pos, m.unset);
                Some(v)
            } else {
                self.shared.globals.get(name).map(str::to_string)
            };
            if let Some(v) = &value
                && !NON_ENV_ARGS.contains(&name)
            {
                self.state.set(name, v);
            }
            self.args.push((name.to_string(), value.clone()));
            let pos = decl.default.as_ref().map_or(decl.name.pos, |d| d.pos);
            out.push(ArgDecl {
                name: decl.name.clone(),
                default: value.map(|v| Word::new(v, pos)),
            });
        }
        Ok(Arg {
            loc: a.loc,
            args: out,
        })
    }

    /// BuildKit's `reportUnmatchedVariables`: an unset variable is worth a warning unless an
    /// ARG of the stage declared it (with or without a value).
    fn report_undefined(&mut self, pos: Pos, unset: BTreeSet<String>) {
        for name in unset {
            if self.args.iter().any(|(k, _)| *k == name) || NON_ENV_ARGS.contains(&name.as_str()) {
                continue;
            }
            let known: Vec<&str> = self.state.0.iter().map(|(k, _)| k.as_str()).collect();
            let hint =
                suggest(&name, &known).map_or(String::new(), |s| format!(" (did you mean ${s}?)"));
            self.warnings.push(Warning {
                pos,
                message: format!("UndefinedVar: Usage of undefined variable '${name}'{hint}"),
            });
        }
    }

    /// BuildKit's `UndefinedVar` warnings for the instructions applied so far, in order, at
    /// each instruction's keyword: `UndefinedVar: Usage of undefined variable '$NAME'`, with a
    /// `(did you mean $OTHER?)` when a set name is close. A variable some ARG of the stage
    /// declared is never reported, even when it has no value.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The value of `name` in the stage (image Env, ENV, declared ARGs), `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.state.get(name)
    }

    /// The image config's `Env` as `KEY=VALUE`: the base image's, BuildKit's default `PATH`
    /// when it had none, and every ENV. ARG values never reach the image.
    pub fn env(&self) -> Vec<String> {
        self.config.strings()
    }

    /// The environment a RUN gets, as `KEY=VALUE`: the stage environment in BuildKit's order
    /// (a name keeps the place where it was first set and takes its last value), then the proxy
    /// build-args in upper and lower case unless the stage already sets that name.
    pub fn run_env(&self) -> Vec<String> {
        let mut env = self.state.strings();
        env.extend(
            self.shared
                .proxy_env
                .iter()
                .filter(|(k, _)| !self.state.contains(k))
                .map(|(k, v)| format!("{k}={v}")),
        );
        env
    }

    /// The ARGs a RUN's history entry names, as BuildKit's `runCommandString` lists them: every
    /// ARG declared in the stage (inherited ones first) in declaration order, each name once at
    /// the place of its first declaration, valued as the stage sees it now (an ENV of the same
    /// name wins; an unset ARG is empty). Undeclared proxy args are not in it.
    pub fn history_args(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, declared) in &self.args {
            let value = self
                .state
                .get(name)
                .map(str::to_string)
                .or_else(|| declared.clone())
                .unwrap_or_default();
            match out.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value,
                None => out.push((name.clone(), value)),
            }
        }
        out
    }

    /// The build args a RUN's cache key must include: the same set and order as
    /// [`StageScope::history_args`], so that changing a `--build-arg` an ARG consumed misses
    /// the cache and an unconsumed or proxy one does not.
    pub fn cache_args(&self) -> Vec<(String, String)> {
        self.history_args()
    }

    /// A RUN's history text after the keyword, as BuildKit writes it: `|N K=V ...` before the
    /// command when the stage declared ARGs, then `command` (the shell and its arguments, or the
    /// exec form) joined with spaces: `|2 A=1 B=2 /bin/sh -c make`.
    pub fn run_history(&self, command: &[String]) -> String {
        let args = self.history_args();
        let mut parts: Vec<String> = Vec::with_capacity(args.len() + 1 + command.len());
        if !args.is_empty() {
            parts.push(format!("|{}", args.len()));
            parts.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
        }
        parts.extend(command.iter().cloned());
        parts.join(" ")
    }

    /// `text` with the stage's variables substituted for display (progress lines), as BuildKit
    /// names its RUN steps: quotes kept, unset variables left as written, and the text unchanged
    /// when it does not lex.
    pub fn display(&self, text: &str) -> String {
        Lexer::new(self.shared.escape)
            .raw_quotes(true)
            .skip_unset(true)
            .process_word(text, &self.state)
            .unwrap_or_else(|_| text.to_string())
    }
}

#[cfg(test)]
mod tests;
