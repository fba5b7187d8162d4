//! Measures how fast a RUN's changes become a layer: 1 GiB in 20,000 files is written into a
//! fresh directory (as a RUN would), then the after-snapshot, the diff and the layer tar (to a
//! file beside it, and to nowhere) are timed. The snapshot walk alone is timed with 1 to 8
//! threads. (A snapshot includes waiting for the next clock tick, up to 10 ms.)
//!
//!     cargo run -p bale-builder --example layer_throughput [DIR]

use std::fs;
use std::io::Write;
use std::time::Instant;

use bale_builder::layer::{LayerOptions, write_layer_from_diff};
use bale_builder::snapshot::{Snapshot, diff};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let work = tempfile::tempdir_in(&base)?;
    let root = work.path().join("rootfs");
    fs::create_dir(&root)?;
    const FILES: usize = 20_000;
    const TOTAL: usize = 1 << 30;
    let size = TOTAL / FILES;
    let mut content = vec![0u8; size];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in content.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }

    let before = Snapshot::take(&root)?;
    for i in 0..FILES {
        let dir = root.join(format!("d{:03}", i % 200));
        fs::create_dir_all(&dir)?;
        content[0] = i as u8;
        content[1] = (i >> 8) as u8;
        fs::File::create(dir.join(format!("f{i}")))?.write_all(&content)?;
    }
    let total_mb = (FILES * size) as f64 / 1e6;

    for threads in [1, 2, 4, 8] {
        let t = Instant::now();
        let s = Snapshot::take_with_threads(&root, threads)?;
        println!(
            "snapshot of {} entries with {threads} threads: {:.0} ms",
            s.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    for (label, to_file) in [("to a file", true), ("to nowhere", false)] {
        let t = Instant::now();
        let after = Snapshot::take(&root)?;
        let t_walk = t.elapsed();
        let changes = diff(&before, &after);
        let (digest, secs) = if to_file {
            let out = fs::File::create(work.path().join("layer.tar"))?;
            let (d, _) = write_layer_from_diff(&changes, &after, out, &LayerOptions::default())?;
            (d, t.elapsed().as_secs_f64())
        } else {
            let (d, _) =
                write_layer_from_diff(&changes, &after, std::io::sink(), &LayerOptions::default())?;
            (d, t.elapsed().as_secs_f64())
        };
        println!(
            "{label}: {} entries, {:.0} MB of content, walk {:.0} ms, total {:.2} s: {:.0} MB/s ({})",
            changes.changes.len(),
            total_mb,
            t_walk.as_secs_f64() * 1e3,
            secs,
            total_mb / secs,
            &digest.diff_id[..19],
        );
    }
    Ok(())
}
