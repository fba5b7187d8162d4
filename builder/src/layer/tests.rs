//! Snapshot, diff and layer tests: real file system changes, then the tar entries checked
//! exactly.

use super::*;
use crate::extract::{ExtractOptions, extract_layer};
use crate::testutil::{chmod, write};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::symlink;

/// Prints why a test cannot run here, or fails it on CI, where nothing may be skipped.
fn skip(reason: &str) {
    let on_ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
    assert!(!on_ci, "cannot skip on CI: {reason}");
    eprintln!("skipped: {reason}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One line per entry: `name type mode uid:gid [size=N] [-> link] [xattr=...]`.
fn listing(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let ty = match h.entry_type() {
            EntryType::Regular => "file",
            EntryType::Directory => "dir",
            EntryType::Symlink => "symlink",
            EntryType::Link => "hardlink",
            EntryType::Fifo => "fifo",
            EntryType::Char => "char",
            other => panic!("unexpected {other:?}"),
        };
        let mut line = format!(
            "{} {ty} {:04o} {}:{}",
            String::from_utf8_lossy(&e.path_bytes()),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap()
        );
        if ty == "file" {
            line.push_str(&format!(" size={}", h.size().unwrap()));
        }
        if let Some(l) = e.link_name_bytes() {
            line.push_str(&format!(" -> {}", String::from_utf8_lossy(&l)));
        }
        if let Some(exts) = e.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if let Some(name) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    line.push_str(&format!(
                        " xattr:{name}={:?}",
                        String::from_utf8_lossy(ext.value_bytes())
                    ));
                }
            }
        }
        assert_eq!(h.username_bytes().unwrap_or_default(), b"");
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(line);
    }
    out
}

fn layer_of(before: &Snapshot, after: &Snapshot, opts: &LayerOptions) -> (LayerDigest, Vec<u8>) {
    let mut out = Vec::new();
    let d = write_diff_layer(before, after, &mut out, opts).unwrap();
    (d, out)
}

fn base_tree(root: &Path) {
    write(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    write(root, "etc/keep", "unchanged\n");
    write(root, "usr/bin/tool", "#!/bin/sh\n");
    chmod(root, "usr/bin/tool", 0o755);
    write(root, "var/cache/a/b/c", "deep\n");
    write(root, "var/cache/top", "x\n");
    write(root, "opt/app/old", "old\n");
    write(root, "srv/data/file", "data\n");
    write(root, "home/u/notes", "n\n");
}

#[test]
fn changes_become_exact_tar_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    base_tree(root);
    let before = Snapshot::take(root).unwrap();

    write(root, "etc/new.conf", "hello\n"); // new file: etc/ included as parent
    chmod(root, "usr/bin/tool", 0o4755); // setuid
    fs::remove_dir_all(root.join("var/cache/a")).unwrap(); // one whiteout, none below it
    fs::remove_dir_all(root.join("opt/app")).unwrap(); // removed and recreated: opaque
    write(root, "opt/app/new", "new\n");
    fs::remove_dir_all(root.join("srv/data")).unwrap(); // a directory replaced by a file
    write(root, "srv/data", "now a file\n");
    write(root, "home/u/a", "linked\n"); // hard links: first path is the file
    fs::hard_link(root.join("home/u/a"), root.join("home/u/b")).unwrap();
    symlink("../etc/passwd", root.join("home/u/pw")).unwrap();
    let after = Snapshot::take(root).unwrap();

    let (d, tar) = layer_of(&before, &after, &LayerOptions::default());
    assert_eq!(d.size, tar.len() as u64);
    assert_eq!(d.diff_id, crate::digest::sha256_digest(&tar));
    assert_eq!(
        listing(&tar),
        vec![
            "etc/ dir 0755 0:0".to_string(),
            "etc/new.conf file 0644 0:0 size=6".into(),
            "home/ dir 0755 0:0".into(),
            "home/u/ dir 0755 0:0".into(),
            "home/u/a file 0644 0:0 size=7".into(),
            "home/u/b hardlink 0644 0:0 -> home/u/a".into(),
            "home/u/pw symlink 0777 0:0 -> ../etc/passwd".into(),
            "opt/ dir 0755 0:0".into(),
            "opt/app/ dir 0755 0:0".into(),
            "opt/app/.wh..wh..opq file 0000 0:0 size=0".into(),
            "opt/app/new file 0644 0:0 size=4".into(),
            "srv/ dir 0755 0:0".into(),
            "srv/data file 0644 0:0 size=11".into(),
            "usr/ dir 0755 0:0".into(),
            "usr/bin/ dir 0755 0:0".into(),
            "usr/bin/tool file 4755 0:0 size=10".into(),
            "var/ dir 0755 0:0".into(),
            "var/cache/ dir 0755 0:0".into(),
            "var/cache/.wh.a file 0000 0:0 size=0".into(),
        ]
        .into_iter()
        .map(|l| if is_root() {
            l
        } else {
            l.replace(" 0:0", &format!(" {}:{}", own_ids().0, own_ids().1))
        })
        .collect::<Vec<_>>()
    );
}

fn own_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid have no preconditions.
    unsafe { (libc::getuid(), libc::getgid()) }
}

#[test]
fn nothing_changed_gives_an_empty_layer() {
    let dir = tempfile::tempdir().unwrap();
    base_tree(dir.path());
    let before = Snapshot::take(dir.path()).unwrap();
    let _ = fs::read(dir.path().join("etc/passwd")).unwrap();
    let after = Snapshot::take(dir.path()).unwrap();
    assert!(diff(&before, &after).changes.is_empty());
    let (d, tar) = layer_of(&before, &after, &LayerOptions::default());
    assert_eq!(tar.len(), 1024);
    assert_eq!(d.size, 1024);
}

#[test]
fn same_size_rewrite_right_after_the_snapshot_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", "aaaa");
    let before = Snapshot::take(dir.path()).unwrap();
    fs::write(dir.path().join("f"), "bbbb").unwrap();
    let after = Snapshot::take(dir.path()).unwrap();
    let (_, tar) = layer_of(&before, &after, &LayerOptions::default());
    assert_eq!(listing(&tar).len(), 1);
}

#[test]
fn chown_and_xattrs_and_capabilities_are_recorded() {
    if !is_root() {
        skip("chown and security.* xattrs need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "bin/ping", "elf");
    write(root, "data/owned", "o");
    fs::create_dir_all(root.join("data/dir")).unwrap();
    let before = Snapshot::take(root).unwrap();
    std::os::unix::fs::chown(root.join("data/owned"), Some(1000), Some(2000)).unwrap();
    // cap_net_raw+ep, as setcap writes it (VFS_CAP_REVISION_2).
    let cap: [u8; 20] = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    xattr::set(root.join("bin/ping"), "security.capability", &cap).unwrap();
    xattr::set(root.join("data/dir"), "user.note", b"dir note").unwrap();
    let after = Snapshot::take(root).unwrap();
    let (_, tar) = layer_of(&before, &after, &LayerOptions::default());
    let cap_str = String::from_utf8_lossy(&cap).into_owned();
    assert_eq!(
        listing(&tar),
        vec![
            "bin/ dir 0755 0:0".to_string(),
            format!("bin/ping file 0644 0:0 size=3 xattr:security.capability={cap_str:?}"),
            "data/ dir 0755 0:0".into(),
            "data/dir/ dir 0755 0:0 xattr:user.note=\"dir note\"".into(),
            "data/owned file 0644 1000:2000 size=1".into(),
        ]
    );

    // Extracting restores owner, mode, the capability and the xattr.
    let out = tempfile::tempdir().unwrap();
    extract_layer(tar.as_slice(), out.path(), &ExtractOptions::default()).unwrap();
    assert_eq!(
        xattr::get(out.path().join("bin/ping"), "security.capability")
            .unwrap()
            .unwrap(),
        cap
    );
    assert_eq!(
        xattr::get(out.path().join("data/dir"), "user.note")
            .unwrap()
            .unwrap(),
        b"dir note"
    );
    let m = fs::metadata(out.path().join("data/owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 2000));
}

#[test]
fn devices_and_fifos_are_recorded() {
    if !is_root() {
        skip("mknod needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let before = Snapshot::take(dir.path()).unwrap();
    let c = std::ffi::CString::new(dir.path().join("null").as_os_str().as_bytes()).unwrap();
    let f = std::ffi::CString::new(dir.path().join("pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C strings.
    unsafe {
        assert_eq!(
            libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)),
            0
        );
        assert_eq!(libc::mkfifo(f.as_ptr(), 0o600), 0);
        assert_eq!(libc::chmod(c.as_ptr(), 0o666), 0);
    }
    let after = Snapshot::take(dir.path()).unwrap();
    let (_, tar) = layer_of(&before, &after, &LayerOptions::default());
    let mut a = tar::Archive::new(tar.as_slice());
    let entries: Vec<_> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().clone())
        .collect();
    assert_eq!(entries[0].entry_type(), EntryType::Char);
    assert_eq!(entries[0].device_major().unwrap(), Some(1));
    assert_eq!(entries[0].device_minor().unwrap(), Some(3));
    assert_eq!(entries[0].mode().unwrap(), 0o666);
    assert_eq!(entries[1].entry_type(), EntryType::Fifo);
}

fn reproducible_tree(root: &Path) -> (Snapshot, Snapshot) {
    write(root, "base/file", "base");
    let before = Snapshot::take(root).unwrap();
    write(root, "app/bin/run", "#!/bin/sh\necho hi\n");
    chmod(root, "app/bin/run", 0o755);
    write(root, "app/lib/data", &"x".repeat(100_000));
    symlink("bin/run", root.join("app/run")).unwrap();
    fs::hard_link(root.join("app/lib/data"), root.join("app/lib/data2")).unwrap();
    fs::remove_file(root.join("base/file")).unwrap();
    let after = Snapshot::take(root).unwrap();
    (before, after)
}

#[test]
fn source_date_epoch_makes_equal_inputs_give_equal_digests() {
    let opts = LayerOptions {
        source_date_epoch: Some(1_700_000_000),
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (b1, a1) = reproducible_tree(a.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (b2, a2) = reproducible_tree(b.path());
    let (d1, t1) = layer_of(&b1, &a1, &opts);
    let (d2, t2) = layer_of(&b2, &a2, &opts);
    assert_eq!(d1, d2);
    assert_eq!(t1, t2);
    let mut archive = tar::Archive::new(t1.as_slice());
    for e in archive.entries().unwrap() {
        assert_eq!(e.unwrap().header().mtime().unwrap(), 1_700_000_000);
    }
    // Without clamping, the second tree's later mtimes change the digest.
    let (n1, _) = layer_of(&b1, &a1, &LayerOptions::default());
    let (n2, _) = layer_of(&b2, &a2, &LayerOptions::default());
    assert_ne!(n1, n2);
}

#[test]
fn long_names_and_link_targets_use_pax() {
    let dir = tempfile::tempdir().unwrap();
    let before = Snapshot::take(dir.path()).unwrap();
    let long_dir = "d".repeat(120);
    let long_name = format!("{long_dir}/{}", "f".repeat(150));
    write(dir.path(), &long_name, "content");
    let target = "t".repeat(200);
    symlink(&target, dir.path().join("s")).unwrap();
    let after = Snapshot::take(dir.path()).unwrap();
    let (_, tar) = layer_of(&before, &after, &LayerOptions::default());
    let mut archive = tar::Archive::new(tar.as_slice());
    let got: Vec<(String, Option<String>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (format!("{long_dir}/"), None),
            (long_name, None),
            ("s".into(), Some(target))
        ]
    );
}

#[test]
fn extraction_applies_whiteouts_and_opaque_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    base_tree(root);
    let lower = tempfile::tempdir().unwrap();
    // The lower layer: the whole base tree.
    let empty = tempfile::tempdir().unwrap();
    let none = Snapshot::take(empty.path()).unwrap();
    let base = Snapshot::take(root).unwrap();
    let mut base_tar = Vec::new();
    write_layer_from_diff(
        &diff(&none, &base),
        &base,
        &mut base_tar,
        &LayerOptions::default(),
    )
    .unwrap();
    fs::remove_dir_all(root.join("var/cache/a")).unwrap();
    fs::remove_dir_all(root.join("opt/app")).unwrap();
    write(root, "opt/app/new", "new\n");
    fs::remove_dir_all(root.join("srv/data")).unwrap();
    write(root, "srv/data", "file now\n");
    let after = Snapshot::take(root).unwrap();
    let (_, upper_tar) = layer_of(&base, &after, &LayerOptions::default());

    extract_layer(
        base_tar.as_slice(),
        lower.path(),
        &ExtractOptions::default(),
    )
    .unwrap();
    assert!(lower.path().join("var/cache/a/b/c").exists());
    extract_layer(
        upper_tar.as_slice(),
        lower.path(),
        &ExtractOptions::default(),
    )
    .unwrap();
    assert!(!lower.path().join("var/cache/a").exists());
    assert!(lower.path().join("var/cache/top").exists());
    assert!(!lower.path().join("opt/app/old").exists());
    assert_eq!(
        fs::read_to_string(lower.path().join("opt/app/new")).unwrap(),
        "new\n"
    );
    assert_eq!(
        fs::read_to_string(lower.path().join("srv/data")).unwrap(),
        "file now\n"
    );
    // The extracted tree snapshots like the original: same paths, modes and contents.
    let (x, y) = (
        Snapshot::take(lower.path()).unwrap(),
        Snapshot::take(root).unwrap(),
    );
    assert_eq!(x.len(), y.len());
    for path in ["etc/passwd", "usr/bin/tool", "home/u/notes"] {
        let (a, b) = (
            x.get(path.as_bytes()).unwrap(),
            y.get(path.as_bytes()).unwrap(),
        );
        assert_eq!(
            (a.mode, a.size, a.mtime.0),
            (b.mode, b.size, b.mtime.0),
            "{path}"
        );
    }
}

/// A tar built by hand, with entries a hostile layer could hold.
fn hostile_tar(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, ty, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*ty);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(if *ty == EntryType::Regular { 4 } else { 0 });
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..path.len()].copy_from_slice(path.as_bytes());
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        let data: &[u8] = if *ty == EntryType::Regular {
            b"evil"
        } else {
            b""
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn extraction_refuses_escapes() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "safe").unwrap();
    let victim_str = victim.to_str().unwrap().trim_start_matches('/').to_string();
    let up = format!("../../../../../../../..{}", victim.display());

    for bad in [
        hostile_tar(&[(&up, EntryType::Regular, "")]),
        hostile_tar(&[(&format!("/{victim_str}"), EntryType::Regular, "")]),
        hostile_tar(&[("l", EntryType::Link, &up)]),
    ] {
        let root = tempfile::tempdir().unwrap();
        let err =
            extract_layer(bad.as_slice(), root.path(), &ExtractOptions::default()).unwrap_err();
        assert!(matches!(err, Error::UnsafeEntry { .. }), "{err}");
    }
    // A symlink to / followed by a write through it lands inside the root.
    let root = tempfile::tempdir().unwrap();
    let through = format!("escape/{victim_str}");
    let tar = hostile_tar(&[
        ("escape", EntryType::Symlink, "/"),
        (&through, EntryType::Regular, ""),
    ]);
    extract_layer(tar.as_slice(), root.path(), &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "safe");
    assert_eq!(
        fs::read_to_string(root.path().join(&victim_str)).unwrap(),
        "evil"
    );
    // So does a whiteout through it.
    let wh = format!(
        "escape/{}/.wh.victim",
        outside.path().to_str().unwrap().trim_start_matches('/')
    );
    let tar = hostile_tar(&[(&wh, EntryType::Regular, "")]);
    extract_layer(tar.as_slice(), root.path(), &ExtractOptions::default()).unwrap();
    assert!(victim.exists());

    // A directory whose ancestor a later entry turns into a symlink out of the root: its time,
    // set at the end, stays inside (`x -> .` makes `x/y` replace the directory `y`).
    let canary = outside.path().join("sub");
    fs::create_dir(&canary).unwrap();
    let before = fs::metadata(&canary).unwrap().mtime();
    let root = tempfile::tempdir().unwrap();
    let out = outside.path().to_str().unwrap().to_string();
    let tar = hostile_tar(&[
        ("y/", EntryType::Directory, ""),
        ("y/sub/", EntryType::Directory, ""),
        ("x", EntryType::Symlink, "."),
        ("x/y", EntryType::Symlink, &out),
    ]);
    extract_layer(tar.as_slice(), root.path(), &ExtractOptions::default()).unwrap();
    assert_eq!(fs::metadata(&canary).unwrap().mtime(), before);
    assert_ne!(before, 0);
}

#[test]
fn copy_layer_is_built_from_host_paths() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "app.py", "print('hi')\n");
    write(src.path(), "lib/util.py", "x = 1\n");
    chmod(src.path(), "lib/util.py", 0o600);
    symlink("app.py", src.path().join("main.py")).unwrap();
    let e = |source: Option<&str>, dest: &str, mode: Option<u32>| CopyEntry {
        source: source.map(|s| src.path().join(s)),
        dest: dest.into(),
        uid: 1000,
        gid: 1000,
        mode,
    };
    let entries = vec![
        e(Some("main.py"), "/srv/app/main.py", None),
        e(Some("app.py"), "/srv/app/app.py", Some(0o755)),
        e(None, "/srv", None),
        e(None, "/srv/app", None),
        e(Some("lib"), "/srv/app/lib", None),
        e(Some("lib/util.py"), "/srv/app/lib/util.py", None),
    ];
    let opts = LayerOptions {
        source_date_epoch: Some(0),
    };
    let (d, tar) = write_copy_layer(&entries, Vec::new(), &opts).unwrap();
    assert_eq!(d.size, tar.len() as u64);
    assert_eq!(
        listing(&tar),
        vec![
            "srv/ dir 0755 1000:1000",
            "srv/app/ dir 0755 1000:1000",
            "srv/app/app.py file 0755 1000:1000 size=12",
            "srv/app/lib/ dir 0755 1000:1000",
            "srv/app/lib/util.py file 0600 1000:1000 size=6",
            "srv/app/main.py symlink 0777 1000:1000 -> app.py",
        ]
    );
    // Same inputs, same digest.
    let (d2, _) = write_copy_layer(&entries, Vec::new(), &opts).unwrap();
    assert_eq!(d, d2);
}

#[test]
fn parallel_walk_matches_a_single_thread_walk() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        for j in 0..20 {
            write(dir.path(), &format!("d{i}/e{j}/f"), "x");
        }
    }
    let one = Snapshot::take_with_threads(dir.path(), 1).unwrap();
    let many = Snapshot::take_with_threads(dir.path(), 8).unwrap();
    assert_eq!(one.len(), 50 + 50 * 20 * 2);
    assert_eq!(one.entries, many.entries);
}

#[test]
fn corrupt_layers_are_errors_not_panics_and_stay_inside() {
    let src = tempfile::tempdir().unwrap();
    base_tree(src.path());
    symlink("/", src.path().join("up")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (none, all) = (
        Snapshot::take(empty.path()).unwrap(),
        Snapshot::take(src.path()).unwrap(),
    );
    let (_, tar) = layer_of(&none, &all, &LayerOptions::default());
    let outside = tempfile::tempdir().unwrap();
    let mut seed: u32 = 7;
    for round in 0..200 {
        let mut bad = tar.clone();
        if round % 2 == 0 {
            bad.truncate((round * 37) % tar.len());
        }
        for _ in 0..4 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (seed as usize >> 4) % bad.len().max(1);
            if let Some(b) = bad.get_mut(i) {
                *b = (seed >> 16) as u8;
            }
        }
        let root = tempfile::tempdir().unwrap();
        let _ = extract_layer(bad.as_slice(), root.path(), &ExtractOptions::default());
    }
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn copy_layer_keeps_the_last_duplicate_and_links_hardlinks() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a", "first");
    write(src.path(), "b", "second");
    fs::hard_link(src.path().join("a"), src.path().join("a2")).unwrap();
    let e = |s: &str, d: &str| CopyEntry {
        source: Some(src.path().join(s)),
        dest: d.into(),
        uid: 0,
        gid: 0,
        mode: None,
    };
    let entries = [
        e("a", "x/one"),
        e("a2", "x/two"),
        e("a", "dup"),
        e("b", "dup"),
    ];
    let (_, tar) = write_copy_layer(&entries, Vec::new(), &LayerOptions::default()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let got: Vec<(String, EntryType, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                h.entry_type(),
                h.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("dup".to_string(), EntryType::Regular, 6),
            ("x/one".into(), EntryType::Regular, 5),
            ("x/two".into(), EntryType::Link, 0),
        ]
    );
}

#[test]
fn gnu_tar_reads_our_layers() {
    if !Path::new("/usr/bin/tar").exists() || !is_root() {
        skip("needs GNU tar at /usr/bin/tar and root");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let before = Snapshot::take(src.path()).unwrap();
    let long = format!("{}/{}", "d".repeat(90), "f".repeat(120));
    write(src.path(), &long, "long\n");
    write(src.path(), "caps", "elf");
    xattr::set(src.path().join("caps"), "user.origin", b"bale").unwrap();
    symlink("t".repeat(150), src.path().join("s")).unwrap();
    // chown clears setgid, so it goes first.
    std::os::unix::fs::chown(src.path().join("caps"), Some(3_000_000), Some(3_000_001)).unwrap();
    chmod(src.path(), "caps", 0o2755);
    let after = Snapshot::take(src.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tar_path = out.path().join("layer.tar");
    write_diff_layer(
        &before,
        &after,
        fs::File::create(&tar_path).unwrap(),
        &LayerOptions::default(),
    )
    .unwrap();
    let dest = out.path().join("x");
    fs::create_dir(&dest).unwrap();
    let status = std::process::Command::new("/usr/bin/tar")
        .args(["--xattrs", "--xattrs-include=*", "--same-owner", "-xpf"])
        .arg(&tar_path)
        .arg("-C")
        .arg(&dest)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read_to_string(dest.join(&long)).unwrap(), "long\n");
    assert_eq!(
        fs::read_link(dest.join("s")).unwrap(),
        Path::new(&"t".repeat(150))
    );
    let m = fs::metadata(dest.join("caps")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (3_000_000, 3_000_001, 0o2755)
    );
    assert_eq!(
        xattr::get(dest.join("caps"), "user.origin")
            .unwrap()
            .unwrap(),
        b"bale"
    );
}

#[test]
fn an_overlay_upper_directory_becomes_a_layer_with_whiteouts() {
    if !is_root() {
        return skip("whiteout devices and trusted.* xattrs need root");
    }
    let d = tempfile::tempdir().unwrap();
    let upper = d.path();
    write(upper, "etc/passwd", "root\n");
    fs::create_dir_all(upper.join("home/app")).unwrap();
    write(upper, "home/app/new", "x");
    // What overlayfs writes for a deleted file and for a directory that replaced one.
    let gone = std::ffi::CString::new(upper.join("etc/shadow").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path; mknod of a 0/0 character device, as overlayfs does.
    assert_eq!(unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR, 0) }, 0);
    xattr::set(upper.join("home/app"), "trusted.overlay.opaque", b"y").unwrap();
    xattr::set(upper.join("etc"), "trusted.overlay.origin", b"\x00\x01").unwrap();

    let snap = Snapshot::take(upper).unwrap();
    let diff = crate::snapshot::diff_overlay_upper(&snap).unwrap();
    let mut tar = Vec::new();
    write_layer_from_diff(&diff, &snap, &mut tar, &LayerOptions::default()).unwrap();
    let names: Vec<String> = listing(&tar)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "etc/",
            "etc/.wh.shadow",
            "etc/passwd",
            "home/",
            "home/app/",
            "home/app/.wh..wh..opq",
            "home/app/new",
        ]
    );
    // overlayfs's own attributes never reach the layer.
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let key = ext.unwrap().key().unwrap().to_string();
                assert!(!key.contains("trusted.overlay"), "{key}");
            }
        }
    }
}
