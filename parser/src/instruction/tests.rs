//! Typing tests: each instruction, each flag, each error, through the real syntax layer.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::parse;

fn typed(text: &str) -> Vec<Instruction> {
    let df = parse(text).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
    type_dockerfile(&df).unwrap_or_else(|e| panic!("{text:?} does not type: {e}"))
}

fn one(text: &str) -> Instruction {
    typed(&format!("FROM a\n{text}\n")).remove(1)
}

/// The error typing the second line of `FROM a\n{text}` raises.
fn err(text: &str) -> Error {
    let df = parse(&format!("FROM a\n{text}\n")).expect("parses");
    type_dockerfile(&df).expect_err("must not type")
}

fn msg(text: &str) -> String {
    err(text).message
}

fn values(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.value.as_str()).collect()
}

#[test]
fn from_with_platform_and_stage_name() {
    let Instruction::From(f) = one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build-1.x")
    else {
        panic!()
    };
    assert_eq!(f.image.value, "golang:1.22");
    assert_eq!(f.platform.unwrap().value, "$BUILDPLATFORM");
    let name = f.name.unwrap();
    assert_eq!(name.value, "build-1.x");
    assert_eq!(name.pos, Pos::new(2, 47));
    assert_eq!(f.loc.pos, Pos::new(2, 1));
    let Instruction::From(f) = one("from scratch") else {
        panic!()
    };
    assert!(f.name.is_none() && f.platform.is_none());
}

#[test]
fn from_errors() {
    let e = err("FROM a AS 1x");
    assert_eq!(e.pos, Pos::new(2, 11));
    assert!(e.message.starts_with(
        "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    ));
    assert!(msg("FROM a AS b$c").starts_with("invalid name for build stage"));
    assert!(msg("FROM a b").starts_with("FROM requires either one or three arguments"));
    assert!(msg("FROM a IS b").starts_with("FROM expects AS before the stage name"));
    assert!(msg("FROM a AS b c").starts_with("FROM requires either one or three"));
    assert!(msg("FROM").starts_with("FROM requires either one or three"));
    assert_eq!(
        msg("FROM --plat=x a"),
        "unknown flag: --plat (allowed: --platform)"
    );
}

#[test]
fn run_forms_flags_and_heredocs() {
    let Instruction::Run(r) = one(
        "RUN --mount=type=cache,target=/c --mount=type=secret,id=t --network=none --security=insecure echo hi",
    ) else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].mount.as_ref().unwrap().kind, MountType::Cache);
    assert_eq!(r.mounts[1].mount.as_ref().unwrap().kind, MountType::Secret);
    assert_eq!(r.network, Some(Network::None));
    assert_eq!(r.security, Some(Security::Insecure));
    assert_eq!(
        r.command,
        CommandLine::Shell(Word::new("echo hi", Pos::new(2, 94)))
    );
    let Instruction::Run(r) = one("RUN [\"echo\", \"hi\"]") else {
        panic!()
    };
    let CommandLine::Exec(v) = r.command else {
        panic!()
    };
    assert_eq!(values(&v), ["echo", "hi"]);
    let Instruction::Run(r) = one("RUN <<EOF\necho hi\nEOF") else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo hi\n");
    assert_eq!(r.loc.end_line, 4);
}

#[test]
fn run_flag_errors() {
    let e = err("RUN --mount=type=cache,target=/c,sharing=all x");
    assert_eq!(e.kind, ErrorKind::Flag);
    assert_eq!(e.pos, Pos::new(2, 13));
    assert!(
        e.message
            .starts_with("--mount: unsupported sharing value \"all\"")
    );
    assert!(msg("RUN --network=bridge x").starts_with("unsupported network mode"));
    assert!(msg("RUN --security=x x").starts_with("unsupported security mode"));
    assert!(msg("RUN --mount type=cache x").starts_with("missing a value on flag: --mount"));
    assert!(msg("RUN --network=none --network=host x").starts_with("duplicate flag"));
}

#[test]
fn cmd_and_entrypoint() {
    let Instruction::Cmd(c) = one("CMD [\"a\", \"b\"]") else {
        panic!()
    };
    assert!(matches!(c.command, CommandLine::Exec(ref v) if v.len() == 2));
    let Instruction::Entrypoint(c) = one("ENTRYPOINT exec \"$0\"") else {
        panic!()
    };
    assert!(matches!(c.command, CommandLine::Shell(ref w) if w.value == "exec \"$0\""));
    let Instruction::Cmd(c) = one("CMD []") else {
        panic!()
    };
    assert!(c.command.is_empty());
    assert!(msg("CMD --x a").starts_with("unknown flag: --x (CMD takes no flags)"));
}

#[test]
fn env_and_label_pairs() {
    let Instruction::Env(p) = one("ENV A=1 B=\"two words\"") else {
        panic!()
    };
    assert_eq!(p.pairs.len(), 2);
    assert_eq!(p.pairs[1].key.value, "B");
    assert_eq!(p.pairs[1].value.value, "\"two words\"");
    let Instruction::Env(p) = one("ENV A legacy form") else {
        panic!()
    };
    assert_eq!(p.pairs[0].value.value, "legacy form");
    let Instruction::Label(p) = one("LABEL org.a=b \"c d\"=e") else {
        panic!()
    };
    assert_eq!(p.pairs.len(), 2);
    assert!(msg("ENV =x").starts_with("ENV names can not be blank"));
    assert!(msg("LABEL =x").starts_with("LABEL names can not be blank"));
    assert!(msg("LABEL").starts_with("LABEL requires at least one argument"));
}

#[test]
fn maintainer_is_typed_and_warned() {
    let ins = typed("FROM a\nMAINTAINER Jane <j@x>\n");
    let Instruction::Maintainer(m) = &ins[1] else {
        panic!()
    };
    assert_eq!(m.name.value, "Jane <j@x>");
    let w = warnings(&ins);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].pos.line, 2);
    assert!(
        w[0].message
            .starts_with("MAINTAINER instruction is deprecated")
    );
}

#[test]
fn expose_ports() {
    let Instruction::Expose(e) = one("EXPOSE 80 443/tcp 53/udp 8000-8010 $PORT") else {
        panic!()
    };
    // Sorted as BuildKit sorts them: $PORT 443/tcp 53/udp 80 8000-8010.
    assert_eq!(e.ports.len(), 5);
    assert!(e.ports[0].range.is_none());
    assert_eq!(e.ports[2].range.unwrap().protocol, Protocol::Udp);
    assert_eq!(e.ports[4].range.unwrap().end, 8010);
    let e = err("EXPOSE 80 80/icmp");
    assert_eq!(e.pos, Pos::new(2, 11));
    let Instruction::Volume(v) = one("VOLUME [\" /a \"]") else {
        panic!()
    };
    assert_eq!(v.paths[0].value, "/a");
    assert!(e.message.starts_with("invalid proto"));
    assert!(msg("EXPOSE").starts_with("EXPOSE requires at least one argument"));
}

#[test]
fn copy_and_add_flags() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=1:1 --chmod=u+x,g-w --link --parents --exclude=*.md --exclude=.git a b /dst/",
    ) else {
        panic!()
    };
    assert_eq!(c.from.unwrap().value, "build");
    assert_eq!(c.chown.unwrap().value, "1:1");
    assert!(matches!(c.chmod.unwrap().mode, Some(FileMode::Symbolic(_))));
    assert!(c.link && c.parents);
    assert_eq!(values(&c.exclude), ["*.md", ".git"]);
    assert_eq!(c.sources.len(), 2);
    assert_eq!(c.dest.value, "/dst/");
    let Instruction::Add(a) = one(
        "ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --chmod=0755 https://x/y.git /src",
    ) else {
        panic!()
    };
    assert_eq!(a.checksum.unwrap().value, "sha256:abc");
    assert!(a.keep_git_dir);
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.chmod.unwrap().mode, Some(FileMode::Octal(0o755)));
    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c\"]") else {
        panic!()
    };
    assert!(c.json);
    assert_eq!(c.sources, [Source::Path(Word::new("a b", c.sources_pos()))]);
}

impl Copy {
    fn sources_pos(&self) -> Pos {
        match &self.sources[0] {
            Source::Path(w) => w.pos,
            Source::Heredoc(_) => self.loc.pos,
        }
    }
}

#[test]
fn copy_heredoc_sources() {
    let Instruction::Copy(c) = one("COPY <<A <<B /dst/\na\nA\nb\nB") else {
        panic!()
    };
    assert_eq!(c.sources.len(), 2);
    assert!(matches!(&c.sources[1], Source::Heredoc(h) if h.name == "B" && h.content == "b\n"));
    let Instruction::Copy(c) = one("COPY <<\"B\" <<-A /dst/\nb\nB\n\ta\nA") else {
        panic!()
    };
    assert!(matches!(&c.sources[0], Source::Heredoc(h) if h.name == "B" && !h.expand));
    assert!(matches!(&c.sources[1], Source::Heredoc(h) if h.name == "A" && h.chomp));
    let e = err("COPY a <<EOF\nx\nEOF");
    assert_eq!(e.pos, Pos::new(2, 8));
    assert!(
        e.message
            .starts_with("COPY cannot accept a heredoc as a destination")
    );
}

#[test]
fn copy_and_add_errors() {
    let e = err("COPY onlyone");
    assert_eq!(e.kind, ErrorKind::Arguments);
    assert_eq!(e.pos, Pos::new(2, 6));
    assert!(
        e.message
            .starts_with("COPY requires at least two arguments, but only one was provided")
    );
    assert!(msg("ADD x").starts_with("ADD requires at least two arguments"));
    assert_eq!(
        msg("COPY --frm=x a b"),
        "unknown flag: --frm (allowed: --from, --chown, --chmod, --link, --parents, --exclude)"
    );
    assert!(msg("ADD --from=x a b").starts_with("unknown flag: --from (allowed: --chown"));
    let e = err("COPY --chmod=999 a b");
    assert_eq!(e.pos, Pos::new(2, 14));
    assert!(e.message.starts_with("invalid chmod parameter \"999\""));
    assert!(msg("COPY --chmod=u+q a b").starts_with("invalid chmod parameter"));
    assert!(msg("COPY --link=maybe a b").starts_with("expecting boolean value"));
    let e = err("ADD --checksum=sha256:0 local.tgz /x");
    assert_eq!(e.pos, Pos::new(2, 16));
    assert!(
        e.message
            .starts_with("checksum can't be specified for non-HTTP(S) sources: local.tgz")
    );
    assert!(matches!(
        one("ADD --checksum=sha256:0 $URL /x"),
        Instruction::Add(_)
    ));
    assert!(matches!(
        one("ADD --checksum=abc git@github.com:a/b.git /x"),
        Instruction::Add(_)
    ));
}

#[test]
fn volume_user_workdir_stopsignal() {
    let Instruction::Volume(v) = one("VOLUME [\"/a\", \"/b\"]") else {
        panic!()
    };
    assert_eq!(values(&v.paths), ["/a", "/b"]);
    let Instruction::User(u) = one("USER app:app") else {
        panic!()
    };
    assert_eq!(u.value.value, "app:app");
    let Instruction::Workdir(w) = one("WORKDIR /app") else {
        panic!()
    };
    assert_eq!(w.value.value, "/app");
    let Instruction::Stopsignal(s) = one("STOPSIGNAL SIGTERM") else {
        panic!()
    };
    assert_eq!(s.value.value, "SIGTERM");
    assert!(msg("VOLUME [\"\"]").starts_with("VOLUME specified can not be an empty string"));
    assert!(msg("VOLUME").starts_with("VOLUME requires at least one argument"));
    assert!(msg("USER").starts_with("USER requires exactly one argument"));
    assert!(msg("WORKDIR").starts_with("WORKDIR requires exactly one argument"));
    assert!(msg("STOPSIGNAL").starts_with("STOPSIGNAL requires exactly one argument"));
}

#[test]
fn arg_declarations() {
    let Instruction::Arg(a) = one("ARG A B=2 C=\"x y\"") else {
        panic!()
    };
    assert_eq!(a.args.len(), 3);
    assert!(a.args[0].default.is_none());
    assert_eq!(a.args[1].default.as_ref().unwrap().value, "2");
    assert_eq!(a.args[1].default.as_ref().unwrap().pos, Pos::new(2, 9));
    assert_eq!(a.args[2].default.as_ref().unwrap().value, "\"x y\"");
    assert!(msg("ARG =x").starts_with("ARG names can not be blank"));
    assert!(msg("ARG").starts_with("ARG requires at least one argument"));
}

#[test]
fn onbuild_triggers() {
    let Instruction::Onbuild(o) = one("ONBUILD RUN echo hi") else {
        panic!()
    };
    assert!(matches!(*o.trigger, Instruction::Run(_)));
    assert_eq!(o.expression, "RUN echo hi");
    let Instruction::Onbuild(o) = one("onbuild   COPY <<EOF /x\nhi\nEOF") else {
        panic!()
    };
    assert_eq!(o.expression, "COPY <<EOF /x\nhi\nEOF");
    let e = err("ONBUILD FROM x");
    assert_eq!(e.message, "FROM isn't allowed as an ONBUILD trigger");
    assert_eq!(e.pos, Pos::new(2, 9));
    assert_eq!(
        msg("ONBUILD MAINTAINER x"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        msg("ONBUILD ONBUILD RUN x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    // The trigger is typed as well.
    assert!(msg("ONBUILD COPY x").starts_with("COPY requires at least two arguments"));
}

#[test]
fn healthcheck() {
    let Instruction::Healthcheck(h) = one(
        "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=500ms --retries=3 CMD curl -f http://x/",
    ) else {
        panic!()
    };
    let Health::Cmd {
        command,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    } = h.health
    else {
        panic!()
    };
    assert!(matches!(command, CommandLine::Shell(w) if w.value == "curl -f http://x/"));
    assert_eq!(interval, Some(Duration::from_secs(90)));
    assert_eq!(timeout, Some(Duration::from_secs(10)));
    assert_eq!(start_period, Some(Duration::from_secs(5)));
    assert_eq!(start_interval, Some(Duration::from_millis(500)));
    assert_eq!(retries, Some(3));
    let Instruction::Healthcheck(h) = one("HEALTHCHECK CMD [\"true\"]") else {
        panic!()
    };
    assert!(matches!(
        h.health,
        Health::Cmd {
            command: CommandLine::Exec(_),
            ..
        }
    ));
    let Instruction::Healthcheck(h) = one("HEALTHCHECK none") else {
        panic!()
    };
    assert_eq!(h.health, Health::None);
}

#[test]
fn healthcheck_errors() {
    assert!(msg("HEALTHCHECK NONE x").starts_with("HEALTHCHECK NONE takes no arguments"));
    // As BuildKit: the options of HEALTHCHECK NONE are never read; other types take them.
    assert!(matches!(
        one("HEALTHCHECK --interval=1s NONE"),
        Instruction::Healthcheck(_)
    ));
    assert!(msg("HEALTHCHECK --interval=1s PING x").starts_with("Unknown type"));
    assert!(
        msg("HEALTHCHECK --intervl=1s CMD x")
            .starts_with("unknown flag: --intervl (allowed: --interval, --timeout")
    );
    assert!(msg("HEALTHCHECK PING x").starts_with("Unknown type \"PING\" in HEALTHCHECK"));
    assert!(msg("HEALTHCHECK CMD").starts_with("Missing command after HEALTHCHECK CMD"));
    assert!(msg("HEALTHCHECK --interval=1x CMD true").starts_with("--interval: unknown unit"));
    assert!(msg("HEALTHCHECK --timeout=5 CMD true").starts_with("--timeout: missing unit"));
    assert!(
        msg("HEALTHCHECK --start-period=1ns CMD true")
            .starts_with("Interval \"start-period\" cannot be less than 1ms")
    );
    assert_eq!(
        msg("HEALTHCHECK --retries=-1 CMD true"),
        "--retries cannot be negative (-1)"
    );
    assert!(
        msg("HEALTHCHECK --retries=x CMD true").starts_with("--retries must be a whole number")
    );
    assert!(msg("HEALTHCHECK").starts_with("HEALTHCHECK requires at least one argument"));
}

#[test]
fn shell_must_be_json() {
    let Instruction::Shell(s) = one("SHELL [\"/bin/bash\", \"-c\"]") else {
        panic!()
    };
    assert_eq!(values(&s.shell), ["/bin/bash", "-c"]);
    let e = err("SHELL /bin/bash -c");
    assert_eq!(e.pos, Pos::new(2, 7));
    assert!(
        e.message
            .starts_with("SHELL requires the arguments to be in JSON form")
    );
    assert!(msg("SHELL").starts_with("SHELL requires at least one argument"));
}

#[test]
fn unknown_instruction_suggests() {
    let e = err("RUNN echo");
    assert_eq!(e.kind, ErrorKind::UnknownInstruction);
    assert_eq!(e.pos, Pos::new(2, 1));
    assert_eq!(e.message, "unknown instruction: RUNN (did you mean RUN?)");
    assert_eq!(
        msg("COPPY a b"),
        "unknown instruction: COPPY (did you mean COPY?)"
    );
    assert_eq!(
        msg("ENTRYPIONT x"),
        "unknown instruction: ENTRYPIONT (did you mean ENTRYPOINT?)"
    );
    assert!(msg("XYZZY a").starts_with("unknown instruction: XYZZY (instructions are ADD, ARG"));
}

#[test]
fn hand_built_node_types_without_the_syntax_layer() {
    let node = Node {
        keyword: "WORKDIR".into(),
        pos: Pos::new(3, 1),
        end_line: 3,
        flags: vec![],
        args: vec![Word::new("/x", Pos::new(3, 9))],
        json: false,
        heredocs: vec![],
        onbuild: None,
        original: "WORKDIR /x".into(),
        comments: vec![],
    };
    let Instruction::Workdir(w) = type_node(&node, '\\').unwrap() else {
        panic!()
    };
    assert_eq!(
        w.loc,
        Location {
            pos: Pos::new(3, 1),
            end_line: 3
        }
    );
    let too_many = Node {
        args: vec![
            Word::new("/x", Pos::new(3, 9)),
            Word::new("/y", Pos::new(3, 12)),
        ],
        ..node
    };
    let e = type_node(&too_many, '\\').unwrap_err();
    assert_eq!(e.pos, Pos::new(3, 12));
    assert_eq!(e.message, "WORKDIR requires exactly one argument, got 2");
}

#[test]
fn stages_group_and_check() {
    let ins = typed("ARG V=1\nFROM a AS base\nRUN x\nFROM base\nCOPY --from=base a b\n");
    let (globals, st) = stages(&ins).unwrap();
    assert_eq!(globals.len(), 1);
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].name.as_ref().unwrap().value, "base");
    assert_eq!(st[1].index, 1);
    assert_eq!(st[1].base().value, "base");
    assert_eq!(st[1].instructions.len(), 1);
    let e = stages(&typed("RUN x\nFROM a\n")).unwrap_err();
    assert_eq!(e.pos, Pos::new(1, 1));
    assert!(e.message.starts_with("RUN before the first FROM"));
    let e = stages(&typed("FROM a AS b\nFROM c AS B\n")).unwrap_err();
    assert_eq!(e.pos, Pos::new(2, 11));
    assert!(
        e.message
            .starts_with("duplicate stage name \"b\": already used on line 1")
    );
}

/// Expands `$NAME` and `${NAME}` from a map; splits on blanks for `words`.
struct MapExpander(HashMap<&'static str, &'static str>);

impl MapExpander {
    fn subst(&self, s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                let end = b.find('}').ok_or("missing '}'")?;
                (&b[..end], &b[end + 1..])
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push_str(self.0.get(name).copied().unwrap_or(""));
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl Expander for MapExpander {
    fn word(&self, word: &str) -> Result<String, String> {
        Ok(self.subst(word)?.replace('"', ""))
    }
    fn words(&self, word: &str) -> Result<Vec<String>, String> {
        Ok(self
            .subst(word)?
            .split_whitespace()
            .map(String::from)
            .collect())
    }
    fn heredoc(&self, body: &str) -> Result<String, String> {
        self.subst(body)
    }
}

fn env() -> MapExpander {
    MapExpander(HashMap::from([
        ("IMG", "alpine"),
        ("DIR", "/app"),
        ("PORTS", "80 443"),
        ("MODE", "0640"),
        ("U", "1000"),
    ]))
}

#[test]
fn expansion_applies_where_buildkit_applies_it() {
    let ins = typed(concat!(
        "FROM --platform=$DIR $IMG AS x\n",
        "WORKDIR $DIR\n",
        "ENV P=$DIR/bin\n",
        "EXPOSE $PORTS\n",
        "COPY --chmod=$MODE --chown=$U <<EOF $DIR/\n$U \"q\"\nEOF\n",
        "RUN --mount=type=cache,target=$DIR,uid=$U echo $DIR\n",
        "CMD echo $DIR\n",
        "ENTRYPOINT [\"$DIR\"]\n",
        "USER $U\n",
        "ARG A=$DIR\n",
    ));
    let ex = env();
    let out: Vec<Instruction> = ins.iter().map(|i| i.expand(&ex).unwrap()).collect();
    let Instruction::From(f) = &out[0] else {
        panic!()
    };
    assert_eq!(f.image.value, "alpine");
    assert_eq!(f.platform.as_ref().unwrap().value, "/app");
    let Instruction::Workdir(w) = &out[1] else {
        panic!()
    };
    assert_eq!(w.value.value, "/app");
    let Instruction::Env(e) = &out[2] else {
        panic!()
    };
    assert_eq!(e.pairs[0].value.value, "/app/bin");
    let Instruction::Expose(e) = &out[3] else {
        panic!()
    };
    assert_eq!(e.ports.len(), 2);
    assert_eq!(e.ports[1].range.unwrap().start, 443);
    let Instruction::Copy(c) = &out[4] else {
        panic!()
    };
    assert_eq!(c.chmod.as_ref().unwrap().mode, Some(FileMode::Octal(0o640)));
    assert_eq!(c.chown.as_ref().unwrap().value, "1000");
    assert_eq!(c.dest.value, "/app/");
    assert!(matches!(&c.sources[0], Source::Heredoc(h) if h.content == "1000 \"q\"\n"));
    let Instruction::Run(r) = &out[5] else {
        panic!()
    };
    let m = r.mounts[0].mount.as_ref().unwrap();
    assert_eq!((m.target.as_deref(), m.uid), (Some("/app"), Some(1000)));
    assert_eq!(
        r.command,
        CommandLine::Shell(Word::new("echo $DIR", r.command_pos()))
    );
    assert_eq!(out[6], ins[6]);
    assert_eq!(out[7], ins[7]);
    let Instruction::User(u) = &out[8] else {
        panic!()
    };
    assert_eq!(u.value.value, "1000");
    let Instruction::Arg(a) = &out[9] else {
        panic!()
    };
    assert_eq!(a.args[0].default.as_ref().unwrap().value, "/app");
}

#[test]
fn copy_from_and_exclude_stay_as_written_as_buildkit_leaves_them() {
    let ins = typed(concat!(
        "FROM a\n",
        "COPY --from=$IMG --exclude=$DIR/*.tmp $DIR/x /y\n",
        "ADD --exclude=$DIR --chown=$U $DIR /z\n",
        "RUN <<EOF\necho $DIR\nEOF\n",
    ));
    let ex = env();
    let Instruction::Copy(c) = ins[1].expand(&ex).unwrap() else {
        panic!()
    };
    assert_eq!(c.from.unwrap().value, "$IMG");
    assert_eq!(c.exclude[0].value, "$DIR/*.tmp");
    assert!(matches!(&c.sources[0], Source::Path(w) if w.value == "/app/x"));
    let Instruction::Add(a) = ins[2].expand(&ex).unwrap() else {
        panic!()
    };
    assert_eq!(a.exclude[0].value, "$DIR");
    assert_eq!(a.chown.unwrap().value, "1000");
    let Instruction::Run(r) = ins[3].expand(&ex).unwrap() else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo $DIR\n");
}

#[test]
fn volume_expanding_to_nothing_is_an_error() {
    let ins = typed("FROM a\nVOLUME /ok $NONE\n");
    let e = ins[1].expand(&env()).unwrap_err();
    assert_eq!((e.kind, e.pos), (ErrorKind::Arguments, Pos::new(2, 12)));
    assert!(
        e.message
            .starts_with("VOLUME specified can not be an empty string")
    );
}

impl Run {
    fn command_pos(&self) -> Pos {
        match &self.command {
            CommandLine::Shell(w) => w.pos,
            CommandLine::Exec(_) => self.loc.pos,
        }
    }
}

#[test]
fn expansion_errors_carry_positions() {
    let ins = typed("FROM a\nCOPY --chmod=$BAD a b\nWORKDIR ${X\n");
    let ex = MapExpander(HashMap::from([("BAD", "u+q")]));
    let e = ins[1].expand(&ex).unwrap_err();
    assert_eq!(e.pos, Pos::new(2, 14));
    assert!(e.message.starts_with("invalid chmod parameter"));
    let e = ins[2].expand(&ex).unwrap_err();
    assert_eq!((e.kind, e.pos), (ErrorKind::Expansion, Pos::new(3, 9)));
}

/// Typing never panics, whatever the syntax layer accepts: thousands of deterministic random
/// edits of a file that uses every instruction and flag.
#[test]
fn random_edits_never_panic_and_errors_stay_in_the_file() {
    let base = concat!(
        "ARG B=alpine\nFROM --platform=$P $B AS s0\n",
        "RUN --mount=type=cache,target=/c,sharing=locked,mode=0755,uid=1 --network=none x\n",
        "COPY --from=s0 --chmod=u+x,g-w --chown=1 --link --exclude=a <<EOF /d/\nbody\nEOF\n",
        "ADD --checksum=sha256:0 --keep-git-dir https://x/a.git /b\nEXPOSE 80/tcp 1-2/udp\n",
        "HEALTHCHECK --interval=1m30s --timeout=1s --retries=3 CMD [\"x\"]\n",
        "ONBUILD RUN x\nSHELL [\"sh\", \"-c\"]\nENV A=1 B=2\nLABEL a=b\nUSER u\nWORKDIR /w\n",
        "STOPSIGNAL 9\nVOLUME /v\nENTRYPOINT [\"e\"]\nCMD c\nMAINTAINER m\n",
    );
    let alphabet: Vec<char> = "-=,:/$\"'[]\\ \n0123456789abcxyzASFROMCDNE<>{}+u.#\t`"
        .chars()
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut typed_ok = 0;
    for _ in 0..3000 {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..1 + next(4) {
            let at = next(chars.len());
            match next(3) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, alphabet[next(alphabet.len())]),
                _ => chars[at] = alphabet[next(alphabet.len())],
            }
        }
        let text: String = chars.into_iter().collect();
        let lines = text.split('\n').count();
        let Ok(df) = parse(&text) else { continue };
        match type_dockerfile(&df) {
            Ok(ins) => {
                typed_ok += 1;
                if let Err(e) = stages(&ins) {
                    assert!(e.pos.line >= 1 && e.pos.line <= lines, "{text:?}: {e}");
                }
                let ex = env();
                for i in &ins {
                    if let Err(e) = i.expand(&ex) {
                        assert!(e.pos.line >= 1 && e.pos.line <= lines, "{text:?}: {e}");
                    }
                }
            }
            Err(e) => assert!(e.pos.line >= 1 && e.pos.line <= lines, "{text:?}: {e}"),
        }
    }
    assert!(typed_ok > 100, "only {typed_ok} edits typed");
}

#[test]
fn syntax_check_tolerates_only_what_buildkits_parser_corpus_accepts() {
    let tolerated = |line: &str| {
        let df = parse(&format!("FROM a\n{line}\n")).expect("parses");
        let node = &df.nodes[1];
        let e = type_node(node, '\\').expect_err("must not type");
        syntax_tolerates(node, &e)
    };
    assert!(tolerated("COPY --doit=true a b"));
    assert!(tolerated("CMD --doit [\"a\"]"));
    assert!(tolerated("HEALTHCHECK"));
    assert!(tolerated("HEALTHCHECK CMD"));
    assert!(tolerated("HEALTHCHECK CONNECT TCP 7000"));
    assert!(!tolerated("HEALTHCHECK NONE x"));
    assert!(!tolerated("HEALTHCHECK --retries=-1 CMD x"));
    assert!(!tolerated("COPY a"));
    assert!(!tolerated("COPY --chmod=9 a b"));
    assert!(!tolerated("RUNN x"));
    assert!(!tolerated("ONBUILD FROM x"));
    let df = parse("FROM --doit a\n").expect("parses");
    let e = type_node(&df.nodes[0], '\\').expect_err("unknown flag");
    assert!(!syntax_tolerates(&df.nodes[0], &e));
}
