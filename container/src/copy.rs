//! `cp` between a container and the host, with docker's archive semantics: the source becomes
//! a tar stream whose entries are named for the destination, and the stream is extracted there
//! (with the layer extractor, which keeps every entry inside the destination directory).
//!
//! docker's rules, for `SRC` and `DEST`:
//! - a file copied to an existing directory lands inside it under its own name; to an existing
//!   file, it replaces it; to a missing path, it is created there (the parent must exist, and a
//!   `DEST` ending in `/` must be a directory);
//! - a directory copied to an existing directory lands inside it under its own name, or, when
//!   `SRC` ends in `/.`, its content is copied into it; to a missing path, it is created there
//!   with the directory's content; to a file, it is an error;
//! - a symlink is copied as a link, unless `-L` is given or `SRC` ends in `/`;
//! - `-` as `DEST` writes the tar to stdout, `-` as `SRC` reads one from stdin.
//!
//! Paths in a container are resolved as the container sees them (an absolute symlink target or
//! `..` never leaves its root). A running container is reached through `/proc/PID/root` (so its
//! volumes and tmpfs mounts are seen, as docker's are); a stopped one through an overlay mount
//! in a private mount namespace of this process.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bale_builder::extract::{ExtractOptions, extract_layer};

use crate::model::Container;
use crate::{Containers, Error, Result, rootfs};

/// Which way `cp` copies.
#[derive(Debug, Clone)]
pub enum CopyDirection {
    /// `CONTAINER:SRC DEST` (`DEST` may be `-`).
    FromContainer {
        /// Path inside the container.
        src: String,
        /// Host path, or `-` for a tar on stdout.
        dest: String,
    },
    /// `SRC CONTAINER:DEST` (`SRC` may be `-`).
    ToContainer {
        /// Host path, or `-` for a tar on stdin.
        src: String,
        /// Path inside the container.
        dest: String,
    },
}

/// Resolves `path` under `base` as a process rooted at `base` would, following symlinks in
/// every component (and the last when `follow_last`).
pub(crate) fn resolve_in(base: &Path, path: &str, follow_last: bool) -> io::Result<PathBuf> {
    let mut pending: Vec<String> = path
        .split('/')
        .rev()
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    let mut current: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            current.pop();
            continue;
        }
        if comp.is_empty() || comp == "." {
            continue;
        }
        let mut candidate = base.to_path_buf();
        for c in &current {
            candidate.push(c);
        }
        candidate.push(&comp);
        let is_last = pending.is_empty();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (!is_last || follow_last) => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|c| !c.is_empty())
                        .map(String::from),
                );
            }
            _ => current.push(comp),
        }
    }
    let mut out = base.to_path_buf();
    for c in &current {
        out.push(c);
    }
    Ok(out)
}

/// A host path made absolute against the current directory (keeping a trailing `/` or `/.`).
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    format!("{}/{path}", cwd.display())
}

fn base_name(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .find(|c| !c.is_empty() && *c != ".")
        .unwrap_or(".")
        .to_string()
}

/// Writes `src` (a host path) as tar entries named `name` (and `name/...` for a directory's
/// content), or only its content when `name` is `None`. `owner` replaces every entry's owner.
fn write_tar(
    src: &Path,
    name: Option<&str>,
    owner: Option<(u64, u64)>,
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut stack: Vec<(PathBuf, String)> = Vec::new();
    match name {
        Some(n) => stack.push((src.to_path_buf(), n.to_string())),
        None => {
            let mut kids: Vec<_> = fs::read_dir(src)
                .map_err(|e| Error::io("reading", src, e))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            kids.sort();
            for k in kids.into_iter().rev() {
                stack.push((src.join(&k), k));
            }
        }
    }
    while let Some((path, name)) = stack.pop() {
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("reading", &path, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        if let Some((uid, gid)) = owner {
            header.set_uid(uid);
            header.set_gid(gid);
        } else {
            header.set_uid(u64::from(meta.uid()));
            header.set_gid(u64::from(meta.gid()));
        }
        let ft = meta.file_type();
        let io_err = |e: io::Error| Error::io("archiving", &path, e);
        if ft.is_dir() {
            header.set_size(0);
            b.append_data(&mut header, format!("{name}/"), io::empty())
                .map_err(io_err)?;
            let mut kids: Vec<_> = fs::read_dir(&path)
                .map_err(io_err)?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            kids.sort();
            for k in kids.into_iter().rev() {
                stack.push((path.join(&k), format!("{name}/{k}")));
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err)?;
            header.set_size(0);
            b.append_link(&mut header, &name, &target).map_err(io_err)?;
        } else if ft.is_file() {
            let f = fs::File::open(&path).map_err(io_err)?;
            // Exactly the size the header states, whatever the file does meanwhile (grows,
            // shrinks, or is a /proc file that reports 0 bytes): the stream stays valid.
            let size = meta.len();
            let body = io::Read::chain(io::Read::take(f, size), io::repeat(0));
            b.append_data(&mut header, &name, io::Read::take(body, size))
                .map_err(io_err)?;
        } else {
            // Devices and FIFOs: the header says it all.
            header.set_size(0);
            b.append_data(&mut header, &name, io::empty())
                .map_err(io_err)?;
        }
    }
    b.into_inner()
        .map_err(|e| Error::sys("finishing the archive", e))?
        .flush()
        .map_err(|e| Error::sys("writing the archive", e))?;
    Ok(())
}

/// Copies resolved source `src` (named `src_arg` by the user) into `dest_base` at `dest_arg`.
fn copy_path(
    src: &Path,
    src_arg: &str,
    dest_base: &Path,
    dest_arg: &str,
    owner: Option<(u64, u64)>,
    same_owner: bool,
    enter: Option<i32>,
) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(|e| Error::io("lstat", src, e))?;
    let src_is_dir = meta.is_dir();
    let contents_only = src_arg.ends_with("/.") || src_arg == ".";
    let dest =
        resolve_in(dest_base, dest_arg, true).map_err(|e| Error::io("resolving", dest_arg, e))?;
    let (dir, name): (PathBuf, Option<String>) = match fs::metadata(&dest) {
        Ok(m) if m.is_dir() => {
            if src_is_dir && contents_only {
                (dest.clone(), None)
            } else {
                (dest.clone(), Some(base_name(src_arg)))
            }
        }
        Ok(_) => {
            if src_is_dir {
                return Err(Error::Invalid(format!(
                    "cannot copy directory to file: {dest_arg} is not a directory"
                )));
            }
            let parent = dest.parent().unwrap_or(dest_base).to_path_buf();
            (parent, Some(base_name(dest_arg)))
        }
        Err(_) => {
            if dest_arg.ends_with('/') && !src_is_dir {
                return Err(Error::Invalid(format!("no such directory: {dest_arg}")));
            }
            let parent = dest.parent().unwrap_or(dest_base).to_path_buf();
            if !parent.is_dir() {
                return Err(Error::Invalid(format!(
                    "no such directory: the parent of {dest_arg} does not exist"
                )));
            }
            (parent, Some(base_name(dest_arg)))
        }
    };
    if let Some(init) = enter {
        let rel = dir.strip_prefix(dest_base).unwrap_or(&dir);
        return extract_in_namespace(init, src, name.as_deref(), owner, &Path::new("/").join(rel));
    }
    let (mut r, w) = std::io::pipe().map_err(|e| Error::sys("creating a pipe", e))?;
    let src = src.to_path_buf();
    let writer = std::thread::spawn(move || write_tar(&src, name.as_deref(), owner, w));
    let extracted = extract_layer(&mut r, &dir, &ExtractOptions { same_owner });
    // Drain what the extractor did not read, so the writer never blocks.
    let _ = io::copy(&mut r, &mut io::sink());
    let written = writer
        .join()
        .map_err(|_| Error::Invalid("the archive writer panicked".into()))?;
    written?;
    extracted?;
    Ok(())
}

/// Extracts the tar of `src` into `dir` of the mount namespace of the running container whose
/// init is `init`. The layer extractor turns its directories into paths through
/// `/proc/self/fd`, which would name host paths if it worked through `/proc/PID/root`: a child
/// enters the container's mount namespace instead, and reads the tar from a pipe.
fn extract_in_namespace(
    init: i32,
    src: &Path,
    name: Option<&str>,
    owner: Option<(u64, u64)>,
    dir: &Path,
) -> Result<()> {
    let ns_path = format!("/proc/{init}/ns/mnt");
    let ns = fs::File::open(&ns_path).map_err(|e| Error::io("opening", &ns_path, e))?;
    let pid_ns_path = format!("/proc/{init}/ns/pid");
    let pid_ns = fs::File::open(&pid_ns_path).map_err(|e| Error::io("opening", &pid_ns_path, e))?;
    let (mut r, w) = std::io::pipe().map_err(|e| Error::sys("creating a pipe", e))?;
    let (mut er, mut ew) = std::io::pipe().map_err(|e| Error::sys("creating a pipe", e))?;
    let _ = io::stdout().flush();
    // SAFETY: bale has one thread here; the child runs this program's code and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::last_os("starting the copy"));
    }
    if pid == 0 {
        drop(w);
        drop(er);
        // The container's /proc shows only its own pid namespace: the extractor's
        // /proc/self must be one of its processes, so a grandchild does the work.
        use std::os::fd::AsRawFd;
        // SAFETY: entering a pid namespace (it applies to children) and forking from a
        // single-threaded child.
        let inner = unsafe {
            if libc::setns(pid_ns.as_raw_fd(), libc::CLONE_NEWPID) != 0 {
                libc::_exit(3);
            }
            libc::fork()
        };
        if inner > 0 {
            let mut st = 0;
            // SAFETY: waiting for our own child, then exiting with its code.
            unsafe {
                libc::waitpid(inner, &mut st, 0);
                libc::_exit(if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else {
                    1
                });
            }
        }
        let result = (|| {
            // SAFETY: entering a mount namespace from a single-threaded process.
            if inner < 0 || unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
                return Err(Error::last_os("entering the container's mount namespace"));
            }
            extract_layer(&mut r, dir, &ExtractOptions { same_owner: true })?;
            Ok(())
        })();
        let code = match result {
            Ok(()) => 0,
            Err(e) => {
                let _ = ew.write_all(e.to_string().as_bytes());
                1
            }
        };
        // SAFETY: ending the child without the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(r);
    drop(ew);
    drop(ns);
    drop(pid_ns);
    let written = write_tar(src, name, owner, w);
    let mut msg = String::new();
    let _ = io::Read::read_to_string(&mut er, &mut msg);
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if !msg.is_empty() {
        return Err(Error::Invalid(msg));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(Error::Invalid(format!(
            "copying into the container failed (wait status {status:#x})"
        )));
    }
    written
}

/// Copies the content of directory `src` into the empty directory `dest` (owners, modes,
/// links and times kept), as docker fills a new volume from the image's directory it mounts over.
pub(crate) fn copy_dir_contents(src: &Path, dest: &Path) -> Result<()> {
    let (mut r, w) = std::io::pipe().map_err(|e| Error::sys("creating a pipe", e))?;
    let src = src.to_path_buf();
    let writer = std::thread::spawn(move || write_tar(&src, None, None, w));
    let extracted = extract_layer(&mut r, dest, &ExtractOptions::default());
    let _ = io::copy(&mut r, &mut io::sink());
    writer
        .join()
        .map_err(|_| Error::Invalid("the archive writer panicked".into()))??;
    extracted?;
    Ok(())
}

impl Containers<'_> {
    /// Copies between a container and the host (`bale cp`): `follow` is `-L`, `archive` is
    /// `-a` (keep owners when copying into the container; else they become root's).
    pub fn copy(
        &self,
        c: &Container,
        direction: &CopyDirection,
        follow: bool,
        archive: bool,
    ) -> Result<()> {
        let now = self.load(&c.id)?;
        let running = now.state.is_running() && now.state.pid > 0;
        let writing = matches!(direction, CopyDirection::ToContainer { .. });
        let _view;
        let root: PathBuf = if running {
            PathBuf::from(format!("/proc/{}/root", now.state.pid))
        } else if writing {
            let lower = self.lower_dir(c)?;
            let view = c.dir.join(format!("view-{}", std::process::id()));
            rootfs::enter_private_mount_namespace()?;
            fs::create_dir_all(&view).map_err(|e| Error::io("creating", &view, e))?;
            rootfs::mount_overlay(
                &[&lower],
                Some((&c.upper_dir(), &c.work_dir())),
                &view,
                false,
            )?;
            _view = crate::changes::MergedView { dir: view.clone() };
            view
        } else {
            let v = self.merged_view(c)?;
            let p = v.path().to_path_buf();
            _view = v;
            p
        };
        match direction {
            CopyDirection::FromContainer { src, dest } => {
                let follow_last = follow || src.ends_with('/');
                let host = resolve_in(&root, src, follow_last)
                    .map_err(|e| Error::io("resolving", src.as_str(), e))?;
                if fs::symlink_metadata(&host).is_err() {
                    return Err(Error::Invalid(format!(
                        "Could not find the file {src} in container {}",
                        c.config.name
                    )));
                }
                if dest == "-" {
                    let stdout = io::stdout();
                    return write_tar(&host, Some(&base_name(src)), None, stdout.lock());
                }
                copy_path(
                    &host,
                    src,
                    Path::new("/"),
                    &absolute(dest),
                    None,
                    false,
                    None,
                )
            }
            CopyDirection::ToContainer { src, dest } => {
                let owner = if archive { None } else { Some((0, 0)) };
                if src == "-" && running {
                    return Err(Error::Invalid(
                        "copying a tar from STDIN into a running container is not supported; stop it first or copy a path".into(),
                    ));
                }
                if src == "-" {
                    let target = resolve_in(&root, dest, true)
                        .map_err(|e| Error::io("resolving", dest.as_str(), e))?;
                    if !target.is_dir() {
                        return Err(Error::Invalid(format!(
                            "destination \"{}:{dest}\" must be a directory",
                            c.config.name
                        )));
                    }
                    let mut input = io::stdin().lock();
                    extract_layer(&mut input, &target, &ExtractOptions::default())?;
                    let _ = io::copy(&mut input, &mut io::sink());
                    return Ok(());
                }
                let follow_last = follow || src.ends_with('/');
                let host = resolve_in(Path::new("/"), &absolute(src), follow_last)
                    .map_err(|e| Error::io("resolving", src.as_str(), e))?;
                let enter = running.then_some(now.state.pid);
                copy_path(&host, src, &root, dest, owner, true, enter)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside_the_base() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path();
        fs::create_dir_all(base.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("link")).unwrap();
        std::os::unix::fs::symlink("../../..", base.join("etc/up")).unwrap();
        assert_eq!(
            resolve_in(base, "/link/passwd", true).unwrap(),
            base.join("etc/passwd")
        );
        assert_eq!(resolve_in(base, "/etc/up/x", true).unwrap(), base.join("x"));
        assert_eq!(resolve_in(base, "/link", false).unwrap(), base.join("link"));
        assert_eq!(
            resolve_in(base, "/../..", true).unwrap(),
            base.to_path_buf()
        );
    }

    #[test]
    fn base_names_follow_docker() {
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(base_name("/a/b/."), "b");
        assert_eq!(base_name("file"), "file");
    }
}
