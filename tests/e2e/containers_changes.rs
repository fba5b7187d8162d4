//! What containers change and what that becomes: `diff` after adding, changing and deleting
//! files; `commit` then `run` of the new image; `export | import` then `run`; `cp` of a file,
//! a directory and a symlink in both directions; `rmi` refusing an image a container uses.

use std::process::Stdio;

use crate::containers::{busybox_env, state, wait_for};
use crate::util::{run, run_fail, run_ok};

const CHANGES: &str = "echo new > /tmp/added; echo extra >> /etc/passwd; rm /bin/vi; \
                       mkdir -p /opt/app/bin; ln -s /opt/app/bin/tool /usr-tool";

#[test]
fn diff_lists_added_changed_and_deleted_paths() {
    let Some(env) = busybox_env() else { return };
    run_ok(&mut env.bale(["run", "--name", "changer", "busybox", "sh", "-c", CHANGES]));
    let out = run_ok(&mut env.bale(["diff", "changer"]));
    assert_eq!(
        out,
        "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /opt\nA /opt/app\nA /opt/app/bin\n\
         C /tmp\nA /tmp/added\nA /usr-tool\n"
    );
    // Running a command that changes nothing shows nothing.
    run_ok(&mut env.bale(["run", "--name", "quiet", "busybox", "true"]));
    assert_eq!(run_ok(&mut env.bale(["diff", "quiet"])), "");
    // A directory removed and recreated hides what the image had in it.
    run_ok(&mut env.bale([
        "run",
        "--name",
        "opaque",
        "busybox",
        "sh",
        "-c",
        "rm -rf /home/app && mkdir /home/app && touch /home/app/new",
    ]));
    let out = run_ok(&mut env.bale(["diff", "opaque"]));
    assert!(
        out.contains("C /home/app\n") && out.contains("A /home/app/new\n"),
        "{out}"
    );
    // A running container's changes are seen too.
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "touch /live; while true; do sleep 0.1; done",
    ]));
    wait_for("the file", || {
        run_ok(&mut env.bale(["diff", "live"])).contains("A /live\n")
    });
    run_ok(&mut env.bale(["rm", "-f", "live"]));
}

#[test]
fn commit_makes_an_image_that_runs_with_the_changes() {
    let Some(env) = busybox_env() else { return };
    run_ok(&mut env.bale([
        "run",
        "--name",
        "src",
        "-e",
        "MODE=prod",
        "-w",
        "/opt",
        "busybox",
        "sh",
        "-c",
        CHANGES,
    ]));
    let id = run_ok(&mut env.bale([
        "commit",
        "-a",
        "Jane <jane@example.com>",
        "-m",
        "add things",
        "-c",
        "CMD [\"cat\", \"/tmp/added\"]",
        "-c",
        "LABEL stage=test",
        "src",
        "committed:1",
    ]));
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        run_ok(&mut env.bale(["run", "--rm", "committed:1"])),
        "new\n"
    );
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "committed:1",
        "sh",
        "-c",
        "tail -1 /etc/passwd; test -e /bin/vi || echo no-vi; readlink /usr-tool; echo $MODE $(pwd)",
    ]));
    assert_eq!(out, "extra\nno-vi\n/opt/app/bin/tool\nprod /opt\n");
    let inspect = run_ok(&mut env.bale([
        "inspect",
        "-f",
        "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{index .Config.Labels \"stage\"}}|{{len .RootFS.Layers}}",
        "committed:1",
    ]));
    assert_eq!(
        inspect.trim(),
        "Jane <jane@example.com>|add things|[\"cat\",\"/tmp/added\"]|test|2"
    );
    let history = run_ok(&mut env.bale(["history", "--no-trunc", "committed:1"]));
    assert!(history.contains("add things"), "{history}");
    // The store stays valid for peers.
    run_ok(&mut env.bale(["system", "check"]));

    // A running container is paused while committed, and keeps running after.
    run_ok(&mut env.bale([
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /state; while true; do sleep 0.1; done",
    ]));
    wait_for("the state file", || {
        run_ok(&mut env.bale(["diff", "busy"])).contains("A /state")
    });
    run_ok(&mut env.bale(["commit", "busy", "snap:1"]));
    let s = run_ok(&mut env.bale(["ps", "--format", "{{.Names}} {{.State}}"]));
    assert_eq!(s, "busy running\n");
    assert_eq!(
        run_ok(&mut env.bale(["run", "--rm", "snap:1", "cat", "/state"])),
        "1\n"
    );
    run_ok(&mut env.bale(["rm", "-f", "busy"]));
}

#[test]
fn export_then_import_gives_a_flat_image_that_runs() {
    let Some(env) = busybox_env() else { return };
    run_ok(&mut env.bale(["run", "--name", "ex", "busybox", "sh", "-c", CHANGES]));
    let tar = env.path("ex.tar");
    run_ok(&mut env.bale([
        "export".as_ref(),
        "-o".as_ref(),
        tar.as_os_str(),
        "ex".as_ref(),
    ]));
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .expect("tar runs");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l == "tmp/added"), "{listing}");
    assert!(listing.lines().any(|l| l == "bin/busybox"));
    assert!(
        !listing.lines().any(|l| l == "bin/vi"),
        "deleted files stay deleted"
    );
    assert!(!listing.contains(".wh."), "a flat export has no whiteouts");

    // Through a pipe, as `bale export ex | bale import - flat`.
    let mut export = env
        .bale(["export", "ex"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("export starts");
    let mut import = env.bale(["import", "-", "flat:1"]);
    import.stdin(export.stdout.take().expect("export's stdout"));
    let id = run_ok(&mut import);
    assert!(export.wait().expect("export ends").success());
    assert!(id.starts_with("sha256:"));
    let out = run_ok(&mut env.bale([
        "run",
        "--rm",
        "flat:1",
        "sh",
        "-c",
        "cat /tmp/added; tail -1 /etc/passwd; test -e /bin/vi || echo no-vi",
    ]));
    assert_eq!(out, "new\nextra\nno-vi\n");
    let layers = run_ok(&mut env.bale(["inspect", "-f", "{{len .RootFS.Layers}}", "flat:1"]));
    assert_eq!(layers.trim(), "1");
}

#[test]
fn cp_copies_files_directories_and_symlinks_both_ways() {
    let Some(env) = busybox_env() else { return };
    let host = env.path("host");
    std::fs::create_dir_all(host.join("dir/sub")).unwrap();
    std::fs::write(host.join("file.txt"), "file\n").unwrap();
    std::fs::write(host.join("dir/sub/deep.txt"), "deep\n").unwrap();
    std::os::unix::fs::symlink("file.txt", host.join("link")).unwrap();
    run_ok(&mut env.bale(["create", "--name", "box", "busybox", "sleep", "100"]));
    let h = |p: &str| host.join(p).display().to_string();

    // Into a stopped container.
    run_ok(&mut env.bale(["cp", &h("file.txt"), "box:/tmp/"]));
    run_ok(&mut env.bale(["cp", &h("dir"), "box:/var/copied"]));
    run_ok(&mut env.bale(["cp", &h("link"), "box:/tmp/link"]));
    run_ok(&mut env.bale(["cp", &h("dir/."), "box:/tmp"]));
    let diff = run_ok(&mut env.bale(["diff", "box"]));
    for line in [
        "A /tmp/file.txt",
        "A /var/copied/sub/deep.txt",
        "A /tmp/link",
        "A /tmp/sub/deep.txt",
    ] {
        assert!(diff.lines().any(|l| l == line), "missing {line}:\n{diff}");
    }

    // Into and out of a running one.
    run_ok(&mut env.bale(["start", "box"]));
    run_ok(&mut env.bale(["cp", &h("file.txt"), "box:/root/f2"]));
    let out = run_ok(&mut env.bale([
        "exec",
        "box",
        "sh",
        "-c",
        "cat /root/f2 /tmp/file.txt /var/copied/sub/deep.txt; readlink /tmp/link; stat -c %u /root/f2",
    ]));
    assert_eq!(out, "file\nfile\ndeep\nfile.txt\n0\n");
    assert!(
        !std::path::Path::new("/root/f2").exists(),
        "a copy into a running container must not land on the host"
    );
    let back = env.path("back");
    std::fs::create_dir(&back).unwrap();
    let b = |p: &str| back.join(p).display().to_string();
    run_ok(&mut env.bale(["cp", "box:/root/f2", &b("f2")]));
    assert_eq!(std::fs::read_to_string(back.join("f2")).unwrap(), "file\n");
    run_ok(&mut env.bale(["cp", "box:/var/copied", &b("")]));
    assert_eq!(
        std::fs::read_to_string(back.join("copied/sub/deep.txt")).unwrap(),
        "deep\n"
    );
    run_ok(&mut env.bale(["cp", "box:/tmp/link", &b("link")]));
    assert_eq!(
        std::fs::read_link(back.join("link")).unwrap().to_str(),
        Some("file.txt")
    );
    // -L follows the link; its target is resolved inside the container.
    run_ok(&mut env.bale(["cp", "-L", "box:/tmp/link", &b("followed")]));
    assert_eq!(
        std::fs::read_to_string(back.join("followed")).unwrap(),
        "file\n"
    );
    // To stdout as a tar.
    let tar = run(&mut env.bale(["cp", "box:/etc/passwd", "-"]));
    assert!(tar.status.success());
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["passwd"]);

    // Out of a stopped container.
    run_ok(&mut env.bale(["stop", "-t", "0", "box"]));
    run_ok(&mut env.bale(["cp", "box:/tmp/sub", &b("sub2")]));
    assert_eq!(
        std::fs::read_to_string(back.join("sub2/deep.txt")).unwrap(),
        "deep\n"
    );
    let err = run_fail(&mut env.bale(["cp", "box:/nonexistent", &b("x")]), 1);
    assert!(
        err.contains("Could not find the file /nonexistent"),
        "{err}"
    );
    let err = run_fail(&mut env.bale(["cp", &h("dir"), "box:/tmp/file.txt"]), 1);
    assert!(err.contains("cannot copy directory"), "{err}");
    run_ok(&mut env.bale(["rm", "box"]));
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let Some(env) = busybox_env() else { return };
    run_ok(&mut env.bale(["tag", "busybox", "mine:1"]));
    run_ok(&mut env.bale(["run", "--name", "user", "mine:1", "true"]));
    let id = run_ok(&mut env.bale(["ps", "-a", "-q", "--no-trunc"]));
    let image = run_ok(&mut env.bale(["inspect", "-f", "{{.Id}}", "mine:1"]));
    // One of two names can go...
    assert_eq!(
        run_ok(&mut env.bale(["rmi", "busybox"])),
        "Untagged: busybox:latest\n"
    );
    // ...but the last name of an image a container uses is refused.
    let err = run_fail(&mut env.bale(["rmi", "mine:1"]), 1);
    assert_eq!(
        err,
        format!(
            "Error response from daemon: conflict: unable to remove repository reference \"mine:1\" (must force) - container {} is using its referenced image {}\n",
            &id.trim()[..12],
            &image.trim()[7..19]
        )
    );
    let out = run_ok(&mut env.bale(["rmi", "-f", "mine:1"]));
    assert_eq!(out, "Untagged: mine:1\n");
    // The container still runs: its image stays, dangling, as docker keeps it.
    run_ok(&mut env.bale(["start", "-a", "user"]));
    assert_eq!(state(&env, id.trim())["ExitCode"], 0);
    // Without the container, the image can go.
    run_ok(&mut env.bale(["rm", "user"]));
    let out = run_ok(&mut env.bale(["rmi", image.trim()]));
    assert!(out.starts_with("Deleted: sha256:"), "{out}");
}
