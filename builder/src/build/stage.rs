//! One stage, instruction by instruction: its base, its ONBUILD triggers, then each instruction
//! expanded in the stage's scope, keyed, and either taken from the cache or executed.
//!
//! FROM, RUN, COPY, ADD and WORKDIR are *steps*: they may change files, are numbered in the
//! progress (`[build 2/4] RUN make`) and report `CACHED` on a hit. The other instructions only
//! change the config; they are keyed and recorded too, so that a history entry keeps the time
//! its step first ran and a rebuild with nothing changed gives the same image ID.

use std::time::Instant;

use bale_image::ImageConfig;
use bale_image::config::{ContainerConfig, History};
use bale_image::store::{CacheRecord, CachedLayer};
use bale_parser::Instruction;

use super::base::BaseImage;
use super::cache::{KeyParts, base_key, canonical};
use super::config;
use super::error::{BuildError, BuildResult};
use super::fs::Rootfs;
use super::plan::Base;
use super::{NamedContext, Shared, StageOutput, copy, display, run};
use crate::progress::Event;

/// BuildKit's comment on the history entries it writes.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// A stage's files as the steps change them.
pub struct StageFs {
    /// Its layers, bottom first.
    pub layers: Vec<CachedLayer>,
    /// Its rootfs, once a RUN needed one.
    pub rootfs: Option<Rootfs>,
}

impl StageFs {
    /// The rootfs, materialised and up to date.
    pub fn rootfs(&mut self, sh: &Shared) -> BuildResult<&mut Rootfs> {
        match &mut self.rootfs {
            Some(r) => r.update(sh.store, &self.layers)?,
            None => self.rootfs = Some(Rootfs::create(sh.store, &self.layers, sh.reuse_rootfs())?),
        }
        Ok(self.rootfs.as_mut().expect("just set"))
    }

    /// The rootfs directory when one exists and holds every layer.
    pub fn current_rootfs(&self) -> Option<&std::path::Path> {
        self.rootfs
            .as_ref()
            .filter(|r| r.applied == self.layers.len())
            .map(|r| r.dir.as_path())
    }
}

fn is_step(ins: &Instruction) -> bool {
    matches!(
        ins,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

/// The config of an image built from scratch, as BuildKit's empty image: the host platform,
/// docker's default PATH and `/` as the working directory.
fn scratch_config() -> ImageConfig {
    let (os, arch) = bale_image::archive::host_platform();
    ImageConfig {
        architecture: arch.to_string(),
        os: os.to_string(),
        config: Some(ContainerConfig {
            env: Some(vec![format!("PATH={}", bale_sandbox::DEFAULT_PATH)]),
            working_dir: Some("/".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn now_or_epoch(sh: &Shared) -> String {
    match sh.opts.source_date_epoch {
        Some(e) => epoch_rfc3339(e),
        None => bale_image::time::now(),
    }
}

/// `SOURCE_DATE_EPOCH` as RFC 3339, seconds only (as BuildKit writes it).
pub fn epoch_rfc3339(e: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.max(0) as u64);
    let s = bale_image::time::rfc3339(t);
    match s.find('.') {
        Some(i) => format!("{}Z", &s[..i]),
        None => s,
    }
}

/// Strips leading tabs from every line of a `<<-` heredoc body.
pub fn chomp(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// Runs stage `idx` of the plan.
pub fn run_stage(sh: &Shared, idx: usize) -> BuildResult<StageOutput> {
    let ps = &sh.plan.stages[idx];
    let label = sh.multi_stage.then(|| ps.display_name());
    let stage_name = ps.display_name();
    let no_cache = sh.opts.no_cache
        || ps.stage.name.as_ref().is_some_and(|n| {
            sh.opts
                .no_cache_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&n.value))
        });
    let from_pos = ps.stage.from.loc.pos;

    // The base.
    let started = Instant::now();
    let mut from_vertex = None;
    let image_base = |reference: &str| -> BuildResult<(BaseImage, usize)> {
        let total_steps = 1 + ps.stage.instructions.iter().filter(|i| is_step(i)).count();
        let shown = bale_image::Reference::parse(reference).map_or_else(
            |_| reference.to_string(),
            |r| r.with_default_tag().to_string(),
        );
        let name = match &label {
            Some(l) => format!("[{l} 1/{total_steps}] FROM {shown}"),
            None => format!("[1/{total_steps}] FROM {shown}"),
        };
        let id = sh.start(name);
        match sh.image_for(reference, Some(id)) {
            Ok(img) => Ok((img, id)),
            Err(e) => {
                sh.progress.event(Event::Error {
                    id,
                    message: e.message.clone(),
                });
                Err(e.or_at(ps.stage.from.image.pos))
            }
        }
    };
    let mut parent_scope = None;
    let (mut config, layers, base_text) = match &ps.base {
        Base::Scratch => (scratch_config(), Vec::new(), "scratch".to_string()),
        Base::Stage(i) => {
            let Some(out) = sh.wait_stage(*i) else {
                return Err(BuildError::new(""));
            };
            parent_scope = Some(out.scope.child());
            (
                out.config.clone(),
                out.layers.clone(),
                format!("stage:{}", out.key),
            )
        }
        Base::Context(name) => match &sh.opts.build_contexts[name] {
            NamedContext::Image(r) => {
                let (img, id) = image_base(r)?;
                from_vertex = Some((id, img.pulled));
                (
                    img.config.clone(),
                    img.layers.clone(),
                    format!("image:{}", img.id),
                )
            }
            NamedContext::Dir(dir) => {
                let layer = copy::directory_layer(sh, dir).map_err(|e| e.or_at(from_pos))?;
                let text = format!("dir:{}", layer.as_ref().map_or("-", |l| l.digest.hex()));
                (scratch_config(), layer.into_iter().collect(), text)
            }
        },
        Base::Image(r) => {
            let (img, id) = image_base(r)?;
            from_vertex = Some((id, img.pulled));
            (
                img.config.clone(),
                img.layers.clone(),
                format!("image:{}", img.id),
            )
        }
    };
    if let Some((id, pulled)) = from_vertex {
        sh.count_step(!pulled);
        if pulled {
            sh.progress.event(Event::Done {
                id,
                elapsed: started.elapsed(),
            });
        } else {
            sh.progress.event(Event::Cached { id });
        }
    }
    // Top-level fields of the base's config that a new image does not inherit.
    config.extra.clear();
    config.created = None;
    let inherited_created = config.history.last().and_then(|h| h.created.clone());

    // ONBUILD triggers of the base run first, then leave the config.
    let mut instructions: Vec<(Instruction, bool)> = Vec::new();
    let triggers = config
        .config
        .as_mut()
        .and_then(|c| c.on_build.take())
        .unwrap_or_default();
    for t in &triggers {
        let df = bale_parser::parse(t).map_err(|e| {
            BuildError::at(
                from_pos,
                format!("ONBUILD trigger {t:?} of the base image: {}", e.message),
            )
        })?;
        for node in &df.nodes {
            let ins = bale_parser::type_node(node, sh.escape).map_err(|e| {
                BuildError::at(
                    from_pos,
                    format!("ONBUILD trigger {t:?} of the base image: {}", e.message),
                )
            })?;
            for (from, _) in super::plan::instruction_sources(&ins) {
                if let super::plan::Source::Stage(j) = sh.source(&from) {
                    sh.need_stage(idx, j).map_err(|e| e.or_at(from_pos))?;
                }
            }
            instructions.push((ins, true));
        }
    }
    instructions.extend(ps.stage.instructions.iter().cloned().map(|i| (i, false)));

    let total_steps = 1 + instructions.iter().filter(|(i, _)| is_step(i)).count();
    let mut step_no = 1;
    let mut key = base_key(&format!(
        "{base_text}\0epoch={:?}\0{}",
        sh.opts.source_date_epoch,
        triggers.join("\n")
    ));
    let mut scope = match parent_scope {
        Some(s) => s,
        None => sh.global.stage(
            &config
                .config
                .as_ref()
                .and_then(|c| c.env.clone())
                .unwrap_or_default(),
        ),
    };
    // BuildKit's default PATH goes into the config of an image whose base sets none.
    config.config.get_or_insert_with(Default::default).env = Some(scope.env());
    let mut sfs = StageFs {
        layers,
        rootfs: None,
    };
    let mut cmd_set = false;
    // The first config-only instruction whose key is new: why later steps miss.
    let mut changed_config: Option<String> = None;
    let mut last_created = inherited_created;

    for (n, (ins, is_trigger)) in instructions.iter().enumerate() {
        if sh.failed() {
            return Err(BuildError::new(""));
        }
        // The handler only records Ctrl-C; steps that run no sandbox notice it here.
        if let Some(e) = super::sandbox_interrupted() {
            return Err(e);
        }
        let pos = if *is_trigger { from_pos } else { ins.loc().pos };
        let expanded = scope
            .apply(ins)
            .map_err(|e| BuildError::from(e).or_at(pos))?;
        let shown = if *is_trigger {
            format!("ONBUILD {}", ins.keyword())
        } else {
            scope.display(&display(sh, ins))
        };
        let mut parts = KeyParts {
            parent: key.clone(),
            instruction: canonical(&expanded),
            display: shown.clone(),
            ..Default::default()
        };
        let note_id = format!("{stage_name}/{n}");

        if !is_step(&expanded) {
            // Config only.
            let created_by = match &expanded {
                Instruction::Arg(a) => {
                    let declared: Vec<String> = a
                        .args
                        .iter()
                        .map(|d| match &d.default {
                            Some(v) => format!("{}={}", d.name.value, v.value),
                            None => d.name.value.clone(),
                        })
                        .collect();
                    parts.args = scope.cache_args().into_iter().collect();
                    format!("ARG {}", declared.join(" "))
                }
                Instruction::From(_) => unreachable!("FROM starts a stage"),
                other => {
                    let applied =
                        config::apply(other, &mut config, cmd_set).map_err(|e| e.or_at(pos))?;
                    cmd_set |= applied.cmd_set;
                    if matches!(other, Instruction::Env(_)) {
                        config.config.get_or_insert_with(Default::default).env = Some(scope.env());
                    }
                    applied.created_by
                }
            };
            let new_key = parts.key();
            let (created, hit) =
                record_time(sh, &new_key, no_cache, &format!("[{stage_name}] {shown}"))?;
            if changed_config.is_none() && !hit {
                changed_config = Some(format!("{shown} (line {})", pos.line));
            }
            sh.notes.record(&note_id, &parts);
            if !matches!(expanded, Instruction::Onbuild(_)) {
                config.history.push(History {
                    created: Some(created.clone()),
                    created_by: Some(created_by),
                    comment: Some(HISTORY_COMMENT.to_string()),
                    empty_layer: true,
                    ..Default::default()
                });
            }
            last_created = Some(created);
            key = new_key;
            continue;
        }

        // A step.
        step_no += 1;
        let name = match &label {
            Some(l) => format!("[{l} {step_no}/{total_steps}] {shown}"),
            None => format!("[{step_no}/{total_steps}] {shown}"),
        };
        let user = config
            .config
            .as_ref()
            .and_then(|c| c.user.clone())
            .unwrap_or_default();
        let workdir = config
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let mut content_change = None;
        let created_by;
        let action: Action = match &expanded {
            Instruction::Run(r) => {
                let cmd = run::command(r, &config).map_err(|e| e.or_at(pos))?;
                created_by = format!("RUN {} # buildkit", scope.run_history(&cmd.argv));
                parts.args = scope.cache_args().into_iter().collect();
                parts.args.insert(
                    "\0network".to_string(),
                    format!("{:?}/{:?}", r.network, sh.opts.network),
                );
                if let Some(h) = &cmd.script {
                    parts.args.insert("\0script".to_string(), h.1.clone());
                }
                let (content, change) =
                    run::mount_content(sh, r, &note_id).map_err(|e| e.or_at(pos))?;
                parts.content = content;
                content_change = change;
                Action::Run(r, cmd)
            }
            Instruction::Copy(c) | Instruction::Add(c) => {
                let add = matches!(expanded, Instruction::Add(_));
                created_by = format!("{} # buildkit", copy::history_text(c, add));
                let (content, change) =
                    copy::content_key(sh, c, add, &note_id, &workdir).map_err(|e| e.or_at(pos))?;
                parts.content = Some(content);
                content_change = change;
                Action::Copy(c, add)
            }
            Instruction::Workdir(w) => {
                let wd = config::join_workdir(&workdir, &w.value.value);
                config
                    .config
                    .get_or_insert_with(Default::default)
                    .working_dir = Some(wd.clone());
                created_by = format!("WORKDIR {wd}");
                parts.args.insert("\0user".to_string(), user.clone());
                Action::Workdir(wd)
            }
            _ => unreachable!("only steps get here"),
        };
        let new_key = parts.key();
        let id = sh.start(name.clone());
        let t0 = Instant::now();
        let hit = if no_cache {
            None
        } else {
            sh.store.cache_record(&new_key)?
        };
        let ran_here = hit.is_none() && matches!(action, Action::Run(..));
        let (layer, created) = match hit {
            Some(rec) => {
                sh.progress.event(Event::Cached { id });
                sh.count_step(true);
                (rec.layer, rec.created)
            }
            None => {
                let why = if no_cache {
                    "cache miss: the cache is disabled for this stage (--no-cache)".to_string()
                } else {
                    sh.notes
                        .why(&note_id, &parts, content_change, changed_config.as_deref())
                };
                sh.progress.event(Event::Status { id, message: why });
                let result = match &action {
                    Action::Run(r, cmd) => {
                        run::run_step(sh, &mut sfs, r, cmd, &scope.run_env(), &config, id)
                    }
                    Action::Copy(c, add) => {
                        copy::copy_step(sh, &mut sfs, idx, pos.line, c, *add, &workdir)
                    }
                    Action::Workdir(wd) => copy::workdir_step(sh, &mut sfs, wd, &user),
                };
                let layer = match result {
                    Ok(l) => l,
                    Err(e) => {
                        sh.progress.event(Event::Error {
                            id,
                            message: e.message.clone(),
                        });
                        return Err(e.or_at(pos));
                    }
                };
                let created = now_or_epoch(sh);
                sh.store.put_cache_record(
                    &new_key,
                    &CacheRecord {
                        layer: layer.clone(),
                        created: created.clone(),
                        description: name.clone(),
                    },
                )?;
                sh.count_step(false);
                sh.progress.event(Event::Done {
                    id,
                    elapsed: t0.elapsed(),
                });
                (layer, created)
            }
        };
        let created = match sh.opts.source_date_epoch {
            Some(e) => epoch_rfc3339(e),
            None => created,
        };
        sh.notes.record(&note_id, &parts);
        if let Some(l) = &layer {
            sfs.layers.push(l.clone());
        }
        if ran_here && let Some(r) = &mut sfs.rootfs {
            // A RUN that ran made its changes in the rootfs itself; a cached one's layer is
            // applied when the rootfs is next needed.
            r.ran(&sfs.layers);
        }
        config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(created_by),
            comment: Some(HISTORY_COMMENT.to_string()),
            empty_layer: layer.is_none(),
            ..Default::default()
        });
        last_created = Some(created);
        key = new_key;
    }

    for w in scope.warnings() {
        sh.warn(
            idx,
            w.pos.line,
            format!("{} (line {})", w.message, w.pos.line),
        );
    }
    config.created = match sh.opts.source_date_epoch {
        Some(e) => Some(epoch_rfc3339(e)),
        None => last_created,
    };
    Ok(StageOutput {
        scope,
        config,
        layers: sfs.layers,
        key,
        rootfs: std::sync::Mutex::new(sfs.rootfs),
    })
}

enum Action<'a> {
    Run(&'a bale_parser::instruction::Run, run::Command),
    Copy(&'a bale_parser::instruction::Copy, bool),
    Workdir(String),
}

/// The time a config-only step first ran under `key` (recording it now when it never did),
/// and whether it had run before.
fn record_time(
    sh: &Shared,
    key: &str,
    no_cache: bool,
    description: &str,
) -> BuildResult<(String, bool)> {
    let found = if no_cache {
        None
    } else {
        sh.store.cache_record(key)?
    };
    let created = match found {
        Some(r) => {
            return Ok((
                sh.opts.source_date_epoch.map_or(r.created, epoch_rfc3339),
                true,
            ));
        }
        None => now_or_epoch(sh),
    };
    sh.store.put_cache_record(
        key,
        &CacheRecord {
            layer: None,
            created: created.clone(),
            description: description.to_string(),
        },
    )?;
    Ok((created, false))
}
