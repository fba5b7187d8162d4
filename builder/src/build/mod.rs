//! `bale build`: a Dockerfile and a context into an image in the store.
//!
//! The way through: the Dockerfile is parsed and typed ([`bale_parser`]), its stages planned
//! ([`plan`]: the graph, `--target`, cycles), and each stage the target needs is executed on
//! its own thread as soon as the stages it uses are done ([`stage`]). Every instruction's cache
//! key chains on the one before ([`cache`]); a hit takes the step's layer from the store, a miss
//! runs it: RUN in the sandbox with a snapshot diff ([`run`]), COPY and ADD from their sources
//! ([`copy`]), config-only instructions on the image config ([`config`]). The target's config
//! and layers are then committed as one image under the `-t` names, and nothing is named when
//! any step failed.
//!
//! What the build reports goes to a [`Progress`] as [`crate::progress::Event`]s; rendering them is
//! the caller's business.

pub mod base;
pub mod cache;
pub mod config;
pub mod copy;
pub mod error;
pub mod fs;
pub mod plan;
pub mod reuse;
pub mod run;
pub mod stage;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use bale_image::store::CachedLayer;
use bale_image::{Image, ImageConfig, Lease, Reference, Store};
use bale_parser::Instruction;
use bale_parser::scope::{BuildInputs, GlobalScope, Platform, StageScope};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

pub use error::{BuildError, BuildResult};

use crate::context::ContextHasher;
use crate::dockerignore::Dockerignore;
use crate::layer::LayerOptions;
use crate::progress::{Event, Progress};

/// A named `--build-context`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// `NAME=DIR`: a local directory.
    Dir(PathBuf),
    /// `NAME=docker-image://REF`: an image.
    Image(String),
}

/// Where a `--secret` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `src=FILE`.
    File(PathBuf),
    /// `env=NAME`: the value of an environment variable of bale's.
    Env(String),
}

/// Everything `bale build` was asked.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The Dockerfile's name for messages (`Dockerfile`, `ci/Dockerfile.test`, `-`).
    pub dockerfile_name: String,
    /// The Dockerfile's path, when it is a file (`NAME.dockerignore` is looked for beside it).
    pub dockerfile_path: Option<PathBuf>,
    /// `-t`: the names the image gets.
    pub tags: Vec<Reference>,
    /// `--build-arg`s, with values resolved.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages that are rebuilt without the cache.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: pull base images even when the store has them.
    pub pull: bool,
    /// `--label`s set on the image.
    pub labels: BTreeMap<String, String>,
    /// `--network` for every RUN (a RUN's own `--network` wins).
    pub network: bale_sandbox::Network,
    /// `--secret`s by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--build-context`s by name.
    pub build_contexts: BTreeMap<String, NamedContext>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `--ulimit`s.
    pub ulimits: Vec<bale_sandbox::Ulimit>,
    /// `--add-host`s as (name, address).
    pub add_hosts: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`: history and layer times are clamped to it.
    pub source_date_epoch: Option<i64>,
    /// How registries are reached when a base image must be pulled.
    pub registry: bale_registry::Settings,
}

impl BuildOptions {
    /// Options with docker's defaults for a Dockerfile text and a context.
    pub fn new(context: impl Into<PathBuf>, dockerfile: impl Into<String>) -> BuildOptions {
        BuildOptions {
            context: context.into(),
            dockerfile: dockerfile.into(),
            dockerfile_name: "Dockerfile".to_string(),
            dockerfile_path: None,
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            target: None,
            no_cache: false,
            no_cache_filter: Vec::new(),
            pull: false,
            labels: BTreeMap::new(),
            network: bale_sandbox::Network::Host,
            secrets: BTreeMap::new(),
            build_contexts: BTreeMap::new(),
            shm_size: None,
            ulimits: Vec::new(),
            add_hosts: Vec::new(),
            source_date_epoch: None,
            registry: bale_registry::Settings::default(),
        }
    }
}

/// What a successful build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image, committed under the `-t` names (dangling without any).
    pub image: Image,
    /// `--build-arg`s no ARG used.
    pub unused_build_args: Vec<String>,
    /// Steps run or taken from the cache (FROM, RUN, COPY, ADD, WORKDIR).
    pub steps: usize,
    /// Of those, how many came from the cache.
    pub cached: usize,
    /// Context files whose content was read to hash them.
    pub files_read: u64,
    /// What BuildKit would warn about (`UndefinedVar: ... (line 3)`), in stage order.
    pub warnings: Vec<String>,
}

/// The result of one stage, for the stages that use it.
pub struct StageOutput {
    /// Its config.
    pub config: ImageConfig,
    /// Its layers, bottom first.
    pub layers: Vec<CachedLayer>,
    /// Its last cache key.
    pub key: String,
    /// Its variable scope, which a stage built FROM it continues.
    pub scope: StageScope,
    /// Its rootfs, when one was materialised (taken by `COPY --from` and mounts).
    pub rootfs: Mutex<Option<fs::Rootfs>>,
}

/// What every stage of one build shares.
pub struct Shared<'a> {
    /// The store.
    pub store: &'a Store,
    /// The build's one lease: blobs written under it stay until the image is committed.
    pub lease: &'a Lease<'a>,
    /// The options.
    pub opts: &'a BuildOptions,
    /// Where events go.
    pub progress: &'a dyn Progress,
    /// The plan.
    pub plan: plan::Plan,
    /// The global variable scope (meta ARGs, platform args, `--build-arg`s).
    pub global: GlobalScope,
    /// The Dockerfile's escape token.
    pub escape: char,
    /// Each instruction's text as written, by its first line.
    pub originals: HashMap<usize, String>,
    /// The context, canonical.
    pub context: PathBuf,
    /// The context's ignore rules.
    pub ignore: Dockerignore,
    /// Content hashes of the context.
    pub hasher: ContextHasher,
    /// Parts of the last build's keys.
    pub notes: cache::Notes,
    /// How layers are written.
    pub layer_opts: LayerOptions,
    /// Whether the Dockerfile has more than one stage (progress names stages then).
    pub multi_stage: bool,
    next_vertex: AtomicUsize,
    /// Which stages have started, and the dependencies ONBUILD triggers added to the plan's.
    schedule: Mutex<Schedule>,
    /// The first error of any stage.
    first_error: Mutex<Option<BuildError>>,
    results: Mutex<Vec<Option<Arc<StageOutput>>>>,
    done: Condvar,
    failed: AtomicBool,
    images: Mutex<HashMap<String, base::BaseImage>>,
    image_roots: Mutex<HashMap<String, Arc<fs::Rootfs>>>,
    steps: AtomicUsize,
    cached: AtomicUsize,
    warnings: Mutex<Vec<(usize, usize, String)>>,
}

impl Shared<'_> {
    /// What a `--from` word (of COPY or of a RUN mount) names: a stage by name or index, a
    /// named build context, or an image.
    pub fn source(&self, from: &str) -> plan::Source {
        let names = self
            .plan
            .stages
            .iter()
            .filter_map(|s| {
                s.stage
                    .name
                    .as_ref()
                    .map(|n| (n.value.to_ascii_lowercase(), s.stage.index))
            })
            .collect();
        let contexts = self
            .opts
            .build_contexts
            .keys()
            .map(|k| (k.clone(), ()))
            .collect();
        plan::resolve_source(from, &names, self.plan.stages.len(), &contexts)
    }

    /// Whether rootfs trees are taken from and left for other builds ([`reuse`]). Not for a
    /// `SOURCE_DATE_EPOCH` build, which starts from freshly extracted trees only.
    pub fn reuse_rootfs(&self) -> bool {
        self.opts.source_date_epoch.is_none()
    }

    /// A new vertex number, and its Start event.
    pub fn start(&self, name: String) -> usize {
        let id = self.next_vertex.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.event(Event::Start { id, name });
        id
    }

    /// Counts a step (and whether it was cached) for the summary.
    pub fn count_step(&self, cached: bool) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        if cached {
            self.cached.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits for stage `i`'s output; `None` when the build failed meanwhile.
    pub fn wait_stage(&self, i: usize) -> Option<Arc<StageOutput>> {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = &results[i] {
                return Some(r.clone());
            }
            if self.failed.load(Ordering::SeqCst) {
                return None;
            }
            results = self.done.wait(results).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs stage `i` and publishes its output, or records its error and fails the build.
    fn run_and_finish(&self, i: usize) {
        let out = match stage::run_stage(self, i) {
            Ok(out) => Some(out),
            Err(e) => {
                let mut slot = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() && !(e.message.is_empty() && self.failed()) {
                    *slot = Some(e);
                }
                None
            }
        };
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        match out {
            Some(o) => results[i] = Some(Arc::new(o)),
            None => self.failed.store(true, Ordering::SeqCst),
        }
        self.done.notify_all();
    }

    /// Stage `by` runs an ONBUILD trigger of its base that names stage `needed` (`COPY --from`,
    /// `RUN --mount=from=`): a dependency the plan could not see, since it lives in the base
    /// image's config. A trigger that closes a cycle is an error; a stage the plan left out
    /// (and whatever it needs) is built now, on this thread, as BuildKit does since it
    /// accepted `--from` in triggers.
    pub fn need_stage(&self, by: usize, needed: usize) -> BuildResult<()> {
        let to_run = {
            let mut sched = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            sched.extra[by].push(needed);
            sched.unstarted_needs(&self.plan, by, needed)?
        };
        for i in to_run {
            if self.failed() {
                break;
            }
            self.run_and_finish(i);
        }
        Ok(())
    }

    /// Notes a warning of stage `stage` about `line`.
    pub fn warn(&self, stage: usize, line: usize, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((stage, line, message));
    }

    /// Whether another stage failed (this one should stop).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// An image by reference, resolved (and pulled) once per build.
    pub fn image(&self, reference: &str) -> BuildResult<base::BaseImage> {
        self.image_for(reference, None)
    }

    /// [`Shared::image`], reporting a pull's layers on vertex `id`.
    pub fn image_for(&self, reference: &str, id: Option<usize>) -> BuildResult<base::BaseImage> {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = images.get(reference) {
            return Ok(i.clone());
        }
        let status = |message: String| {
            if let Some(id) = id {
                self.progress.event(Event::Status { id, message });
            }
        };
        let resolved = base::resolve(
            self.store,
            reference,
            self.opts.pull,
            &self.opts.registry,
            &status,
        )?;
        images.insert(reference.to_string(), resolved.clone());
        Ok(resolved)
    }

    /// The image a `--from` names when it is no stage. A bare word (no registry, tag or
    /// digest) that the store lacks is taken for a misspelt stage rather than pulled from
    /// Docker Hub: the error names the stages.
    pub fn source_image(&self, name: &str) -> BuildResult<base::BaseImage> {
        let bare = !name.contains(['/', ':', '@', '.']);
        if bare && self.store.resolve(name).is_err() {
            let stages: Vec<&str> = self
                .plan
                .stages
                .iter()
                .filter_map(|s| s.stage.name.as_ref().map(|n| n.value.as_str()))
                .collect();
            let hint = match bale_parser::instruction::suggest(name, &stages) {
                Some(s) => format!(" (did you mean {s}?)"),
                None if stages.is_empty() => String::new(),
                None => format!(" (stages: {})", stages.join(", ")),
            };
            return Err(BuildError::new(format!(
                "unknown stage or image \"{name}\": no stage is named so{hint} and the store has no image {name}:latest (pull it first)"
            )));
        }
        self.image(name)
    }

    /// The rootfs of an image, extracted once per build (for `COPY --from` and mounts).
    pub fn image_rootfs(&self, image: &base::BaseImage) -> BuildResult<Arc<fs::Rootfs>> {
        let mut roots = self.image_roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = roots.get(image.id.hex()) {
            return Ok(r.clone());
        }
        let r = Arc::new(fs::Rootfs::create(
            self.store,
            &image.layers,
            self.reuse_rootfs(),
        )?);
        roots.insert(image.id.hex().to_string(), r.clone());
        Ok(r)
    }

    /// The directory holding stage `i`'s files, materialising them when needed.
    pub fn stage_dir(&self, out: &StageOutput) -> BuildResult<PathBuf> {
        let mut root = out.rootfs.lock().unwrap_or_else(|e| e.into_inner());
        match root.as_mut() {
            Some(r) => r.update(self.store, &out.layers)?,
            None => {
                *root = Some(fs::Rootfs::create(
                    self.store,
                    &out.layers,
                    self.reuse_rootfs(),
                )?)
            }
        }
        Ok(root.as_ref().map(|r| r.dir.clone()).unwrap_or_default())
    }
}

/// The progress name of an instruction: its keyword and its text as written.
pub fn display(sh: &Shared, ins: &Instruction) -> String {
    let line = ins.loc().pos.line;
    match sh.originals.get(&line) {
        Some(text) => {
            let rest = text
                .trim_start()
                .split_once(char::is_whitespace)
                .map_or("", |(_, r)| r.trim());
            format!("{} {rest}", ins.keyword())
        }
        None => ins.keyword().to_string(),
    }
}

/// Builds the image the options describe and commits it under the `-t` names.
pub fn build(store: &Store, opts: &BuildOptions, progress: &dyn Progress) -> BuildResult<Built> {
    let result = build_stages(store, opts, progress);
    // Every rootfs of the build was moved to the trash when its owner was dropped.
    fs::empty_trash(store);
    result
}

fn build_stages(store: &Store, opts: &BuildOptions, progress: &dyn Progress) -> BuildResult<Built> {
    let _interrupts = bale_sandbox::install_interrupt_handler()
        .map_err(|e| BuildError::new(format!("installing the interrupt handler: {e}")))?;
    let started = Instant::now();
    let load = {
        let id = 1;
        progress.event(Event::Start {
            id,
            name: format!(
                "[internal] load build definition from {}",
                opts.dockerfile_name
            ),
        });
        id
    };
    let df = bale_parser::parse(&opts.dockerfile)?;
    let escape = df.directives.escape_char();
    let instructions = bale_parser::type_dockerfile(&df)?;
    let (globals, stages) = bale_parser::stages(&instructions)?;
    let originals: HashMap<usize, String> = df
        .nodes
        .iter()
        .map(|n| (n.pos.line, n.original.clone()))
        .collect();
    let inputs = BuildInputs {
        build_args: opts.build_args.clone(),
        platform: Platform::host(),
        target_stage: opts.target.clone(),
    };
    let global = GlobalScope::new(&inputs, &globals, &stages, escape)?;
    let bases = stages
        .iter()
        .map(|s| Ok(global.expand_from(&s.from)?.image.value))
        .collect::<BuildResult<Vec<_>>>()?;
    let contexts: BTreeMap<String, ()> = opts
        .build_contexts
        .keys()
        .map(|k| (k.clone(), ()))
        .collect();
    let multi_stage = stages.len() > 1;
    let the_plan = plan::plan(stages, &bases, opts.target.as_deref(), &contexts)?;
    for f in &opts.no_cache_filter {
        if !the_plan.stages.iter().any(|s| {
            s.stage
                .name
                .as_ref()
                .is_some_and(|n| n.value.eq_ignore_ascii_case(f))
        }) {
            return Err(BuildError::new(format!(
                "--no-cache-filter {f}: no stage is named {f}"
            )));
        }
    }
    progress.event(Event::Done {
        id: load,
        elapsed: started.elapsed(),
    });

    let context = std::fs::canonicalize(&opts.context).map_err(|e| {
        BuildError::new(format!(
            "unable to prepare context: path {:?} not found: {e}",
            opts.context.display().to_string()
        ))
    })?;
    if !context.is_dir() {
        return Err(BuildError::new(format!(
            "unable to prepare context: {} is not a directory",
            context.display()
        )));
    }
    let ignore = Dockerignore::for_build(&context, opts.dockerfile_path.as_deref())?;
    let cache_dir = store.build_cache_dir();
    let context_key = {
        use sha2::{Digest as _, Sha256};
        hex::encode(Sha256::digest(context.as_os_str().as_encoded_bytes()))
    };
    let hasher = ContextHasher::open(
        &cache_dir
            .join("context")
            .join(format!("{context_key}.json")),
    );
    let notes = cache::Notes::open(
        &cache_dir.join("notes"),
        &context,
        &format!(
            "{}\0{}",
            opts.dockerfile_path
                .as_deref()
                .map_or_else(|| opts.dockerfile_name.clone(), |p| p.display().to_string()),
            opts.target.as_deref().unwrap_or("")
        ),
    );
    let lease = store.lease()?;
    let stage_count = the_plan.stages.len();
    let the_plan_order = the_plan.order.clone();
    let sh = Shared {
        store,
        lease: &lease,
        opts,
        progress,
        plan: the_plan,
        global,
        escape,
        originals,
        context,
        ignore,
        hasher,
        notes,
        layer_opts: LayerOptions {
            source_date_epoch: opts.source_date_epoch,
        },
        multi_stage,
        next_vertex: AtomicUsize::new(1),
        schedule: Mutex::new(Schedule::new(&the_plan_order, stage_count)),
        first_error: Mutex::new(None),
        results: Mutex::new(vec![None; stage_count]),
        done: Condvar::new(),
        failed: AtomicBool::new(false),
        images: Mutex::new(HashMap::new()),
        image_roots: Mutex::new(HashMap::new()),
        steps: AtomicUsize::new(0),
        cached: AtomicUsize::new(0),
        warnings: Mutex::new(Vec::new()),
    };
    std::thread::scope(|s| {
        for &i in &sh.plan.order {
            let sh = &sh;
            s.spawn(move || sh.run_and_finish(i));
        }
    });
    // What was learnt about the context and the keys helps the next build even after a failure.
    let _ = sh.hasher.save();
    let _ = sh.notes.save();
    if let Some(e) = sh
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(e);
    }
    if let Some(e) = sandbox_interrupted() {
        return Err(e);
    }
    let target = sh
        .wait_stage(sh.plan.target)
        .ok_or_else(|| BuildError::new("the target stage did not finish"))?;
    let image = export(&sh, &target)?;
    drop(target);
    Ok(Built {
        image,
        unused_build_args: sh.global.unused_build_args(),
        steps: sh.steps.load(Ordering::Relaxed),
        cached: sh.cached.load(Ordering::Relaxed),
        files_read: sh.hasher.files_read(),
        warnings: {
            let mut w = sh
                .warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            w.sort();
            w.dedup();
            w.into_iter().map(|(_, _, m)| m).collect()
        },
    })
}

/// Which stages have started, and the dependencies ONBUILD triggers added while the build ran.
struct Schedule {
    started: Vec<bool>,
    extra: Vec<Vec<usize>>,
}

impl Schedule {
    fn new(order: &[usize], count: usize) -> Schedule {
        let mut started = vec![false; count];
        for &i in order {
            started[i] = true;
        }
        Schedule {
            started,
            extra: vec![Vec::new(); count],
        }
    }

    /// The stages `needed` requires (itself included) that have not started, dependencies
    /// first, now marked started; an error when `needed` leads back to `by`.
    fn unstarted_needs(
        &mut self,
        plan: &plan::Plan,
        by: usize,
        needed: usize,
    ) -> BuildResult<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        fn walk(
            i: usize,
            s: &Schedule,
            plan: &plan::Plan,
            by: usize,
            marks: &mut [Mark],
            out: &mut Vec<usize>,
        ) -> Result<(), usize> {
            if i == by {
                return Err(i);
            }
            marks[i] = Mark::Active;
            let deps = plan.stages[i].deps.iter().map(|d| d.0);
            for d in deps.chain(s.extra[i].iter().copied()) {
                match marks[d] {
                    Mark::Done => {}
                    Mark::Active => return Err(d),
                    Mark::New => walk(d, s, plan, by, marks, out)?,
                }
            }
            marks[i] = Mark::Done;
            if !s.started[i] {
                out.push(i);
            }
            Ok(())
        }
        let mut marks = vec![Mark::New; self.started.len()];
        let mut out = Vec::new();
        if let Err(at) = walk(needed, self, plan, by, &mut marks, &mut out) {
            return Err(BuildError::new(format!(
                "circular dependency detected on stage: {} (an ONBUILD trigger of the base image of stage {} uses a stage that needs it)",
                plan.stages[at].display_name(),
                plan.stages[by].display_name()
            )));
        }
        for &i in &out {
            self.started[i] = true;
        }
        Ok(out)
    }
}

/// The error of a build that bale was told to stop (Ctrl-C, SIGTERM), once it has.
fn sandbox_interrupted() -> Option<BuildError> {
    bale_sandbox::interrupted().map(|sig| {
        BuildError::new(format!(
            "build interrupted by {}; nothing was tagged",
            bale_sandbox::signal_name(sig)
        ))
    })
}

/// Writes the target's config and manifest and commits the image under the `-t` names.
fn export(sh: &Shared, target: &StageOutput) -> BuildResult<Image> {
    let started = Instant::now();
    let id = sh.start("exporting to image".to_string());
    let mut config = target.config.clone();
    if !sh.opts.labels.is_empty() {
        let labels = config
            .config
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        for (k, v) in &sh.opts.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    config.rootfs.diff_ids = target.layers.iter().map(|l| l.diff_id.clone()).collect();
    let bytes = config.to_vec();
    let config_digest = sh.lease.put_blob(&bytes, None)?;
    let layers: Vec<Descriptor> = target
        .layers
        .iter()
        .map(|l| {
            Descriptor::new(
                MediaType::from(l.media_type.as_str()),
                l.size,
                oci_spec::image::Digest::from(&l.digest),
            )
        })
        .collect();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            bytes.len() as u64,
            oci_spec::image::Digest::from(&config_digest),
        ))
        .layers(layers)
        .build()
        .map_err(|e| BuildError::new(format!("writing the manifest: {e}")))?;
    let image = sh.lease.commit_image(&manifest, &sh.opts.tags)?;
    sh.progress.event(Event::Status {
        id,
        message: format!("writing image {}", image.id),
    });
    for t in &sh.opts.tags {
        sh.progress.event(Event::Status {
            id,
            message: format!("naming to {t}"),
        });
    }
    sh.progress.event(Event::Done {
        id,
        elapsed: started.elapsed(),
    });
    Ok(image)
}

/// The context-relative path of a host path under the context, for messages.
pub fn context_relative(context: &Path, p: &Path) -> String {
    p.strip_prefix(context)
        .map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
}
