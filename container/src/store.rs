//! The containers of a store: `ROOT/bale/containers/<id>/`, created, found by name or ID,
//! listed, renamed and removed.
//!
//! Hazards this module guards against:
//! - A reader never sees half a container: a new one is assembled in a `.tmp-` directory and
//!   renamed into place; a removed one is renamed to a `.trash-` directory before it is deleted.
//!   Files are replaced by writing a temporary file and renaming it (state files are not
//!   fsynced: they describe processes, which a machine crash ends anyway).
//! - Two creates never get the same name: a name is claimed by creating the symlink
//!   `containers/names/NAME -> ID`, which fails when it exists.
//! - A supervisor killed with `kill -9` cannot record its container's exit. It holds an flock on
//!   `supervisor.lock` for its whole life; a reader that finds a running container whose lock is
//!   free records the exit itself (code 137, as for `SIGKILL`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bale_image::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::IoContext;
use crate::model::{Container, ContainerConfig, CreateOptions, MountKind, State, Status};
use crate::{Error, Result, names, rootfs, volumes};

/// The docker default `PATH` a container gets when its image sets none.
pub const DEFAULT_PATH: &str = bale_sandbox::DEFAULT_PATH;

/// The containers of one store.
pub struct Containers<'s> {
    store: &'s Store,
    dir: PathBuf,
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).at("reading", path)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T, sync: bool) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = File::create(&tmp).at("creating", &tmp)?;
    f.write_all(&bytes).at("writing", &tmp)?;
    if sync {
        f.sync_all().at("syncing", &tmp)?;
    }
    fs::rename(&tmp, path).at("renaming into place", path)
}

/// Writes `value` to a new file no reader can see yet.
fn write_json_new<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    fs::write(path, bytes).at("writing", path)
}

fn lock_file(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at("opening lock file", path)?;
    f.lock().at("locking", path)?;
    Ok(f)
}

/// Whether a supervisor holds the container's `supervisor.lock`.
pub(crate) fn supervisor_alive(dir: &Path) -> bool {
    let path = dir.join("supervisor.lock");
    let Ok(f) = File::open(&path) else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => false,
        Err(fs::TryLockError::WouldBlock) => true,
        Err(fs::TryLockError::Error(_)) => false,
    }
}

/// Merges `NAME=value` entries into `env`, replacing an entry of the same name in place.
pub(crate) fn merge_env(env: &mut Vec<String>, entries: &[String]) {
    for e in entries {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match env
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e.clone(),
            None => env.push(e.clone()),
        }
    }
}

impl<'s> Containers<'s> {
    /// The containers of `store` (the directory is created when missing).
    pub fn open(store: &'s Store) -> Result<Containers<'s>> {
        let dir = store.root().join("bale/containers");
        fs::create_dir_all(&dir).at("creating", &dir)?;
        Ok(Containers { store, dir })
    }

    /// The image store.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Creates a container from `opts` (the image's config fills in the rest): its directory,
    /// config and state, its anonymous volumes, and the image's cached root filesystem.
    pub fn create(&self, opts: &CreateOptions) -> Result<Container> {
        let image = self.store.resolve(&opts.image)?;
        let (_, image_config) = self.store.config(&image)?;
        let icfg = image_config.config.clone().unwrap_or_default();

        let entrypoint = match opts.entrypoint.as_deref() {
            Some("") => None,
            Some(e) => Some(vec![e.to_string()]),
            None => icfg.entrypoint.clone().filter(|e| !e.is_empty()),
        };
        // As docker: a new entrypoint drops the image's CMD.
        let cmd = match (&opts.cmd, &opts.entrypoint) {
            (Some(c), _) if !c.is_empty() => Some(c.clone()),
            (_, Some(_)) => None,
            _ => icfg.cmd.clone().filter(|c| !c.is_empty()),
        };
        let mut argv: Vec<String> = entrypoint.iter().flatten().cloned().collect();
        argv.extend(cmd.iter().flatten().cloned());
        if argv.is_empty() {
            return Err(Error::Invalid("No command specified".into()));
        }
        let working_dir = match &opts.workdir {
            Some(w) if !w.starts_with('/') => {
                return Err(Error::Invalid(format!(
                    "the working directory '{w}' is invalid, it needs to be an absolute path"
                )));
            }
            Some(w) => w.clone(),
            None => icfg
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
        };
        let mut env = icfg.env.clone().unwrap_or_default();
        // As docker: a container of an image without PATH gets the default one in its config.
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        merge_env(&mut env, &opts.env);
        if opts.network != "host" && opts.network != "none" {
            return Err(Error::Invalid(format!(
                "network {} not found (bale supports host and none)",
                opts.network
            )));
        }
        let id = names::new_id();
        let mut mounts = opts.mounts.clone();
        for m in &mut mounts {
            if m.kind == MountKind::Volume {
                if m.name.is_empty() {
                    m.name = names::new_id();
                    m.anonymous = true;
                }
                m.source = volumes::ensure(self.store, &m.name)?.display().to_string();
            }
        }
        if let Some(vols) = &icfg.volumes {
            for path in vols.keys() {
                let dest = normalize_dest(path);
                if mounts
                    .iter()
                    .any(|m| normalize_dest(&m.destination) == dest)
                {
                    continue;
                }
                let name = names::new_id();
                let source = volumes::ensure(self.store, &name)?;
                mounts.push(crate::model::MountSpec {
                    kind: MountKind::Volume,
                    name,
                    source: source.display().to_string(),
                    destination: dest,
                    rw: true,
                    anonymous: true,
                    tmpfs_size: None,
                });
            }
        }
        let mut labels = icfg.labels.clone().unwrap_or_default();
        labels.extend(opts.labels.clone());
        rootfs::ensure_cache(self.store, &image)?;

        let requested = match &opts.name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !names::valid_name(n) {
                    return Err(Error::InvalidName(n.to_string()));
                }
                if let Some(other) = self.by_name(n) {
                    return Err(Error::NameInUse {
                        name: n.to_string(),
                        id: other,
                    });
                }
                Some(n.to_string())
            }
            None => None,
        };
        let name = requested.clone().unwrap_or_else(names::random_name);
        let config = ContainerConfig {
            id: id.clone(),
            name,
            created: bale_image::time::now(),
            image: opts.image.clone(),
            image_id: image.id.to_string(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            entrypoint,
            cmd,
            env,
            working_dir,
            user: opts.user.clone().or(icfg.user.clone()).unwrap_or_default(),
            hostname: opts
                .hostname
                .clone()
                .unwrap_or_else(|| id[..12].to_string()),
            extra_hosts: opts.extra_hosts.clone(),
            mounts,
            read_only: opts.read_only,
            network: opts.network.clone(),
            restart_policy: opts.restart.clone(),
            auto_remove: opts.auto_remove,
            tty: opts.tty,
            open_stdin: opts.open_stdin,
            stop_signal: opts
                .stop_signal
                .clone()
                .or(icfg.stop_signal.clone())
                .unwrap_or_else(|| "SIGTERM".into()),
            stop_timeout: opts.stop_timeout.unwrap_or(10),
            labels,
            image_config: icfg,
        };
        let tmp = self.dir.join(format!(".tmp-{id}"));
        fs::create_dir(&tmp).at("creating", &tmp)?;
        for sub in ["upper", "work", "rootfs"] {
            fs::create_dir(tmp.join(sub)).at("creating", &tmp.join(sub))?;
        }
        // Written in place: nobody sees the directory before the rename below.
        write_json_new(&tmp.join("config.json"), &config)?;
        write_json_new(&tmp.join("state.json"), &State::default())?;
        let dir = self.dir.join(&id);
        fs::rename(&tmp, &dir).at("renaming into place", &dir)?;
        let mut c = Container {
            id,
            dir,
            config,
            state: State::default(),
        };
        // The name is claimed once the container exists, so a claim never points at nothing
        // but a removed container.
        loop {
            match self.claim_name(&c.config.name, &c.id) {
                Ok(()) => break,
                Err(Error::NameInUse { .. }) if requested.is_none() => {
                    c.config.name = names::random_name();
                    write_json(&c.dir.join("config.json"), &c.config, false)?;
                }
                Err(e) => {
                    let _ = fs::remove_dir_all(&c.dir);
                    return Err(e);
                }
            }
        }
        Ok(c)
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join("names")
    }

    /// The ID of the container named `name`, if any: `containers/names/NAME` is a symlink to
    /// its ID, made with `symlink(2)`, which fails when the name is taken: no lock, no scan.
    fn by_name(&self, name: &str) -> Option<String> {
        let id = fs::read_link(self.names_dir().join(name)).ok()?;
        let id = id.to_str()?.to_string();
        self.dir.join(&id).is_dir().then_some(id)
    }

    /// Claims `name` for `id`, replacing a claim left by a removed container.
    fn claim_name(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.names_dir();
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let link = dir.join(name);
        for _ in 0..2 {
            match std::os::unix::fs::symlink(id, &link) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if let Some(other) = self.by_name(name) {
                        return Err(Error::NameInUse {
                            name: name.to_string(),
                            id: other,
                        });
                    }
                    // Stale: its container is gone.
                    let _ = fs::remove_file(&link);
                }
                Err(e) => return Err(Error::io("claiming the name", &link, e)),
            }
        }
        Err(Error::io(
            "claiming the name",
            &link,
            io::Error::from(io::ErrorKind::AlreadyExists),
        ))
    }

    /// Gives up `name` if `id` holds it.
    fn release_name(&self, name: &str, id: &str) {
        let link = self.names_dir().join(name);
        if fs::read_link(&link).is_ok_and(|t| t.as_os_str() == id) {
            let _ = fs::remove_file(&link);
        }
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).at("reading", &self.dir)? {
            let entry = entry.at("reading", &self.dir)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            match self.load(name) {
                Ok(c) => out.push(c),
                // Removed between the listing and the read.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok(out)
    }

    /// Reads the container with this full ID, recording its exit when its supervisor died.
    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = self.dir.join(id);
        let config: ContainerConfig = read_json(&dir.join("config.json"))?;
        let mut state: State = read_json(&dir.join("state.json"))?;
        if state.is_running() && !supervisor_alive(&dir) {
            // Frozen processes die of their parent-death signal only once thawed.
            crate::freezer::remove(id);
            state = self.update_state_at(&dir, |s| {
                if s.is_running() && !supervisor_alive(&dir) {
                    s.status = Status::Exited;
                    s.exit_code = 137;
                    s.pid = 0;
                    s.supervisor_pid = 0;
                    s.finished_at = bale_image::time::now();
                }
            })?;
        }
        Ok(Container {
            id: id.to_string(),
            dir,
            config,
            state,
        })
    }

    /// Finds a container as docker does: full ID, then name, then unique ID prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Container> {
        let key = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if key.len() == 64 && self.dir.join(key).is_dir() {
            return self.load(key);
        }
        if let Some(id) = self.by_name(key) {
            return self.load(&id);
        }
        let all = self.list()?;
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = all.into_iter().filter(|c| c.id.starts_with(key));
            if let Some(c) = found.next() {
                if found.next().is_some() {
                    return Err(Error::Ambiguous(key.to_string()));
                }
                return Ok(c);
            }
        }
        Err(Error::NoSuchContainer(name_or_id.to_string()))
    }

    /// Changes the state under the container's state lock and returns the new state.
    pub fn update_state(&self, c: &Container, edit: impl FnOnce(&mut State)) -> Result<State> {
        self.update_state_at(&c.dir, edit)
    }

    fn update_state_at(&self, dir: &Path, edit: impl FnOnce(&mut State)) -> Result<State> {
        let _guard = lock_file(&dir.join("state.lock"))?;
        let path = dir.join("state.json");
        let mut state: State = read_json(&path)?;
        edit(&mut state);
        write_json(&path, &state, false)?;
        Ok(state)
    }

    /// Renames a container (`bale rename`).
    pub fn rename(&self, c: &Container, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !names::valid_name(new_name) {
            return Err(Error::InvalidName(new_name.to_string()));
        }
        if self.by_name(new_name).as_deref() == Some(c.id.as_str()) {
            return Err(Error::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.claim_name(new_name, &c.id)?;
        let path = c.dir.join("config.json");
        let mut config: ContainerConfig = read_json(&path)?;
        let old = std::mem::replace(&mut config.name, new_name.to_string());
        write_json(&path, &config, false)?;
        self.release_name(&old, &c.id);
        Ok(())
    }

    /// Removes a stopped container's directory, and its anonymous volumes when `volumes`.
    pub fn remove(&self, c: &Container, volumes: bool) -> Result<()> {
        self.wait_supervisor_done(c)?;
        if supervisor_alive(&c.dir) {
            return Err(Error::State(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                c.config.name
            )));
        }
        let trash = self.dir.join(format!(".trash-{}", c.id));
        crate::freezer::remove(&c.id);
        fs::rename(&c.dir, &trash).at("removing", &c.dir)?;
        self.release_name(&c.config.name, &c.id);
        fs::remove_dir_all(&trash).at("removing", &trash)?;
        if volumes {
            for m in c.config.mounts.iter().filter(|m| m.anonymous) {
                volumes::remove(self.store, &m.name)?;
            }
        }
        Ok(())
    }

    /// Waits (up to 10 s) for the supervisor of a container that recorded its exit to finish
    /// tidying up (unmounting, removing a `--rm` container) and release its lock.
    pub(crate) fn wait_supervisor_done(&self, c: &Container) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while supervisor_alive(&c.dir)
            && c.dir.exists()
            && !self.load(&c.id)?.state.is_running()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    }

    /// The image root filesystem a container's overlay uses as its lower directory, rebuilt
    /// from the image when it is missing.
    pub fn lower_dir(&self, c: &Container) -> Result<PathBuf> {
        let dir = rootfs::cache_dir(self.store, &c.config.image_id);
        if dir.is_dir() {
            return Ok(dir);
        }
        let image = self.store.resolve(&c.config.image_id)?;
        rootfs::ensure_cache(self.store, &image)
    }
}

/// A mount destination without a trailing `/` (`/` stays `/`).
fn normalize_dest(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateOptions, RestartPolicy};
    use bale_image::Reference;
    use bale_image::archive::import::{ImportOptions, import};

    /// A store holding `tiny:1`: one layer with `/bin/tool`, `/etc/passwd` and a `VOLUME`.
    fn store_with_image(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("bin/tool", &b"#!/bin/sh\n"[..]),
            ("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            tar.append_data(&mut h, name, data).unwrap();
        }
        let bytes = tar.into_inner().unwrap();
        let mut config = bale_image::config::ContainerConfig {
            entrypoint: Some(vec!["/bin/tool".into()]),
            cmd: Some(vec!["serve".into()]),
            env: Some(vec!["MODE=a".into()]),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        config.volumes = Some([("/data".to_string(), serde_json::json!({}))].into());
        let opts = ImportOptions {
            source: "-".into(),
            config,
            names: vec![Reference::parse_tagged("tiny:1").unwrap()],
            ..Default::default()
        };
        import(&store, &bytes[..], &opts).unwrap();
        store
    }

    #[test]
    fn create_fills_in_from_the_image_and_names_are_unique() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with_image(d.path());
        let cs = Containers::open(&store).unwrap();
        let mut opts = CreateOptions::new("tiny:1");
        opts.name = Some("web".into());
        opts.env = vec!["MODE=b".into(), "EXTRA=1".into()];
        opts.restart = RestartPolicy::parse("on-failure:3").unwrap();
        let c = cs.create(&opts).unwrap();
        assert_eq!(c.config.path, "/bin/tool");
        assert_eq!(c.config.args, ["serve"]);
        assert_eq!(c.config.working_dir, "/srv");
        assert_eq!(
            c.config.env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "MODE=b".into(),
                "EXTRA=1".into()
            ]
        );
        assert_eq!(c.config.hostname, &c.id[..12]);
        assert_eq!(c.config.stop_signal, "SIGTERM");
        // The image's VOLUME became an anonymous volume in the store.
        let vol = &c.config.mounts[0];
        assert!(vol.anonymous && vol.destination == "/data");
        assert!(Path::new(&vol.source).is_dir());
        // The image's root filesystem is cached once, with the sandbox's mount points.
        let lower = cs.lower_dir(&c).unwrap();
        assert!(lower.join("bin/tool").is_file() && lower.join("proc").is_dir());
        assert!(lower.join("etc/hosts").is_file());

        // Found by ID, name and unique prefix.
        assert_eq!(cs.get(&c.id).unwrap().id, c.id);
        assert_eq!(cs.get("web").unwrap().id, c.id);
        assert_eq!(cs.get(&c.id[..5]).unwrap().id, c.id);
        assert!(matches!(cs.get("nope"), Err(Error::NoSuchContainer(_))));
        assert!(matches!(cs.create(&opts), Err(Error::NameInUse { .. })));

        // A new entrypoint drops the image's CMD; a command replaces it.
        let mut o2 = CreateOptions::new("tiny:1");
        o2.entrypoint = Some("/bin/sh".into());
        let c2 = cs.create(&o2).unwrap();
        assert_eq!(
            (c2.config.path.as_str(), c2.config.args.len()),
            ("/bin/sh", 0)
        );
        assert_ne!(c2.config.name, "web");
        let mut o3 = CreateOptions::new("tiny:1");
        o3.cmd = Some(vec!["x".into()]);
        o3.workdir = Some("rel".into());
        assert!(matches!(cs.create(&o3), Err(Error::Invalid(_))));

        cs.rename(&c, "www").unwrap();
        assert!(cs.get("web").is_err());
        assert_eq!(cs.get("www").unwrap().config.name, "www");
        assert!(matches!(
            cs.rename(&c2, "www"),
            Err(Error::NameInUse { .. })
        ));
        assert_eq!(cs.list().unwrap().len(), 2);

        let c = cs.get("www").unwrap();
        cs.remove(&c, true).unwrap();
        assert!(
            !Path::new(&vol.source).exists(),
            "-v removes anonymous volumes"
        );
        assert!(cs.get("www").is_err());
        // The name is free again.
        opts.name = Some("www".into());
        cs.create(&opts).unwrap();
    }

    #[test]
    fn a_dead_supervisor_is_recorded_as_an_exit() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with_image(d.path());
        let cs = Containers::open(&store).unwrap();
        let c = cs.create(&CreateOptions::new("tiny:1")).unwrap();
        // Running, as a supervisor would record it, but nobody holds supervisor.lock.
        cs.update_state(&c, |s| {
            s.status = Status::Running;
            s.pid = 12345;
        })
        .unwrap();
        let now = cs.load(&c.id).unwrap();
        assert_eq!(now.state.status, Status::Exited);
        assert_eq!(now.state.exit_code, 137);
        assert_eq!(now.state.pid, 0);
        // While a supervisor holds the lock, the state stands.
        let lock = File::create(c.dir.join("supervisor.lock")).unwrap();
        lock.lock().unwrap();
        cs.update_state(&c, |s| s.status = Status::Running).unwrap();
        assert_eq!(cs.load(&c.id).unwrap().state.status, Status::Running);
        assert!(matches!(cs.remove(&c, false), Err(Error::State(_))));
    }
}
