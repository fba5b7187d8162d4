//! `bale parse` rejects what BuildKit's instruction layer rejects: every fixture under
//! `fixtures/parse-errors` must fail with status 1, its `expected.txt` as the first line of
//! stderr, then the source line and a caret under the column.

use crate::util::{Env, fixture, run_fail, run_ok};

#[test]
fn every_semantic_error_fixture_is_rejected_with_a_caret() {
    let env = Env::new();
    let mut cases: Vec<_> = std::fs::read_dir(fixture("parse-errors"))
        .expect("fixtures/parse-errors exists")
        .map(|e| e.expect("readable fixture entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "only {} fixtures found", cases.len());
    for dir in cases {
        let expected = std::fs::read_to_string(dir.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{}: expected.txt: {e}", dir.display()));
        let expected = expected.trim_end_matches('\n');
        let mut cmd = env.bale(["parse", "Dockerfile"]);
        cmd.current_dir(&dir);
        let stderr = run_fail(&mut cmd, 1);
        let mut lines = stderr.lines();
        assert_eq!(lines.next(), Some(expected), "{}", dir.display());
        // "Dockerfile:LINE:COL: ..." then "LINE | source" then "     | ^" under COL.
        let mut head = expected.splitn(4, ':');
        let line: usize = head.nth(1).and_then(|l| l.parse().ok()).expect("line");
        let column: usize = head.next().and_then(|c| c.parse().ok()).expect("column");
        let source = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
        let source_line = source.lines().nth(line - 1).expect("line in file");
        let shown = lines.next().expect("source line");
        assert!(shown.ends_with(&format!("| {source_line}")), "{shown:?}");
        let caret = lines.next().expect("caret line");
        let (_, after_bar) = caret.split_once("| ").expect("gutter");
        assert_eq!(
            after_bar,
            format!("{}^", " ".repeat(column - 1)),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn unknown_flags_and_maintainer_are_warnings_for_a_syntax_check() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM alpine\nMAINTAINER someone\nCOPY --frm=build /a /b\n",
    )
    .expect("write");
    let mut cmd = env.bale(["parse", "Dockerfile"]);
    cmd.current_dir(dir.path());
    let out = cmd.output().expect("runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: Dockerfile:2: MAINTAINER instruction is deprecated"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: Dockerfile:3: unknown flag: --frm (allowed: --from, --chown, --chmod, --link, --parents, --exclude)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_valid_multi_stage_file_still_parses() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Dockerfile"),
        concat!(
            "ARG BASE=alpine\n",
            "FROM --platform=$BUILDPLATFORM $BASE AS build\n",
            "RUN --mount=type=cache,target=/root/.cache --network=none make\n",
            "COPY --chmod=u+x,g-w --link --exclude=*.md . /src\n",
            "HEALTHCHECK --interval=1m30s --retries=3 CMD [\"true\"]\n",
            "FROM scratch\n",
            "COPY --from=build /out /\n",
        ),
    )
    .expect("write");
    let mut cmd = env.bale(["parse", "Dockerfile"]);
    cmd.current_dir(dir.path());
    let out = run_ok(&mut cmd);
    assert!(
        out.contains("FROM [\"--platform=$BUILDPLATFORM\"]"),
        "{out}"
    );
}
