//! The COPY/ADD rules, each against what BuildKit produces for it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use bale_parser::instruction::FileMode;

use super::*;
use crate::Error;
use crate::context::{ContextHasher, PathChange};
use crate::dockerignore::Dockerignore;
use crate::layer::LayerOptions;
use crate::testutil::{chmod, set_old_times, set_times, write};

/// One entry of a written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ent {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    data: Vec<u8>,
    link: String,
}

fn context() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.txt", "a\n");
    write(d.path(), "b.txt", "b\n");
    write(d.path(), ".hidden.txt", "h\n");
    write(d.path(), "src/main.rs", "fn main() {}\n");
    write(d.path(), "src/lib.rs", "pub fn f() {}\n");
    write(d.path(), "src/notes.txt", "notes\n");
    write(d.path(), "src/sub/deep.rs", "// deep\n");
    chmod(d.path(), "src/sub", 0o750);
    chmod(d.path(), "a.txt", 0o640);
    d
}

fn ctx_root(d: &Path) -> SourceRoot {
    SourceRoot::context(d, Dockerignore::default()).unwrap()
}

fn req(sources: &[&str], dest: &str) -> CopyRequest {
    CopyRequest::new(
        sources
            .iter()
            .map(|s| CopySource::Path(s.to_string()))
            .collect(),
        dest,
    )
}

fn layer_of(plan: &CopyPlan, opts: &LayerOptions) -> BTreeMap<String, Ent> {
    let mut tar = Vec::new();
    let digest = plan.write_layer(&mut tar, opts).unwrap().expect("a layer");
    assert_eq!(digest.size, tar.len() as u64);
    assert_eq!(digest.diff_id, crate::digest::sha256_digest(&tar));
    let mut out = BTreeMap::new();
    let mut names = Vec::new();
    let mut a = tar::Archive::new(tar.as_slice());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let path = path.trim_end_matches('/').to_string();
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => '?',
        };
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        names.push(path.clone());
        out.insert(
            path,
            Ent {
                kind,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                data,
                link,
            },
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "layer entries are sorted");
    out
}

fn layer(plan: &CopyPlan) -> BTreeMap<String, Ent> {
    layer_of(plan, &LayerOptions::default())
}

fn keys(l: &BTreeMap<String, Ent>) -> Vec<&str> {
    l.keys().map(String::as_str).collect()
}

fn plan(r: &CopyRequest, d: &Path) -> Result<CopyPlan, Error> {
    CopyPlan::new(r, &ctx_root(d), &EmptyDest)
}

fn rootfs() -> tempfile::TempDir {
    let r = tempfile::tempdir().unwrap();
    fs::create_dir_all(r.path().join("usr/lib")).unwrap();
    fs::create_dir_all(r.path().join("etc")).unwrap();
    fs::create_dir_all(r.path().join("app")).unwrap();
    chmod(r.path(), "app", 0o700);
    set_times(&r.path().join("app"), 1_500_000_000);
    symlink("usr/lib", r.path().join("lib")).unwrap();
    fs::write(r.path().join("etc/file"), "x").unwrap();
    fs::write(
        r.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        r.path().join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1001:\n",
    )
    .unwrap();
    r
}

#[test]
fn a_file_goes_under_a_destination_ending_in_slash() {
    let d = context();
    let l = layer(&plan(&req(&["a.txt"], "/app/"), d.path()).unwrap());
    assert_eq!(keys(&l), ["app", "app/a.txt"]);
    // The made directory: 0755, root; the file keeps its mode, and belongs to root.
    assert_eq!(
        (l["app"].kind, l["app"].mode, l["app"].uid),
        ('d', 0o755, 0)
    );
    assert_eq!(l["app/a.txt"].mode, 0o640);
    assert_eq!(l["app/a.txt"].data, b"a\n");
    assert_eq!(l["app/a.txt"].uid, 0);
}

#[test]
fn a_file_becomes_a_destination_without_slash() {
    let d = context();
    let l = layer(&plan(&req(&["a.txt"], "/opt/x/renamed"), d.path()).unwrap());
    assert_eq!(keys(&l), ["opt", "opt/x", "opt/x/renamed"]);
    assert_eq!(l["opt/x/renamed"].data, b"a\n");
}

#[test]
fn an_existing_directory_receives_the_file_under_its_name() {
    let d = context();
    let r = rootfs();
    let dest = RootfsDest::new(r.path());
    let p = CopyPlan::new(&req(&["a.txt"], "/app"), &ctx_root(d.path()), &dest).unwrap();
    let l = layer(&p);
    assert_eq!(keys(&l), ["app", "app/a.txt"]);
    // The existing directory is repeated with its own metadata, never 0755.
    assert_eq!((l["app"].mode, l["app"].mtime), (0o700, 1_500_000_000));

    // With --link the image is not consulted: the file becomes /app, as on scratch.
    let mut linked = req(&["a.txt"], "/app");
    linked.link = true;
    let p = CopyPlan::new(&linked, &ctx_root(d.path()), &dest).unwrap();
    assert_eq!(p.paths(), ["app"]);
    assert_eq!(layer(&p)["app"].kind, 'f');
}

#[test]
fn a_directory_copies_its_contents() {
    let d = context();
    set_times(&d.path().join("src"), 1_234_567_890);
    let l = layer(&plan(&req(&["src"], "/app"), d.path()).unwrap());
    assert_eq!(
        keys(&l),
        [
            "app",
            "app/lib.rs",
            "app/main.rs",
            "app/notes.txt",
            "app/sub",
            "app/sub/deep.rs"
        ]
    );
    // The new top directory is 0755 with the source directory's time; directories below
    // keep their own mode.
    assert_eq!((l["app"].mode, l["app"].mtime), (0o755, 1_234_567_890));
    assert_eq!(l["app/sub"].mode, 0o750);
    // A trailing slash on the source changes nothing.
    let l2 = layer(&plan(&req(&["src/"], "/app"), d.path()).unwrap());
    assert_eq!(keys(&l2), keys(&l));
}

#[test]
fn relative_destinations_start_at_workdir() {
    let d = context();
    let mut r = req(&["a.txt"], "conf/");
    r.workdir = "/srv/www".into();
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        ["srv", "srv/www", "srv/www/conf", "srv/www/conf/a.txt"]
    );
    let mut r = req(&["a.txt", "b.txt"], ".");
    r.workdir = "/w".into();
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        ["w", "w/a.txt", "w/b.txt"]
    );
}

#[test]
fn several_sources_need_a_directory_destination() {
    let d = context();
    let e = plan(&req(&["a.txt", "b.txt"], "/out"), d.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "When using COPY with more than one source file, the destination must be a directory and end with a / (write /out/)"
    );
    // A wildcard with several matches counts as several sources.
    assert!(plan(&req(&["*.txt"], "/out"), d.path()).is_err());
    // A destination that is a directory in the image is fine.
    let r = rootfs();
    let p = CopyPlan::new(
        &req(&["a.txt", "b.txt"], "/app"),
        &ctx_root(d.path()),
        &RootfsDest::new(r.path()),
    )
    .unwrap();
    assert_eq!(p.paths(), ["app", "app/a.txt", "app/b.txt"]);
}

#[test]
fn wildcards_follow_go_filepath_match() {
    let d = context();
    let p = plan(&req(&["*.txt"], "/t/"), d.path()).unwrap();
    // `*` matches dot files, as Go's filepath.Match does.
    assert_eq!(p.paths(), ["t", "t/.hidden.txt", "t/a.txt", "t/b.txt"]);
    let p = plan(&req(&["src/*.rs", "s?c/sub"], "/t/"), d.path()).unwrap();
    assert_eq!(p.paths(), ["t", "t/deep.rs", "t/lib.rs", "t/main.rs"]);
    let p = plan(&req(&["[ab].txt"], "/t/"), d.path()).unwrap();
    assert_eq!(p.paths(), ["t", "t/a.txt", "t/b.txt"]);
}

#[test]
fn a_wildcard_matching_nothing_is_no_error_and_no_layer() {
    let d = context();
    let p = plan(&req(&["*.nothing"], "/t/"), d.path()).unwrap();
    assert!(p.is_empty());
    let mut out = Vec::new();
    assert!(
        p.write_layer(&mut out, &LayerOptions::default())
            .unwrap()
            .is_none()
    );
    assert!(out.is_empty());
}

#[test]
fn a_missing_file_is_an_error_naming_the_closest_name() {
    let d = context();
    let e = plan(&req(&["src/mian.rs"], "/t/"), d.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "file not found in build context: src/mian.rs (did you mean src/main.rs?)"
    );
    let e = plan(&req(&["scr/main.rs"], "/t/"), d.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "file not found in build context: scr/main.rs (did you mean src/main.rs?)"
    );
    let e = plan(&req(&["./src//mian.rs"], "/t/"), d.path()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("file not found in build context: src/mian.rs ("),
        "{e}"
    );
    let e = plan(&req(&["zzzzzz"], "/t/"), d.path()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                suggestion: None,
                ..
            }
        ),
        "{e}"
    );
    let stage = SourceRoot::stage(d.path(), "build").unwrap();
    let e = CopyPlan::new(&req(&["/nope"], "/t/"), &stage, &EmptyDest).unwrap_err();
    assert_eq!(e.to_string(), "file not found in stage build: /nope");
    let e = CopyPlan::new(&req(&["/src/lib.r"], "/t/"), &stage, &EmptyDest).unwrap_err();
    assert_eq!(
        e.to_string(),
        "file not found in stage build: /src/lib.r (did you mean /src/lib.rs?)"
    );
    // A close name whose rest of the path does not exist is no suggestion.
    let e = plan(&req(&["scr/nothing.rs"], "/t/"), d.path()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                suggestion: None,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn dockerignore_hides_files_from_every_kind_of_source() {
    let d = context();
    let ignore =
        Dockerignore::parse("*.txt\n!b.txt\nsrc/sub\n", Path::new(".dockerignore")).unwrap();
    let root = SourceRoot::context(d.path(), ignore).unwrap();
    let p = CopyPlan::new(&req(&["."], "/c"), &root, &EmptyDest).unwrap();
    assert_eq!(
        p.paths(),
        [
            "c",
            "c/b.txt",
            "c/src",
            "c/src/lib.rs",
            "c/src/main.rs",
            "c/src/notes.txt"
        ]
    );
    let p = CopyPlan::new(&req(&["*.txt"], "/c/"), &root, &EmptyDest).unwrap();
    assert_eq!(p.paths(), ["c", "c/b.txt"]);
    let e = CopyPlan::new(&req(&["a.txt"], "/c/"), &root, &EmptyDest).unwrap_err();
    assert_eq!(
        e.to_string(),
        "file not found in build context (it is excluded by .dockerignore): a.txt"
    );
}

#[test]
fn exclude_drops_paths_below_each_source_and_wildcard_matches() {
    let d = context();
    let mut r = req(&["src"], "/app");
    r.exclude = vec!["*.txt".into(), "sub".into()];
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        ["app", "app/lib.rs", "app/main.rs"]
    );
    let mut r = req(&["*"], "/all/");
    r.exclude = vec!["*.txt".into(), "src".into()];
    assert!(plan(&r, d.path()).unwrap().is_empty());
    // An exception re-includes a file under an excluded directory, bringing its parent.
    let mut r = req(&["."], "/app");
    r.exclude = vec!["src".into(), "!src/sub/deep.rs".into(), "*.txt".into()];
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        ["app", "app/src", "app/src/sub", "app/src/sub/deep.rs"]
    );
}

#[test]
fn sources_outside_the_context_are_refused() {
    let d = context();
    let e = plan(&req(&["../x"], "/t/"), d.path()).unwrap_err();
    assert!(matches!(e, Error::OutsideContext { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("only files inside the build context")
    );
    symlink("/etc/passwd", d.path().join("passwd")).unwrap();
    let e = plan(&req(&["passwd"], "/t/"), d.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "passwd: passwd is a symlink to /etc/passwd; only files inside the build context can be copied"
    );
    symlink("../../outside", d.path().join("src/up")).unwrap();
    let e = plan(&req(&["src/up"], "/t/"), d.path()).unwrap_err();
    assert!(matches!(e, Error::OutsideContext { .. }), "{e}");
    // Through a wildcard too.
    let e = plan(&req(&["pass*"], "/t/"), d.path()).unwrap_err();
    assert!(matches!(e, Error::OutsideContext { .. }), "{e}");
    // `a/../b` stays inside: it is cleaned first.
    assert_eq!(
        plan(&req(&["src/../a.txt"], "/t/"), d.path())
            .unwrap()
            .paths(),
        ["t", "t/a.txt"]
    );
}

#[test]
fn a_source_symlink_is_followed_and_keeps_its_name_links_below_are_copied() {
    let d = context();
    symlink("src/main.rs", d.path().join("entry")).unwrap();
    symlink("main.rs", d.path().join("src/alias")).unwrap();
    let l = layer(&plan(&req(&["entry"], "/bin/"), d.path()).unwrap());
    assert_eq!(l["bin/entry"].kind, 'f');
    assert_eq!(l["bin/entry"].data, b"fn main() {}\n");
    let l = layer(&plan(&req(&["src"], "/s"), d.path()).unwrap());
    assert_eq!(
        (l["s/alias"].kind, l["s/alias"].link.as_str()),
        ('l', "main.rs")
    );
    assert_eq!(l["s/alias"].mode & 0o777, 0o777);
}

#[test]
fn stage_sources_resolve_like_a_chroot_and_keep_owners() {
    let s = tempfile::tempdir().unwrap();
    write(s.path(), "usr/bin/busybox", "#!bb");
    symlink("/usr/bin/busybox", s.path().join("usr/bin/sh")).unwrap();
    let root_user = unsafe { libc::geteuid() } == 0;
    if root_user {
        std::os::unix::fs::chown(s.path().join("usr/bin/busybox"), Some(123), Some(456)).unwrap();
    }
    let stage = SourceRoot::stage(s.path(), "build").unwrap();
    let l = layer(&CopyPlan::new(&req(&["/usr/bin/sh"], "/sh"), &stage, &EmptyDest).unwrap());
    assert_eq!(l["sh"].data, b"#!bb");
    if root_user {
        assert_eq!((l["sh"].uid, l["sh"].gid), (123, 456));
    }
    // `..` at a rootfs's root stays there.
    let l =
        layer(&CopyPlan::new(&req(&["../../usr/bin/busybox"], "/x"), &stage, &EmptyDest).unwrap());
    assert_eq!(keys(&l), ["x"]);
}

#[test]
fn chown_takes_ids_or_names_from_the_image() {
    let d = context();
    let r = rootfs();
    let dest = RootfsDest::new(r.path());
    let root = ctx_root(d.path());
    let owner = |spec: &str| {
        let mut q = req(&["a.txt"], "/new/dir/");
        q.chown = Some(spec.into());
        let p = CopyPlan::new(&q, &root, &dest).unwrap();
        let l = layer(&p);
        // Made parents get the owner too.
        assert_eq!(
            (l["new"].uid, l["new"].gid),
            (l["new/dir/a.txt"].uid, l["new/dir/a.txt"].gid)
        );
        (
            l["new/dir/a.txt"].uid,
            l["new/dir/a.txt"].gid,
            p.warnings().to_vec(),
        )
    };
    assert_eq!(owner("1000"), (1000, 1000, vec![]));
    assert_eq!(owner("1000:50"), (1000, 50, vec![]));
    assert_eq!(owner("app"), (1000, 1001, vec![]));
    assert_eq!(owner("app:staff"), (1000, 50, vec![]));
    assert_eq!(owner("root:app"), (0, 1001, vec![]));
    let (u, g, w) = owner("ghost:staff");
    assert_eq!((u, g), (0, 50));
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("\"ghost\" is not in /etc/passwd"), "{w:?}");
}

#[test]
fn chmod_applies_to_everything_copied_and_made_but_not_existing_directories() {
    let d = context();
    let mut r = req(&["src"], "/srv/app");
    r.chmod = Some(FileMode::parse("0750").unwrap());
    let l = layer(&plan(&r, d.path()).unwrap());
    // Made directories take the mode too (moby/buildkit#4945, #6801).
    assert_eq!(l["srv"].mode, 0o750);
    assert_eq!(l["srv/app"].mode, 0o750);
    assert_eq!(l["srv/app/main.rs"].mode, 0o750);
    assert_eq!(l["srv/app/sub"].mode, 0o750);
    let mut r = req(&["src"], "/app");
    r.chmod = Some(FileMode::parse("u+x,g=r,o=").unwrap());
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(l["app"].mode, 0o740);
    assert_eq!(l["app/main.rs"].mode, 0o740);
    assert_eq!(l["app/sub"].mode, 0o740);
    // A directory the image has keeps its mode.
    let root = rootfs();
    let mut r = req(&["a.txt"], "/app/");
    r.chmod = Some(FileMode::parse("0600").unwrap());
    let p = CopyPlan::new(&r, &ctx_root(d.path()), &RootfsDest::new(root.path())).unwrap();
    let l = layer(&p);
    assert_eq!((l["app"].mode, l["app/a.txt"].mode), (0o700, 0o600));
}

#[test]
fn heredocs_are_0644_files_named_after_their_delimiter() {
    let d = context();
    let mut r = CopyRequest::new(
        vec![
            CopySource::Heredoc {
                name: "run.sh".into(),
                content: "echo hi\n".into(),
            },
            CopySource::Heredoc {
                name: "EOF".into(),
                content: "x\n".into(),
            },
        ],
        "/scripts/",
    );
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(keys(&l), ["scripts", "scripts/EOF", "scripts/run.sh"]);
    assert_eq!(
        (
            l["scripts/run.sh"].mode,
            l["scripts/run.sh"].data.as_slice()
        ),
        (0o644, &b"echo hi\n"[..])
    );
    r.sources.truncate(1);
    r.dest = "/usr/local/bin/hello".into();
    r.chmod = Some(FileMode::parse("755").unwrap());
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(l["usr/local/bin/hello"].mode, 0o755);
}

#[test]
fn heredocs_from_the_parser_are_chomped() {
    let text = "FROM scratch\nCOPY <<-EOT /x\n\t\thello\n\tEOT\n";
    let df = bale_parser::parse(text).unwrap();
    let typed = bale_parser::type_dockerfile(&df).unwrap();
    let copy = typed
        .iter()
        .find_map(|i| match i {
            bale_parser::instruction::Instruction::Copy(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    let r = CopyRequest::from_instruction(&copy, false, "/").unwrap();
    assert_eq!(
        r.sources,
        [CopySource::Heredoc {
            name: "EOT".into(),
            content: "hello\n".into()
        }]
    );
    assert_eq!(r.dest, "/x");
}

#[test]
fn parents_keep_the_relative_path_and_a_pivot_cuts_it() {
    let d = context();
    let mut r = req(&["src/sub/deep.rs", "a.txt"], "/p/");
    r.parents = true;
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(
        keys(&l),
        ["p", "p/a.txt", "p/src", "p/src/sub", "p/src/sub/deep.rs"]
    );
    // The made parents take their source directories' metadata.
    assert_eq!(l["p/src/sub"].mode, 0o750);
    let mut r = req(&["src/./sub/deep.rs"], "/p/");
    r.parents = true;
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        ["p", "p/sub", "p/sub/deep.rs"]
    );
    let mut r = req(&["**/*.rs"], "/p/");
    r.parents = true;
    assert_eq!(
        plan(&r, d.path()).unwrap().paths(),
        [
            "p",
            "p/src",
            "p/src/lib.rs",
            "p/src/main.rs",
            "p/src/sub",
            "p/src/sub/deep.rs"
        ]
    );
    let mut r = req(&["src/missing.rs"], "/p/");
    r.parents = true;
    assert!(matches!(
        plan(&r, d.path()).unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[test]
fn destination_symlinks_are_followed_inside_the_image() {
    let d = context();
    let r = rootfs();
    let p = CopyPlan::new(
        &req(&["a.txt"], "/lib/"),
        &ctx_root(d.path()),
        &RootfsDest::new(r.path()),
    )
    .unwrap();
    assert_eq!(p.paths(), ["usr", "usr/lib", "usr/lib/a.txt"]);
}

#[test]
fn conflicts_with_the_image_are_errors_as_in_buildkit() {
    let d = context();
    let r = rootfs();
    let dest = RootfsDest::new(r.path());
    let root = ctx_root(d.path());
    // A directory's contents onto an existing file.
    let e = CopyPlan::new(&req(&["src"], "/etc/file"), &root, &dest).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot copy to non-directory: /etc/file"),
        "{e}"
    );
    // A path below a file.
    let e = CopyPlan::new(&req(&["a.txt"], "/etc/file/x"), &root, &dest).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot copy to non-directory: /etc/file"),
        "{e}"
    );
    // A file over a directory that a directory copy brings.
    write(d.path(), "tree/etc", "not a dir");
    let e = CopyPlan::new(&req(&["tree"], "/"), &root, &dest).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot replace directory /etc"),
        "{e}"
    );
}

#[test]
fn hard_links_stay_hard_links() {
    let d = context();
    fs::hard_link(d.path().join("a.txt"), d.path().join("src/a-again.txt")).unwrap();
    let mut r = req(&["."], "/h");
    r.exclude = vec!["src/sub".into()];
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(l["h/a.txt"].kind, 'f');
    assert_eq!(l["h/src/a-again.txt"].kind, 'h');
    assert_eq!(l["h/src/a-again.txt"].link, "h/a.txt");
}

#[test]
fn whiteout_names_are_refused() {
    let d = context();
    write(d.path(), ".wh.x", "");
    let e = plan(&req(&[".wh.x"], "/t/"), d.path()).unwrap_err();
    assert!(e.to_string().contains("starting with .wh."), "{e}");
}

#[test]
fn source_date_epoch_clamps_every_time() {
    let d = context();
    let p = plan(&req(&["src"], "/app/"), d.path()).unwrap();
    let l = layer_of(
        &p,
        &LayerOptions {
            source_date_epoch: Some(1_000),
        },
    );
    assert!(l.values().all(|e| e.mtime <= 1_000));
    let l = layer(&p);
    // Made directories and heredocs get time 0 without it, so layers are reproducible.
    assert!(l.values().any(|e| e.mtime > 1_000));
}

#[test]
fn content_digest_ignores_times_and_reads_nothing_when_unchanged() {
    let d = context();
    set_old_times(d.path());
    std::thread::sleep(std::time::Duration::from_millis(60));
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("hashes.json");
    let r = req(&["src", "a.txt"], "/app/");
    let h = ContextHasher::open(&file);
    let first = plan(&r, d.path()).unwrap().content_digest(&h, "k").unwrap();
    assert_eq!(h.files_read(), 5);
    h.save().unwrap();

    // Touching a file keeps the digest; only that file is read again.
    set_times(&d.path().join("src/main.rs"), 1_700_000_000);
    std::thread::sleep(std::time::Duration::from_millis(60));
    let h = ContextHasher::open(&file);
    let again = plan(&r, d.path()).unwrap().content_digest(&h, "k").unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(
        h.files_read(),
        1,
        "the touched file is re-read, its hash is the same"
    );
    h.save().unwrap();
    let h = ContextHasher::open(&file);
    plan(&r, d.path()).unwrap().content_digest(&h, "k").unwrap();
    assert_eq!(h.files_read(), 0);
    h.save().unwrap();

    // A content change is named by its destination path.
    write(d.path(), "src/lib.rs", "pub fn g() {}\n");
    let h = ContextHasher::open(&file);
    let changed = plan(&r, d.path()).unwrap().content_digest(&h, "k").unwrap();
    assert_ne!(changed.digest, first.digest);
    assert_eq!(
        changed.change,
        Some(PathChange::Modified("app/lib.rs".into()))
    );

    // Modes, owners and the destination are part of it.
    let mut r2 = r.clone();
    r2.chown = Some("1:1".into());
    assert_ne!(
        plan(&r2, d.path())
            .unwrap()
            .content_digest(&h, "k2")
            .unwrap()
            .digest,
        changed.digest
    );
    chmod(d.path(), "a.txt", 0o600);
    assert_ne!(
        plan(&r, d.path())
            .unwrap()
            .content_digest(&h, "k")
            .unwrap()
            .digest,
        changed.digest
    );
    let r3 = req(&["src", "a.txt"], "/other/");
    assert_ne!(
        plan(&r3, d.path())
            .unwrap()
            .content_digest(&h, "k3")
            .unwrap()
            .digest,
        changed.digest
    );
}

#[test]
fn a_layer_applies_to_a_rootfs_with_the_extractor() {
    let d = context();
    let r = rootfs();
    let dest = RootfsDest::new(r.path());
    let p = CopyPlan::new(&req(&["src", "a.txt"], "/lib/"), &ctx_root(d.path()), &dest).unwrap();
    let mut tar = Vec::new();
    p.write_layer(&mut tar, &LayerOptions::default()).unwrap();
    crate::extract::extract_layer(tar.as_slice(), r.path(), &Default::default()).unwrap();
    // The symlink /lib is untouched and the files are where it points.
    assert!(
        fs::symlink_metadata(r.path().join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(r.path().join("usr/lib/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert_eq!(
        fs::metadata(r.path().join("usr/lib/a.txt")).unwrap().mode() & 0o777,
        0o640
    );
}

#[test]
fn huge_names_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let long_dir = "d".repeat(200);
    let long_file = "f".repeat(250);
    write(
        d.path(),
        &format!("{long_dir}/{long_dir}/{long_file}"),
        "deep",
    );
    let p = plan(&req(&["."], "/x"), d.path()).unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    let mut tar = Vec::new();
    p.write_layer(&mut tar, &LayerOptions::default()).unwrap();
    crate::extract::extract_layer(tar.as_slice(), rootfs.path(), &Default::default()).unwrap();
    let back = rootfs
        .path()
        .join(format!("x/{long_dir}/{long_dir}/{long_file}"));
    assert_eq!(fs::read_to_string(back).unwrap(), "deep");
    // A name too long for the file system is an error, not a panic.
    let e = plan(&req(&[&"n".repeat(300)], "/t/"), d.path()).unwrap_err();
    assert!(
        matches!(e, Error::NotFound { .. } | Error::Io { .. }),
        "{e}"
    );
}

fn make_tar(entries: &[(&str, char, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(7);
        h.set_gid(8);
        h.set_mtime(1_111_111_111);
        match kind {
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
            'l' => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            }
            'h' => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            }
            _ => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                // Names with `..` must reach the archive as written: set them raw.
                let bytes = name.as_bytes();
                h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn compress(tool: &str, data: &[u8]) -> Option<Vec<u8>> {
    let mut child = std::process::Command::new(tool)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().ok()?;
    w.join().unwrap().ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn add_extracts_local_archives_of_every_compression() {
    let tar = make_tar(&[
        ("top/", 'd', "", 0o750),
        ("top/run", 'f', "#!/bin/sh\n", 0o755),
        ("top/again", 'h', "top/run", 0o600),
        ("top/link", 'l', "run", 0o777),
        ("loose/file", 'f', "x", 0o640),
    ]);
    let mut forms = vec![("plain", tar.clone())];
    for tool in ["gzip", "bzip2", "xz", "zstd"] {
        match compress(tool, &tar) {
            Some(c) => forms.push((tool, c)),
            None if std::env::var_os("CI").is_some() => panic!("{tool} is missing"),
            None => eprintln!("skipping {tool}: the tool is not installed"),
        }
    }
    for (name, bytes) in forms {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("app.tar"), &bytes).unwrap();
        let mut r = req(&["app.tar"], "/opt");
        r.add = true;
        let p = plan(&r, d.path()).unwrap();
        assert_eq!(
            p.paths(),
            ["opt"],
            "{name}: archive contents are listed when written"
        );
        let l = layer(&p);
        assert_eq!(
            keys(&l),
            [
                "opt",
                "opt/loose",
                "opt/loose/file",
                "opt/top",
                "opt/top/again",
                "opt/top/link",
                "opt/top/run"
            ],
            "{name}"
        );
        // Entries keep their owners and modes; a made parent is 0755 root.
        assert_eq!(
            (l["opt/top"].mode, l["opt/top"].uid, l["opt/top"].gid),
            (0o750, 7, 8)
        );
        assert_eq!((l["opt/loose"].mode, l["opt/loose"].uid), (0o755, 0));
        assert_eq!(l["opt/top/run"].mtime, 1_111_111_111);
        // The hard link sorts first, so it carries the content; the target links to it, and
        // both have the target's mode.
        assert_eq!(
            (l["opt/top/again"].kind, l["opt/top/again"].mode),
            ('f', 0o755)
        );
        assert_eq!(l["opt/top/again"].data, b"#!/bin/sh\n");
        assert_eq!(
            (l["opt/top/run"].kind, l["opt/top/run"].link.as_str()),
            ('h', "opt/top/again")
        );
        assert_eq!(
            (l["opt/top/link"].kind, l["opt/top/link"].link.as_str()),
            ('l', "run")
        );
        if name == "plain" {
            // Applied to a rootfs, the two names are one inode.
            let rootfs = tempfile::tempdir().unwrap();
            let mut tar = Vec::new();
            p.write_layer(&mut tar, &LayerOptions::default()).unwrap();
            crate::extract::extract_layer(tar.as_slice(), rootfs.path(), &Default::default())
                .unwrap();
            let a = fs::metadata(rootfs.path().join("opt/top/run")).unwrap();
            let b = fs::metadata(rootfs.path().join("opt/top/again")).unwrap();
            assert_eq!((a.ino(), a.nlink(), a.mode() & 0o7777), (b.ino(), 2, 0o755));
        }
    }

    // COPY, and ADD --unpack=false, copy the archive as a file.
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("app.tar"), &tar).unwrap();
    assert_eq!(
        plan(&req(&["app.tar"], "/opt/"), d.path()).unwrap().paths(),
        ["opt", "opt/app.tar"]
    );
    let mut r = req(&["app.tar"], "/opt/");
    r.add = true;
    r.unpack = Some(false);
    assert_eq!(plan(&r, d.path()).unwrap().paths(), ["opt", "opt/app.tar"]);
    // A file that only looks compressed is copied as it is.
    fs::write(d.path().join("fake.gz"), [0x1f, 0x8b, 1, 2, 3]).unwrap();
    let mut r = req(&["fake.gz"], "/opt/");
    r.add = true;
    assert_eq!(plan(&r, d.path()).unwrap().paths(), ["opt", "opt/fake.gz"]);
}

#[test]
fn archive_entries_that_escape_are_refused() {
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "dotdot",
            make_tar(&[("../../etc/evil", 'f', "x", 0o644)]),
            "leads above",
        ),
        (
            "symlink",
            make_tar(&[("a", 'l', "../../../etc", 0o777)]),
            "symlink target",
        ),
        (
            "through a symlink",
            make_tar(&[("a", 'l', "/etc", 0o777), ("a/passwd", 'f', "x", 0o644)]),
            "goes through the symlink a",
        ),
        (
            "hard link",
            make_tar(&[("h", 'h', "../../etc/shadow", 0o644)]),
            "hard link target",
        ),
        ("whiteout", make_tar(&[(".wh.etc", 'f', "", 0o644)]), ".wh."),
    ];
    for (what, tar, msg) in cases {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("evil.tar"), tar).unwrap();
        let mut r = req(&["evil.tar"], "/x/");
        r.add = true;
        let p = plan(&r, d.path()).unwrap();
        let e = p
            .write_layer(Vec::new(), &LayerOptions::default())
            .unwrap_err();
        assert!(matches!(e, Error::ArchiveEscape { .. }), "{what}: {e}");
        assert!(e.to_string().contains(msg), "{what}: {e}");
        assert!(
            e.to_string().starts_with("ADD evil.tar: archive entry"),
            "{what}: {e}"
        );
    }
    // An absolute symlink target is fine: it means the image's path.
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("ok.tar"),
        make_tar(&[("sh", 'l', "/bin/busybox", 0o777)]),
    )
    .unwrap();
    let mut r = req(&["ok.tar"], "/x/");
    r.add = true;
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(l["x/sh"].link, "/bin/busybox");
}

/// Serves each request with the response `respond` gives for its path, on 127.0.0.1.
fn serve(respond: fn(&str) -> Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = s.write_all(&respond(&path));
        }
    });
    format!("http://{addr}")
}

fn ok(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn add_downloads_urls_with_mode_600_time_and_checksum() {
    let base = serve(|path| match path {
        "/files/tool.sh" => ok(
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
            "echo tool\n",
        ),
        "/dir/" => ok(
            "Content-Disposition: attachment; filename=\"named.txt\"\r\n",
            "named\n",
        ),
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    });
    let d = context();
    let mut r = req(&[&format!("{base}/files/tool.sh")], "/usr/local/bin/");
    r.add = true;
    let l = layer(&plan(&r, d.path()).unwrap());
    let f = &l["usr/local/bin/tool.sh"];
    assert_eq!(
        (f.mode, f.mtime, f.data.as_slice()),
        (0o600, 784_111_777, &b"echo tool\n"[..])
    );

    // The right checksum passes, a wrong one fails naming both.
    let sum = crate::digest::sha256_digest(b"echo tool\n");
    r.checksum = Some(sum.clone());
    r.chmod = Some(FileMode::parse("755").unwrap());
    r.dest = "/tool".into();
    let l = layer(&plan(&r, d.path()).unwrap());
    assert_eq!(l["tool"].mode, 0o755);
    r.checksum = Some(format!("sha256:{}", "0".repeat(64)));
    // A pinned URL is fetched when the layer is written, and checked then.
    let p = plan(&r, d.path()).unwrap();
    let e = p
        .write_layer(Vec::new(), &LayerOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
    assert!(e.to_string().contains(&sum), "{e}");

    // A URL path without a name takes the Content-Disposition one.
    let mut r = req(&[&format!("{base}/dir/")], "/d/");
    r.add = true;
    assert_eq!(plan(&r, d.path()).unwrap().paths(), ["d", "d/named.txt"]);

    let mut r = req(&[&format!("{base}/missing")], "/d/");
    r.add = true;
    let e = plan(&r, d.path()).unwrap_err();
    assert!(
        matches!(e, Error::Download { .. }) && e.to_string().contains("404"),
        "{e}"
    );

    // COPY takes no URL, and nobody takes git.
    let e = plan(&req(&[&format!("{base}/files/tool.sh")], "/d/"), d.path()).unwrap_err();
    assert!(
        e.to_string().starts_with("source can't be a URL for COPY"),
        "{e}"
    );
    let mut r = req(&["https://github.com/moby/buildkit.git"], "/src");
    r.add = true;
    assert!(matches!(
        plan(&r, d.path()).unwrap_err(),
        Error::Unsupported(_)
    ));
}

#[test]
fn url_content_is_in_the_digest() {
    let base = serve(|_| ok("", "payload"));
    let d = context();
    let mut r = req(&[&format!("{base}/p")], "/p");
    r.add = true;
    let h = ContextHasher::open(&d.path().join("../unused-hashes.json"));
    let a = plan(&r, d.path()).unwrap().content_digest(&h, "u").unwrap();
    let b = plan(&r, d.path()).unwrap().content_digest(&h, "u").unwrap();
    assert_eq!(a.digest, b.digest);
}

static PINNED_REQUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_url_pinned_by_checksum_is_not_fetched_for_the_cache_key() {
    let base = serve(|_| {
        PINNED_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ok("", "pinned")
    });
    let d = context();
    let mut r = req(&[&format!("{base}/pinned.bin")], "/opt/");
    r.add = true;
    r.checksum = Some(crate::digest::sha256_digest(b"pinned"));
    let h = ContextHasher::open(&d.path().join("../unused-pinned.json"));
    let p = plan(&r, d.path()).unwrap();
    let digest = p.content_digest(&h, "pinned").unwrap();
    assert_eq!(p.paths(), ["opt", "opt/pinned.bin"]);
    assert_eq!(PINNED_REQUESTS.load(std::sync::atomic::Ordering::SeqCst), 0);
    let l = layer(&p);
    assert_eq!(l["opt/pinned.bin"].data, b"pinned");
    assert_eq!(l["opt/pinned.bin"].mode, 0o600);
    assert_eq!(PINNED_REQUESTS.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The same pin gives the same key whether or not it was fetched.
    assert_eq!(
        p.content_digest(&h, "pinned").unwrap().digest,
        digest.digest
    );
}

#[test]
fn an_archive_into_a_directory_the_image_has_respects_what_is_there() {
    let r = rootfs();
    chmod(r.path(), "etc", 0o710);
    let dest = RootfsDest::new(r.path());
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("conf.tar"),
        make_tar(&[
            ("etc/app.conf", 'f', "k=v\n", 0o600),
            ("app/", 'd', "", 0o711),
        ]),
    )
    .unwrap();
    let mut q = req(&["conf.tar"], "/");
    q.add = true;
    let p = CopyPlan::new(&q, &ctx_root(d.path()), &dest).unwrap();
    // Expanded while planning: the image decides about the parents.
    assert_eq!(p.paths(), ["app", "etc", "etc/app.conf"]);
    let l = layer(&p);
    // An implicit parent the image has keeps its mode; an explicit entry sets its own.
    assert_eq!(l["etc"].mode, 0o710);
    assert_eq!(l["app"].mode, 0o711);
    assert_eq!(l["etc/app.conf"].data, b"k=v\n");

    // An implicit parent that is a symlink in the image is refused, not written over.
    fs::write(
        d.path().join("lib.tar"),
        make_tar(&[("lib/libx.so", 'f', "elf", 0o755)]),
    )
    .unwrap();
    let mut q = req(&["lib.tar"], "/");
    q.add = true;
    let e = CopyPlan::new(&q, &ctx_root(d.path()), &dest).unwrap_err();
    assert!(matches!(e, Error::ArchiveEscape { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("/lib is not a directory in the image"),
        "{e}"
    );
}

#[test]
fn the_image_passwd_is_read_inside_the_image_only() {
    let d = context();
    let r = rootfs();
    // /etc/passwd as a symlink climbing out resolves inside the rootfs, like a chroot.
    fs::rename(
        r.path().join("etc/passwd"),
        r.path().join("etc/passwd.real"),
    )
    .unwrap();
    symlink(
        "../../../../../etc/passwd.real",
        r.path().join("etc/passwd"),
    )
    .unwrap();
    let mut q = req(&["a.txt"], "/x");
    q.chown = Some("app".into());
    let p = CopyPlan::new(&q, &ctx_root(d.path()), &RootfsDest::new(r.path())).unwrap();
    assert_eq!((layer(&p)["x"].uid, layer(&p)["x"].gid), (1000, 1001));
    // A fifo planted as /etc/passwd is not waited on: the name is simply unknown.
    fs::remove_file(r.path().join("etc/passwd")).unwrap();
    let c = std::ffi::CString::new(r.path().join("etc/passwd").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let p = CopyPlan::new(&q, &ctx_root(d.path()), &RootfsDest::new(r.path())).unwrap();
    assert_eq!(layer(&p)["x"].uid, 0);
    assert_eq!(p.warnings().len(), 1);
}

#[test]
fn a_socket_becomes_an_empty_file_as_in_buildkit() {
    let d = context();
    let _sock = std::os::unix::net::UnixListener::bind(d.path().join("socket.sock")).unwrap();
    let p = plan(&req(&["socket.sock"], "/"), d.path()).unwrap();
    let l = layer(&p);
    assert_eq!(
        (l["socket.sock"].kind, l["socket.sock"].data.len()),
        ('f', 0)
    );
    let h = ContextHasher::open(&d.path().join("../unused-socket.json"));
    p.content_digest(&h, "s").unwrap();
}

#[test]
fn wildcard_matches_that_are_symlinks_are_followed() {
    // BuildKit's testCopySymlinks.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "bar", "bar-contents");
    symlink("bar", d.path().join("foo")).unwrap();
    write(d.path(), "sub/lfile", "lfile-contents");
    write(d.path(), "sub/subfile", "subfile-contents");
    write(d.path(), "sub/baz", "baz-contents");
    symlink("subfile", d.path().join("sub/l0")).unwrap();
    symlink("second", d.path().join("sub/l1")).unwrap();
    symlink("baz", d.path().join("sub/second")).unwrap();
    let l = layer(&plan(&req(&["foo"], "/"), d.path()).unwrap());
    assert_eq!(l["foo"].data, b"bar-contents");
    let l = layer(&plan(&req(&["sub/l*"], "alllinks/"), d.path()).unwrap());
    assert_eq!(l["alllinks/l0"].data, b"subfile-contents");
    assert_eq!(l["alllinks/l1"].data, b"baz-contents");
    assert_eq!(l["alllinks/lfile"].data, b"lfile-contents");
}

#[test]
fn copying_into_an_existing_directory_keeps_its_owner() {
    // BuildKit's testCopyChownExistingDir, with the stage and the image as directories.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("skipping: owners can only be set up as root");
        return;
    }
    let s = tempfile::tempdir().unwrap();
    write(s.path(), "dir/subdir/nestedfile", "");
    let own = |p: &str, u, g| std::os::unix::fs::chown(s.path().join(p), Some(u), Some(g)).unwrap();
    own("dir", 100, 200);
    own("dir/subdir", 101, 201);
    own("dir/subdir/nestedfile", 102, 202);
    let img = tempfile::tempdir().unwrap();
    fs::create_dir(img.path().join("existingdir")).unwrap();
    std::os::unix::fs::chown(img.path().join("existingdir"), Some(500), Some(600)).unwrap();
    let stage = SourceRoot::stage(s.path(), "source").unwrap();
    let dest = RootfsDest::new(img.path());
    let ids = |l: &BTreeMap<String, Ent>, p: &str| (l[p].uid, l[p].gid);

    let l = layer(&CopyPlan::new(&req(&["/dir"], "/dir"), &stage, &dest).unwrap());
    assert_eq!(ids(&l, "dir"), (0, 0), "a made directory belongs to root");
    assert_eq!(ids(&l, "dir/subdir"), (101, 201));
    assert_eq!(ids(&l, "dir/subdir/nestedfile"), (102, 202));
    let l = layer(&CopyPlan::new(&req(&["/dir/."], "/existingdir"), &stage, &dest).unwrap());
    assert_eq!(ids(&l, "existingdir"), (500, 600));
    assert_eq!(ids(&l, "existingdir/subdir"), (101, 201));

    let mut r = req(&["/dir/."], "/existingdir");
    r.chown = Some("300:400".into());
    let l = layer(&CopyPlan::new(&r, &stage, &dest).unwrap());
    assert_eq!(ids(&l, "existingdir"), (500, 600));
    assert_eq!(ids(&l, "existingdir/subdir/nestedfile"), (300, 400));
    let mut r = req(&["/dir"], "/dir");
    r.chown = Some("300:400".into());
    let l = layer(&CopyPlan::new(&r, &stage, &dest).unwrap());
    assert_eq!(ids(&l, "dir"), (300, 400));
}

#[test]
fn buildkit_copy_wildcards_and_relative_destinations() {
    // BuildKit's testCopyWildcards and testCopyRelative: (sources, destination, WORKDIR) and
    // where the file `foo`'s content lands.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "foo.go", "foo-contents");
    write(d.path(), "bar.go", "bar-contents");
    write(d.path(), "sub/dir1/dir2/foo", "foo-contents");
    write(d.path(), "foo", "hello");
    let rows: &[(&[&str], &str, &str, &str)] = &[
        (&["*.go"], "/gofiles/", "/", "gofiles/foo.go"),
        (&["f*.go"], "foo2.go", "/", "foo2.go"),
        (&["sub/*"], "/subdest/", "/", "subdest/dir2/foo"),
        (&["sub/*/dir2/foo"], "/subdest2/", "/", "subdest2/foo"),
        (&["sub/*/dir2/foo"], "/subdest3/bar", "/", "subdest3/bar"),
        (&["."], "all/", "/", "all/foo.go"),
        (&["sub/dir1/"], "subdest4", "/", "subdest4/dir2/foo"),
        (&["sub/dir1/."], "subdest5", "/", "subdest5/dir2/foo"),
        (&["sub/dir1"], "subdest6", "/", "subdest6/dir2/foo"),
        (&["foo"], "./", "/test1/test2", "test1/test2/foo"),
        (&["foo"], "./bar/baz", "/test1/test2", "test1/test2/bar/baz"),
        (&["foo"], "/test3/", "/test1", "test3/foo"),
        (&["."], ".", "/test4", "test4/foo"),
        (&["foo"], "../", "/test5/test6", "test5/foo"),
        (&["foo"], "", "/var/www", "var/www/foo"),
    ];
    for (sources, dest, workdir, expect) in rows {
        let mut r = req(sources, dest);
        r.workdir = workdir.to_string();
        let p = plan(&r, d.path()).unwrap();
        let l = layer(&p);
        assert!(
            l.get(*expect).is_some_and(|e| e.kind == 'f'),
            "COPY {sources:?} {dest:?} in {workdir}: {:?}",
            keys(&l)
        );
    }
}
