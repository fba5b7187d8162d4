//! `bale parse`: shows how bale reads a Dockerfile, as a listing or as BuildKit's syntax tree in
//! JSON.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bale_parser::{Dockerfile, Heredoc, Node};
use serde::Serialize;

/// Output formats of `bale parse`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A readable listing (see the command's help).
    #[default]
    Text,
    /// One JSON object: `directives` and `instructions`, BuildKit's syntax tree.
    Json,
}

/// Parse a Dockerfile, check its instructions and print its syntax tree.
///
/// The text format lists the honoured parser directives first, one per line as
/// `# NAME=VALUE  (line N)`, then one line per instruction:
///
///   LINES  KEYWORD [exec] ["--flag" ...] "arg" ...
///
/// LINES is the first line, or FIRST-LAST when the instruction spans several lines
/// (continuations and heredoc bodies included). `exec` marks arguments taken from a JSON array.
/// Flags and arguments are printed as JSON strings, exactly as the parser keeps them (no
/// variable expansion, quotes kept where BuildKit keeps them). An ONBUILD trigger follows its
/// keyword in parentheses. Each heredoc follows its instruction as
/// `<<NAME (expand|literal[, chomp][, fd N])` and its body lines prefixed with `| `.
/// Parser warnings go to stderr. A file bale cannot read, or whose instructions are wrong
/// (unknown instruction, bad flag, wrong arguments, ONBUILD FROM, ...), prints the error with its
/// line and a caret on stderr and exits with status 1.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ParseArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The Dockerfile to read, or `-` for standard input.
    pub file: PathBuf,
}

/// Runs `bale parse`.
pub fn run(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let (name, text) = read_input(&args.file)?;
    let dockerfile = match check(&text) {
        Ok(d) => d,
        Err(e) => {
            eprint!("{}", e.render(&name, &text));
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stderr = std::io::stderr().lock();
    for w in &dockerfile.warnings {
        writeln!(stderr, "warning: {name}:{}: {}", w.pos.line, w.message)?;
    }
    let out = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&JsonOut::new(&dockerfile))?;
            s.push('\n');
            s
        }
        Format::Text => text_listing(&dockerfile),
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Everything `bale parse` rejects a Dockerfile for: syntax errors, then the errors of
/// BuildKit's instruction layer (unknown instructions, bad flag values, wrong arguments, ONBUILD
/// FROM, ...). What BuildKit's parser corpus treats as valid syntax although a build rejects it
/// (an unknown `--flag`, an incomplete HEALTHCHECK: [`bale_parser::syntax_tolerates`]) is a
/// warning. Stages are checked only in a file with a FROM: a file without one is a fragment
/// (BuildKit's parser test files are), which `bale build` refuses on its own. Instruction
/// warnings join the parser's.
fn check(text: &str) -> bale_parser::Result<Dockerfile> {
    let mut dockerfile = bale_parser::parse(text)?;
    let escape = dockerfile.directives.escape_char();
    let mut typed = Vec::with_capacity(dockerfile.nodes.len());
    let mut tolerated = Vec::new();
    for node in &dockerfile.nodes {
        match bale_parser::type_node(node, escape) {
            Ok(i) => typed.push(i),
            Err(e) if bale_parser::syntax_tolerates(node, &e) => {
                tolerated.push(bale_parser::Warning {
                    pos: e.pos,
                    message: format!("{} (a build rejects this)", e.message),
                })
            }
            Err(e) => return Err(e),
        }
    }
    if typed
        .iter()
        .any(|i| matches!(i, bale_parser::Instruction::From(_)))
    {
        bale_parser::stages(&typed)?;
    }
    dockerfile.warnings.extend(bale_parser::warnings(&typed));
    dockerfile.warnings.extend(tolerated);
    dockerfile.warnings.sort_by_key(|w| w.pos);
    Ok(dockerfile)
}

/// The file's display name and text; `-` is standard input, shown as `<stdin>`. Bytes that are
/// not UTF-8 are replaced by U+FFFD.
fn read_input(file: &std::path::Path) -> anyhow::Result<(String, String)> {
    let mut bytes = Vec::new();
    let name = if file.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the Dockerfile from standard input")?;
        "<stdin>".to_string()
    } else {
        bytes = std::fs::read(file).with_context(|| {
            format!(
                "cannot read {}: check the path, or pass - to read standard input",
                file.display()
            )
        })?;
        file.display().to_string()
    };
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((name, text))
}

/// The JSON contract of `bale parse --format json`.
#[derive(Serialize)]
struct JsonOut<'a> {
    directives: std::collections::BTreeMap<&'static str, &'a str>,
    instructions: Vec<JsonNode<'a>>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    line: usize,
    end_line: usize,
    instruction: &'a str,
    flags: Vec<&'a str>,
    args: Vec<&'a str>,
    json: bool,
    heredocs: Vec<JsonHeredoc<'a>>,
    onbuild: Option<Box<JsonNode<'a>>>,
}

#[derive(Serialize)]
struct JsonHeredoc<'a> {
    name: &'a str,
    content: &'a str,
    expand: bool,
    chomp: bool,
    fd: u64,
}

impl<'a> JsonOut<'a> {
    fn new(d: &'a Dockerfile) -> Self {
        let mut directives = std::collections::BTreeMap::new();
        for (name, dir) in [
            ("syntax", &d.directives.syntax),
            ("escape", &d.directives.escape),
            ("check", &d.directives.check),
        ] {
            if let Some(dir) = dir {
                directives.insert(name, dir.value.as_str());
            }
        }
        JsonOut {
            directives,
            instructions: d.nodes.iter().map(JsonNode::new).collect(),
        }
    }
}

impl<'a> JsonNode<'a> {
    fn new(n: &'a Node) -> Self {
        JsonNode {
            line: n.line(),
            end_line: n.end_line,
            instruction: &n.keyword,
            flags: n.flags.iter().map(|w| w.value.as_str()).collect(),
            args: n.args.iter().map(|w| w.value.as_str()).collect(),
            json: n.json,
            heredocs: n
                .heredocs
                .iter()
                .map(|h| JsonHeredoc {
                    name: &h.name,
                    content: &h.content,
                    expand: h.expand,
                    chomp: h.chomp,
                    fd: h.fd,
                })
                .collect(),
            onbuild: n.onbuild.as_deref().map(|t| Box::new(JsonNode::new(t))),
        }
    }
}

/// A string as a JSON literal: unambiguous, one line.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The `--format text` listing described in the command's help.
fn text_listing(d: &Dockerfile) -> String {
    let mut out = String::new();
    let mut directives: Vec<_> = [
        ("syntax", &d.directives.syntax),
        ("escape", &d.directives.escape),
        ("check", &d.directives.check),
    ]
    .into_iter()
    .filter_map(|(name, dir)| dir.as_ref().map(|dir| (name, dir)))
    .collect();
    directives.sort_by_key(|(_, dir)| dir.line);
    for (name, dir) in directives {
        out.push_str(&format!("# {name}={}  (line {})\n", dir.value, dir.line));
    }
    for node in &d.nodes {
        let lines = if node.end_line > node.line() {
            format!("{}-{}", node.line(), node.end_line)
        } else {
            node.line().to_string()
        };
        out.push_str(&format!("{lines:<8} {}\n", instruction_text(node)));
        let mut heredocs: Vec<&Heredoc> = node.heredocs.iter().collect();
        let mut trigger = node.onbuild.as_deref();
        while let Some(t) = trigger {
            heredocs.extend(&t.heredocs);
            trigger = t.onbuild.as_deref();
        }
        for h in heredocs {
            let mut head = format!(
                "<<{} ({}",
                h.name,
                if h.expand { "expand" } else { "literal" }
            );
            if h.chomp {
                head.push_str(", chomp");
            }
            if h.fd != 0 {
                head.push_str(&format!(", fd {}", h.fd));
            }
            out.push_str(&format!("{:<8} {head})\n", ""));
            for line in h.content.lines() {
                out.push_str(&format!("{:<8} | {line}\n", ""));
            }
        }
    }
    out
}

/// `KEYWORD [exec] ["--flag" ...] "arg" ... (TRIGGER)` for one instruction.
fn instruction_text(node: &Node) -> String {
    let mut s = node.keyword.clone();
    if node.json {
        s.push_str(" exec");
    }
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| quoted(&f.value)).collect();
        s.push_str(&format!(" [{}]", flags.join(" ")));
    }
    for a in &node.args {
        s.push(' ');
        s.push_str(&quoted(&a.value));
    }
    if let Some(t) = &node.onbuild {
        s.push_str(&format!(" ({})", instruction_text(t)));
    }
    s
}
