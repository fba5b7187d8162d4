//! Measures `build --output type=tar` and `type=local`: an image of two layers, 512 MiB in
//! 10,000 files and a second layer that whites out a tenth of them and rewrites another tenth,
//! is flattened to nowhere, to a file, and extracted into a directory, and the peak RSS is
//! read after each.
//!
//!     cargo run --release -p bale-image --example flatten_throughput [DIR]

use std::io::{self, Write};
use std::time::Instant;

use bale_image::export::{export_local, flatten};
use bale_image::{ImageConfig, Reference, Store, manifest};

const FILES: usize = 10_000;
const TOTAL: usize = 512 << 20;

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let work = tempfile::tempdir_in(&base)?;
    let store = Store::open(work.path().join("store"))?;
    let size = TOTAL / FILES;
    let mut content = vec![0u8; size];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in content.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }

    let lease = store.lease()?;
    let mut layers = Vec::new();
    for second in [false, true] {
        let mut w = lease.blob_writer()?;
        {
            let mut tar = tar::Builder::new(&mut w);
            for d in 0..100 {
                let mut h = header(tar::EntryType::Directory, 0);
                tar.append_data(&mut h, format!("d{d:03}"), io::empty())?;
            }
            for i in 0..FILES {
                let name = format!("d{:03}/f{i}", i % 100);
                match (second, i % 10) {
                    (false, _) | (true, 1) => {
                        content[0] = i as u8;
                        let mut h = header(tar::EntryType::Regular, size as u64);
                        tar.append_data(&mut h, name, &content[..])?;
                    }
                    (true, 0) => {
                        let mut h = header(tar::EntryType::Regular, 0);
                        let wh = format!("d{:03}/.wh.f{i}", i % 100);
                        tar.append_data(&mut h, wh, io::empty())?;
                    }
                    _ => {}
                }
            }
            tar.finish()?;
        }
        layers.push(w.commit(None)?);
    }
    let mut config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ImageConfig::default()
    };
    config.rootfs.diff_ids = layers.iter().map(|(d, _)| d.clone()).collect();
    let bytes = config.to_vec();
    let config_digest = lease.put_blob(&bytes, None)?;
    let m = manifest::build((&config_digest, bytes.len() as u64), &layers);
    let image = lease.commit_image(&m, &[Reference::parse_tagged("flat:1")?])?;
    drop(lease);
    let input: u64 = layers.iter().map(|(_, s)| s).sum();
    println!(
        "image: {} MiB in 2 layers, {FILES} files (peak RSS so far {} MiB)",
        input >> 20,
        peak_rss_mib()
    );

    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let t = Instant::now();
    let mut sink = Count(0);
    flatten(&store, &image, &mut sink)?;
    let dt = t.elapsed().as_secs_f64();
    println!(
        "tar to a sink: {} MiB out in {dt:.2}s, {:.0} MiB/s of layers read (peak RSS {} MiB)",
        sink.0 >> 20,
        (input >> 20) as f64 / dt,
        peak_rss_mib()
    );

    let t = Instant::now();
    let file = std::fs::File::create(work.path().join("rootfs.tar"))?;
    flatten(&store, &image, io::BufWriter::with_capacity(1 << 20, file))?;
    let dt = t.elapsed().as_secs_f64();
    println!(
        "tar to a file: {dt:.2}s, {:.0} MiB/s (peak RSS {} MiB)",
        (input >> 20) as f64 / dt,
        peak_rss_mib()
    );
    std::fs::remove_file(work.path().join("rootfs.tar"))?;

    let t = Instant::now();
    export_local(&store, &image, &work.path().join("rootfs"))?;
    let dt = t.elapsed().as_secs_f64();
    println!(
        "local: {dt:.2}s, {:.0} MiB/s (peak RSS {} MiB)",
        (input >> 20) as f64 / dt,
        peak_rss_mib()
    );
    Ok(())
}
