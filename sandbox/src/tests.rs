//! Sandbox tests on a real busybox rootfs. They need root and `/bin/busybox` (static); without
//! them they say so and return. They run one at a time: the cleanup checks look at the whole
//! machine (mount table, temporary directories, processes).

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

/// Prints why a test cannot run here, or fails it on CI, where nothing may be skipped.
fn skip(reason: &str) {
    let on_ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
    assert!(!on_ci, "cannot skip on CI: {reason}");
    eprintln!("skipped: {reason}");
}

fn usable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new("/bin/busybox").exists() {
        skip("needs root and /bin/busybox");
        return false;
    }
    true
}

/// A rootfs with busybox and its applets, a passwd and group file and `/tmp`, but no `/proc`,
/// `/dev`, `/sys` or `/etc/hosts`: the sandbox must create and remove those mount targets.
pub(crate) fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home/app",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        let path = root.join(applet);
        if !path.exists() {
            symlink("/bin/busybox", path).unwrap();
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000)).unwrap();
    dir
}

fn sh(root: &Path, script: &str) -> SandboxSpec {
    let mut spec = SandboxSpec::new(root, ["/bin/sh", "-c", script]);
    spec.env.push("PATH=/usr/sbin:/usr/bin:/sbin:/bin".into());
    spec
}

fn capture(spec: &SandboxSpec) -> (Result<ExitStatus, Error>, Vec<String>, Vec<String>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let res = Sandbox::run_with_output(spec, &mut |s, line| {
        let line = String::from_utf8_lossy(line).into_owned();
        match s {
            Stream::Stdout => out.push(line),
            Stream::Stderr => err.push(line),
        }
    });
    (res, out, err)
}

fn mounts_under(path: &Path) -> Vec<String> {
    let canon = fs::canonicalize(path).unwrap();
    let canon = canon.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&canon))
        .map(str::to_string)
        .collect()
}

fn sandbox_tmpdirs() -> Vec<PathBuf> {
    fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("bale-sandbox-")
        })
        .collect()
}

fn processes_matching(needle: &str) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    assert_eq!(
        Sandbox::run(&sh(root.path(), "exit 0")).unwrap(),
        ExitStatus::Exited(0)
    );
    assert_eq!(
        Sandbox::run(&sh(root.path(), "exit 3")).unwrap(),
        ExitStatus::Exited(3)
    );
    let st = Sandbox::run(&sh(root.path(), "kill -9 $$")).unwrap();
    assert_eq!(st, ExitStatus::Signaled(9));
    assert_eq!(st.code(), 137);
}

#[test]
fn env_argv_and_output_are_passed_and_captured() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(
        root.path(),
        "echo \"$FOO\" \"$0\" \"$1\"; echo oops >&2; printf 'no newline'",
    );
    spec.argv.extend(["zero".into(), "one two".into()]);
    spec.env.push("FOO=bar baz".into());
    let (res, out, err) = capture(&spec);
    assert_eq!(res.unwrap(), ExitStatus::Exited(0));
    assert_eq!(out, vec!["bar baz zero one two", "no newline"]);
    assert_eq!(err, vec!["oops"]);
}

#[test]
fn home_is_set_from_passwd_when_missing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(root.path(), "echo $HOME");
    spec.user = "app".into();
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out, vec!["/home/app"]);
}

#[test]
fn user_and_groups_are_applied() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(root.path(), "id -u; id -g; id -G");
    spec.user = "app".into();
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out, vec!["1000", "1000", "1000 50"]);

    spec.user = "1234:50".into();
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out, vec!["1234", "50", "50"]);

    spec.user = "nobody".into();
    let err = Sandbox::run(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user nobody: no matching entries in passwd file"
    );
}

/// Regression: glibc's setuid in the forked command takes glibc's thread-list lock, which
/// another thread of the parent may have held at the moment of the fork (creating or ending a
/// thread, as the snapshot walker does constantly): the command then waited forever.
#[test]
fn setuid_with_other_threads_alive_does_not_hang() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::spawn(|| ()).join().unwrap();
                }
            })
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let path = root.path().to_path_buf();
    std::thread::spawn(move || {
        for _ in 0..50 {
            let mut spec = sh(&path, "id -u");
            spec.user = "app".into();
            spec.stdio = Stdio::Null;
            if !Sandbox::run(&spec).is_ok_and(ExitStatus::success) {
                let _ = tx.send(false);
                return;
            }
        }
        let _ = tx.send(true);
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in busy {
        t.join().unwrap();
    }
    assert_eq!(done, Ok(true), "runs as a user hung or failed");
}

#[test]
fn missing_workdir_is_created_owned_by_the_user_and_kept() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(root.path(), "pwd; touch mine");
    spec.user = "app".into();
    spec.workdir = "/srv/app/dir".into();
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out, vec!["/srv/app/dir"]);
    let meta = fs::metadata(root.path().join("srv/app/dir")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o755)
    );
    assert_eq!(
        fs::metadata(root.path().join("srv/app/dir/mine"))
            .unwrap()
            .uid(),
        1000
    );
}

#[test]
fn standard_mounts_are_present_and_removed_afterwards() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let before_tmp = sandbox_tmpdirs();
    let etc_mtime = fs::metadata(root.path().join("etc")).unwrap().mtime_nsec();
    let mut spec = sh(
        root.path(),
        "test -c /dev/null && test -c /dev/urandom && test -d /dev/shm && test -d /dev/pts \
         && test -L /dev/fd && test -c /dev/pts/ptmx && test -L /dev/ptmx && echo x > /dev/null && test -r /proc/self/status \
         && test -d /sys/kernel && ! touch /sys/x 2>/dev/null && hostname && cat /etc/hostname \
         && grep -c nameserver /etc/resolv.conf >/dev/null && cat /etc/hosts",
    );
    spec.hostname = "builder1".into();
    spec.extra_hosts
        .push(("db.local".into(), "10.1.2.3".into()));
    let (res, out, err) = capture(&spec);
    assert_eq!(res.unwrap(), ExitStatus::Exited(0), "{err:?}");
    assert_eq!(out[0], "builder1");
    assert_eq!(out[1], "builder1");
    assert!(out.contains(&"10.1.2.3\tdb.local".to_string()), "{out:?}");
    assert!(
        out.contains(&"127.0.0.1\tlocalhost builder1".to_string()),
        "{out:?}"
    );

    for gone in [
        "proc",
        "dev",
        "sys",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
    ] {
        assert!(
            !root.path().join(gone).exists(),
            "{gone} left in the rootfs"
        );
    }
    assert_eq!(
        fs::metadata(root.path().join("etc")).unwrap().mtime_nsec(),
        etc_mtime
    );
    assert!(mounts_under(root.path()).is_empty());
    assert_eq!(sandbox_tmpdirs(), before_tmp);
}

#[test]
fn existing_etc_files_are_shadowed_not_modified() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    fs::write(root.path().join("etc/hosts"), "original\n").unwrap();
    let (res, out, _) = capture(&sh(
        root.path(),
        "echo added >> /etc/hosts; grep -c original /etc/hosts",
    ));
    assert_eq!(res.unwrap(), ExitStatus::Exited(1));
    assert_eq!(out, vec!["0"]);
    assert_eq!(
        fs::read_to_string(root.path().join("etc/hosts")).unwrap(),
        "original\n"
    );
}

#[test]
fn sys_can_be_left_out() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(root.path(), "test -e /sys/kernel");
    spec.sys = Sys::None;
    assert_eq!(Sandbox::run(&spec).unwrap(), ExitStatus::Exited(1));
    assert!(!root.path().join("sys").exists());
}

#[test]
fn dangling_etc_symlinks_are_followed_inside_and_their_targets_removed() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    // As in Ubuntu images: resolv.conf points into a directory that does not exist.
    symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        root.path().join("etc/resolv.conf"),
    )
    .unwrap();
    let (res, out, _) = capture(&sh(root.path(), "grep -c nameserver /etc/resolv.conf"));
    assert!(res.unwrap().success());
    assert_ne!(out, vec!["0"]);
    assert!(!root.path().join("run").exists());
    assert!(
        fs::symlink_metadata(root.path().join("etc/resolv.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_fifo_for_passwd_is_refused_not_waited_on() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    fs::remove_file(root.path().join("etc/passwd")).unwrap();
    let c = CString::new(root.path().join("etc/passwd").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let err = Sandbox::run(&sh(root.path(), "true")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid sandbox spec: /etc/passwd in the rootfs is not a regular file"
    );
}

#[test]
fn network_none_has_only_loopback() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(
        root.path(),
        "ls /sys/class/net; cat /sys/class/net/lo/operstate",
    );
    spec.network = Network::None;
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out[0], "lo");
    assert_eq!(out.len(), 2, "{out:?}");
}

#[test]
fn host_processes_are_invisible() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let (res, out, _) = capture(&sh(root.path(), "ls /proc | grep '^[0-9]*$'; echo $$"));
    assert!(res.unwrap().success());
    let pids: Vec<i32> = out.iter().map(|l| l.parse().unwrap()).collect();
    let (listed, own) = pids.split_at(pids.len() - 1);
    // Init is 1, the shell 2, its ls and grep 3 and 4: nothing of the host's.
    assert_eq!(own, [2]);
    assert!(listed.iter().all(|&p| p <= 4), "{listed:?}");
    assert!(listed.contains(&1));
}

#[test]
fn escapes_through_dotdot_symlinks_and_host_paths_stay_in_the_rootfs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let outside = tempfile::tempdir().unwrap();
    let outside_path = fs::canonicalize(outside.path()).unwrap();
    let name = format!("bale-escape-{}", std::process::id());
    let host_target = outside_path.join(&name);
    let script = format!(
        "mkdir -p {o}; echo 1 > {o}/{n}; \
         cd /; cd ../../../..; echo 2 > ./{n}.dotdot; \
         ln -s / /up; echo 3 > /up/../../{n}.symlink; \
         ln -s ../../../../../../../.. /tmp/rel; echo 4 > /tmp/rel/{n}.rel; true",
        o = outside_path.display(),
        n = name,
    );
    let (res, _, err) = capture(&sh(root.path(), &script));
    assert!(res.unwrap().success(), "{err:?}");
    // Every write landed inside the rootfs.
    assert!(!host_target.exists());
    assert!(fs::read_dir(&outside_path).unwrap().next().is_none());
    let inside = root
        .path()
        .join(outside_path.strip_prefix("/").unwrap())
        .join(&name);
    assert_eq!(fs::read_to_string(inside).unwrap(), "1\n");
    for suffix in ["dotdot", "symlink", "rel"] {
        let f = format!("{name}.{suffix}");
        assert!(root.path().join(&f).exists(), "{f} not in the rootfs");
        assert!(!Path::new("/").join(&f).exists(), "{f} escaped to the host");
    }
}

#[test]
fn extra_mounts_work_and_leave_no_trace() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("data"), "from host\n").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let secret = host.path().join("token");
    fs::write(&secret, "s3cret\n").unwrap();
    let mut spec = sh(
        root.path(),
        "cat /mnt/ro/data; ! touch /mnt/ro/new 2>/dev/null; echo kept > /cache/c; \
         echo t > /scratch/x; grep -q ' /scratch tmpfs' /proc/mounts; \
         cat /run/secrets/token; ! sh -c 'echo x > /run/secrets/token' 2>/dev/null",
    );
    spec.mounts = vec![
        Mount {
            target: "/mnt/ro".into(),
            kind: MountKind::Bind {
                source: host.path().into(),
                readonly: true,
            },
        },
        Mount {
            target: "/cache".into(),
            kind: MountKind::Bind {
                source: cache.path().into(),
                readonly: false,
            },
        },
        Mount {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
                mode: None,
            },
        },
        Mount {
            target: "/run/secrets/token".into(),
            kind: MountKind::Bind {
                source: secret.clone(),
                readonly: true,
            },
        },
    ];
    let (res, out, err) = capture(&spec);
    assert_eq!(res.unwrap(), ExitStatus::Exited(0), "{err:?}");
    assert_eq!(out, vec!["from host", "s3cret"]);
    assert_eq!(fs::read_to_string(&secret).unwrap(), "s3cret\n");
    assert_eq!(
        fs::read_to_string(cache.path().join("c")).unwrap(),
        "kept\n"
    );
    assert!(!host.path().join("new").exists());
    for gone in ["mnt", "cache", "scratch", "run"] {
        assert!(
            !root.path().join(gone).exists(),
            "{gone} left in the rootfs"
        );
    }
    assert!(mounts_under(root.path()).is_empty());
}

#[test]
fn ulimits_are_applied() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let mut spec = sh(root.path(), "ulimit -n");
    spec.ulimits.push(Ulimit::parse("nofile=256:512").unwrap());
    let (res, out, _) = capture(&spec);
    assert!(res.unwrap().success());
    assert_eq!(out, vec!["256"]);
}

#[test]
fn ulimit_parsing() {
    let u = Ulimit::parse("nofile=1024").unwrap();
    assert_eq!((u.soft, u.hard), (1024, 1024));
    assert_eq!(Ulimit::parse("core=-1").unwrap().hard, u64::MAX);
    assert!(Ulimit::parse("nofile=10:5").is_err());
    assert!(Ulimit::parse("bogus=1").is_err());
    assert!(Ulimit::parse("nofile").is_err());
}

#[test]
fn missing_program_is_reported_like_runc() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let spec = SandboxSpec::new(root.path(), ["no-such-program"]);
    let err = Sandbox::run(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"no-such-program\": executable file not found in $PATH"
    );
    // A program found through PATH runs.
    let mut spec = SandboxSpec::new(root.path(), ["true"]);
    spec.env.push("PATH=/bin".into());
    assert!(Sandbox::run(&spec).unwrap().success());
}

#[test]
fn background_processes_die_with_the_command() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let marker = format!("sleep 31{}", std::process::id() % 1000);
    let started = std::time::Instant::now();
    let status = Sandbox::run(&sh(root.path(), &format!("{marker} & {marker} & exit 0"))).unwrap();
    assert!(status.success());
    assert!(started.elapsed().as_secs() < 30);
    assert!(processes_matching(&marker).is_empty());
}

#[test]
fn sigterm_kills_the_tree_and_cleans_up() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let before_tmp = sandbox_tmpdirs();
    let marker = format!("sleep 32{}", std::process::id() % 1000);
    let guard = install_interrupt_handler().unwrap();
    let killer = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: sending a signal to our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    });
    let err = Sandbox::run(&sh(root.path(), &format!("{marker} & {marker}"))).unwrap_err();
    killer.join().unwrap();
    assert!(matches!(err, Error::Interrupted(libc::SIGTERM)), "{err}");
    assert_eq!(interrupted(), Some(libc::SIGTERM));
    drop(guard);
    assert_eq!(interrupted(), None);
    assert!(processes_matching(&marker).is_empty());
    assert!(mounts_under(root.path()).is_empty());
    assert!(!root.path().join("proc").exists());
    assert!(!root.path().join("etc/hosts").exists());
    assert_eq!(sandbox_tmpdirs(), before_tmp);
}

/// Run by `killing_bale_kills_the_sandbox` in a child process that is then killed.
#[test]
#[ignore = "helper: runs only when BALE_SANDBOX_HOLD_ROOTFS is set"]
fn hold_a_sandbox() {
    if let Ok(rootfs) = std::env::var("BALE_SANDBOX_HOLD_ROOTFS") {
        let marker = std::env::var("BALE_SANDBOX_HOLD_MARKER").unwrap();
        let _ = Sandbox::run(&sh(Path::new(&rootfs), &format!("{marker} & {marker}")));
    }
}

#[test]
fn killing_bale_kills_the_sandbox() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !usable() {
        return;
    }
    let root = busybox_rootfs();
    let marker = format!("sleep 33{}", std::process::id() % 1000);
    let before_tmp = sandbox_tmpdirs();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::hold_a_sandbox",
            "--ignored",
            "--nocapture",
        ])
        .env("BALE_SANDBOX_HOLD_ROOTFS", root.path())
        .env("BALE_SANDBOX_HOLD_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while processes_matching(&marker).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_matching(&marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox outlived bale"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(mounts_under(root.path()).is_empty());
    // Nothing on the host outside the rootfs is left behind either.
    assert_eq!(sandbox_tmpdirs(), before_tmp);
}
