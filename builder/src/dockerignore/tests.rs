//! moby/patternmatcher's test tables, ported, plus the ignore-file reader's rules.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pass {
    Fail,
    Exact,
    Inexact,
}
use Pass::*;

/// moby's `Matches` (deprecated there, kept for its tests): a file of `.` never matches.
fn matches(file: &str, patterns: &[&str]) -> Result<bool, (usize, String)> {
    let pm = PatternMatcher::new(patterns)?;
    let file = clean(file);
    if file == "." {
        return Ok(false);
    }
    Ok(pm.matches_or_parent_matches(&file))
}

#[test]
fn simple_cases() {
    assert!(matches("fileutils.go", &["*"]).unwrap());
    assert!(matches("fileutils.go", &["*.go"]).unwrap());
    assert!(matches("fileutils.go", &["!fileutils.go", "*.go"]).unwrap());
    assert!(!matches("docs/README.md", &["docs", "!docs/README.md"]).unwrap());
    assert!(!matches("docs/README.md", &["docs/", "!docs/README.md"]).unwrap());
    assert!(!matches("docs/README.md", &["docs/*", "!docs/README.md"]).unwrap());
    assert!(!matches("fileutils.go", &["*.go", "!fileutils.go"]).unwrap());
    assert!(!matches(".", &["*.go"]).unwrap());
    assert!(matches("fileutils.go", &["!"]).is_err());
    assert!(!matches("/any/path/there", &[]).unwrap());
    assert!(matches("/any/path/there", &["["]).is_err());
}

const TESTS: &[(&str, &str, Pass)] = &[
    ("**", "file", Exact),
    ("**", "file/", Exact),
    ("**/", "file", Exact),
    ("**/", "file/", Exact),
    ("**", "/", Exact),
    ("**/", "/", Exact),
    ("**", "dir/file", Exact),
    ("**/", "dir/file", Exact),
    ("**", "dir/file/", Exact),
    ("**/", "dir/file/", Exact),
    ("**/**", "dir/file", Exact),
    ("**/**", "dir/file/", Exact),
    ("dir/**", "dir/file", Exact),
    ("dir/**", "dir/file/", Exact),
    ("dir/**", "dir/dir2/file", Exact),
    ("dir/**", "dir/dir2/file/", Exact),
    ("**/dir", "dir", Exact),
    ("**/dir", "dir/file", Inexact),
    ("**/dir2/*", "dir/dir2/file", Exact),
    ("**/dir2/*", "dir/dir2/file/", Inexact),
    ("**/dir2/**", "dir/dir2/dir3/file", Exact),
    ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
    ("**file", "file", Exact),
    ("**file", "dir/file", Exact),
    ("**/file", "dir/file", Exact),
    ("**file", "dir/dir/file", Exact),
    ("**/file", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file.txt", Exact),
    ("**/file*txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt*", "dir/dir/file.txt", Exact),
    ("**/**/*.txt", "dir/dir/file.txt", Exact),
    ("**/**/*.txt2", "dir/dir/file.txt", Fail),
    ("**/*.txt", "file.txt", Exact),
    ("**/**/*.txt", "file.txt", Exact),
    ("a**/*.txt", "a/file.txt", Exact),
    ("a**/*.txt", "a/dir/file.txt", Exact),
    ("a**/*.txt", "a/dir/dir/file.txt", Exact),
    ("a/*.txt", "a/dir/file.txt", Fail),
    ("a/*.txt", "a/file.txt", Exact),
    ("a/*.txt**", "a/file.txt", Exact),
    ("a[b-d]e", "ae", Fail),
    ("a[b-d]e", "ace", Exact),
    ("a[b-d]e", "aae", Fail),
    ("a[^b-d]e", "aze", Exact),
    (".*", ".foo", Exact),
    (".*", "foo", Fail),
    ("abc.def", "abcdef", Fail),
    ("abc.def", "abc.def", Exact),
    ("abc.def", "abcZdef", Fail),
    ("abc?def", "abcZdef", Exact),
    ("abc?def", "abcdef", Fail),
    ("**/foo/bar", "foo/bar", Exact),
    ("**/foo/bar", "dir/foo/bar", Exact),
    ("**/foo/bar", "dir/dir2/foo/bar", Exact),
    ("abc/**", "abc", Fail),
    ("abc/**", "abc/def", Exact),
    ("abc/**", "abc/def/ghi", Exact),
    ("**/.foo", ".foo", Exact),
    ("**/.foo", "bar.foo", Fail),
    ("a(b)c/def", "a(b)c/def", Exact),
    ("a(b)c/def", "a(b)c/xyz", Fail),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    ("a\\\\", "a\\", Exact),
    ("a\\*b", "a*b", Exact),
];

const MULTI: &[(&[&str], &str, Pass)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", Fail),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        Exact,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Fail,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Fail,
    ),
];

#[test]
fn matches_exact_table() {
    for &(pattern, text, pass) in TESTS {
        let pm = PatternMatcher::new(&[pattern]).unwrap();
        assert_eq!(
            pm.matches_exact(text),
            pass == Exact,
            "pattern={pattern:?} text={text:?}"
        );
    }
}

#[test]
fn matches_or_parent_matches_table() {
    for &(pattern, text, pass) in TESTS {
        let pm = PatternMatcher::new(&[pattern]).unwrap();
        assert_eq!(
            pm.matches_or_parent_matches(text),
            pass != Fail,
            "pattern={pattern:?} text={text:?}"
        );
    }
    for &(patterns, text, pass) in MULTI {
        let pm = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            pm.matches_or_parent_matches(text),
            pass != Fail,
            "patterns={patterns:?} text={text:?}"
        );
    }
}

#[test]
fn clean_patterns() {
    let pm = PatternMatcher::new(&["docs", "config", ""]).unwrap();
    assert_eq!(pm.patterns.len(), 2);
    assert!(!pm.has_exclusions());
    for p in [
        &["docs", "!docs/README.md"][..],
        &["docs", "  !docs/README.md"],
        &["docs", "!docs/README.md  "],
    ] {
        assert!(PatternMatcher::new(p).unwrap().has_exclusions(), "{p:?}");
    }
    assert!(PatternMatcher::new(&["!"]).is_err());
}

/// Go's `filepath.Match` table, through moby's `Matches`.
const MATCH_TESTS: &[(&str, &str, bool, bool)] = &[
    // (pattern, text, matches, is a bad pattern)
    ("abc", "abc", true, false),
    ("*", "abc", true, false),
    ("*c", "abc", true, false),
    ("a*", "a", true, false),
    ("a*", "abc", true, false),
    ("a*", "ab/c", true, false),
    ("a*/b", "abc/b", true, false),
    ("a*/b", "a/c/b", false, false),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
    ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
    ("ab[c]", "abc", true, false),
    ("ab[b-d]", "abc", true, false),
    ("ab[e-g]", "abc", false, false),
    ("ab[^c]", "abc", false, false),
    ("ab[^b-d]", "abc", false, false),
    ("ab[^e-g]", "abc", true, false),
    ("a\\*b", "a*b", true, false),
    ("a\\*b", "ab", false, false),
    ("a?b", "a☺b", true, false),
    ("a[^a]b", "a☺b", true, false),
    ("a???b", "a☺b", false, false),
    ("a[^a][^a][^a]b", "a☺b", false, false),
    ("[a-ζ]*", "α", true, false),
    ("*[a-ζ]", "A", false, false),
    ("a?b", "a/b", false, false),
    ("a*b", "a/b", false, false),
    ("[\\]a]", "]", true, false),
    ("[\\-]", "-", true, false),
    ("[x\\-]", "x", true, false),
    ("[x\\-]", "-", true, false),
    ("[x\\-]", "z", false, false),
    ("[\\-x]", "x", true, false),
    ("[\\-x]", "-", true, false),
    ("[\\-x]", "a", false, false),
    ("[]a]", "]", false, true),
    ("[-]", "-", false, true),
    ("[x-]", "x", false, true),
    ("[x-]", "-", false, true),
    ("[x-]", "z", false, true),
    ("[-x]", "x", false, true),
    ("[-x]", "-", false, true),
    ("[-x]", "a", false, true),
    ("\\", "a", false, true),
    ("[a-b-c]", "a", false, true),
    ("[", "a", false, true),
    ("[^", "a", false, true),
    ("[^bc", "a", false, true),
    ("a[", "a", false, true),
    ("a[", "ab", false, true),
    ("*x", "xxx", true, false),
];

#[test]
fn go_filepath_match_table() {
    for &(pattern, text, want, bad) in MATCH_TESTS {
        match matches(text, &[pattern]) {
            Ok(got) => {
                assert!(!bad, "pattern {pattern:?} should be refused");
                assert_eq!(got, want, "pattern={pattern:?} text={text:?}");
            }
            Err(_) => assert!(bad, "pattern {pattern:?} refused: {text:?}"),
        }
    }
}

#[test]
fn compile_table() {
    use MatchType::*;
    let table: &[(&str, MatchType, &str)] = &[
        ("*", Regexp, "^[^/]*$"),
        ("file*", Regexp, "^file[^/]*$"),
        ("*file", Regexp, "^[^/]*file$"),
        ("a*/b", Regexp, "^a[^/]*/b$"),
        ("**", Suffix, ""),
        ("**/**", Regexp, "^(.*/)?.*$"),
        ("dir/**", Prefix, ""),
        ("**/dir", Suffix, ""),
        ("**/dir2/*", Regexp, "^(.*/)?dir2/[^/]*$"),
        ("**/dir2/**", Regexp, "^(.*/)?dir2/.*$"),
        ("**file", Suffix, ""),
        ("**/file*txt", Regexp, "^(.*/)?file[^/]*txt$"),
        ("**/**/*.txt", Regexp, "^(.*/)?(.*/)?[^/]*\\.txt$"),
        ("a[b-d]e", Regexp, "^a[b-d]e$"),
        (".*", Regexp, "^\\.[^/]*$"),
        ("abc.def", Exact, ""),
        ("abc?def", Regexp, "^abc[^/]def$"),
        ("**/foo/bar", Suffix, ""),
        ("a(b)c/def", Exact, ""),
        ("a.|)$(}+{bc", Exact, ""),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
            "",
        ),
    ];
    for &(pattern, kind, re) in table {
        let p = Pattern::compile(clean(pattern), false).unwrap();
        assert_eq!(p.match_type, kind, "{pattern}");
        if kind == Regexp {
            assert_eq!(p.regexp.unwrap().as_str(), re, "{pattern}");
        }
    }
}

#[test]
fn a_class_valid_for_go_but_not_as_a_regexp_is_refused() {
    // moby/moby#52203: `[Local-Only]` passes Go's syntax check (l-O is a reversed range) but
    // does not compile; refusing it up front gives the line number instead of a failed build.
    let err = Dockerignore::parse("ok\n[Local-Only]/\n", Path::new(".dockerignore")).unwrap_err();
    assert_eq!(
        err.to_string(),
        ".dockerignore:2: invalid pattern \"[Local-Only]\": syntax error in pattern"
    );
}

#[test]
fn ignore_file_reading_rules() {
    let text = "\u{feff}# comment\n\n  node_modules  \n/abs/path\n./rel/../other\n! keep.txt\n \
                # not a comment (leading space)\n!/x/\n";
    let got: Vec<String> = read_patterns(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        got,
        vec![
            "node_modules",
            "abs/path",
            "other",
            "!keep.txt",
            "# not a comment (leading space)",
            "!x"
        ]
    );
    let lines: Vec<usize> = read_patterns(text).into_iter().map(|(l, _)| l).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8]);
}

#[test]
fn exceptions_reinclude_files_under_excluded_dirs_and_last_match_wins() {
    let di = Dockerignore::parse(
        "*.md\n!README.md\nbuild\n!build/keep/**\nsecret*\n**/*.tmp\n",
        Path::new(".dockerignore"),
    )
    .unwrap();
    assert!(di.is_excluded("notes.md"));
    assert!(!di.is_excluded("README.md"));
    assert!(di.is_excluded("docs/x.tmp"));
    assert!(di.is_excluded("build"));
    assert!(di.is_excluded("build/out.o"));
    assert!(!di.is_excluded("build/keep/a/b"));
    assert!(di.may_reinclude_below());
    assert!(di.is_excluded("secret.txt"));
    assert!(!di.is_excluded("sub/secret.txt"));
    assert!(!di.is_excluded("."));
    // `--exclude` patterns come last and win.
    let more = di.with_excludes(&["README.md"]).unwrap();
    assert!(more.is_excluded("README.md"));
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "a\n").unwrap();
    let df = ctx.path().join("build.Dockerfile");
    std::fs::write(&df, "FROM scratch\n").unwrap();
    let di = Dockerignore::for_build(ctx.path(), Some(&df)).unwrap();
    assert!(di.is_excluded("a") && !di.is_excluded("b"));
    std::fs::write(ctx.path().join("build.Dockerfile.dockerignore"), "b\n").unwrap();
    let di = Dockerignore::for_build(ctx.path(), Some(&df)).unwrap();
    assert!(!di.is_excluded("a") && di.is_excluded("b"));
    assert_eq!(
        di.source.unwrap(),
        ctx.path().join("build.Dockerfile.dockerignore")
    );
    // Ignoring the Dockerfile keeps it out of the context, as BuildKit does.
    std::fs::write(
        ctx.path().join(".dockerignore"),
        "Dockerfile\n.dockerignore\n",
    )
    .unwrap();
    let di = Dockerignore::for_build(ctx.path(), None).unwrap();
    assert!(di.is_excluded("Dockerfile") && di.is_excluded(".dockerignore"));
}
