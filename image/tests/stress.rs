//! Eight processes tag, untag and remove, load and import, and prune against one store at the
//! same time; afterwards the store must be consistent (`check` finds nothing) and every name must
//! resolve to the image that lists it.
//!
//! This is a `harness = false` test: the same binary is the orchestrator and, re-executed with
//! `worker ROLE ROOT SECONDS`, each worker. `BALE_STRESS_SECS` sets how long the workers run
//! (5 seconds by default, to keep the suite fast; a minute finds rarer interleavings).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bale_image::archive::import::{ImportOptions, import};
use bale_image::archive::load::load;
use bale_image::archive::save::{SaveItem, save};
use bale_image::{Error, Reference, Store};

const NAMES: [&str; 6] = ["a", "b:1", "b:2", "c", "localhost:5000/d", "e/f:x"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("stress: test");
        return;
    }
    if args.get(1).map(String::as_str) == Some("worker") {
        let secs: u64 = args[4].parse().expect("seconds");
        worker(&args[2], Path::new(&args[3]), Duration::from_secs(secs));
        return;
    }
    let secs: u64 = std::env::var("BALE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    let store = Store::open(&root).expect("store");
    for (i, name) in NAMES.iter().enumerate() {
        import_small(&store, i as u64, name);
    }
    // An archive the loaders load again and again.
    let items: Vec<SaveItem> = ["a", "b:1"]
        .iter()
        .map(|n| {
            let image = store.resolve(n).expect("seeded");
            SaveItem {
                names: vec![Reference::parse_tagged(n).expect("name")],
                image,
            }
        })
        .collect();
    let archive = std::fs::File::create(root.join("../saved.tar")).expect("archive");
    save(&store, &items, std::io::BufWriter::new(archive)).expect("save");
    drop(store);

    let exe = std::env::current_exe().expect("own path");
    let started = Instant::now();
    let children: Vec<_> = ["tag", "tag", "rmi", "rmi", "load", "load", "prune", "prune"]
        .iter()
        .map(|role| {
            let child = Command::new(&exe)
                .args(["worker", role])
                .arg(&root)
                .arg(secs.to_string())
                .spawn()
                .expect("worker starts");
            (role, child)
        })
        .collect();
    for (role, mut child) in children {
        let status = child.wait().expect("worker runs");
        assert!(status.success(), "{role} worker failed: {status}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(secs + 60),
        "workers overran"
    );

    let store = Store::open(&root).expect("store");
    let report = store.check().expect("check runs");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let images = store.images().expect("images");
    for image in &images {
        for name in &image.names {
            let found = store
                .resolve(&name.to_string())
                .expect("every name resolves");
            assert_eq!(found.manifest_digest, image.manifest_digest, "{name}");
        }
    }
    // Nothing unreferenced survives a final collection, and the store is still whole.
    store.gc(true).expect("gc").expect("not skipped");
    let reachable = store.reachable().expect("reachable");
    let on_disk = std::fs::read_dir(root.join("blobs/sha256"))
        .expect("blobs")
        .count();
    assert_eq!(on_disk, reachable.len());
    assert!(store.check().expect("check").problems.is_empty());
    let leftovers = std::fs::read_dir(root.join("bale/tmp"))
        .expect("tmp")
        .count();
    assert_eq!(leftovers, 0, "temporary files left behind");
    println!(
        "stress: {} images after {secs} s, store consistent",
        images.len()
    );
}

/// Imports a tiny one-file image whose content depends on `seed`.
fn import_small(store: &Store, seed: u64, name: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    let data = format!("content {seed}");
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "file", data.as_bytes())
        .expect("tar");
    let bytes = tar.into_inner().expect("tar");
    let options = ImportOptions {
        source: "-".into(),
        names: vec![Reference::parse_tagged(name).expect("name")],
        ..ImportOptions::default()
    };
    import(store, &bytes[..], &options).expect("import");
}

/// xorshift, seeded per process.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Races lost to another worker (the image went away between two steps) are expected;
/// anything else fails the worker.
fn tolerate(result: Result<(), Error>) {
    match result {
        Ok(()) | Err(Error::NoSuchImage(_)) => {}
        Err(e) => {
            eprintln!("worker error: {e}");
            std::process::exit(1);
        }
    }
}

fn worker(role: &str, root: &Path, duration: Duration) {
    let store = Store::open(root).expect("store");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let mut rng = Rng(u64::from(std::process::id()) << 32 | u64::from(nanos) | 1);
    let deadline = Instant::now() + duration;
    let archive = root.join("../saved.tar");
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let name = Reference::parse_tagged(NAMES[rng.below(NAMES.len())]).expect("name");
        match role {
            "tag" => tolerate((|| {
                let images = store.images()?;
                if images.is_empty() {
                    return Ok(());
                }
                let image = &images[rng.below(images.len())];
                store.tag(image, &name).map(|_| ())
            })()),
            "rmi" => tolerate((|| {
                // docker's rmi: a name shared with others is only untagged; a last name takes
                // the image with it.
                let image = store.resolve(&name.to_string())?;
                if image.names.len() > 1 {
                    store.untag(&name)?;
                } else {
                    store.remove_image(&image.manifest_digest)?;
                }
                store.gc(false)?;
                Ok(())
            })()),
            "load" => {
                if n.is_multiple_of(2) {
                    let file = std::fs::File::open(&archive).expect("archive");
                    tolerate(load(&store, std::io::BufReader::new(file)).map(|_| ()));
                } else {
                    let seed = u64::from(std::process::id()) * 1_000_000 + n;
                    import_small(&store, seed, &name.to_string());
                }
            }
            "prune" => tolerate((|| {
                store.update(|ix| {
                    for entry in ix.entries() {
                        if entry.names.is_empty() {
                            ix.remove_manifest(&entry.digest);
                        }
                    }
                    Ok(())
                })?;
                store.gc(true)?;
                Ok(())
            })()),
            other => panic!("unknown role {other}"),
        }
    }
    let _ = writeln!(std::io::stderr(), "{role}: {n} operations");
}
