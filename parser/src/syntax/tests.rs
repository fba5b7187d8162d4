//! Tests of the whole syntax layer: text in, BuildKit's tree out.

use super::*;

/// The start of a test input, for failure messages.
fn head(text: &str) -> String {
    text.chars().take(200).collect()
}

fn df(text: &str) -> Dockerfile {
    parse(text).unwrap_or_else(|e| panic!("{:?} should parse: {e}", head(text)))
}

fn err(text: &str) -> Error {
    match parse(text) {
        Ok(d) => panic!("{:?} should fail, got {} nodes", head(text), d.nodes.len()),
        Err(e) => e,
    }
}

/// `(keyword, flags, args, json)` of every node.
fn shape(d: &Dockerfile) -> Vec<(String, Vec<String>, Vec<String>, bool)> {
    d.nodes
        .iter()
        .map(|n| {
            (
                n.keyword.clone(),
                n.flags.iter().map(|w| w.value.clone()).collect(),
                n.args.iter().map(|w| w.value.clone()).collect(),
                n.json,
            )
        })
        .collect()
}

fn args(n: &Node) -> Vec<&str> {
    n.args.iter().map(|w| w.value.as_str()).collect()
}

fn lines(d: &Dockerfile) -> Vec<(usize, usize)> {
    d.nodes.iter().map(|n| (n.line(), n.end_line)).collect()
}

#[test]
fn keywords_in_any_case_are_upper_cased() {
    let d = df("from alpine\nRuN echo\nonbuild copy a b\nfrobnicate x y\n");
    let kw: Vec<_> = d.nodes.iter().map(|n| n.keyword.as_str()).collect();
    assert_eq!(kw, ["FROM", "RUN", "ONBUILD", "FROBNICATE"]);
    assert_eq!(d.nodes[2].onbuild.as_ref().unwrap().keyword, "COPY");
    // Unknown keywords are kept with BuildKit's single empty argument.
    assert_eq!(args(&d.nodes[3]), [""]);
}

#[test]
fn continuations_join_lines_and_skip_comments_and_blanks() {
    let text = "FROM a\nRUN echo \\\n  # a comment\n  one \\\n\n  two\nRUN x\n";
    let d = df(text);
    assert_eq!(args(&d.nodes[1]), ["echo   one   two"]);
    assert_eq!(lines(&d), [(1, 1), (2, 6), (7, 7)]);
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.warnings[0].pos.line, 5);
    assert_eq!(
        d.warnings[0].message,
        "Empty continuation line found in: RUN echo   one   two"
    );
}

#[test]
fn continuation_rules_follow_buildkit() {
    // An escaped escape token does not continue; blanks after the token are allowed.
    let d = df("FROM a\nENV C x\\\\\nENV D y\nENV E a\\ \t\nb\n");
    assert_eq!(
        shape(&d)[1..],
        [
            (
                "ENV".into(),
                vec![],
                vec!["C".into(), "x\\\\".into(), "".into()],
                false
            ),
            (
                "ENV".into(),
                vec![],
                vec!["D".into(), "y".into(), "".into()],
                false
            ),
            (
                "ENV".into(),
                vec![],
                vec!["E".into(), "ab".into(), "".into()],
                false
            ),
        ]
    );
    // A line holding only the escape token continues with nothing.
    let d = df("FROM a\nENV E hello\\\n\\\nworld\n");
    assert_eq!(args(&d.nodes[1]), ["E", "helloworld", ""]);
    // A trailing continuation at the end of the file just ends the instruction.
    let d = df("FROM a\nRUN something \\");
    assert_eq!(args(&d.nodes[1]), ["something"]);
    assert_eq!(lines(&d), [(1, 1), (2, 2)]);
    // A comment line ending with the escape token does not continue.
    let d = df("# x \\\nFROM a\n");
    assert_eq!(lines(&d), [(2, 2)]);
}

#[test]
fn crlf_line_endings() {
    let d = df("FROM a\r\nRUN echo \\\r\n  hi\r\nCMD [\"x\"]\r\n");
    assert_eq!(args(&d.nodes[1]), ["echo   hi"]);
    assert_eq!(args(&d.nodes[2]), ["x"]);
    assert!(d.nodes[2].json);
    assert_eq!(lines(&d), [(1, 1), (2, 3), (4, 4)]);
    // Heredoc bodies keep their CRLF; the terminator matches without it.
    let d = df("FROM a\r\nRUN <<EOF\r\nline\r\nEOF\r\n");
    assert_eq!(d.nodes[1].heredocs[0].content, "line\r\n");
    assert_eq!(d.nodes[1].end_line, 4);
}

#[test]
fn byte_order_mark_is_skipped_on_the_first_line_only() {
    let d = df("\u{feff}# escape=`\nFROM a\n");
    assert_eq!(d.directives.escape_char(), '`');
    assert_eq!(d.nodes[0].pos, Pos::new(2, 1));
    let d = df("\u{feff}FROM a\n");
    assert_eq!(d.nodes[0].keyword, "FROM");
    assert_eq!(d.nodes[0].pos, Pos::new(1, 1));
    let d = df("FROM a\n\u{feff}RUN x\n");
    assert_eq!(d.nodes[1].keyword, "\u{feff}RUN");
}

#[test]
fn directives_are_honoured_until_the_first_other_line() {
    let d = df("# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\nFROM a\n");
    assert_eq!(
        d.directives.syntax.as_ref().unwrap().value,
        "docker/dockerfile:1"
    );
    assert_eq!(d.directives.escape.as_ref().unwrap().line, 2);
    assert_eq!(d.directives.check.as_ref().unwrap().value, "skip=all");
    // Directive lines are not comments of the first instruction.
    assert!(d.nodes[0].comments.is_empty());

    for text in [
        "\n# escape=`\nFROM a\n",
        "# a comment\n# escape=`\nFROM a\n",
        "# unknown=1\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
        "#!/bin/sh\n# escape=`\nFROM a\n",
        "// escape=`\nFROM a\n",
    ] {
        let d = df(text);
        assert_eq!(d.directives, Directives::default(), "{text:?}");
        assert_eq!(d.directives.escape_char(), '\\');
    }
    // Leading blanks before `#` are allowed.
    let d = df("   # escape=`\nFROM a\n");
    assert_eq!(d.directives.escape_char(), '`');
}

#[test]
fn directive_errors() {
    let e = err("# escape=`\n# escape=\\\nFROM a\n");
    assert_eq!(e.pos, Pos::new(2, 1));
    assert!(
        e.message
            .starts_with("only one escape parser directive can be used")
    );
    let e = err("# syntax=a\n# SYNTAX=b\nFROM a\n");
    assert!(e.message.starts_with("only one syntax parser directive"));
    let e = err("# escape=x\nFROM a\n");
    assert_eq!(e.pos, Pos::new(1, 1));
    assert!(e.message.starts_with("invalid escape token 'x'"));
    // After the directives end, a repeated one is an ordinary comment.
    df("# escape=`\nFROM a\n# escape=\\\n");
}

#[test]
fn backtick_escape_keeps_windows_paths() {
    let text = "# escape=`\nFROM mcr.microsoft.com/windows\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n    && echo done\nENV P C:\\Program` Files\\x\n";
    let d = df(text);
    assert_eq!(args(&d.nodes[1]), ["testfile.txt", "c:\\"]);
    assert_eq!(args(&d.nodes[2]), ["dir c:\\     && echo done"]);
    assert_eq!(lines(&d)[2], (4, 5));
    assert_eq!(args(&d.nodes[3]), ["P", "C:\\Program` Files\\x", ""]);
}

#[test]
fn exec_form_and_its_shell_fallback() {
    let d = df(concat!(
        "FROM a\n",
        "CMD [\"echo\", \"hi\"]\n",
        "CMD ['echo']\n",
        "CMD [\"unterminated\"\n",
        "CMD [\"a\"] trailing\n",
        "ENTRYPOINT []\n",
        "SHELL [\"/bin/sh\", \"-c\"]\n",
        "VOLUME [\"/a\", \"/b\"]\n",
        "VOLUME /a /b\n",
        "ADD [\"a b\", \"/c\"]\n",
        "HEALTHCHECK --interval=5s CMD [\"curl\", \"x\"]\n",
        "HEALTHCHECK NONE\n",
        "RUN [ \"a\" ,\t\"b\" ]\n",
    ));
    let s = shape(&d);
    assert_eq!(s[1].2, ["echo", "hi"]);
    assert!(s[1].3);
    assert_eq!(
        (s[2].2.clone(), s[2].3),
        (vec!["['echo']".to_string()], false)
    );
    assert_eq!(s[3].2, ["[\"unterminated\""]);
    assert_eq!(s[4].2, ["[\"a\"] trailing"]);
    assert_eq!((s[5].2.len(), s[5].3), (0, true));
    assert_eq!(s[6].2, ["/bin/sh", "-c"]);
    assert_eq!(
        (s[7].2.clone(), s[7].3),
        (vec!["/a".into(), "/b".into()], true)
    );
    assert_eq!(
        (s[8].2.clone(), s[8].3),
        (vec!["/a".into(), "/b".into()], false)
    );
    assert_eq!(s[9].2, ["a b", "/c"]);
    assert_eq!(
        s[10],
        (
            "HEALTHCHECK".into(),
            vec!["--interval=5s".into()],
            vec!["CMD".into(), "curl".into(), "x".into()],
            true
        )
    );
    assert_eq!((s[11].2.clone(), s[11].3), (vec!["NONE".into()], false));
    assert_eq!(s[12].2, ["a", "b"]);
}

#[test]
fn json_arrays_with_non_strings_are_errors() {
    let e = err("FROM a\nCMD [ \"echo\", [ \"nested json\" ] ]\n");
    assert_eq!(e.kind, ErrorKind::Arguments);
    assert_eq!(e.pos, Pos::new(2, 5));
    assert!(
        e.message
            .contains("arrays must be comprised of strings only")
    );
    err("FROM a\nCOPY [1, 2]\n");
    err("FROM a\nHEALTHCHECK CMD [true]\n");
}

#[test]
fn env_label_arg_and_plain_strings() {
    let d = df(concat!(
        "FROM a\n",
        "ENV name value with  spaces\n",
        "ENV a=\"b c\" d=e\\ f\n",
        "LABEL \"k\"=v maintainer=me\n",
        "ARG a=\"1 2\" b\n",
        "USER  root:root \n",
        "WORKDIR /a b\n",
        "STOPSIGNAL SIGKILL\n",
        "MAINTAINER me <me@x>\n",
        "EXPOSE 80/tcp\t443\n",
    ));
    let s = shape(&d);
    assert_eq!(s[1].2, ["name", "value with  spaces", ""]);
    assert_eq!(s[2].2, ["a", "\"b c\"", "=", "d", "e\\ f", "="]);
    assert_eq!(s[3].2, ["\"k\"", "v", "=", "maintainer", "me", "="]);
    assert_eq!(s[4].2, ["a=\"1 2\"", "b"]);
    assert_eq!(s[5].2, ["root:root"]);
    assert_eq!(s[6].2, ["/a b"]);
    assert_eq!(s[7].2, ["SIGKILL"]);
    assert_eq!(s[8].2, ["me <me@x>"]);
    assert_eq!(s[9].2, ["80/tcp", "443"]);
}

#[test]
fn empty_instructions_have_no_arguments() {
    let d = df("FROM a\nCMD\nHEALTHCHECK\nENV\nARG\nONBUILD\nUSER\n");
    for n in &d.nodes[1..] {
        assert!(n.args.is_empty(), "{}", n.keyword);
        assert!(n.onbuild.is_none());
    }
}

#[test]
fn env_with_one_word_is_an_error() {
    let e = err("FROM a\nENV PATH\n");
    assert_eq!(e.pos, Pos::new(2, 5));
    assert!(e.message.starts_with("ENV must have two arguments"));
    err("FROM a\nLABEL x\n");
    err("FROM a\nENV a=b c\n");
}

#[test]
fn flags_on_any_instruction() {
    let d = df(concat!(
        "FROM --platform=$BUILDPLATFORM golang AS build\n",
        "RUN --mount=type=cache,target=/root/.cache --network=none go build\n",
        "COPY --from=build --chown=\"a b\" -- /x /y\n",
        "CMD --doit [\"a\"]\n",
        "RUN make --jobs=4\n",
    ));
    let s = shape(&d);
    assert_eq!(s[0].1, ["--platform=$BUILDPLATFORM"]);
    assert_eq!(s[0].2, ["golang", "AS", "build"]);
    assert_eq!(
        s[1].1,
        ["--mount=type=cache,target=/root/.cache", "--network=none"]
    );
    assert_eq!(s[1].2, ["go build"]);
    assert_eq!(s[2].1, ["--from=build", "--chown=a b"]);
    assert_eq!(s[2].2, ["/x", "/y"]);
    assert_eq!((s[3].1.clone(), s[3].3), (vec!["--doit".into()], true));
    assert!(s[4].1.is_empty());
}

#[test]
fn onbuild_triggers_are_nested_nodes() {
    let d = df(
        "FROM a\nONBUILD RUN [\"echo\", \"x\"]\nONBUILD --f=1 ADD --chown=u . /app\nONBUILD ONBUILD RUN y\n",
    );
    let t = d.nodes[1].onbuild.as_ref().unwrap();
    assert!(d.nodes[1].args.is_empty());
    assert_eq!(
        (t.keyword.as_str(), args(t), t.json),
        ("RUN", vec!["echo", "x"], true)
    );
    assert_eq!(t.pos, Pos::new(2, 9));
    let n = &d.nodes[2];
    assert_eq!(n.flags[0].value, "--f=1");
    let t = n.onbuild.as_ref().unwrap();
    assert_eq!(t.flags[0].value, "--chown=u");
    assert_eq!(args(t), [".", "/app"]);
    let inner = d.nodes[3]
        .onbuild
        .as_ref()
        .unwrap()
        .onbuild
        .as_ref()
        .unwrap();
    assert_eq!(args(inner), ["y"]);
    let deep = format!(
        "FROM a\n{}RUN x\n",
        "ONBUILD ".repeat(MAX_ONBUILD_DEPTH + 1)
    );
    err(&deep);
}

#[test]
fn heredocs_of_every_kind() {
    let text = concat!(
        "FROM a\n",
        "RUN <<EOF\n",
        "echo $HOME\n",
        "# not a comment\n",
        "EOF\n",
        "RUN <<-'END' 3<<\"DATA\" python3\n",
        "\t\tprint(1)\n",
        "\tEND\n",
        "x\n",
        "DATA\n",
        "COPY <<one <<two /dest/\n",
        "1\n",
        "one\n",
        "two\n",
        "ADD --chmod=644 <<E\"O\"F /f\n",
        "EOF\n",
        "ONBUILD RUN <<X\n",
        "body\n",
        "X\n",
        "RUN [\"<<EOF\"]\n",
        "RUN echo \"<<EOF\" '<<EOF' cat<<EOF\n",
        "RUN <<EMPTY\n",
        "EMPTY\n",
    );
    let d = df(text);
    let h = |i: usize| &d.nodes[i].heredocs;
    assert_eq!(
        h(1),
        &[Heredoc {
            name: "EOF".into(),
            content: "echo $HOME\n# not a comment\n".into(),
            expand: true,
            chomp: false,
            fd: 0
        }]
    );
    assert_eq!(args(&d.nodes[1]), ["<<EOF"]);
    assert_eq!(
        h(2),
        &[
            Heredoc {
                name: "END".into(),
                content: "\t\tprint(1)\n".into(),
                expand: false,
                chomp: true,
                fd: 0
            },
            Heredoc {
                name: "DATA".into(),
                content: "x\n".into(),
                expand: false,
                chomp: false,
                fd: 3
            },
        ]
    );
    let names: Vec<_> = h(3)
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(names, [("one", "1\n"), ("two", "")]);
    assert_eq!(args(&d.nodes[3]), ["<<one", "<<two", "/dest/"]);
    assert_eq!((h(4)[0].name.as_str(), h(4)[0].expand), ("EOF", false));
    let trigger = d.nodes[5].onbuild.as_ref().unwrap();
    assert_eq!(trigger.heredocs[0].content, "body\n");
    assert!(h(6).is_empty() && h(7).is_empty());
    assert_eq!(
        (h(8)[0].name.as_str(), h(8)[0].content.as_str()),
        ("EMPTY", "")
    );
    assert_eq!(
        lines(&d),
        [
            (1, 1),
            (2, 5),
            (6, 10),
            (11, 14),
            (15, 16),
            (17, 19),
            (20, 20),
            (21, 21),
            (22, 23)
        ]
    );
}

#[test]
fn heredocs_only_for_run_copy_and_add() {
    let d = df("FROM a\nUSER <<X\nX\n");
    assert!(d.nodes[1].heredocs.is_empty());
    assert_eq!(d.nodes[2].keyword, "X");
}

#[test]
fn unterminated_heredoc_is_an_error() {
    let e = err("FROM a\nRUN cat <<EOF\necho\n");
    assert_eq!(e.pos, Pos::new(2, 9));
    assert!(e.message.starts_with("unterminated heredoc"));
    // The terminator must match exactly (leading tabs only with `<<-`).
    err("FROM a\nRUN <<EOF\n\tEOF\n");
    err("FROM a\nRUN <<EOF\nEOF \n");
    df("FROM a\nRUN <<-EOF\n\t\tEOF\n");
    // A delimiter the lexer cannot read.
    err("FROM a\nRUN <<${a:-\"x y\"}\n");
}

#[test]
fn positions_point_at_keywords_flags_and_arguments() {
    let d = df("FROM a\n  RUN --mount=x  echo  hi\nENV a=1 b=2\nCOPY src \\\n     dst\n");
    let run = &d.nodes[1];
    assert_eq!(run.pos, Pos::new(2, 3));
    assert_eq!(run.flags[0].pos, Pos::new(2, 7));
    assert_eq!(run.args[0].pos, Pos::new(2, 18));
    let env = &d.nodes[2];
    let p: Vec<_> = env.args.iter().map(|w| w.pos.column).collect();
    assert_eq!(p, [5, 7, 6, 9, 11, 10]);
    let copy = &d.nodes[3];
    assert_eq!(copy.args[0].pos, Pos::new(4, 6));
    assert_eq!(copy.args[1].pos, Pos::new(5, 6));
    let d = df("FROM a\nCMD [\"sh\",\n");
    assert_eq!(d.nodes[1].args[0].pos, Pos::new(2, 5));
    let d = df("FROM a\nCMD [\"sh\", \\\n  \"-c\"]\n");
    assert_eq!(d.nodes[1].args[1].pos, Pos::new(3, 3));
    // Columns count characters, not bytes.
    let d = df("FROM a\nLABEL é=1 x=2\n");
    assert_eq!(d.nodes[1].args[3].pos, Pos::new(2, 11));
}

#[test]
fn comments_above_an_instruction_are_kept() {
    let d = df("# syntax=x\n# first\n#\n# second\n  # third\nFROM a\nRUN b\n");
    assert_eq!(d.nodes[0].comments, ["second", "# third"]);
    assert!(d.nodes[1].comments.is_empty());
    assert_eq!(d.nodes[1].original, "RUN b");
}

#[test]
fn files_without_instructions_are_errors() {
    for text in [
        "",
        "\n\n",
        "# only\n# comments\n",
        "# escape=`\n",
        "   \t\n",
    ] {
        let e = err(text);
        assert_eq!(e.pos.line, 0, "{text:?}");
        assert!(e.message.starts_with("file with no instructions"));
    }
}

#[test]
fn lines_longer_than_64_kib_are_errors() {
    let ok = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE_BYTES - 4));
    assert_eq!(df(&ok).nodes[1].args[0].value.len(), MAX_LINE_BYTES - 4);
    let ok_last = format!("FROM a\nRUN {}", "x".repeat(MAX_LINE_BYTES - 4));
    df(&ok_last);
    let long = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE_BYTES - 3));
    let e = err(&long);
    assert_eq!(e.pos, Pos::new(2, 1));
    assert!(
        e.message
            .starts_with("dockerfile line greater than max allowed size of 65535")
    );
    // The limit counts a carriage return but not the newline.
    let crlf = format!("FROM a\nRUN {}\r\n", "x".repeat(MAX_LINE_BYTES - 4));
    err(&crlf);
    // Heredoc bodies are lines too.
    let body = format!("FROM a\nRUN <<E\n{}\nE\n", "x".repeat(MAX_LINE_BYTES + 1));
    assert_eq!(err(&body).pos.line, 3);
}

#[test]
fn odd_input_never_panics() {
    for text in [
        "\\",
        "\\\n",
        "`",
        "# escape=`\n`",
        "RUN \u{85}--x=\u{805}",
        "HEALTHCHECK \u{a0}x",
        "HEALTHCHECK à b",
        "RUN --\u{a0}",
        "ENV \"",
        "ARG '",
        "CMD [\"\\ud800\"]",
        "RUN <<\u{feff}EOF\nEOF",
        "RUN <<\"\"",
        "RUN ${",
        "RUN <<${a/b",
        "ONBUILD",
        "ONBUILD ONBUILD",
        "\r\r\r",
        "\u{0}",
        "RUN \0\n",
    ] {
        let _ = parse(text);
    }
    // Deep nesting of variables, JSON and ONBUILD stays within a fixed stack.
    let d = df(&format!(
        "FROM a\nRUN <<EOF {}\nEOF\n",
        "${a:-".repeat(10_000)
    ));
    assert!(d.nodes[1].heredocs.is_empty());
    let d = df(&format!("FROM a\nCMD {}\n", "[".repeat(60_000)));
    assert!(!d.nodes[1].json);
    let chain = format!(
        "FROM a\n{}RUN x\n",
        "ONBUILD ".repeat(MAX_ONBUILD_DEPTH - 1)
    );
    assert_eq!(df(&chain).nodes.len(), 2);
    // A lone escape token is an instruction with an empty keyword, as in BuildKit.
    let d = df("\\\n");
    assert_eq!(d.nodes[0].keyword, "");
}

#[test]
fn an_instruction_starts_at_a_lone_escape_token_before_it() {
    let d = df("FROM a\n  \\\n\\\nCMD [\"x\"]\n");
    assert_eq!(d.nodes[1].pos, Pos::new(2, 3));
    assert_eq!(lines(&d)[1], (2, 4));
    assert_eq!(args(&d.nodes[1]), ["x"]);
}

#[test]
fn many_words_on_one_line_stay_linear() {
    let text = format!("FROM a\nEXPOSE {}\n", "é ".repeat(20_000));
    let start = std::time::Instant::now();
    let d = df(&text);
    assert_eq!(d.nodes[1].args.len(), 20_000);
    assert_eq!(d.nodes[1].args[19_999].pos, Pos::new(2, 8 + 2 * 19_999));
    // Positions asked out of order are still right.
    let d = df("FROM a\nENV é=1 b=2\n");
    let cols: Vec<_> = d.nodes[1].args.iter().map(|w| w.pos.column).collect();
    assert_eq!(cols, [5, 7, 6, 9, 11, 10]);
    assert!(start.elapsed().as_secs() < 20);
}

#[test]
fn many_continuation_lines_stay_linear() {
    let text = format!("FROM a\nRUN {}end\n", "word \\\n".repeat(50_000));
    let start = std::time::Instant::now();
    let d = df(&text);
    assert_eq!(d.nodes[1].end_line, 50_002);
    let text = format!("FROM a\nCOPY {}/dst\n", "src \\\n".repeat(50_000));
    let d = df(&text);
    assert_eq!(d.nodes[1].args.len(), 50_001);
    assert_eq!(d.nodes[1].args[49_999].pos, Pos::new(50_001, 1));
    assert!(start.elapsed().as_secs() < 20);
}

#[test]
fn many_heredocs_on_one_line_stay_linear() {
    let n = 15_000;
    let text = format!("FROM a\nRUN {}\n{}", "<<a ".repeat(n), "a\n".repeat(n));
    let start = std::time::Instant::now();
    let d = df(&text);
    assert_eq!(d.nodes[1].heredocs.len(), n);
    assert_eq!(d.nodes[1].end_line, n + 2);
    assert!(start.elapsed().as_secs() < 20);
}
