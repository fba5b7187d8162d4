//! Build-time variables: the global (meta) ARGs that FROM lines see, and each stage's declared
//! ARGs on top of its ENV. This is the one place the executor asks for a value, an expansion
//! environment, a RUN environment, the ARGs a history entry shows or a cache key covers.

use std::collections::{BTreeMap, BTreeSet};

use bale_parser::instruction::{Arg, Expander};
use bale_parser::{Lexer, Pos};

use super::error::{BuildError, BuildResult};

/// ARGs every stage may use without declaring them, and that a RUN sees but its history and
/// cache key do not (BuildKit's predefined proxy arguments).
pub const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The platform ARGs BuildKit defines in the global scope.
pub fn platform_args() -> Vec<(String, String)> {
    let (os, arch) = bale_image::archive::host_platform();
    let platform = format!("{os}/{arch}");
    let mut v = Vec::new();
    for prefix in ["BUILD", "TARGET"] {
        v.push((format!("{prefix}PLATFORM"), platform.clone()));
        v.push((format!("{prefix}OS"), os.to_string()));
        v.push((format!("{prefix}ARCH"), arch.to_string()));
        v.push((format!("{prefix}VARIANT"), String::new()));
    }
    v
}

/// The variables of a whole build: the `--build-arg`s and the global ARGs.
#[derive(Debug, Clone)]
pub struct BuildVars {
    build_args: BTreeMap<String, String>,
    meta: Vec<(String, String)>,
    used: std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>,
}

impl BuildVars {
    /// The global scope: the ARGs before the first FROM, each taking its `--build-arg` value or
    /// its default, on top of the platform ARGs.
    pub fn new(
        globals: &[Arg],
        build_args: BTreeMap<String, String>,
        escape: char,
    ) -> BuildResult<BuildVars> {
        let mut vars = BuildVars {
            build_args,
            meta: platform_args(),
            used: Default::default(),
        };
        for arg in globals {
            for decl in &arg.args {
                let name = decl.name.value.clone();
                let value = match vars.build_args.get(&name) {
                    Some(v) => {
                        vars.mark_used(&name);
                        Some(v.clone())
                    }
                    None => match &decl.default {
                        Some(d) => Some(
                            Lexer::new(escape)
                                .process_word(&d.value, &vars.meta)
                                .map_err(|e| BuildError::at(d.pos, e.message))?,
                        ),
                        None => None,
                    },
                };
                if let Some(v) = value {
                    vars.meta.push((name, v));
                }
            }
        }
        Ok(vars)
    }

    fn mark_used(&self, name: &str) {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
    }

    /// The global scope, for expanding FROM lines.
    pub fn meta(&self) -> &[(String, String)] {
        &self.meta
    }

    /// The `--build-arg`s no ARG declared, for the warning BuildKit prints.
    pub fn unused_build_args(&self) -> Vec<String> {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        self.build_args
            .keys()
            .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }

    /// A fresh stage scope.
    pub fn stage(&self) -> StageVars {
        StageVars {
            build: self.clone(),
            args: Vec::new(),
        }
    }
}

/// The ARGs a stage declared so far, in order.
#[derive(Debug, Clone)]
pub struct StageVars {
    build: BuildVars,
    /// (name, value) of each declared ARG that has a value; a later declaration wins.
    args: Vec<(String, Option<String>)>,
}

impl StageVars {
    /// Declares the ARGs of an ARG instruction whose defaults are already expanded. Returns the
    /// `NAME=value` (or `NAME`) strings of its history entry.
    pub fn declare(&mut self, arg: &Arg) -> Vec<String> {
        let mut shown = Vec::new();
        for decl in &arg.args {
            let name = decl.name.value.clone();
            let value = match self.build.build_args.get(&name) {
                Some(v) => {
                    self.build.mark_used(&name);
                    Some(v.clone())
                }
                None => match &decl.default {
                    Some(d) => Some(d.value.clone()),
                    // An ARG without a default takes the global ARG's value.
                    None => self
                        .build
                        .meta
                        .iter()
                        .rev()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.clone()),
                },
            };
            shown.push(match &value {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            });
            self.args.retain(|(k, _)| *k != name);
            self.args.push((name, value));
        }
        shown
    }

    /// The declared ARGs with values, in declaration order: what a RUN's history and cache key
    /// show (`RUN |2 A=1 B=2 ...`).
    pub fn args(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    }

    /// The variables an instruction's words expand with: the declared ARGs, then `env` (ENV
    /// wins over an ARG of the same name).
    pub fn expansion_env(&self, env: &[String]) -> Vec<(String, String)> {
        let mut v = self.args();
        for e in env {
            let (k, val) = e.split_once('=').unwrap_or((e, ""));
            v.push((k.to_string(), val.to_string()));
        }
        v
    }

    /// A RUN's environment: `env`, plus each declared ARG ENV does not set, plus the proxy
    /// `--build-arg`s.
    pub fn run_env(&self, env: &[String]) -> Vec<String> {
        let set: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let mut out = env.to_vec();
        let mut added = BTreeSet::new();
        for (k, v) in self.args() {
            if !set.contains(k.as_str()) {
                added.insert(k.clone());
                out.retain(|e| !e.starts_with(&format!("{k}=")) || set.contains(k.as_str()));
                out.push(format!("{k}={v}"));
            }
        }
        for p in PROXY_ARGS {
            if let Some(v) = self.build.build_args.get(p)
                && !set.contains(p)
                && !added.contains(p)
            {
                out.push(format!("{p}={v}"));
            }
        }
        out
    }

    /// The proxy `--build-arg`s, which a RUN sees but no history shows.
    pub fn proxy_args(&self) -> Vec<(String, String)> {
        PROXY_ARGS
            .iter()
            .filter_map(|p| {
                self.build
                    .build_args
                    .get(*p)
                    .map(|v| (p.to_string(), v.clone()))
            })
            .collect()
    }
}

/// Expands words with a fixed set of variables, through bale's shell lexer.
pub struct MapExpander<'a> {
    lexer: Lexer,
    vars: &'a [(String, String)],
}

impl<'a> MapExpander<'a> {
    /// An expander over `vars` (later entries win) with the file's escape token.
    pub fn new(escape: char, vars: &'a [(String, String)]) -> Self {
        MapExpander {
            lexer: Lexer::new(escape),
            vars,
        }
    }
}

impl Expander for MapExpander<'_> {
    fn word(&self, word: &str) -> Result<String, String> {
        self.lexer
            .process_word(word, &self.vars)
            .map_err(|e| e.message)
    }

    fn words(&self, word: &str) -> Result<Vec<String>, String> {
        self.lexer
            .process_words(word, &self.vars)
            .map_err(|e| e.message)
    }

    fn heredoc(&self, body: &str) -> Result<String, String> {
        self.lexer
            .expand_heredoc(body, &self.vars)
            .map_err(|e| e.message)
    }
}

/// Expands a FROM line's base with the global scope.
pub fn expand_base(vars: &BuildVars, escape: char, word: &str, pos: Pos) -> BuildResult<String> {
    Lexer::new(escape)
        .process_word(word, &vars.meta())
        .map_err(|e| BuildError::at(pos, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(text: &str) -> Arg {
        let df = bale_parser::parse(&format!("{text}\nFROM x\n")).unwrap();
        match bale_parser::type_dockerfile(&df).unwrap().remove(0) {
            bale_parser::Instruction::Arg(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn build_args_override_defaults_and_env_wins_in_run() {
        let mut ba = BTreeMap::new();
        ba.insert("A".to_string(), "cli".to_string());
        ba.insert("UNUSED".to_string(), "x".to_string());
        let vars = BuildVars::new(&[arg("ARG BASE=busybox")], ba, '\\').unwrap();
        assert!(vars.meta().contains(&("BASE".into(), "busybox".into())));
        let mut s = vars.stage();
        assert_eq!(
            s.declare(&arg("ARG A=def B=two BASE")),
            vec!["A=cli", "B=two", "BASE=busybox"]
        );
        let env = vec!["B=env".to_string(), "PATH=/bin".to_string()];
        let run = s.run_env(&env);
        assert_eq!(run, vec!["B=env", "PATH=/bin", "A=cli", "BASE=busybox"]);
        assert_eq!(vars.unused_build_args(), vec!["UNUSED"]);
        let e = s.expansion_env(&env);
        let ex = MapExpander::new('\\', &e);
        assert_eq!(ex.word("$A-$B").unwrap(), "cli-env");
    }
}
