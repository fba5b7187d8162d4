//! Containers: real processes in the real sandbox, on the busybox base: `run` exit codes,
//! environment, user and working directory; `-d` with `stop`, `start`, `exec` and `logs -f`;
//! restart policies; a supervisor killed with `kill -9`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Env, import_busybox, is_root, run, run_fail, run_ok, skip};

/// A store with the busybox base imported as `busybox`, whose containers are all removed
/// (killed first) when it is dropped, so a failing test leaves no container running; or `None`
/// when the test must stop.
pub fn busybox_env() -> Option<ContainerEnv> {
    if !is_root() {
        skip("containers need root (namespaces and overlayfs)");
        return None;
    }
    let env = Env::new();
    import_busybox(&env, "busybox:latest")?;
    Some(ContainerEnv(env))
}

/// An [`Env`] that removes its containers on drop.
pub struct ContainerEnv(pub Env);

impl std::ops::Deref for ContainerEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for ContainerEnv {
    fn drop(&mut self) {
        let ids = run(&mut self.0.bale(["ps", "-a", "-q", "--no-trunc"]));
        let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = run(&mut self.0.bale(args));
        }
    }
}

/// Polls `check` every 20 ms for up to 10 s.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The container's state file, parsed.
pub fn state(env: &Env, id: &str) -> serde_json::Value {
    let path = env
        .root()
        .join("bale/containers")
        .join(id)
        .join("state.json");
    serde_json::from_slice(&std::fs::read(&path).expect("state.json")).expect("state JSON")
}

fn full_id(env: &Env, name: &str) -> String {
    run_ok(&mut env.bale([
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "-f",
        &format!("name=^{name}$"),
    ]))
    .trim()
    .to_string()
}

fn status_of(env: &Env, name: &str) -> String {
    run_ok(&mut env.bale([
        "ps",
        "-a",
        "--format",
        "{{.Status}}",
        "-f",
        &format!("name=^{name}$"),
    ]))
    .trim()
    .to_string()
}

#[test]
fn run_passes_exit_codes_environment_user_and_workdir() {
    let Some(env) = busybox_env() else { return };
    run_fail(
        &mut env.bale(["run", "--rm", "busybox", "sh", "-c", "exit 7"]),
        7,
    );
    let err = run_fail(
        &mut env.bale(["run", "--rm", "busybox", "no-such-cmd"]),
        127,
    );
    assert!(
        err.contains("executable file not found in $PATH"),
        "stderr: {err}"
    );
    run_fail(
        &mut env.bale(["run", "--rm", "busybox", "/etc/passwd"]),
        126,
    );
    run_fail(&mut env.bale(["run", "--rm", "no-such-image"]), 125);
    run_fail(
        &mut env.bale(["run", "--rm", "busybox", "sh", "-c", "kill -9 $$"]),
        137,
    );

    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "-e",
        "FOO=bar baz",
        "-h",
        "box1",
        "busybox",
        "sh",
        "-c",
        "echo \"$FOO|$HOSTNAME|$HOME|$PATH|$(hostname)\"",
    ]));
    assert_eq!(
        out.trim(),
        "bar baz|box1|/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|box1"
    );
    let envfile = env.path("vars.env");
    std::fs::write(&envfile, "# comment\nA=1\nB=two words\n").unwrap();
    let out = run_ok(&mut env.bale([
        "run".as_ref(),
        "--rm".as_ref(),
        "--env-file".as_ref(),
        envfile.as_os_str(),
        "busybox".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        "echo $A-$B".as_ref(),
    ]));
    assert_eq!(out.trim(), "1-two words");

    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "-u",
        "app",
        "-w",
        "/srv/work",
        "busybox",
        "sh",
        "-c",
        "echo $(id -u):$(id -g) $(pwd) $HOME",
    ]));
    assert_eq!(out.trim(), "1000:1000 /srv/work /home/app");
    let out = run_ok(&mut env.bale(["run", "--rm", "-u", "1234:50", "busybox", "id"]));
    assert_eq!(out.trim(), "uid=1234 gid=50");

    // --entrypoint replaces the image's, and the command becomes its arguments.
    let out = run_ok(&mut env.bale(["run", "--rm", "--entrypoint", "echo", "busybox", "a", "-n"]));
    assert_eq!(out, "a -n\n");

    // Output streams stay apart.
    let o = run(&mut env.bale([
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");

    // --rm leaves nothing; without it the container stays, exited, with its logs.
    assert_eq!(run_ok(&mut env.bale(["ps", "-a", "-q"])), "");
    run_fail(
        &mut env.bale([
            "run",
            "--name",
            "kept",
            "busybox",
            "sh",
            "-c",
            "echo hi; exit 3",
        ]),
        3,
    );
    let status = status_of(&env, "kept");
    assert!(status.starts_with("Exited (3) "), "status: {status}");
    assert_eq!(run_ok(&mut env.bale(["logs", "kept"])), "hi\n");
    let table = run_ok(&mut env.bale(["ps", "-a"]));
    let header = table.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "header: {header}");
    }
    assert!(table.contains("\"sh -c echo hi; exit…\""), "{table}");
    // The name is taken until the container goes.
    let err = run_fail(
        &mut env.bale(["run", "--name", "kept", "busybox", "true"]),
        125,
    );
    assert!(err.contains("is already in use"), "{err}");
    assert_eq!(run_ok(&mut env.bale(["rm", "kept"])), "kept\n");
    // wait blocks until the container stops and prints its code.
    let id = run_ok(&mut env.bale(["run", "-d", "busybox", "sh", "-c", "sleep 0.3; exit 4"]));
    let t = Instant::now();
    assert_eq!(run_ok(&mut env.bale(["wait", id.trim()])), "4\n");
    assert!(t.elapsed() >= Duration::from_millis(200));
    run_ok(&mut env.bale(["rm", id.trim()]));
    assert_eq!(run_ok(&mut env.bale(["ps", "-a", "-q"])), "");
}

#[test]
fn detached_container_stops_starts_execs_and_follows_logs() {
    let Some(env) = busybox_env() else { return };
    let script = "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done";
    let id = run_ok(&mut env.bale(["run", "-d", "--name", "det", "busybox", "sh", "-c", script]));
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    wait_for("the first log line", || {
        run_ok(&mut env.bale(["logs", "det"])).contains("started")
    });
    assert!(status_of(&env, "det").starts_with("Up "));
    assert_eq!(
        run_ok(&mut env.bale(["ps", "-q"])).trim(),
        &id[..12],
        "ps shows running containers"
    );

    let out = run_ok(&mut env.bale([
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "app",
        "det",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u) $(hostname)",
    ]));
    assert_eq!(out.trim(), format!("1 /tmp 1000 {}", &id[..12]));
    run_fail(&mut env.bale(["exec", "det", "sh", "-c", "exit 5"]), 5);
    run_fail(&mut env.bale(["exec", "det", "no-such-cmd"]), 127);
    // exec sees the container's processes: its pid namespace.
    let ps = run_ok(&mut env.bale(["exec", "det", "ps", "-o", "args"]));
    assert!(ps.contains("while true"), "{ps}");

    let follow = env
        .bale(["logs", "-f", "det"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -f starts");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run_ok(&mut env.bale(["stop", "det"])), "det\n");
    let out = follow
        .wait_with_output()
        .expect("logs -f ends with the container");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started\nbye\n");
    let status = status_of(&env, "det");
    assert!(status.starts_with("Exited (0) "), "status: {status}");
    run_fail(&mut env.bale(["exec", "det", "true"]), 1);

    assert_eq!(run_ok(&mut env.bale(["start", "det"])), "det\n");
    wait_for("the second start", || {
        run_ok(&mut env.bale(["logs", "det"]))
            .matches("started")
            .count()
            == 2
    });
    assert!(status_of(&env, "det").starts_with("Up "));
    let tail = run_ok(&mut env.bale(["logs", "--tail", "1", "det"]));
    assert_eq!(tail, "started\n");
    let stamped = run_ok(&mut env.bale(["logs", "-t", "--tail", "1", "det"]));
    assert!(
        stamped.starts_with("20") && stamped.ends_with("Z started\n"),
        "{stamped}"
    );
    let err = run_fail(&mut env.bale(["rm", "det"]), 1);
    assert!(err.contains("container is running"), "{err}");
    // A container that ignores SIGTERM is killed after the timeout.
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]));
    let t = Instant::now();
    run_ok(&mut env.bale(["stop", "-t", "1", "stubborn"]));
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert!(status_of(&env, "stubborn").starts_with("Exited (137) "));
    assert_eq!(
        run_ok(&mut env.bale(["rm", "-f", "det", "stubborn"])),
        "det\nstubborn\n"
    );
    assert_eq!(run_ok(&mut env.bale(["ps", "-a", "-q"])), "");
}

#[test]
fn restart_on_failure_retries_as_asked() {
    let Some(env) = busybox_env() else { return };
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo try; exit 3",
    ]));
    let id = full_id(&env, "flaky");
    wait_for("the restarts to end", || {
        let s = state(&env, &id);
        s["Status"] == "exited" && s["RestartCount"] == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    let s = state(&env, &id);
    assert_eq!(s["RestartCount"], 2, "{s}");
    assert_eq!(s["ExitCode"], 3);
    assert_eq!(run_ok(&mut env.bale(["logs", "flaky"])), "try\ntry\ntry\n");
    assert!(status_of(&env, "flaky").starts_with("Exited (3) "));

    // always restarts even on success, until stopped by hand.
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo again; sleep 0.05",
    ]));
    let id = full_id(&env, "loop");
    wait_for("two restarts", || {
        state(&env, &id)["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    run_ok(&mut env.bale(["stop", "loop"]));
    let count = state(&env, &id)["RestartCount"].clone();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        state(&env, &id)["RestartCount"],
        count,
        "no restart after stop"
    );
    assert!(status_of(&env, "loop").starts_with("Exited"));
}

#[test]
fn signals_sent_to_an_attached_run_reach_the_command() {
    let Some(env) = busybox_env() else { return };
    let mut child = env
        .bale([
            "run",
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-int; exit 3' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("ready line");
    assert_eq!(&first, b"ready\n");
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().expect("run ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "got-int\n");
    assert_eq!(status.code(), Some(3), "bale exits with the command's code");
    assert_eq!(run_ok(&mut env.bale(["logs", "sig"])), "ready\ngot-int\n");
}

fn mountinfo_mentions(needle: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(needle)
}

fn alive(pid: i64) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn supervisor_killed_with_sigkill_leaves_an_exited_container_and_nothing_else() {
    let Some(env) = busybox_env() else { return };
    let id = run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "victim",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000",
    ]));
    let id = id.trim().to_string();
    wait_for("the container to run", || {
        state(&env, &id)["Pid"].as_i64().unwrap_or(0) > 0
    });
    let s = state(&env, &id);
    let supervisor = s["SupervisorPid"].as_i64().unwrap();
    let init = s["Pid"].as_i64().unwrap();
    // Every process of the container: those in init's pid namespace (both sleeps included).
    wait_for("both sleeps", || namespace_pids(init).len() >= 3);
    let pids = namespace_pids(init);
    // No mount of the container reaches the host's mount table, even while it runs.
    assert!(
        !mountinfo_mentions(&id),
        "overlay leaked into the host's mounts"
    );

    kill_9(supervisor);
    wait_for("the container's processes to die", || {
        !alive(supervisor) && pids.iter().all(|&p| !alive(p))
    });
    // A killed process lets go of its files (the supervisor's lock) only once all its threads
    // are gone, a moment after it shows as a zombie.
    wait_for("the exit to be seen", || {
        status_of(&env, "victim").starts_with("Exited")
    });
    let status = status_of(&env, "victim");
    assert!(status.starts_with("Exited (137) "), "status: {status}");
    assert_eq!(run_ok(&mut env.bale(["rm", "-v", "victim"])), "victim\n");
    assert!(!env.root().join("bale/containers").join(&id).exists());
    assert!(!mountinfo_mentions(&id));
    assert!(
        !std::path::Path::new("/sys/fs/cgroup/freezer/bale")
            .join(&id)
            .exists(),
        "no cgroup is left behind"
    );
    // The anonymous volume went with -v.
    let volumes = std::fs::read_dir(env.root().join("bale/volumes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(volumes, 0);
}

fn namespace_pids(init: i64) -> Vec<i64> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/ns/pid"))
                .ok()
                .as_ref()
                == Some(&ns)
        })
        .collect()
}

fn kill_9(pid: i64) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(st.success());
}
