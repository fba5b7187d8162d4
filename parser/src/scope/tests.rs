//! One test per scoping rule, named after it.

use std::path::Path;

use super::*;
use crate::instruction::{CommandLine, Health, Source};
use crate::{parse, stages, type_dockerfile};

/// A parsed build: its global scope and stages.
#[derive(Debug)]
struct Build {
    global: GlobalScope,
    stages: Vec<Stage>,
}

fn inputs(args: &[(&str, &str)]) -> BuildInputs {
    BuildInputs {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        platform: Platform::host(),
        target_stage: None,
    }
}

fn build_with(text: &str, inputs: &BuildInputs) -> Result<Build> {
    let df = parse(text).expect("parses");
    let typed = type_dockerfile(&df).expect("types");
    let (meta, stages) = stages(&typed).expect("stages");
    let global = GlobalScope::new(inputs, &meta, &stages, df.directives.escape_char())?;
    Ok(Build { global, stages })
}

fn build(text: &str, args: &[(&str, &str)]) -> Build {
    build_with(text, &inputs(args)).expect("global scope")
}

impl Build {
    /// Applies stage `i` on an image whose Env is `base_env`; returns the scope and the
    /// expanded instructions.
    fn stage(&self, i: usize, base_env: &[&str]) -> (StageScope, Vec<Instruction>) {
        let env: Vec<String> = base_env.iter().map(|s| s.to_string()).collect();
        let mut scope = self.global.stage(&env);
        let out = apply_all(&mut scope, &self.stages[i]);
        (scope, out)
    }
}

fn apply_all(scope: &mut StageScope, stage: &Stage) -> Vec<Instruction> {
    stage
        .instructions
        .iter()
        .map(|i| scope.apply(i).expect("applies"))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn workdir(i: &Instruction) -> &str {
    match i {
        Instruction::Workdir(w) => &w.value.value,
        other => panic!("not a WORKDIR: {other:?}"),
    }
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), cmd.into()]
}

#[test]
fn meta_args_expand_the_from_image_and_platform_but_not_the_stage_name() {
    let b = build(
        "ARG IMG=alpine\nARG P=linux/arm64\nARG n=x\nFROM --platform=$P ${IMG}:3 AS n\n",
        &[],
    );
    let f = b.global.expand_from(&b.stages[0].from).unwrap();
    assert_eq!(f.image.value, "alpine:3");
    assert_eq!(f.platform.unwrap().value, "linux/arm64");
    assert_eq!(f.name.unwrap().value, "n");
}

#[test]
fn meta_args_are_invisible_in_a_stage_until_redeclared() {
    let b = build(
        "ARG V=1\nFROM a\nWORKDIR /${V:-none}\nARG V\nWORKDIR /$V\n",
        &[],
    );
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[0]), "/none");
    assert_eq!(workdir(&out[2]), "/1");
    assert_eq!(scope.get("V"), Some("1"));
}

#[test]
fn a_redeclared_meta_arg_takes_the_build_arg_over_the_global_default() {
    let b = build("ARG V=1\nFROM a:$V\nARG V\nWORKDIR /$V\n", &[("V", "2")]);
    assert_eq!(
        b.global.expand_from(&b.stages[0].from).unwrap().image.value,
        "a:2"
    );
    let (_, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "/2");
}

#[test]
fn build_args_override_arg_defaults_in_stages() {
    let b = build("FROM a\nARG V=default\nWORKDIR /$V\n", &[("V", "given")]);
    let (_, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "/given");
    let Instruction::Arg(a) = &out[0] else {
        panic!()
    };
    assert_eq!(a.args[0].default.as_ref().unwrap().value, "given");
}

#[test]
fn a_stage_default_shadows_the_global_value() {
    let b = build("ARG V=global\nFROM a\nARG V=local\nWORKDIR /$V\n", &[]);
    let (_, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "/local");
}

#[test]
fn an_arg_without_default_or_build_arg_is_unset_not_empty() {
    let b = build(
        "ARG G\nFROM a:${G-unset}\nARG L\nWORKDIR /${L-unset}/${L:-empty}\n",
        &[],
    );
    assert_eq!(
        b.global.expand_from(&b.stages[0].from).unwrap().image.value,
        "a:unset"
    );
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "/unset/empty");
    assert_eq!(scope.get("L"), None);
    let Instruction::Arg(a) = &out[0] else {
        panic!()
    };
    assert_eq!(a.args[0].default, None);
    // An empty build-arg is set, though empty.
    let b = build("FROM a\nARG L\nWORKDIR /${L-unset}\n", &[("L", "")]);
    assert_eq!(workdir(&b.stage(0, &[]).1[1]), "/");
}

#[test]
fn env_overrides_an_earlier_arg_of_the_same_name() {
    let b = build(
        "FROM a\nARG V=arg\nENV V=env\nWORKDIR /$V\nRUN x\n",
        &[("V", "build")],
    );
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[2]), "/env");
    assert_eq!(
        scope.run_env(),
        ["PATH=".to_string() + DEFAULT_PATH, "V=env".into()]
    );
    assert_eq!(scope.history_args(), pairs(&[("V", "env")]));
    assert_eq!(
        scope.env(),
        ["PATH=".to_string() + DEFAULT_PATH, "V=env".into()]
    );
}

#[test]
fn a_later_arg_replaces_an_env_value_in_the_build_but_not_in_the_image() {
    // BuildKit puts both in one environment, in order; the image config keeps ENV only.
    let b = build("FROM a\nENV V=env\nARG V=arg\nWORKDIR /$V\n", &[]);
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[2]), "/arg");
    assert_eq!(scope.env()[1], "V=env");
    assert_eq!(scope.run_env()[1], "V=arg");
}

#[test]
fn env_and_arg_values_accumulate_in_order() {
    let b = build(
        "FROM a\nARG A=1\nENV B=$A-2\nARG C=$B-3\nENV D=${C}-4\nWORKDIR /$D\n",
        &[],
    );
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[4]), "/1-2-3-4");
    assert_eq!(
        scope.run_env()[1..],
        ["A=1", "B=1-2", "C=1-2-3", "D=1-2-3-4"]
    );
}

#[test]
fn the_words_of_one_instruction_see_the_scope_before_it() {
    let b = build("FROM a\nENV A=1\nENV A=2 B=$A\nWORKDIR /$A$B\n", &[]);
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(scope.get("B"), Some("1"));
    assert_eq!(workdir(&out[2]), "/21");
}

#[test]
fn a_stage_starts_from_the_base_image_env_with_buildkits_default_path() {
    let b = build("FROM a\nWORKDIR $HOME\nENV PATH=$PATH:/x\n", &[]);
    let (scope, out) = b.stage(0, &["HOME=/root", "PATH=/bin"]);
    assert_eq!(workdir(&out[0]), "/root");
    assert_eq!(scope.env(), ["HOME=/root", "PATH=/bin:/x"]);
    let (scope, _) = b.stage(0, &["HOME=/root"]);
    assert_eq!(
        scope.env(),
        ["HOME=/root".to_string(), format!("PATH={DEFAULT_PATH}:/x")]
    );
}

#[test]
fn a_stage_from_a_stage_inherits_its_env_and_its_declared_args_as_buildkit_does() {
    let b = build(
        "FROM a AS base\nARG L=local\nENV E=env\nFROM base\nWORKDIR /$L/$E\nRUN x\n",
        &[],
    );
    let (parent, _) = b.stage(0, &["PATH=/bin"]);
    let mut child = parent.child();
    let out = apply_all(&mut child, &b.stages[1]);
    assert_eq!(workdir(&out[0]), "/local/env");
    assert_eq!(child.env(), ["PATH=/bin", "E=env"]);
    assert_eq!(child.run_history(&sh("x")), "|1 L=local /bin/sh -c x");
}

#[test]
fn a_child_stage_sees_the_parents_image_env_over_a_parent_arg_of_the_same_name() {
    // BuildKit re-applies the image config's Env when a stage starts from another.
    let b = build("FROM a AS base\nENV V=env\nARG V=arg\nFROM base\n", &[]);
    let (parent, _) = b.stage(0, &[]);
    assert_eq!(parent.get("V"), Some("arg"));
    assert_eq!(parent.child().get("V"), Some("env"));
}

#[test]
fn proxy_build_args_reach_run_undeclared_but_not_history_or_cache_keys() {
    let b = build(
        "FROM a\nARG A=1\nWORKDIR /${HTTP_PROXY:-none}\nRUN x\n",
        &[("HTTP_PROXY", "http://p:3128"), ("no_proxy", "localhost")],
    );
    let (scope, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "/none");
    assert_eq!(
        scope.run_env()[1..],
        [
            "A=1",
            "HTTP_PROXY=http://p:3128",
            "http_proxy=http://p:3128",
            "NO_PROXY=localhost",
            "no_proxy=localhost"
        ]
    );
    assert_eq!(scope.history_args(), pairs(&[("A", "1")]));
    assert_eq!(scope.cache_args(), pairs(&[("A", "1")]));
    assert!(b.global.unused_build_args().is_empty());
}

#[test]
fn a_declared_proxy_arg_is_an_ordinary_arg_and_not_repeated_in_run_env() {
    let b = build("FROM a\nARG HTTP_PROXY\n", &[("HTTP_PROXY", "http://p")]);
    let (scope, _) = b.stage(0, &[]);
    assert_eq!(
        scope.run_env()[1..],
        ["HTTP_PROXY=http://p", "http_proxy=http://p"]
    );
    assert_eq!(scope.history_args(), pairs(&[("HTTP_PROXY", "http://p")]));
}

#[test]
fn platform_args_are_global_and_need_an_arg_inside_a_stage() {
    let mut i = inputs(&[]);
    i.platform = Platform::parse("linux/arm/v7").unwrap();
    let b = build_with(
        concat!(
            "FROM --platform=$BUILDPLATFORM a:$TARGETARCH AS one\n",
            "WORKDIR /${TARGETOS:-none}\n",
            "ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDOS BUILDARCH BUILDVARIANT TARGETSTAGE\n",
            "WORKDIR /$TARGETPLATFORM/$TARGETOS/$TARGETARCH/$TARGETVARIANT/$BUILDOS/$BUILDARCH/${BUILDVARIANT-unset}/$TARGETSTAGE\n",
            "FROM b AS last\n",
        ),
        &i,
    )
    .unwrap();
    let host = Platform::host();
    let f = b.global.expand_from(&b.stages[0].from).unwrap();
    assert_eq!(f.image.value, "a:arm");
    assert_eq!(f.platform.unwrap().value, host.to_string());
    let (_, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[0]), "/none");
    assert_eq!(
        workdir(&out[2]),
        format!(
            "/linux/arm/v7/linux/arm/v7/{}/{}/{}/last",
            host.os, host.arch, host.variant
        )
    );
    assert_eq!(
        b.global.get("BUILDPLATFORM"),
        Some(host.to_string().as_str())
    );
}

#[test]
fn target_stage_is_the_target_or_the_last_stage_name() {
    let text = "FROM a AS first\nFROM b AS second\n";
    assert_eq!(build(text, &[]).global.get("TARGETSTAGE"), Some("second"));
    let mut i = inputs(&[]);
    i.target_stage = Some("first".into());
    let b = build_with(text, &i).unwrap();
    assert_eq!(b.global.get("TARGETSTAGE"), Some("first"));
    assert_eq!(build("FROM a\n", &[]).global.get("TARGETSTAGE"), Some(""));
}

#[test]
fn build_args_override_predefined_platform_args() {
    let b = build("FROM a:$TARGETOS\n", &[("TARGETOS", "plan9")]);
    assert_eq!(
        b.global.expand_from(&b.stages[0].from).unwrap().image.value,
        "a:plan9"
    );
    assert!(b.global.unused_build_args().is_empty());
}

#[test]
fn meta_arg_defaults_expand_against_earlier_global_args() {
    let b = build(
        "ARG A=x\nARG B=${A}y\nARG OS=$TARGETOS\nFROM $B:$OS\n",
        &[("A", "z")],
    );
    assert_eq!(
        b.global.expand_from(&b.stages[0].from).unwrap().image.value,
        format!("zy:{}", Platform::host().os)
    );
}

#[test]
fn instructions_expand_exactly_where_buildkit_expands_them() {
    let b = build(
        concat!(
            "FROM a\n",
            "ARG V=v W=\"two words\"\n",
            "ADD --chown=$V --chmod=0$M --checksum=sha256:$V https://h/$V /$V/\n",
            "COPY --from=$V --chown=$V:$V --exclude=$V $V /$V/\n",
            "ENV K_$V=$V\n",
            "EXPOSE $P\n",
            "LABEL l_$V=\"$W\"\n",
            "STOPSIGNAL SIG$V\n",
            "USER $V\n",
            "VOLUME /$V\n",
            "WORKDIR /$V\n",
            "RUN --mount=type=cache,target=/$V echo $V\n",
            "CMD echo $V\n",
            "ENTRYPOINT [\"$V\"]\n",
            "HEALTHCHECK CMD echo $V\n",
            "SHELL [\"/bin/$V\"]\n",
            "ONBUILD RUN echo $V\n",
        ),
        &[],
    );
    let (_, out) = b.stage(0, &["M=755", "P=80 443/udp"]);
    let Instruction::Add(add) = &out[1] else {
        panic!()
    };
    assert_eq!(add.chown.as_ref().unwrap().value, "v");
    assert_eq!(add.chmod.as_ref().unwrap().raw.value, "0755");
    assert_eq!(add.checksum.as_ref().unwrap().value, "sha256:v");
    assert!(matches!(&add.sources[0], Source::Path(w) if w.value == "https://h/v"));
    assert_eq!(add.dest.value, "/v/");
    let Instruction::Copy(copy) = &out[2] else {
        panic!()
    };
    assert_eq!(copy.from.as_ref().unwrap().value, "$V");
    assert_eq!(copy.chown.as_ref().unwrap().value, "v:v");
    assert_eq!(copy.exclude[0].value, "$V");
    assert!(matches!(&copy.sources[0], Source::Path(w) if w.value == "v"));
    let Instruction::Env(env) = &out[3] else {
        panic!()
    };
    assert_eq!(
        (
            env.pairs[0].key.value.as_str(),
            env.pairs[0].value.value.as_str()
        ),
        ("K_v", "v")
    );
    let Instruction::Expose(expose) = &out[4] else {
        panic!()
    };
    let ports: Vec<&str> = expose.ports.iter().map(|p| p.raw.value.as_str()).collect();
    assert_eq!(ports, ["80", "443/udp"]);
    let Instruction::Label(label) = &out[5] else {
        panic!()
    };
    assert_eq!(label.pairs[0].key.value, "l_v");
    assert_eq!(label.pairs[0].value.value, "two words");
    let Instruction::Stopsignal(s) = &out[6] else {
        panic!()
    };
    assert_eq!(s.value.value, "SIGv");
    let Instruction::User(u) = &out[7] else {
        panic!()
    };
    assert_eq!(u.value.value, "v");
    let Instruction::Volume(v) = &out[8] else {
        panic!()
    };
    assert_eq!(v.paths[0].value, "/v");
    assert_eq!(workdir(&out[9]), "/v");
    let Instruction::Run(run) = &out[10] else {
        panic!()
    };
    assert_eq!(
        run.mounts[0].mount.as_ref().unwrap().target.as_deref(),
        Some("/v")
    );
    assert!(matches!(&run.command, CommandLine::Shell(w) if w.value == "echo $V"));
    // CMD, ENTRYPOINT, HEALTHCHECK, SHELL and ONBUILD come back as written.
    assert_eq!(out[11..16], b.stages[0].instructions[11..16]);
    let Instruction::Healthcheck(h) = &out[13] else {
        panic!()
    };
    assert!(
        matches!(&h.health, Health::Cmd { command: CommandLine::Shell(w), .. } if w.value == "echo $V")
    );
}

#[test]
fn copy_heredocs_expand_only_with_an_unquoted_delimiter_and_run_heredocs_never() {
    let b = build(
        concat!(
            "FROM a\n",
            "ARG V=v\n",
            "COPY <<EOF /a\n$V \"q\" \\$V\nEOF\n",
            "COPY <<'EOF' /b\n$V\nEOF\n",
            "RUN <<EOF\necho $V\nEOF\n",
        ),
        &[],
    );
    let (_, out) = b.stage(0, &[]);
    let body = |i: &Instruction| match i {
        Instruction::Copy(c) => match &c.sources[0] {
            Source::Heredoc(h) => h.content.clone(),
            other => panic!("{other:?}"),
        },
        Instruction::Run(r) => r.heredocs[0].content.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body(&out[1]), "v \"q\" \\$V\n");
    assert_eq!(body(&out[2]), "$V\n");
    assert_eq!(body(&out[3]), "echo $V\n");
}

#[test]
fn heredoc_bodies_use_the_backslash_whatever_the_escape_directive() {
    let b = build(
        "# escape=`\nFROM a\nARG V=v\nCOPY <<EOF /a\n\\$V `$V\nEOF\nWORKDIR /`$V/$V\n",
        &[],
    );
    let (_, out) = b.stage(0, &[]);
    let Instruction::Copy(c) = &out[1] else {
        panic!()
    };
    assert!(matches!(&c.sources[0], Source::Heredoc(h) if h.content == "\\$V `v\n"));
    assert_eq!(workdir(&out[2]), "/$V/v");
}

#[test]
fn run_history_names_each_declared_arg_once_in_declaration_order() {
    let b = build("FROM a\nARG B=2\nARG A=1\nARG UNSET\nARG B=3\nRUN x\n", &[]);
    let (scope, _) = b.stage(0, &[]);
    assert_eq!(
        scope.history_args(),
        pairs(&[("B", "3"), ("A", "1"), ("UNSET", "")])
    );
    assert_eq!(
        scope.run_history(&sh("make all")),
        "|3 B=3 A=1 UNSET= /bin/sh -c make all"
    );
    let b = build("FROM a\nRUN x\n", &[]);
    assert_eq!(b.stage(0, &[]).0.run_history(&sh("x")), "/bin/sh -c x");
}

#[test]
fn cache_args_change_only_with_consumed_build_args() {
    let text = "FROM a\nARG A=1\nRUN x\n";
    let key = |args: &[(&str, &str)]| build(text, args).stage(0, &[]).0.cache_args();
    assert_eq!(key(&[]), pairs(&[("A", "1")]));
    assert_eq!(key(&[("A", "2")]), pairs(&[("A", "2")]));
    assert_eq!(key(&[("OTHER", "x"), ("HTTPS_PROXY", "p")]), key(&[]));
}

#[test]
fn unused_build_args_are_those_no_arg_declared() {
    let b = build(
        "ARG G\nFROM a\nARG S\nFROM b\n",
        &[
            ("G", "1"),
            ("S", "2"),
            ("NOPE", "3"),
            ("ALSO", "4"),
            ("ftp_proxy", "p"),
            ("TARGETARCH", "arm64"),
        ],
    );
    // Stage 0 not applied yet: S is still unused.
    assert_eq!(b.global.unused_build_args(), ["ALSO", "NOPE", "S"]);
    b.stage(0, &[]);
    b.stage(1, &[]);
    assert_eq!(b.global.unused_build_args(), ["ALSO", "NOPE"]);
    assert_eq!(
        b.global.unused_build_args_warning().unwrap(),
        "[Warning] One or more build-args [ALSO NOPE] were not consumed"
    );
    assert_eq!(
        build("FROM a\n", &[]).global.unused_build_args_warning(),
        None
    );
}

#[test]
fn an_arg_default_is_expanded_only_when_no_build_arg_replaces_it() {
    let text = "FROM a\nARG V=${NOPE:?unset}\n";
    let b = build(text, &[("V", "given")]);
    let mut scope = b.global.stage(&[]);
    assert!(scope.apply(&b.stages[0].instructions[0]).is_ok());
    let b = build(text, &[]);
    let e = b
        .global
        .stage(&[])
        .apply(&b.stages[0].instructions[0])
        .unwrap_err();
    assert_eq!((e.kind, e.pos), (ErrorKind::Expansion, Pos::new(2, 7)));
    assert_eq!(e.message, "NOPE: unset");
}

#[test]
fn errors_carry_the_line_and_column_of_the_word() {
    let e = build_with("ARG A=${X:?no}\nFROM a\n", &inputs(&[])).unwrap_err();
    assert_eq!((e.kind, e.pos), (ErrorKind::Expansion, Pos::new(1, 7)));
    let b = build(
        "ARG E\nFROM $E\nFROM --platform=$E a\nFROM --platform=x$E a\n",
        &[],
    );
    let e = b.global.expand_from(&b.stages[0].from).unwrap_err();
    assert_eq!((e.kind, e.pos), (ErrorKind::Arguments, Pos::new(2, 6)));
    assert!(e.message.starts_with("base name ($E) should not be blank"));
    let e = b.global.expand_from(&b.stages[1].from).unwrap_err();
    assert_eq!(e.pos, Pos::new(3, 17));
    assert_eq!(e.message, "empty platform value from expression $E");
    let e = b.global.expand_from(&b.stages[2].from).unwrap_err();
    assert!(e.message.starts_with("failed to parse platform x$E"));
    let b = build("FROM a\nUSER ${U:?who}\n", &[]);
    let e = b
        .global
        .stage(&[])
        .apply(&b.stages[0].instructions[0])
        .unwrap_err();
    assert_eq!((e.pos, e.message.as_str()), (Pos::new(2, 6), "U: who"));
}

#[test]
fn stage_expansion_uses_the_files_escape_token() {
    let b = build("# escape=`\nFROM a\nENV A=1\nWORKDIR C:\\`$A\\$A\n", &[]);
    let (_, out) = b.stage(0, &[]);
    assert_eq!(workdir(&out[1]), "C:\\$A\\1");
}

#[test]
fn display_substitutes_known_variables_and_keeps_the_rest() {
    let b = build("FROM a\nARG V=v\n", &[]);
    let (scope, _) = b.stage(0, &[]);
    assert_eq!(
        scope.display("RUN echo \"$V\" $NOPE"),
        "RUN echo \"v\" $NOPE"
    );
    assert_eq!(scope.display("RUN echo \"$V"), "RUN echo \"$V");
}

#[test]
fn platforms_parse_and_print_as_os_arch_variant() {
    let p = Platform::parse("linux/arm/v7").unwrap();
    assert_eq!(
        (p.os.as_str(), p.arch.as_str(), p.variant.as_str()),
        ("linux", "arm", "v7")
    );
    assert_eq!(p.to_string(), "linux/arm/v7");
    assert_eq!(
        Platform::parse("Linux/AMD64").unwrap().to_string(),
        "linux/amd64"
    );
    for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64", ""] {
        assert!(Platform::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Platform::host().os, "linux");
}

#[test]
fn scopes_can_be_used_from_several_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GlobalScope>();
    assert_send_sync::<StageScope>();
}

/// BuildKit's parser corpus `args` file: `ARG foo bar=baz` globally, `ARG abc="123 456" def`
/// in the stage.
#[test]
fn conformance_args_testfile_scopes_as_buildkit() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit/parser/testfiles/args/Dockerfile");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not present", path.display());
        return;
    };
    let b = build(&text, &[]);
    assert_eq!(b.global.get("bar"), Some("baz"));
    assert_eq!(b.global.get("foo"), None);
    let (scope, _) = b.stage(0, &[]);
    assert_eq!(scope.get("abc"), Some("123 456"));
    assert_eq!(scope.get("def"), None);
    assert_eq!(scope.get("bar"), None);
    assert_eq!(
        scope.history_args(),
        pairs(&[("abc", "123 456"), ("def", "")])
    );
}

/// Every Dockerfile of BuildKit's parser corpus goes through the scopes without a panic, and
/// any error points into the file.
#[test]
fn conformance_corpus_applies_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit/parser/testfiles");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is not present", dir.display());
        return;
    };
    let mut applied = 0;
    for entry in entries {
        let path = entry.unwrap().path().join("Dockerfile");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(df) = parse(&text) else { continue };
        let Ok(typed) = type_dockerfile(&df) else {
            continue;
        };
        let Ok((meta, stages)) = stages(&typed) else {
            continue;
        };
        let lines = text.lines().count() + 1;
        let global =
            match GlobalScope::new(&inputs(&[]), &meta, &stages, df.directives.escape_char()) {
                Ok(g) => g,
                Err(e) => {
                    assert!(
                        e.pos.line >= 1 && e.pos.line <= lines,
                        "{}: {e}",
                        path.display()
                    );
                    continue;
                }
            };
        for stage in &stages {
            let _ = global.expand_from(&stage.from);
            let mut scope = global.stage(&[]);
            for ins in &stage.instructions {
                if let Err(e) = scope.apply(ins) {
                    assert!(
                        e.pos.line >= 1 && e.pos.line <= lines,
                        "{}: {e}",
                        path.display()
                    );
                }
            }
            applied += 1;
        }
    }
    assert!(applied >= 20, "only {applied} stages applied");
}

#[test]
fn conformance_env_testfile_values_are_unquoted_as_buildkit_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit/parser/testfiles/env/Dockerfile");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not present", path.display());
        return;
    };
    let b = build(&text, &[]);
    let stage = &b.stages[0];
    let mut scope = b.global.stage(&[]);
    let mut values = Vec::new();
    for ins in &stage.instructions {
        if let Ok(Instruction::Env(p)) = scope.apply(ins) {
            values.push(
                p.pairs
                    .iter()
                    .map(|kv| kv.value.value.clone())
                    .collect::<Vec<_>>(),
            );
        }
    }
    assert_eq!(values[0], ["value"]);
    assert_eq!(values[4], ["value value2"]);
    assert_eq!(values[5], ["value'quote space'value2"]);
    assert_eq!(values[6], ["value\"double quote\"value2"]);
    assert_eq!(values[8], ["a\"b"]);
}

#[test]
fn undefined_var_warnings_name_unset_variables_unless_an_arg_declared_them() {
    let b = build(
        concat!(
            "FROM a\n",
            "ARG DECLARED\n",
            "ENV COLOUR=1\n",
            "WORKDIR /$DECLARED/$NOPE/${ALSO:-x}\n",
            "COPY <<EOF /f\n$INBODY\nEOF\n",
            "EXPOSE $PORT\n",
            "RUN echo $NOT_EXPANDED\n",
            "ENV X=$COLOR\n",
        ),
        &[],
    );
    let (scope, _) = b.stage(0, &["P=1", "PORT=80"]);
    let got: Vec<(usize, &str)> = scope
        .warnings()
        .iter()
        .map(|w| (w.pos.line, w.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (4, "UndefinedVar: Usage of undefined variable '$ALSO'"),
            (4, "UndefinedVar: Usage of undefined variable '$NOPE'"),
            (5, "UndefinedVar: Usage of undefined variable '$INBODY'"),
            (
                10,
                "UndefinedVar: Usage of undefined variable '$COLOR' (did you mean $COLOUR?)"
            ),
        ]
    );
}

#[test]
fn from_lines_warn_about_args_no_meta_arg_declares() {
    let b = build(
        "ARG VERSION\nFROM a:${VERSION:-1}\nFROM --platform=$PLATFORM b:$VERSIONS\n",
        &[],
    );
    assert!(b.global.check_from(&b.stages[0].from).is_empty());
    let got: Vec<String> = b
        .global
        .check_from(&b.stages[1].from)
        .into_iter()
        .map(|w| format!("{}: {}", w.pos.line, w.message))
        .collect();
    assert_eq!(
        got,
        [
            "3: UndefinedArgInFrom: FROM argument 'PLATFORM' is not declared",
            "3: UndefinedArgInFrom: FROM argument 'VERSIONS' is not declared (did you mean VERSION?)",
        ]
    );
}
