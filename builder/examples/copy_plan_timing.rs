//! Times a COPY of a 10,000-file context: the plan, the content digest on a cold and on a warm
//! hash memo, and the layer. Run with `cargo run --release -p bale-builder --example
//! copy_plan_timing`; CPU time is printed because wall time on a loaded machine says little.

use std::time::{Duration, Instant};

fn cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

use bale_builder::context::ContextHasher;
use bale_builder::copy::{CopyPlan, CopyRequest, CopySource, EmptyDest, SourceRoot};
use bale_builder::dockerignore::Dockerignore;
use bale_builder::layer::LayerOptions;

fn main() {
    let ctx = tempfile::tempdir().unwrap();
    for d in 0..100 {
        let dir = ctx.path().join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f}.txt")), vec![b'x'; 4096]).unwrap();
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("h.json");
    let req = CopyRequest::new(vec![CopySource::Path(".".into())], "/app/");
    let root = SourceRoot::context(ctx.path(), Dockerignore::default()).unwrap();
    for round in 0..3 {
        let h = ContextHasher::open(&file);
        let t = cpu();
        let plan = CopyPlan::new(&req, &root, &EmptyDest).unwrap();
        let t_plan = cpu() - t;
        let d = plan.content_digest(&h, "k").unwrap();
        let t_digest = cpu() - t;
        h.save().unwrap();
        println!(
            "round {round}: cpu: plan {:?}, plan+digest {:?}, files read {}, {}",
            t_plan,
            t_digest,
            h.files_read(),
            &d.digest[..19]
        );
        if round == 2 {
            let t = Instant::now();
            let out = std::fs::File::create(cache.path().join("layer.tar")).unwrap();
            let l = plan
                .write_layer(out, &LayerOptions::default())
                .unwrap()
                .unwrap();
            println!("layer {} bytes in {:?}", l.size, t.elapsed());
        }
    }
}
