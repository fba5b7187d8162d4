//! `bale debug`: tools to inspect bale's internals, such as shell-word expansion.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use bale_parser::Lexer;
use serde_json::{Value, json};

/// `bale debug` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DebugCommand {
    /// Expand a word as a Dockerfile instruction would.
    Expand(ExpandArgs),
}

/// Arguments of `bale debug expand`.
#[derive(clap::Args, Debug)]
pub struct ExpandArgs {
    /// Read JSON-lines requests on stdin and answer one JSON line each.
    #[arg(long)]
    batch: bool,
    /// The word to expand.
    #[arg(long, required_unless_present = "batch")]
    word: Option<String>,
    /// A variable in scope, as KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The escape token, `\` or `` ` ``.
    #[arg(long, default_value = "\\")]
    escape: char,
    /// Split the result into words and print one per line.
    #[arg(long)]
    words: bool,
}

/// Runs a `bale debug` subcommand.
pub fn run(cmd: DebugCommand) -> anyhow::Result<()> {
    match cmd {
        DebugCommand::Expand(args) => expand(args),
    }
}

fn expand(args: ExpandArgs) -> anyhow::Result<()> {
    if args.batch {
        return batch();
    }
    if args.escape != '\\' && args.escape != '`' {
        bail!(
            "--escape: invalid escape token '{}': use '\\' or '`'",
            args.escape
        );
    }
    let mut env = HashMap::new();
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env {kv}: expected KEY=VALUE"))?;
        env.insert(k.to_string(), v.to_string());
    }
    let word = args.word.unwrap_or_default();
    let lexer = Lexer::new(args.escape);
    if args.words {
        for w in lexer.process_words(&word, &env)? {
            println!("{w}");
        }
    } else {
        println!("{}", lexer.process_word(&word, &env)?);
    }
    Ok(())
}

fn answer(line: &str) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": format!("malformed request: {e}")}),
    };
    let Some(word) = req.get("word").and_then(Value::as_str) else {
        return json!({"error": "malformed request: \"word\" must be a string"});
    };
    let mut env = HashMap::new();
    if let Some(obj) = req.get("env").and_then(Value::as_object) {
        for (k, v) in obj {
            let Some(v) = v.as_str() else {
                return json!({"error": format!("malformed request: env {k} must be a string")});
            };
            env.insert(k.clone(), v.to_string());
        }
    }
    let escape = match req.get("escape").and_then(Value::as_str) {
        None | Some("\\") => '\\',
        Some("`") => '`',
        Some(o) => return json!({"error": format!("malformed request: invalid escape {o:?}")}),
    };
    let lexer = Lexer::new(escape);
    match req.get("mode").and_then(Value::as_str).unwrap_or("word") {
        "word" => match lexer.process_word(word, &env) {
            Ok(s) => json!({"result": s}),
            Err(e) => json!({"error": e.message}),
        },
        "words" => match lexer.process_words(word, &env) {
            Ok(s) => json!({"result": s}),
            Err(e) => json!({"error": e.message}),
        },
        m => json!({"error": format!("malformed request: unknown mode {m:?}")}),
    }
}

fn batch() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(out, "{}", answer(&line))?;
        out.flush()?;
    }
    Ok(())
}
