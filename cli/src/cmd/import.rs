//! `bale import`: a root filesystem tarball (file, URL or stdin) becomes a one-layer image, with
//! `--change` instructions applied to its config.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bale_image::Reference;
use bale_image::archive::import::{ImportOptions, import};
use bale_image::config::ContainerConfig;

use super::Globals;

/// Import the contents from a tarball to create a filesystem image
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply a Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// A tarball (plain, gzip, bzip2, xz or zstd): a file, an http(s) URL, or `-` for STDIN
    #[arg(value_name = "file|URL|-")]
    source: String,
    /// Name of the image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// Runs `bale import`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut config = ContainerConfig::default();
    for change in &args.changes {
        apply_change(&mut config, change)?;
    }
    let names = tag_names(args.reference.as_deref())?;
    let (input, source): (Box<dyn Read>, String) = match args.source.as_str() {
        "-" => (Box::new(io::stdin().lock()), "-".into()),
        url if url.starts_with("http://") || url.starts_with("https://") => {
            let response = ureq::get(url)
                .call()
                .with_context(|| format!("downloading {url}"))?;
            (
                Box::new(response.into_body().into_reader()),
                url.to_string(),
            )
        }
        path => {
            let file = File::open(path).with_context(|| format!("opening {path}"))?;
            // The docker CLI sends a file as the request body, so docker records it as "-".
            (Box::new(file), "-".into())
        }
    };
    let store = globals.store()?;
    let options = ImportOptions {
        source,
        message: args.message.clone(),
        config,
        names,
    };
    let image = import(&store, BufReader::with_capacity(1 << 20, input), &options)?;
    println!("{}", image.id);
    Ok(ExitCode::SUCCESS)
}

/// Applies one `--change` instruction, as `docker import --change` does.
/// The name a new image gets from `REPOSITORY[:TAG]` (none without one); a digest is refused,
/// as docker does.
pub fn tag_names(reference: Option<&str>) -> anyhow::Result<Vec<Reference>> {
    let Some(r) = reference else {
        return Ok(Vec::new());
    };
    let r = Reference::parse_tagged(r)?;
    if r.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    Ok(vec![r])
}

pub fn apply_change(config: &mut ContainerConfig, change: &str) -> anyhow::Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(w, r)| (w, r.trim()));
    let instruction = word.to_ascii_uppercase();
    let need_args = || -> anyhow::Result<()> {
        if rest.is_empty() {
            bail!("{instruction} requires at least one argument");
        }
        Ok(())
    };
    match instruction.as_str() {
        "CMD" => {
            need_args()?;
            config.cmd = Some(command_form(rest));
        }
        "ENTRYPOINT" => {
            need_args()?;
            config.entrypoint = Some(command_form(rest));
        }
        "ENV" => {
            need_args()?;
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(&instruction, rest)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            need_args()?;
            let labels = config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in key_values(&instruction, rest)? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            need_args()?;
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for spec in rest.split_whitespace() {
                for p in expand_port(spec)? {
                    ports.insert(p, serde_json::json!({}));
                }
            }
        }
        "VOLUME" => {
            need_args()?;
            let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
            let paths = json_array(rest)
                .unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
            for p in paths {
                if p.trim().is_empty() {
                    bail!("VOLUME specified can not be an empty string");
                }
                volumes.insert(p, serde_json::json!({}));
            }
        }
        "USER" => {
            need_args()?;
            config.user = Some(rest.to_string());
        }
        "WORKDIR" => {
            need_args()?;
            config.working_dir = Some(rest.to_string());
        }
        "STOPSIGNAL" => {
            need_args()?;
            config.stop_signal = Some(rest.to_string());
        }
        "ONBUILD" => {
            need_args()?;
            let (trigger, body) = rest
                .split_once(char::is_whitespace)
                .map_or((rest, ""), |(t, b)| (t, b.trim()));
            let trigger = trigger.to_ascii_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                bail!("{trigger} isn't allowed as an ONBUILD trigger");
            }
            let text = if body.is_empty() {
                trigger
            } else {
                format!("{trigger} {body}")
            };
            config.on_build.get_or_insert_with(Vec::new).push(text);
        }
        _ => bail!("{word} is not a valid change command"),
    }
    Ok(())
}

/// The exec form (a JSON array of strings) or the shell form (`/bin/sh -c TEXT`).
fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form (the value is the rest of the line).
fn key_values(instruction: &str, rest: &str) -> anyhow::Result<Vec<(String, String)>> {
    let words = shell_words(rest)?;
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .with_context(|| format!("{instruction} must have two arguments"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => bail!("{instruction} names can not be blank"),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => bail!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
        })
        .collect()
}

/// Splits on unquoted whitespace; `"..."` (with `\` escapes) and `'...'` quote, `\` escapes.
fn shell_words(text: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => bail!(
                            "unexpected end of statement while looking for matching single-quote"
                        ),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => bail!(
                                "unexpected end of statement while looking for matching double-quote"
                            ),
                        },
                        Some(n) => word.push(n),
                        None => bail!(
                            "unexpected end of statement while looking for matching double-quote"
                        ),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `80` -> `80/tcp`; `53/udp` stays; `8000-8002` -> each port, as BuildKit expands ranges.
fn expand_port(spec: &str) -> anyhow::Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    let parse = |p: &str| -> anyhow::Result<u16> {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        bail!("invalid range specified for container port: {ports}");
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::default();
        for ch in changes {
            apply_change(&mut c, ch).unwrap();
        }
        c
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = cfg(&[r#"CMD ["echo", "hi"]"#, "entrypoint /bin/sh -c 'x'"]);
        assert_eq!(c.cmd.unwrap(), ["echo", "hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/sh -c 'x'"]);
    }

    #[test]
    fn env_and_label_forms() {
        let c = cfg(&[
            r#"ENV A=1 B="two words" C=a\ b"#,
            "ENV D legacy value here",
            "ENV A=3",
            r#"LABEL "com.x"=y z='q r'"#,
        ]);
        assert_eq!(
            c.env.unwrap(),
            ["B=two words", "C=a b", "D=legacy value here", "A=3"]
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["com.x"], "y");
        assert_eq!(labels["z"], "q r");
    }

    #[test]
    fn expose_volume_user_workdir_onbuild() {
        let c = cfg(&[
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /a /b",
            "USER app:app",
            "WORKDIR /srv",
            "ONBUILD run echo hi",
        ]);
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/a", "/b", "/data", "/logs"]);
        assert_eq!(c.user.as_deref(), Some("app:app"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
    }

    #[test]
    fn invalid_changes_are_refused() {
        let mut c = ContainerConfig::default();
        let e = |c: &mut ContainerConfig, s| apply_change(c, s).unwrap_err().to_string();
        assert_eq!(e(&mut c, "RUN echo"), "RUN is not a valid change command");
        assert_eq!(e(&mut c, "CMD"), "CMD requires at least one argument");
        assert!(e(&mut c, "EXPOSE 99999").contains("invalid containerPort"));
        assert!(e(&mut c, "ENV A=1 B").contains("can't find ="));
        assert!(e(&mut c, "ONBUILD FROM x").contains("isn't allowed"));
    }
}
