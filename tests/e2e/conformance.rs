//! BuildKit's own parser corpus (and any further suites present) in `../shared/conformance`,
//! checked by its `check_parser.py` against the real binary, with the semantic-negative cases
//! (files only the instruction layer rejects).

use std::process::Command;

use crate::util::{bale_bin, conformance_dir, run};

#[test]
fn parser_conformance_suites_pass() {
    let Some(dir) = conformance_dir() else {
        // The data lives beside the repository; CI always has it.
        eprintln!("skipped: ../shared/conformance is not present");
        return;
    };
    let out = run(Command::new("python3")
        .arg(dir.join("check_parser.py"))
        .arg(bale_bin())
        .args(["--suite", "buildkit,extras,realworld", "--semantic", "-q"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.ends_with(" 0 failed"),
        "check_parser.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
