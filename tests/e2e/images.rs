//! The image commands as a docker user sees them: `images` (columns, `-q`, `--digests`,
//! `--no-trunc`, `--format`, every filter), `inspect`, `tag`, `rmi`, `history`, `image prune`
//! and `system prune`, on images imported from a busybox rootfs.

use std::io::Write;
use std::process::Stdio;

use crate::util::{Env, import_busybox, run, run_fail, run_ok};

/// Imports another image from the busybox rootfs `import_busybox` left behind, with `args`
/// (`-c`, `-m`) and an optional name; returns its ID.
fn import(env: &Env, args: &[&str], name: Option<&str>) -> String {
    let tar = env.path("busybox-rootfs.tar");
    let mut cmd = env.bale(["import"]);
    cmd.args(args).arg(&tar);
    if let Some(n) = name {
        cmd.arg(n);
    }
    run_ok(&mut cmd).trim().to_string()
}

fn short(id: &str) -> &str {
    &id["sha256:".len().."sha256:".len() + 12]
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn check_clean(env: &Env) {
    let out = run_ok(&mut env.bale(["system", "check"]));
    assert!(out.contains("is consistent"), "{out}");
}

#[test]
fn images_lists_columns_newest_first_with_quiet_digests_and_no_trunc() {
    let env = Env::new();
    let Some(busybox) = import_busybox(&env, "busybox") else {
        return;
    };
    run_ok(&mut env.bale(["tag", "busybox", "example.com/team/tool:1.0"]));
    let app = import(&env, &["-m", "app"], Some("app:2"));
    let dangling = import(&env, &["-m", "none"], None);

    let out = run_ok(&mut env.bale(["images"]));
    let l = lines(&out);
    assert!(
        l[0].starts_with("REPOSITORY              TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(l[0].ends_with("   SIZE"), "{out}");
    // Newest first; one row per name; the dangling image as <none>.
    let first: Vec<&str> = l[1].split_whitespace().collect();
    assert_eq!(&first[..3], ["<none>", "<none>", short(&dangling)], "{out}");
    assert!(l[2].starts_with("app "), "{out}");
    assert!(l[2].contains(short(&app)), "{out}");
    assert!(
        l[3].starts_with("busybox                 latest    "),
        "{out}"
    );
    assert!(
        l[4].starts_with("example.com/team/tool   1.0       "),
        "{out}"
    );
    assert!(l[3].contains(short(&busybox)) && l[4].contains(short(&busybox)));
    assert!(l[3].contains(" ago "), "{out}");
    let size = l[3].split_whitespace().last().unwrap();
    assert!(size.ends_with("MB") || size.ends_with("kB"), "{size}");
    assert_eq!(l.len(), 5, "{out}");

    let quiet = run_ok(&mut env.bale(["images", "-q"]));
    assert_eq!(
        lines(&quiet),
        [
            short(&dangling),
            short(&app),
            short(&busybox),
            short(&busybox)
        ]
    );

    // An explicit template wins over -q, as in docker.
    let templated = run_ok(&mut env.bale(["images", "-q", "--format", "{{.Tag}}", "app"]));
    assert_eq!(templated, "2\n");
    let full = run_ok(&mut env.bale(["images", "--no-trunc", "-q"]));
    assert!(lines(&full).contains(&busybox.as_str()), "{full}");

    let digests = run_ok(&mut env.bale(["images", "--digests"]));
    let dl = lines(&digests);
    assert!(
        dl[0].contains("   DIGEST   ") || dl[0].contains("DIGEST "),
        "{digests}"
    );
    let cells: Vec<&str> = dl[3].split_whitespace().collect();
    assert_eq!(cells[0], "busybox");
    assert!(
        cells[2].starts_with("sha256:") && cells[2].len() == 71,
        "{digests}"
    );
    assert_eq!(cells[3], short(&busybox));
    let dangling_cells: Vec<&str> = dl[1].split_whitespace().collect();
    assert_eq!(dangling_cells[2], "<none>", "{digests}");
    let named = run_ok(&mut env.bale(["images", "--format", "{{.Tag}} {{.Digest}}", "busybox"]));
    assert_eq!(named, format!("latest {}\n", cells[2]));

    // `image ls` and `image list` are the same command, and a REPOSITORY[:TAG] argument filters.
    let ls = run_ok(&mut env.bale(["image", "list", "busybox"]));
    assert_eq!(lines(&ls).len(), 2, "{ls}");
    assert!(lines(&ls)[1].starts_with("busybox "), "{ls}");
}

#[test]
fn images_format_go_templates_table_and_json() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    let out = run_ok(&mut env.bale(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]));
    assert_eq!(out, format!("busybox:latest {}\n", short(&id)));

    let out = run_ok(&mut env.bale([
        "images",
        "--format",
        "table {{.ID}}\\t{{upper .Repository}}\\t{{.Tag}}",
    ]));
    assert_eq!(
        out,
        format!(
            "IMAGE ID       REPOSITORY   TAG\n{}   BUSYBOX      latest\n",
            short(&id)
        )
    );

    let out = run_ok(&mut env.bale(["images", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["Repository"], "busybox");
    assert_eq!(v["Tag"], "latest");
    assert_eq!(v["ID"], short(&id));
    assert_eq!(v["Digest"], "<none>");
    assert!(v["CreatedSince"].as_str().unwrap().ends_with(" ago"));
    assert!(v["Size"].as_str().unwrap().ends_with('B'));

    let out = run_ok(&mut env.bale([
        "images",
        "--format",
        "{{json .Tag}}|{{join (split .Repository \"y\") \"-\"}}",
    ]));
    assert_eq!(out, "\"latest\"|bus-box\n");

    let err = run_fail(&mut env.bale(["images", "--format", "{{.Repository"]), 1);
    assert!(err.starts_with("Error: template parsing error"), "{err}");
}

#[test]
fn images_filters() {
    let env = Env::new();
    let Some(old) = import_busybox(&env, "busybox") else {
        return;
    };
    let labelled = import(&env, &["-c", "LABEL tier=web owner=me"], Some("web:1.0"));
    let other = import(&env, &["-c", "LABEL tier=db"], Some("db:1.0"));
    let dangling = import(&env, &["-m", "x"], None);
    let ids = |args: &[&str]| {
        let mut cmd = env.bale(["images", "-q"]);
        cmd.args(args);
        run_ok(&mut cmd)
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&["-f", "dangling=true"]), [short(&dangling)]);
    assert_eq!(
        ids(&["-f", "dangling=false"]),
        [short(&other), short(&labelled), short(&old)]
    );
    assert_eq!(ids(&["-f", "reference=web"]), [short(&labelled)]);
    assert_eq!(
        ids(&["-f", "reference=*:1.0"]),
        [short(&other), short(&labelled)]
    );
    assert_eq!(ids(&["-f", "reference=bus*:latest"]), [short(&old)]);
    assert!(ids(&["-f", "reference=nothing*"]).is_empty());
    assert_eq!(
        ids(&["-f", "label=tier"]),
        [short(&other), short(&labelled)]
    );
    assert_eq!(ids(&["-f", "label=tier=web"]), [short(&labelled)]);
    assert_eq!(
        ids(&["-f", "label=tier=web", "-f", "label=owner"]),
        [short(&labelled)]
    );
    assert!(ids(&["-f", "label=tier=web", "-f", "label=absent"]).is_empty());
    assert_eq!(
        ids(&["-f", "before=web:1.0"]),
        [short(&old)],
        "before: created strictly earlier"
    );
    assert_eq!(
        ids(&["-f", "since=web:1.0"]),
        [short(&dangling), short(&other)],
        "since: created strictly later"
    );
    assert!(ids(&["-f", "until=2000-01-01T00:00:00Z"]).is_empty());
    assert_eq!(ids(&["-f", "until=1000000h"]).len(), 0);
    assert_eq!(ids(&["-f", "until=4000000000"]).len(), 4);

    let err = run_fail(&mut env.bale(["images", "-f", "color=red"]), 1);
    assert_eq!(err, "Error: invalid filter 'color'\n");
    let err = run_fail(&mut env.bale(["images", "-f", "since=nosuch"]), 1);
    assert_eq!(err, "Error: No such image: nosuch:latest\n");
}

#[test]
fn inspect_prints_dockers_shape_and_runs_templates() {
    let env = Env::new();
    let Some(_) = import_busybox(&env, "busybox") else {
        return;
    };
    let id = import(
        &env,
        &[
            "-c",
            "LABEL k=v",
            "-c",
            "CMD [\"sh\", \"-c\", \"echo hi\"]",
            "-c",
            "ENV A=1",
        ],
        Some("app:1"),
    );
    run_ok(&mut env.bale(["tag", "app:1", "app:2"]));
    let out = run_ok(&mut env.bale(["inspect", "app:1"]));
    // docker's 4-space indentation and field order.
    assert!(
        out.starts_with("[\n    {\n        \"Id\": \"sha256:"),
        "{out}"
    );
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("        \"") && !l.starts_with("         "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "RootFS",
            "Metadata"
        ],
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let img = &v[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["RepoTags"], serde_json::json!(["app:1", "app:2"]));
    assert_eq!(img["Os"], "linux");
    assert_eq!(
        img["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    assert_eq!(img["Config"]["Labels"]["k"], "v");
    assert_eq!(img["Config"]["Entrypoint"], serde_json::Value::Null);
    assert_eq!(img["Config"]["Volumes"], serde_json::Value::Null);
    assert_eq!(img["Config"]["Hostname"], "");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(img["Size"].as_u64().unwrap() > 0);
    assert!(img["Created"].as_str().unwrap().ends_with('Z'));
    assert!(
        img["Metadata"]["LastTagTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let f = |fmt: &str| run_ok(&mut env.bale(["image", "inspect", "-f", fmt, "app:1"]));
    assert_eq!(f("{{.Os}}"), "linux\n");
    assert_eq!(f("{{range .RepoTags}}[{{.}}]{{end}}"), "[app:1][app:2]\n");
    assert_eq!(f("{{index .Config.Labels \"k\"}}"), "v\n");
    assert_eq!(f("{{join .Config.Cmd \" \"}}"), "sh -c echo hi\n");
    let config = f("{{json .Config}}");
    assert!(
        config.starts_with("{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\""),
        "{config}"
    );
    assert!(config.contains("\"Labels\":{\"k\":\"v\"}"), "{config}");
    assert_eq!(
        run_ok(&mut env.bale(["inspect", "--type", "image", "-f", "{{.Id}}", &id[7..19]])),
        format!("{id}\n")
    );

    // A missing name: the others are still printed, the error goes to stderr, exit 1.
    let out = run(&mut env.bale(["inspect", "-f", "{{.Os}}", "app:1", "nosuch", "busybox"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "linux\nlinux\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: No such image: nosuch\n"
    );
    let out = run(&mut env.bale(["inspect", "nosuch"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");
}

#[test]
fn tag_follows_the_reference_grammar_and_keeps_the_id() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    run_ok(&mut env.bale(["tag", "busybox", "localhost:5000/my/app:v1"]));
    run_ok(&mut env.bale(["tag", &id[7..15], "byprefix"]));
    run_ok(&mut env.bale(["tag", &id, "byid:1"]));
    for name in ["localhost:5000/my/app:v1", "byprefix:latest", "byid:1"] {
        let out = run_ok(&mut env.bale(["inspect", "-f", "{{.Id}}", name]));
        assert_eq!(out.trim(), id, "{name}");
    }
    let err = run_fail(&mut env.bale(["tag", "busybox", "Upper"]), 1);
    assert_eq!(
        err,
        "Error: Error parsing reference: \"Upper\" is not a valid repository/tag: invalid reference format: repository name (library/Upper) must be lowercase\n"
    );
    let err = run_fail(&mut env.bale(["tag", "busybox", "a:b:c"]), 1);
    assert_eq!(
        err,
        "Error: Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format\n"
    );
    let digest = format!("app@sha256:{}", "a".repeat(64));
    let err = run_fail(&mut env.bale(["tag", "busybox", &digest]), 1);
    assert_eq!(
        err,
        "Error: refusing to create a tag with a digest reference\n"
    );
    let err = run_fail(&mut env.bale(["tag", "nosuch", "x"]), 1);
    assert_eq!(err, "Error: No such image: nosuch:latest\n");
}

#[test]
fn rmi_untags_deletes_and_refuses_as_docker_does() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    run_ok(&mut env.bale(["tag", "busybox", "busybox:1"]));
    run_ok(&mut env.bale(["tag", "busybox", "other:1"]));
    // By ID while two repositories name it: refused without -f.
    let err = run_fail(&mut env.bale(["rmi", &id[7..19]]), 1);
    assert_eq!(
        err,
        format!(
            "Error: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories\n",
            short(&id)
        )
    );
    // A digest reference names the image itself.
    let digest = run_ok(&mut env.bale(["images", "--format", "{{.Digest}}", "other"]));
    let err = run_fail(
        &mut env.bale(["rmi", &format!("other@{}", digest.trim())]),
        1,
    );
    assert!(
        err.contains("image is referenced in multiple repositories"),
        "{err}"
    );
    // By name: only that name goes while others remain.
    assert_eq!(
        run_ok(&mut env.bale(["rmi", "other:1"])),
        "Untagged: other:1\n"
    );
    // By ID once one repository is left: every name goes, then the image.
    let out = run_ok(&mut env.bale(["image", "rm", &id[7..19]]));
    assert_eq!(
        out,
        format!("Untagged: busybox:1\nUntagged: busybox:latest\nDeleted: {id}\n")
    );
    assert_eq!(run_ok(&mut env.bale(["images", "-q"])), "");
    check_clean(&env);

    // The last name removes the image; a missing one fails after the others are handled.
    let again = import(&env, &[], Some("again:1"));
    let second = import(&env, &["-m", "two"], Some("two:1"));
    run_ok(&mut env.bale(["tag", "two:1", "three:1"]));
    let out = run(&mut env.bale(["rmi", "again:1", "nosuch", "-f", &second[7..19]]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Untagged: again:1\nDeleted: {again}\nUntagged: three:1\nUntagged: two:1\nDeleted: {second}\n"
        )
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: No such image: nosuch:latest\n"
    );
    check_clean(&env);
    // Everything was collected: the blob directory is empty.
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

#[test]
fn rmi_no_prune_keeps_the_blobs_for_a_later_prune() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    run_ok(&mut env.bale(["rmi", "--no-prune", "busybox"]));
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert!(blobs >= 3, "{blobs}");
    assert!(!run_ok(&mut env.bale(["images", "-q", "--no-trunc"])).contains(&id));
    let out = run_ok(&mut env.bale(["image", "prune", "-f"]));
    assert!(out.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(out, "Total reclaimed space: 0B\n");
    check_clean(&env);
}

fn with_stdin(env: &Env, args: &[&str], input: &str) -> String {
    let mut cmd = env.bale(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn image_prune_asks_then_removes_dangling_images_and_reports_space() {
    let env = Env::new();
    let Some(kept) = import_busybox(&env, "busybox") else {
        return;
    };
    let dangling = import(&env, &["-m", "d"], None);
    let out = with_stdin(&env, &["image", "prune"], "n\n");
    assert_eq!(
        out,
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(run_ok(&mut env.bale(["images", "-q"])).lines().count(), 2);

    let out = with_stdin(&env, &["image", "prune"], "y\n");
    let body = out.split_once("[y/N] ").unwrap().1;
    let l = lines(body);
    assert_eq!(l[0], "Deleted Images:");
    assert_eq!(l[1], format!("deleted: {dangling}"));
    assert_eq!(l[2], "");
    // The dangling image shares its layer with busybox: only its config and manifest go.
    assert!(
        l[3].starts_with("Total reclaimed space: ") && l[3].ends_with('B'),
        "{body}"
    );
    assert_eq!(l.len(), 4);
    assert_eq!(
        run_ok(&mut env.bale(["images", "-q", "--no-trunc"])),
        format!("{kept}\n")
    );
    check_clean(&env);

    // -a removes every image no container uses, with its names.
    let out = run_ok(&mut env.bale(["image", "prune", "-a", "-f"]));
    assert_eq!(
        lines(&out)[..3],
        [
            "Deleted Images:".to_string(),
            "untagged: busybox:latest".into(),
            format!("deleted: {kept}")
        ]
    );
    let total = lines(&out)[4];
    assert!(total.ends_with("MB") || total.ends_with("kB"), "{total}");
    assert_eq!(run_ok(&mut env.bale(["images", "-q"])), "");
    check_clean(&env);
}

#[test]
fn image_prune_filters_by_label_and_until() {
    let env = Env::new();
    let Some(_) = import_busybox(&env, "busybox") else {
        return;
    };
    let keep = import(&env, &["-c", "LABEL keep=yes"], None);
    let drop = import(&env, &["-m", "drop"], None);
    let out = run_ok(&mut env.bale(["image", "prune", "-f", "--filter", "until=2000-01-01"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = run_ok(&mut env.bale(["image", "prune", "-f", "--filter", "label!=keep"]));
    assert!(out.contains(&format!("deleted: {drop}")), "{out}");
    assert!(!out.contains(&keep), "{out}");
    let out = run_ok(&mut env.bale(["image", "prune", "-f", "--filter", "label=keep=yes"]));
    assert!(out.contains(&format!("deleted: {keep}")), "{out}");
    check_clean(&env);
}

#[test]
fn system_prune_removes_images_and_the_build_cache() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    let cache = env.root().join("bale/cache/entry1");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("data"), vec![0u8; 5000]).unwrap();
    let out = with_stdin(&env, &["system", "prune", "-a"], "y\n");
    let (prompt, body) = out.split_once("[y/N] ").unwrap();
    assert_eq!(
        prompt,
        "WARNING! This will remove:\n  - all stopped containers\n  - all images without at least one container associated to them\n  - all build cache\n\nAre you sure you want to continue? "
    );
    assert!(body.starts_with(&format!(
        "Deleted Images:\nuntagged: busybox:latest\ndeleted: {id}\n\nDeleted build cache objects:\nentry1\n\nTotal reclaimed space: "
    )), "{body}");
    assert!(!env.root().join("bale/cache/entry1").exists());
    check_clean(&env);
}

#[test]
fn history_lists_entries_newest_first_with_layer_sizes() {
    let env = Env::new();
    let Some(id) = import_busybox(&env, "busybox") else {
        return;
    };
    let out = run_ok(&mut env.bale(["history", "busybox"]));
    let l = lines(&out);
    assert!(
        l[0].starts_with("IMAGE          CREATED                  CREATED BY   SIZE      COMMENT")
            || l[0].starts_with("IMAGE          CREATED "),
        "{out}"
    );
    assert!(l[0].contains("   CREATED BY   "), "{out}");
    assert!(l[1].starts_with(short(&id)), "{out}");
    assert!(l[1].ends_with("Imported from -"), "{out}");
    assert!(l[1].contains("MB") || l[1].contains("kB"), "{out}");
    assert_eq!(l.len(), 2);

    let raw = run_ok(&mut env.bale([
        "image",
        "history",
        "-H=false",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Size}}|{{.CreatedSince}}",
        "busybox",
    ]));
    let parts: Vec<&str> = raw.trim().split('|').collect();
    assert_eq!(parts[0], id);
    assert!(parts[1].parse::<u64>().unwrap() > 1000, "{raw}");
    assert!(parts[2].ends_with('Z') && parts[2].len() == 20, "{raw}");
    assert_eq!(
        run_ok(&mut env.bale(["history", "-q", "busybox"])),
        format!("{}\n", short(&id))
    );
    let json = run_ok(&mut env.bale(["history", "--format", "json", "busybox"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Comment"], "Imported from -");
}

/// A tar archive of `members` (name, bytes), in memory.
fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn history_maps_layers_in_order_marks_missing_and_truncates_created_by() {
    let env = Env::new();
    let layer1 = tar_of(&[("a.txt", &[b'a'; 3000])]);
    let layer2 = tar_of(&[("b.txt", b"b")]);
    let (d1, d2) = (sha256(&layer1), sha256(&layer2));
    let long = "/bin/sh -c apk add --no-cache build-base git curl\tand more packages";
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{d1}","sha256:{d2}"]}},"history":[{{"created":"2020-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "}},{{"created":"2020-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop)  ENV A=1","empty_layer":true}},{{"created":"2020-01-01T00:00:00Z","created_by":"{}","comment":"buildkit.dockerfile.v0"}}]}}"#,
        long.replace('\t', "\\t")
    );
    let id = sha256(config.as_bytes());
    let manifest = format!(
        r#"[{{"Config":"{id}.json","RepoTags":["hist:1"],"Layers":["{d1}.tar","{d2}.tar"]}}]"#
    );
    let archive = tar_of(&[
        ("manifest.json", manifest.as_bytes()),
        (&format!("{id}.json"), config.as_bytes()),
        (&format!("{d1}.tar"), &layer1),
        (&format!("{d2}.tar"), &layer2),
    ]);
    let path = env.path("hist.tar");
    std::fs::write(&path, archive).unwrap();
    run_ok(env.bale(["load", "-i"]).arg(&path));

    let out = run_ok(&mut env.bale(["history", "hist:1"]));
    let l = lines(&out);
    assert_eq!(l.len(), 4, "{out}");
    let truncated = format!("{}…", &long.replace('\t', " ")[..44]);
    assert!(l[1].starts_with(&format!("{}   ", &id[..12])), "{out}");
    assert!(l[1].contains(&truncated), "{out}");
    assert_eq!((layer1.len(), layer2.len()), (4608, 2048));
    assert!(
        l[1].contains("   2.05kB    buildkit.dockerfile.v0"),
        "{out}"
    );
    assert!(l[1].ends_with("buildkit.dockerfile.v0"), "{out}");
    assert!(l[2].starts_with("<missing>      "), "{out}");
    assert!(l[2].contains("   0B   "), "{out}");
    assert!(l[3].starts_with("<missing>      "), "{out}");
    assert!(l[3].contains(" years ago "), "{out}");
    assert!(
        l[3].contains(&format!("   {}kB   ", layer1.len() as f64 / 1000.0)) || l[3].contains("kB"),
        "{out}"
    );

    let out = run_ok(&mut env.bale([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "-H=false",
        "hist:1",
    ]));
    assert_eq!(
        out,
        format!(
            "{}|{}\n/bin/sh -c #(nop)  ENV A=1|0\n/bin/sh -c #(nop) ADD file:abc in / |{}\n",
            long.replace('\t', " "),
            layer2.len(),
            layer1.len()
        )
    );
    assert_eq!(
        run_ok(&mut env.bale(["history", "-q", "hist:1"])),
        format!("{}\n<missing>\n<missing>\n", &id[..12])
    );
    let created = run_ok(&mut env.bale(["inspect", "-f", "{{.Created}}", "hist:1"]));
    assert_eq!(created, "2020-01-01T00:00:00Z\n");
}

#[test]
fn images_over_a_thousand_images_reads_no_blobs() {
    let env = Env::new();
    let layer = tar_of(&[("f", b"x")]);
    let diff = sha256(&layer);
    let mut members: Vec<(String, Vec<u8>)> = vec![(format!("{diff}.tar"), layer)];
    let mut entries = Vec::new();
    for i in 0..1000 {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","created":"2020-01-01T00:{:02}:{:02}Z","config":{{"Labels":{{"n":"{i}"}}}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff}"]}}}}"#,
            i / 60,
            i % 60
        );
        let id = sha256(config.as_bytes());
        entries.push(format!(
            r#"{{"Config":"{id}.json","RepoTags":["many/img{i}:v"],"Layers":["{diff}.tar"]}}"#
        ));
        members.push((format!("{id}.json"), config.into_bytes()));
    }
    members.push((
        "manifest.json".into(),
        format!("[{}]", entries.join(",")).into_bytes(),
    ));
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let path = env.path("many.tar");
    std::fs::write(&path, tar_of(&refs)).unwrap();
    run_ok(env.bale(["load", "-q", "-i"]).arg(&path));

    // The first listing summarises each image once; later ones need only the index and the
    // summaries, so they work even with the blobs out of reach.
    assert_eq!(
        run_ok(&mut env.bale(["images", "-q"])).lines().count(),
        1000
    );
    let blobs = env.root().join("blobs");
    let away = env.path("blobs-away");
    std::fs::rename(&blobs, &away).unwrap();
    let start = std::time::Instant::now();
    let out = run(&mut env.bale(["images", "-f", "label=n=999"]));
    let took = start.elapsed();
    // Opening the store made an empty blob directory in place of the moved one.
    assert_eq!(std::fs::read_dir(blobs.join("sha256")).unwrap().count(), 0);
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::rename(&away, &blobs).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    assert_eq!(lines(&out).len(), 2, "{out}");
    assert!(lines(&out)[1].starts_with("many/img999 "), "{out}");
    eprintln!("images over 1000 images: {took:?}");
    // Generous for an unoptimised build on a busy machine; a release build answers in a few
    // milliseconds.
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}
