//! Every instruction as BuildKit executes it, checked in the image config, the history and by
//! running the image with podman: config-only instructions, CMD and ENTRYPOINT inheritance,
//! ONBUILD triggers, RUN forms and heredocs, and RUN's mounts.

use serde_json::{Value, json};

use crate::build_util::{BuildEnv, assert_all_cached};
use crate::util::run_ok;

fn history(config: &Value) -> Vec<(String, bool)> {
    config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap_or("").to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn config_instructions_onbuild_and_the_cmd_entrypoint_rules() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "base",
        &[(
            "Dockerfile",
            "FROM busybox:local\n\
             LABEL version=1 description=\"a b\"\n\
             MAINTAINER someone@example.com\n\
             EXPOSE 8000-8002 53/udp\n\
             ENV APP=/opt/app PATH=/opt/app/bin:$PATH\n\
             VOLUME [\"/data\"]\n\
             STOPSIGNAL SIGUSR1\n\
             SHELL [\"/bin/sh\", \"-ec\"]\n\
             HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD true\n\
             ARG MODE=fast\n\
             USER app\n\
             WORKDIR /home/app/w\n\
             ONBUILD RUN echo triggered by $APP > /home/app/w/onbuild\n\
             CMD [\"inherited\"]\n",
        )],
    );
    let (base_id, _) = b.build(&ctx, &["-t", "base:1"]);
    let c = b.config(&base_id);
    let conf = &c["config"];
    assert_eq!(
        conf["Labels"],
        json!({"version": "1", "description": "a b"})
    );
    assert_eq!(c["author"], "someone@example.com");
    assert_eq!(
        conf["ExposedPorts"],
        json!({"53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}})
    );
    let env: Vec<&str> = conf["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"APP=/opt/app"), "{env:?}");
    assert!(
        env.contains(
            &"PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "{env:?}"
    );
    assert_eq!(conf["Volumes"], json!({"/data": {}}));
    assert_eq!(conf["StopSignal"], "SIGUSR1");
    assert_eq!(conf["Shell"], json!(["/bin/sh", "-ec"]));
    assert_eq!(
        conf["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64, "Timeout": 2_000_000_000u64, "Retries": 3})
    );
    assert_eq!(conf["User"], "app");
    assert_eq!(conf["WorkingDir"], "/home/app/w");
    assert_eq!(
        conf["OnBuild"],
        json!(["RUN echo triggered by $APP > /home/app/w/onbuild"])
    );
    assert_eq!(conf["Cmd"], json!(["inherited"]));
    let h = history(&c);
    let ours: Vec<(String, bool)> = h[h.len() - 13..].to_vec();
    let expected = [
        ("LABEL version=1 description=a b", true),
        ("MAINTAINER someone@example.com", true),
        (
            "EXPOSE map[53/udp:{} 8000/tcp:{} 8001/tcp:{} 8002/tcp:{}]",
            true,
        ),
        (
            "ENV APP=/opt/app PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            true,
        ),
        ("VOLUME [/data]", true),
        ("STOPSIGNAL SIGUSR1", true),
        ("SHELL [/bin/sh -ec]", true),
        (
            "HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"2s\" \"0s\" \"0s\" '\\x03'}",
            true,
        ),
        ("ARG MODE=fast", true),
        ("USER app", true),
        ("WORKDIR /home/app/w", false),
        // ONBUILD writes no history entry: BuildKit only records the trigger in the config.
        ("CMD [\"inherited\"]", true),
    ];
    assert_eq!(ours.len() - 1, expected.len());
    for (got, want) in ours[1..].iter().zip(expected) {
        assert_eq!((got.0.as_str(), got.1), want);
    }

    // An ENTRYPOINT resets the CMD inherited from the base; the trigger runs as the base's USER.
    let child = b.write_context(
        "child",
        &[("Dockerfile", "FROM base:1\nENTRYPOINT [\"/bin/cat\"]\n")],
    );
    let (child_id, progress) = b.build(&child, &[]);
    assert!(progress.contains("ONBUILD RUN"), "{progress}");
    let cc = b.config(&child_id);
    assert_eq!(cc["config"]["Entrypoint"], json!(["/bin/cat"]));
    assert!(cc["config"]["Cmd"].is_null(), "{}", cc["config"]);
    assert!(
        cc["config"]["OnBuild"].is_null(),
        "triggers run once: {}",
        cc["config"]
    );
    if let Some(out) = b.podman_run(&child_id, &["/home/app/w/onbuild"]) {
        assert_eq!(out, "triggered by /opt/app\n");
    }
    // A CMD set in the same stage before ENTRYPOINT stays.
    let kept = b.write_context(
        "kept",
        &[(
            "Dockerfile",
            "FROM busybox:local\nCMD [\"/etc/hostname-not-read\"]\nENTRYPOINT echo entry\n",
        )],
    );
    let (kept_id, _) = b.build(&kept, &[]);
    let kc = b.config(&kept_id);
    assert_eq!(kc["config"]["Cmd"], json!(["/etc/hostname-not-read"]));
    assert_eq!(
        kc["config"]["Entrypoint"],
        json!(["/bin/sh", "-c", "echo entry"])
    );
    let (again, progress) = b.build(&ctx, &["-t", "base:1"]);
    assert_eq!(again, base_id);
    assert_all_cached(&progress);
}

/// BuildKit (since Dockerfile 1.11) lets a trigger name a stage of the Dockerfile that uses the
/// image: that stage is built even when nothing else in the Dockerfile needs it.
#[test]
fn onbuild_triggers_may_copy_and_mount_from_stages_of_the_child() {
    let Some(b) = BuildEnv::new() else { return };
    let base = b.write_context(
        "onbuild-base",
        &[(
            "Dockerfile",
            "FROM busybox:local\n\
             ONBUILD COPY --from=assets /asset /asset\n\
             ONBUILD RUN --mount=from=tools,target=/t cat /t/tool > /tool\n",
        )],
    );
    b.build(&base, &["-t", "onb:1"]);
    let child = b.write_context(
        "onbuild-child",
        &[(
            "Dockerfile",
            "FROM busybox:local AS assets\n\
             RUN echo asset > /asset\n\
             FROM busybox:local AS tools\n\
             RUN echo tool > /tool\n\
             FROM busybox:local AS unused\n\
             RUN exit 3\n\
             FROM onb:1\n",
        )],
    );
    let (id, progress) = b.build(&child, &[]);
    assert!(
        progress.contains("[assets 2/2] RUN echo asset"),
        "{progress}"
    );
    assert!(progress.contains("[tools 2/2] RUN echo tool"), "{progress}");
    assert!(!progress.contains("exit 3"), "{progress}");
    let out = b.env.path("onbuild-out");
    let (again, progress) = b.build(&child, &[]);
    assert_eq!(again, id);
    assert_all_cached(&progress);
    let dest = format!("type=local,dest={}", out.display());
    run_ok(&mut b.build_cmd(&child, &["-o", &dest]));
    assert_eq!(
        std::fs::read_to_string(out.join("asset")).unwrap(),
        "asset\n"
    );
    assert_eq!(std::fs::read_to_string(out.join("tool")).unwrap(), "tool\n");

    // A trigger naming the stage that runs it, or a stage that needs it, closes a cycle.
    let looped = b.write_context(
        "onbuild-loop",
        &[(
            "Dockerfile",
            "FROM onb:1 AS assets\nFROM busybox:local AS tools\n",
        )],
    );
    let err = b.build_fails(&looped, &["--target", "assets"]);
    assert!(
        err.contains("circular dependency detected on stage: assets"),
        "{err}"
    );
    assert!(err.contains("Dockerfile:1"), "{err}");
}

#[test]
fn run_forms_heredocs_and_history() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:local\n\
             ARG WHO=you\n\
             RUN [\"/bin/sh\", \"-c\", \"echo exec form > /exec\"]\n\
             RUN <<EOF\n\
             echo \"heredoc for $WHO\" > /heredoc\n\
             echo second line >> /heredoc\n\
             EOF\n\
             RUN <<-'SCRIPT'\n\
             \t#!/bin/sh\n\
             \techo \"shebang $0\" > /shebang\n\
             \tSCRIPT\n\
             RUN cat > /cat-heredoc <<EOT\n\
             piped in\n\
             EOT\n\
             SHELL [\"/bin/sh\", \"-c\", \"-e\"]\n\
             RUN true > /dev/null\n\
             RUN ls / >/dev/null\n",
        )],
    );
    let (id, _) = b.build(&ctx, &[]);
    let c = b.config(&id);
    let h: Vec<String> = history(&c).into_iter().map(|(t, _)| t).collect();
    assert!(
        h.contains(&"RUN |1 WHO=you /bin/sh -c echo exec form > /exec # buildkit".to_string()),
        "{h:?}"
    );
    assert!(
        h.iter().any(|l| l.starts_with("RUN |1 WHO=you /bin/sh -c echo \"heredoc for $WHO\" > /heredoc\necho second line >> /heredoc\n # buildkit")),
        "{h:?}"
    );
    // A RUN that changes nothing adds no layer but keeps its history entry.
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["created_by"],
        "RUN |1 WHO=you /bin/sh -c -e ls / >/dev/null # buildkit"
    );
    assert_eq!(last["empty_layer"], true);
    if let Some(out) = b.podman_run(
        &id,
        &["cat", "/exec", "/heredoc", "/shebang", "/cat-heredoc"],
    ) {
        assert_eq!(
            out,
            "exec form\nheredoc for you\nsecond line\nshebang /dev/pipes/SCRIPT\npiped in\n"
        );
    }
}

#[test]
fn run_mounts_bring_nothing_into_the_layer() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local AS tools\n\
                 RUN echo from-tools > /tool.txt\n\
                 FROM busybox:local\n\
                 RUN --mount=type=cache,target=/cache,id=counter,uid=1000,mode=0700 \\\n\
                     echo run >> /cache/runs && wc -l < /cache/runs > /runs-seen && stat -c '%u %a' /cache > /cache-owner\n\
                 RUN --mount=type=bind,source=data,target=/data cat /data/input.txt > /from-bind\n\
                 RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cat /t.txt > /from-stage\n\
                 RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/x && cat /scratch/x > /from-tmpfs\n\
                 RUN --mount=type=secret,id=token cat /run/secrets/token > /secret-was-readable && test ! -s /dev/null\n\
                 RUN --mount=type=secret,id=token,env=TOKEN test \"$TOKEN\" = s3cret && echo env-ok > /secret-env\n\
                 RUN --network=none ip -o link | wc -l > /links\n\
                 RUN ls -a /cache /data /scratch /run/secrets 2>&1 | sort > /mount-points || true\n",
            ),
            ("data/input.txt", "bound\n"),
        ],
    );
    let secret = b.env.path("token.txt");
    std::fs::write(&secret, "s3cret").unwrap();
    let secret_arg = format!("id=token,src={}", secret.display());
    let (id, _) = b.build(&ctx, &["--secret", &secret_arg]);
    // The cache mount survives builds: a rebuild without the cache sees the first run's line.
    let (id2, _) = b.build(&ctx, &["--secret", &secret_arg, "--no-cache"]);
    assert_ne!(id, id2);
    let Some(out) = b.podman_run(
        &id2,
        &[
            "sh",
            "-c",
            "cat /runs-seen /cache-owner /from-bind /from-stage /from-tmpfs /secret-was-readable; echo; cat /secret-env /links; ls -a /cache /data /scratch /run/secrets 2>&1 | wc -l",
        ],
    ) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "2", "{out}");
    assert_eq!(lines[1], "1000 700", "{out}");
    assert_eq!(
        &lines[2..6],
        ["bound", "from-tools", "temp", "s3cret"],
        "{out}"
    );
    assert_eq!(&lines[6..8], ["env-ok", "1"], "{out}");
    // None of the mount points or their content is in the image.
    assert_eq!(lines[8], "4", "ls reports four missing paths: {out}");
}

/// Two stages run at once, each marking the cache busy for two seconds: `locked` makes the
/// second wait for the first, `private` gives the second a cache of its own, and a `shared`
/// user (the default, which lets users in together: see the parallel-stages test) waits for a
/// `locked` one, or the other way round.
#[test]
fn cache_mount_sharing_modes() {
    let Some(b) = BuildEnv::new() else { return };
    let stage = |name: &str, sharing: &str| {
        let (id, sharing) = match name {
            "mixed1" => ("mixed", "shared"),
            "mixed2" => ("mixed", "locked"),
            _ => (sharing, sharing),
        };
        format!(
            "FROM busybox:local AS {name}\n\
             RUN --mount=type=cache,id={id},target=/c,sharing={sharing} \\\n\
                 touch /c/busy-{name} && echo {name} > /c/who && sleep 2 && \\\n\
                 ls /c | grep busy | tr '\\n' ' ' > /seen && cat /c/who >> /seen && rm /c/busy-{name}\n"
        )
    };
    let mut text = String::new();
    for sharing in ["locked", "private", "mixed"] {
        text += &stage(&format!("{sharing}1"), sharing);
        text += &stage(&format!("{sharing}2"), sharing);
    }
    text += "FROM busybox:local\n";
    for sharing in ["locked", "private", "mixed"] {
        for n in 1..=2 {
            text += &format!("COPY --from={sharing}{n} /seen /{sharing}{n}\n");
        }
    }
    let ctx = b.write_context("ctx", &[("Dockerfile", text.as_str())]);
    let out = b.env.path("sharing-out");
    let dest = format!("type=local,dest={}", out.display());
    b.build(&ctx, &["-o", &dest]);
    let seen = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    for n in ["1", "2"] {
        let name = format!("locked{n}");
        assert_eq!(seen(&name), format!("busy-{name} {name}\n"), "locked");
        let name = format!("private{n}");
        assert_eq!(seen(&name), format!("busy-{name} {name}\n"), "private");
        let name = format!("mixed{n}");
        assert_eq!(
            seen(&name),
            format!("busy-{name} {name}\n"),
            "shared beside locked"
        );
    }
}

#[test]
fn a_context_bind_mount_leaves_out_what_dockerignore_ignores() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local\n\
                 RUN --mount=type=bind,target=/ctx cd /ctx && find . -type f | sort > /seen\n\
                 RUN --mount=type=bind,source=logs,target=/logs,rw ls /logs > /seen-logs\n",
            ),
            (".dockerignore", "secret.txt\nlogs\n!logs/keep.log\n"),
            ("app.txt", "a\n"),
            ("secret.txt", "s\n"),
            ("logs/debug.log", "d\n"),
            ("logs/keep.log", "k\n"),
        ],
    );
    let (id, _) = b.build(&ctx, &[]);
    let Some(out) = b.podman_run(&id, &["cat", "/seen", "/seen-logs"]) else {
        return;
    };
    assert_eq!(
        out, "./.dockerignore\n./Dockerfile\n./app.txt\n./logs/keep.log\nkeep.log\n",
        "{out}"
    );
}
