//! `bale debug expand --batch` against BuildKit's shell-lexer test data, through
//! `../shared/conformance/check_shell.py`.

use std::process::Command;

use crate::util;

#[test]
fn shell_lexer_matches_buildkit_test_data() {
    let Some(dir) = util::conformance_dir() else {
        eprintln!("skipped: ../shared/conformance is missing, no shell conformance data to run");
        return;
    };
    if !util::have("python3") {
        util::skip("python3 is not installed; the conformance checker needs it");
        return;
    }
    let out = Command::new("python3")
        .arg(dir.join("check_shell.py"))
        .arg(util::bale_bin())
        .arg("-q")
        .output()
        .expect("run check_shell.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shell conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "unexpected checker output:\n{stdout}"
    );
}
