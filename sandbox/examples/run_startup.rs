//! Measures what a RUN costs before and after the command itself: `true` is run 200 times in a
//! busybox rootfs, and the mean wall time per run is printed. The rootfs has the mount targets
//! (`/proc`, `/dev`, `/sys`, `/etc/hosts`, ...) as images exported by docker do, and is run
//! again without them, when the sandbox creates and removes them on each run. Needs root and
//! `/bin/busybox`.
//!
//!     cargo run -p bale-sandbox --example run_startup

use std::fs;
use std::os::unix::fs::symlink;
use std::time::Instant;

use bale_sandbox::{Network, Sandbox, SandboxSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("bale-startup-{}", std::process::id()));
    for d in ["bin", "etc", "tmp"] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::copy("/bin/busybox", dir.join("bin/busybox"))?;
    symlink("busybox", dir.join("bin/true"))?;
    fs::write(dir.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n")?;
    const RUNS: u32 = 200;
    for (targets, network) in [
        (true, Network::Host),
        (true, Network::None),
        (false, Network::Host),
    ] {
        for d in ["proc", "dev", "sys"] {
            if targets {
                fs::create_dir_all(dir.join(d))?;
            } else {
                fs::remove_dir(dir.join(d))?;
            }
        }
        for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
            if targets {
                fs::write(dir.join(f), "")?;
            } else {
                fs::remove_file(dir.join(f))?;
            }
        }
        let mut spec = SandboxSpec::new(&dir, ["/bin/true"]);
        spec.network = network;
        let start = Instant::now();
        for _ in 0..RUNS {
            assert!(Sandbox::run(&spec)?.success());
        }
        let per_run = start.elapsed().as_secs_f64() * 1e3 / f64::from(RUNS);
        let label = if targets {
            "present"
        } else {
            "created each run"
        };
        println!("network {network:?}, mount targets {label}: {per_run:.2} ms per run");
    }
    fs::remove_dir_all(&dir)?;
    Ok(())
}
