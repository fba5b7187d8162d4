//! The build cache through the library: a rebuild with nothing changed reads no file of the
//! context and reports every step cached; touching a file keeps that; changing one misses from
//! the first step that uses it and says which file changed. No RUN, so no root is needed.

use std::fs;

use bale_builder::build::{BuildOptions, build};
use bale_builder::progress::{Event, Recorder};
use bale_image::Store;

fn steps(events: &[Event]) -> Vec<(String, bool)> {
    let mut out: Vec<(usize, String, bool)> = Vec::new();
    for e in events {
        match e {
            Event::Start { id, name }
                if name.starts_with('[') && !name.starts_with("[internal]") =>
            {
                out.push((*id, name.clone(), false));
            }
            Event::Cached { id } => {
                if let Some(s) = out.iter_mut().find(|s| s.0 == *id) {
                    s.2 = true;
                }
            }
            _ => {}
        }
    }
    out.into_iter().map(|(_, n, c)| (n, c)).collect()
}

fn statuses(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Status { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn rebuild_reads_nothing_and_misses_say_which_file_changed() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path().join("store")).unwrap();
    let ctx = root.path().join("ctx");
    for i in 0..200 {
        let dir = ctx.join(format!("src/d{}", i % 10));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    fs::write(ctx.join("config.txt"), "v1\n").unwrap();
    let dockerfile =
        "FROM scratch\nCOPY src/ /app/src/\nENV MODE=release\nCOPY config.txt /app/\nLABEL x=y\n";
    let mut opts = BuildOptions::new(&ctx, dockerfile);
    opts.tags
        .push(bale_image::Reference::parse_tagged("cached:1").unwrap());

    let first = Recorder::default();
    let built = build(&store, &opts, &first).unwrap();
    assert!(built.files_read >= 201, "{}", built.files_read);
    assert!(steps(&first.events()).iter().all(|(_, c)| !c));

    // The hash cache skips files changed within its racy window; let them age.
    std::thread::sleep(std::time::Duration::from_millis(100));
    // This rebuild may still hash files written just before the first build.
    build(&store, &opts, &Recorder::default()).unwrap();
    let second = Recorder::default();
    let again = build(&store, &opts, &second).unwrap();
    assert_eq!(again.files_read, 0, "a rebuild reads no file content");
    assert_eq!(again.image.id, built.image.id);
    let s = steps(&second.events());
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s.iter().all(|(_, c)| *c), "{s:?}");

    // Touching keeps the cache.
    let f = fs::File::options()
        .write(true)
        .open(ctx.join("src/d3/f3.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    let touched = Recorder::default();
    let t = build(&store, &opts, &touched).unwrap();
    assert_eq!(t.image.id, built.image.id);
    assert_eq!(t.files_read, 1, "only the touched file is read again");

    // Changing one file misses from the first step that uses it, and says so.
    fs::write(ctx.join("config.txt"), "v2\n").unwrap();
    let changed = Recorder::default();
    let c = build(&store, &opts, &changed).unwrap();
    assert_ne!(c.image.id, built.image.id);
    let s = steps(&changed.events());
    assert_eq!(
        s.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        vec![true, false],
        "{s:?}"
    );
    assert!(
        statuses(&changed.events()).contains(&"cache miss: config.txt changed".to_string()),
        "{:?}",
        statuses(&changed.events())
    );
}
