//! `bale parse`: every fixture under `fixtures/parse` against its golden output, the text
//! listing, standard input, and the shape of a rejected file's error.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::util::{Env, fixture, run_fail, run_ok};

/// Runs `bale parse ARGS` inside `dir`, so the file is named as given.
fn parse_in(env: &Env, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = env.bale(["parse"].iter().chain(args));
    cmd.current_dir(dir);
    cmd
}

#[test]
fn every_fixture_matches_its_golden_output() {
    let env = Env::new();
    let mut checked = 0;
    let mut cases: Vec<_> = std::fs::read_dir(fixture("parse"))
        .expect("fixtures/parse exists")
        .map(|e| e.expect("readable fixture entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for dir in cases {
        let json = dir.join("expected.json");
        let err = dir.join("expected.err");
        if json.is_file() {
            let out = run_ok(&mut parse_in(
                &env,
                &dir,
                &["--format", "json", "Dockerfile"],
            ));
            let expected = std::fs::read_to_string(&json).expect("golden JSON");
            assert_eq!(out, expected, "{}", dir.display());
            // The output is one JSON object with the contract's two keys.
            let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
            assert!(v["directives"].is_object() && v["instructions"].is_array());
        } else if err.is_file() {
            let stderr = run_fail(
                &mut parse_in(&env, &dir, &["--format", "json", "Dockerfile"]),
                1,
            );
            let expected = std::fs::read_to_string(&err).expect("golden error");
            assert_eq!(stderr, expected, "{}", dir.display());
        } else {
            panic!(
                "{} has neither expected.json nor expected.err",
                dir.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures found");
}

#[test]
fn text_listing_shows_directives_lines_flags_args_and_heredocs() {
    let env = Env::new();
    let path = env.path("Dockerfile");
    std::fs::write(
        &path,
        "# syntax=docker/dockerfile:1\nFROM --platform=linux/amd64 alpine AS base\nRUN echo a \\\n  b\nCMD [\"sh\", \"-c\"]\nONBUILD RUN <<EOF\nhi\nEOF\n",
    )
    .expect("write Dockerfile");
    let out = run_ok(&mut env.bale(["parse", path.to_str().expect("UTF-8 path")]));
    assert_eq!(
        out,
        concat!(
            "# syntax=docker/dockerfile:1  (line 1)\n",
            "2        FROM [\"--platform=linux/amd64\"] \"alpine\" \"AS\" \"base\"\n",
            "3-4      RUN \"echo a   b\"\n",
            "5        CMD exec \"sh\" \"-c\"\n",
            "6-8      ONBUILD (RUN \"<<EOF\")\n",
            "         <<EOF (expand)\n",
            "         | hi\n",
        )
    );
    // `--format text` is the default.
    let explicit = run_ok(&mut env.bale(["parse", "--format", "text", path.to_str().unwrap()]));
    assert_eq!(explicit, out);
}

#[test]
fn reads_standard_input_with_a_dash() {
    let env = Env::new();
    let mut child = env
        .bale(["parse", "--format=json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bale");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"FROM scratch\nCOPY a /b\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("bale finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["instructions"][1]["instruction"], "COPY");
    assert_eq!(v["instructions"][1]["args"], serde_json::json!(["a", "/b"]));

    // Errors name standard input as `<stdin>`.
    let mut child = env
        .bale(["parse", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bale");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"FROM scratch\nENV ONLYKEY\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("bale finishes");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(
        stderr.starts_with("<stdin>:2:5: ENV must have two arguments"),
        "{stderr}"
    );
}

#[test]
fn rejected_file_prints_location_source_line_and_caret() {
    let env = Env::new();
    std::fs::write(env.path("Dockerfile"), "FROM alpine\n\tCMD [\"a\", {}]\n").expect("write");
    let stderr = run_fail(&mut env.bale(["parse", "Dockerfile"]), 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "Dockerfile:2:6: when using JSON array syntax, arrays must be comprised of strings only; quote every element",
            "   2 | \tCMD [\"a\", {}]",
            "     | \t    ^",
        ]
    );
}

#[test]
fn missing_file_is_a_plain_error() {
    let env = Env::new();
    let stderr = run_fail(&mut env.bale(["parse", "no-such-Dockerfile"]), 1);
    assert!(
        stderr.starts_with("Error: cannot read no-such-Dockerfile"),
        "{stderr}"
    );
}

#[test]
fn warnings_go_to_stderr() {
    let env = Env::new();
    std::fs::write(env.path("Dockerfile"), "FROM a\nRUN x \\\n\n  y\n").expect("write");
    let out = crate::util::run(&mut env.bale(["parse", "--format", "json", "Dockerfile"]));
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(
        stderr,
        "warning: Dockerfile:3: Empty continuation line found in: RUN x   y\n"
    );
}
