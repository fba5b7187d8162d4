//! Container options and the smaller commands: mounts and volumes, a read-only root, networks,
//! hosts, `--cidfile`, stdin and terminals, `pause`/`unpause`, `top`, `rename`, `inspect`,
//! `container prune` and `system df`.

use std::io::Write;
use std::process::Stdio;

use crate::containers::{busybox_env, state, wait_for};
use crate::util::{run, run_fail, run_ok};

#[test]
fn mounts_volumes_and_a_read_only_root() {
    let Some(env) = busybox_env() else { return };
    let host = env.path("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from host\n").unwrap();
    let bind = format!("{}:/mnt/shared", host.display());
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "cat /mnt/shared/in.txt; echo back > /mnt/shared/out.txt",
    ]));
    assert_eq!(out, "from host\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/mnt/shared:ro", host.display());
    run_fail(
        &mut env.bale([
            "run",
            "--rm",
            "-v",
            &ro,
            "busybox",
            "touch",
            "/mnt/shared/x",
        ]),
        1,
    );
    let mount = format!("type=bind,source={},target=/m,readonly", host.display());
    run_fail(
        &mut env.bale(["run", "--rm", "--mount", &mount, "busybox", "touch", "/m/x"]),
        1,
    );

    // A named volume outlives its containers.
    run_ok(&mut env.bale([
        "run",
        "--rm",
        "-v",
        "cache:/cache",
        "busybox",
        "sh",
        "-c",
        "echo kept > /cache/f",
    ]));
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "--mount",
        "type=volume,source=cache,target=/c",
        "busybox",
        "cat",
        "/c/f",
    ]));
    assert_eq!(out, "kept\n");

    // tmpfs.
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/scratch",
        "busybox",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
    ]));
    assert_eq!(out, "tmpfs\n");

    // --read-only: the root refuses writes, mounts still take them.
    let err = run_fail(
        &mut env.bale(["run", "--rm", "--read-only", "busybox", "touch", "/x"]),
        1,
    );
    assert!(err.contains("Read-only file system"), "{err}");
    run_ok(&mut env.bale([
        "run",
        "--rm",
        "--read-only",
        "--mount",
        "type=tmpfs,target=/tmp",
        "busybox",
        "touch",
        "/tmp/x",
    ]));

    // An image's VOLUME becomes an anonymous volume filled with the image's content there.
    run_ok(&mut env.bale([
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo seeded > /data/s",
    ]));
    run_ok(&mut env.bale(["commit", "-c", "VOLUME /data", "seed", "withvol:1"]));
    let id = run_ok(&mut env.bale([
        "run",
        "-d",
        "withvol:1",
        "sh",
        "-c",
        "cat /data/s; echo more > /data/t",
    ]));
    let id = id.trim();
    wait_for("the container to end", || {
        state(&env, id)["Status"] == "exited"
    });
    assert_eq!(run_ok(&mut env.bale(["logs", id])), "seeded\n");
    let volumes = env.root().join("bale/volumes");
    let names: Vec<_> = std::fs::read_dir(&volumes)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cache")
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(
        std::fs::read_to_string(volumes.join(&names[0]).join("_data/t")).unwrap(),
        "more\n"
    );
    // The volume is not part of the container's changes.
    let diff = run_ok(&mut env.bale(["diff", id]));
    assert!(!diff.contains("/data/t"), "{diff}");
    run_ok(&mut env.bale(["rm", "-v", id]));
    assert!(!volumes.join(&names[0]).exists(), "rm -v removes it");
    assert!(volumes.join("cache").exists(), "named volumes stay");
}

#[test]
fn networks_hosts_cidfile_stdin_and_terminals() {
    let Some(env) = busybox_env() else { return };
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    ]));
    assert_eq!(out, "lo\n");
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "--add-host",
        "db.local:10.1.2.3",
        "-h",
        "web",
        "busybox",
        "sh",
        "-c",
        "grep db.local /etc/hosts; cat /etc/hostname",
    ]));
    assert_eq!(out, "10.1.2.3\tdb.local\nweb\n");

    let cid = env.path("cid");
    let id = run_ok(&mut env.bale([
        "run".as_ref(),
        "-d".as_ref(),
        "--cidfile".as_ref(),
        cid.as_os_str(),
        "busybox".as_ref(),
        "true".as_ref(),
    ]));
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let err = run_fail(
        &mut env.bale([
            "run".as_ref(),
            "--cidfile".as_ref(),
            cid.as_os_str(),
            "busybox".as_ref(),
            "true".as_ref(),
        ]),
        125,
    );
    assert!(err.contains("container ID file found"), "{err}");

    // -i passes stdin; without it the command reads nothing.
    let mut child = env
        .bale(["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    let mut cmd = env.bale(["run", "--rm", "busybox", "cat"]);
    cmd.stdin(Stdio::piped());
    assert_eq!(run_ok(&mut cmd), "");

    // -t gives the command a terminal, and output still reaches the log.
    let out = run_ok(&mut env.bale([
        "run",
        "-t",
        "--name",
        "term",
        "busybox",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo tty:$TERM",
    ]));
    assert_eq!(out.replace('\r', ""), "tty:xterm\n");
    assert_eq!(
        run_ok(&mut env.bale(["logs", "term"])).replace('\r', ""),
        "tty:xterm\n"
    );
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "test -t 0 || echo no-tty",
    ]));
    assert_eq!(out, "no-tty\n");
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "svc",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]));
    let out = run_ok(&mut env.bale([
        "exec",
        "-t",
        "svc",
        "sh",
        "-c",
        "test -t 1 && echo exec-tty",
    ]));
    assert_eq!(out.replace('\r', ""), "exec-tty\n");
    run_ok(&mut env.bale(["rm", "-f", "svc"]));
}

fn proc_state(pid: i64) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(") ")
        .next()
        .and_then(|r| r.chars().next())
        .unwrap_or('?')
}

#[test]
fn pause_top_rename_inspect_prune_and_df() {
    let Some(env) = busybox_env() else { return };
    let id = run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "worker",
        "--label",
        "team=a",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.02; done",
    ]));
    let id = id.trim().to_string();
    wait_for("the container to run", || {
        state(&env, &id)["Pid"].as_i64().unwrap_or(0) > 0
    });
    let init = state(&env, &id)["Pid"].as_i64().unwrap();

    let top = run_ok(&mut env.bale(["top", "worker"]));
    let header = top.lines().next().unwrap();
    assert!(header.starts_with("UID") && header.contains("PID") && header.contains("CMD"));
    assert!(top.contains("while true"), "{top}");
    assert!(
        !top.contains("bale"),
        "the supervisor is not the container's: {top}"
    );

    assert_eq!(run_ok(&mut env.bale(["pause", "worker"])), "worker\n");
    let s = run_ok(&mut env.bale(["ps", "--format", "{{.State}}|{{.Status}}"]));
    assert!(
        s.starts_with("paused|Up ") && s.trim_end().ends_with("(Paused)"),
        "{s}"
    );
    // Nothing in the container moves while it is paused: the counter it writes stands still.
    let tick = || std::fs::read_to_string(format!("/proc/{init}/root/tmp/tick")).unwrap();
    let before = tick();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(tick(), before, "a paused container made progress");
    let freezer = std::path::PathBuf::from("/sys/fs/cgroup/freezer/bale").join(&id);
    if freezer.exists() {
        let state = std::fs::read_to_string(freezer.join("freezer.state")).unwrap();
        assert_eq!(state.trim(), "FROZEN");
    } else {
        let children =
            std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
        let cmd: i64 = children.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(proc_state(cmd), 'T');
    }
    let err = run_fail(&mut env.bale(["exec", "worker", "true"]), 1);
    assert!(err.contains("paused"), "{err}");
    assert_eq!(run_ok(&mut env.bale(["unpause", "worker"])), "worker\n");
    wait_for("the counter to move again", || tick() != before);
    run_fail(&mut env.bale(["unpause", "worker"]), 1);

    run_ok(&mut env.bale(["rename", "worker", "boss"]));
    let err = run_fail(&mut env.bale(["logs", "worker"]), 1);
    assert!(err.contains("No such container: worker"), "{err}");
    let out = run_ok(&mut env.bale([
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.State.Running}} {{.Config.Labels.team}} {{.HostConfig.NetworkMode}}",
        "boss",
    ]));
    assert_eq!(out, "/boss running true a host\n");
    let json = run_ok(&mut env.bale(["container", "inspect", &id[..12]]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Path"], "sh");
    assert!(v[0]["GraphDriver"]["Data"]["UpperDir"].is_string());
    let err = run_fail(&mut env.bale(["inspect", "--type", "image", "boss"]), 1);
    assert!(err.contains("No such image: boss"), "{err}");
    let ls = run_ok(&mut env.bale(["container", "ls", "--format", "{{.Names}}"]));
    assert_eq!(ls, "boss\n");
    let filtered = run_ok(&mut env.bale(["ps", "-q", "-f", "label=team=a"]));
    assert_eq!(filtered.trim(), &id[..12]);
    assert_eq!(
        run_ok(&mut env.bale(["ps", "-q", "-f", "label=team=b"])),
        ""
    );

    run_ok(&mut env.bale([
        "run",
        "--name",
        "done1",
        "busybox",
        "sh",
        "-c",
        "echo x > /f",
    ]));
    run_ok(&mut env.bale(["run", "--name", "done2", "busybox", "true"]));
    let df = run_ok(&mut env.bale([
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]));
    assert!(df.contains("Containers 3 1\n"), "{df}");
    assert!(df.contains("Images 1 1\n"), "{df}");
    let exited =
        run_ok(&mut env.bale(["ps", "-a", "-f", "status=exited", "--format", "{{.Names}}"]));
    assert_eq!(exited, "done2\ndone1\n");
    assert_eq!(
        run_ok(&mut env.bale(["ps", "-l", "--format", "{{.Names}}"])),
        "done2\n"
    );
    assert_eq!(
        run_ok(&mut env.bale(["ps", "-n", "2", "-q"]))
            .lines()
            .count(),
        2
    );
    let pruned = run_ok(&mut env.bale(["container", "prune", "-f"]));
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(pruned.lines().filter(|l| l.len() == 64).count(), 2);
    assert!(pruned.contains("Total reclaimed space: "));
    assert_eq!(
        run_ok(&mut env.bale(["ps", "-a", "--format", "{{.Names}}"])),
        "boss\n"
    );
    let out = run(&mut env.bale(["kill", "-s", "TERM", "boss"]));
    assert!(out.status.success());
    wait_for("the kill", || state(&env, &id)["Status"] == "exited");
    assert_eq!(state(&env, &id)["ExitCode"], 143);
    // `system prune` removes stopped containers first, as docker's does.
    let pruned = run_ok(&mut env.bale(["system", "prune", "-f"]));
    assert!(
        pruned.starts_with(&format!("Deleted Containers:\n{id}\n")),
        "{pruned}"
    );
    assert_eq!(run_ok(&mut env.bale(["ps", "-a", "-q"])), "");
    assert!(
        !std::path::PathBuf::from("/sys/fs/cgroup/freezer/bale")
            .join(&id)
            .exists(),
        "the freezer cgroup goes with the container"
    );
}
