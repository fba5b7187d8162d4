//! The config-only instructions (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR's config half, SHELL,
//! STOPSIGNAL, HEALTHCHECK, CMD, ENTRYPOINT, MAINTAINER, ONBUILD) applied to an image config
//! with docker's semantics, and the `created_by` text of each history entry as BuildKit writes
//! it (`ENV K=V`, `CMD ["sh" "-c" "x"]`, `EXPOSE map[80/tcp:{}]`, ...).

use std::collections::BTreeMap;
use std::time::Duration;

use bale_image::ImageConfig;
use bale_image::config::{ContainerConfig, Healthcheck};
use bale_parser::Instruction;
use bale_parser::instruction::{CommandLine, Health};
use serde_json::Value;

use super::error::{BuildError, BuildResult};

/// The shell a stage uses for shell-form commands: its SHELL, else `/bin/sh -c`.
pub fn shell_of(config: &ImageConfig) -> Vec<String> {
    config
        .config
        .as_ref()
        .and_then(|c| c.shell.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()])
}

/// A command line as argv: exec form as written, shell form after the stage's shell.
pub fn argv(command: &CommandLine, config: &ImageConfig) -> Vec<String> {
    match command {
        CommandLine::Exec(words) => words.iter().map(|w| w.value.clone()).collect(),
        CommandLine::Shell(w) => {
            let mut v = shell_of(config);
            v.push(w.value.clone());
            v
        }
    }
}

/// Go's `%q` of a string slice: `["a" "b"]`.
pub fn go_quoted_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.Duration.String()`.
fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_float(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_float(ns as f64 / 1e6));
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor() as u64;
    let m = ((total - h as f64 * 3600.0) / 60.0).floor() as u64;
    let s = total - h as f64 * 3600.0 - m as f64 * 60.0;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn cc(config: &mut ImageConfig) -> &mut ContainerConfig {
    config.config.get_or_insert_with(ContainerConfig::default)
}

/// Sets `key=value` in an env list, replacing an earlier value of the same name in place.
pub fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// What applying a config-only instruction did to the stage besides its config.
#[derive(Debug, Default)]
pub struct Applied {
    /// The history entry's `created_by`.
    pub created_by: String,
    /// CMD was set in this stage (ENTRYPOINT keeps it then).
    pub cmd_set: bool,
}

/// Applies an expanded config-only instruction to `config`. `cmd_set` says whether this stage
/// set CMD before: an ENTRYPOINT resets a CMD inherited from the base, not one set here.
pub fn apply(ins: &Instruction, config: &mut ImageConfig, cmd_set: bool) -> BuildResult<Applied> {
    let mut out = Applied::default();
    match ins {
        Instruction::Env(p) => {
            let mut shown = Vec::new();
            let c = cc(config);
            let env = c.env.get_or_insert_with(Vec::new);
            for kv in &p.pairs {
                set_env(env, &kv.key.value, &kv.value.value);
                shown.push(format!("{}={}", kv.key.value, kv.value.value));
            }
            out.created_by = format!("ENV {}", shown.join(" "));
        }
        Instruction::Label(p) => {
            let mut shown = Vec::new();
            let labels = cc(config).labels.get_or_insert_with(BTreeMap::new);
            for kv in &p.pairs {
                labels.insert(kv.key.value.clone(), kv.value.value.clone());
                shown.push(format!("{}={}", kv.key.value, kv.value.value));
            }
            out.created_by = format!("LABEL {}", shown.join(" "));
        }
        Instruction::Maintainer(m) => {
            config.author = Some(m.name.value.clone());
            out.created_by = format!("MAINTAINER {}", m.name.value);
        }
        Instruction::Expose(e) => {
            let ports = cc(config).exposed_ports.get_or_insert_with(BTreeMap::new);
            let mut shown = std::collections::BTreeSet::new();
            for p in &e.ports {
                let range = p.range.as_ref().ok_or_else(|| {
                    BuildError::at(p.raw.pos, format!("invalid port {:?}", p.raw.value))
                })?;
                for port in range.start..=range.end {
                    let key = format!("{port}/{}", protocol_name(range));
                    ports.insert(key.clone(), Value::Object(Default::default()));
                    shown.insert(key);
                }
            }
            let items: Vec<String> = shown.iter().map(|k| format!("{k}:{{}}")).collect();
            out.created_by = format!("EXPOSE map[{}]", items.join(" "));
        }
        Instruction::Volume(v) => {
            let vols = cc(config).volumes.get_or_insert_with(BTreeMap::new);
            let mut shown = Vec::new();
            for p in &v.paths {
                if p.value.is_empty() {
                    return Err(BuildError::at(
                        p.pos,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                vols.insert(p.value.clone(), Value::Object(Default::default()));
                shown.push(p.value.clone());
            }
            out.created_by = format!("VOLUME [{}]", shown.join(" "));
        }
        Instruction::User(s) => {
            cc(config).user = Some(s.value.value.clone());
            out.created_by = format!("USER {}", s.value.value);
        }
        Instruction::Stopsignal(s) => {
            cc(config).stop_signal = Some(s.value.value.clone());
            out.created_by = format!("STOPSIGNAL {}", s.value.value);
        }
        Instruction::Shell(s) => {
            let shell: Vec<String> = s.shell.iter().map(|w| w.value.clone()).collect();
            out.created_by = format!("SHELL [{}]", shell.join(" "));
            cc(config).shell = Some(shell);
        }
        Instruction::Cmd(c) => {
            let args = argv(&c.command, config);
            out.created_by = format!("CMD {}", go_quoted_list(&args));
            cc(config).cmd = Some(args);
            out.cmd_set = true;
        }
        Instruction::Entrypoint(c) => {
            let args = argv(&c.command, config);
            out.created_by = format!("ENTRYPOINT {}", go_quoted_list(&args));
            let conf = cc(config);
            conf.entrypoint = Some(args);
            if !cmd_set {
                conf.cmd = None;
            }
        }
        Instruction::Healthcheck(h) => {
            let hc = match &h.health {
                Health::None => Healthcheck {
                    test: Some(vec!["NONE".to_string()]),
                    ..Default::default()
                },
                Health::Cmd {
                    command,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => {
                    let test = match command {
                        CommandLine::Exec(w) => std::iter::once("CMD".to_string())
                            .chain(w.iter().map(|w| w.value.clone()))
                            .collect(),
                        CommandLine::Shell(w) => vec!["CMD-SHELL".to_string(), w.value.clone()],
                    };
                    let ns = |d: &Option<Duration>| d.map(|d| d.as_nanos() as i64);
                    Healthcheck {
                        test: Some(test),
                        interval: ns(interval),
                        timeout: ns(timeout),
                        start_period: ns(start_period),
                        start_interval: ns(start_interval),
                        retries: retries.map(i64::from),
                        ..Default::default()
                    }
                }
            };
            out.created_by = healthcheck_history(&hc);
            cc(config).healthcheck = Some(hc);
        }
        Instruction::Onbuild(o) => {
            cc(config)
                .on_build
                .get_or_insert_with(Vec::new)
                .push(o.expression.clone());
            // BuildKit's dispatchOnbuild only records the trigger: ONBUILD writes no history
            // entry, so `created_by` stays empty and the stage skips the entry.
        }
        other => {
            return Err(BuildError::at(
                other.loc().pos,
                format!("{} is not a config-only instruction", other.keyword()),
            ));
        }
    }
    Ok(out)
}

fn protocol_name(range: &bale_parser::instruction::PortRange) -> String {
    format!("{:?}", range.protocol).to_ascii_lowercase()
}

/// BuildKit's `HEALTHCHECK %q` of the config's health check.
fn healthcheck_history(hc: &Healthcheck) -> String {
    let d = |v: Option<i64>| {
        go_quote(&go_duration(Duration::from_nanos(
            v.unwrap_or(0).max(0) as u64
        )))
    };
    format!(
        "HEALTHCHECK &{{{} {} {} {} {} '\\x{:02x}'}}",
        go_quoted_list(hc.test.as_deref().unwrap_or(&[])),
        d(hc.interval),
        d(hc.timeout),
        d(hc.start_period),
        d(hc.start_interval),
        hc.retries.unwrap_or(0)
    )
}

/// Joins a WORKDIR path onto the current one, as BuildKit does: absolute paths replace it,
/// relative ones are joined, and the result is cleaned.
pub fn join_workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", if current.is_empty() { "/" } else { current })
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(text: &str) -> Vec<Instruction> {
        let df = bale_parser::parse(&format!("FROM x\n{text}")).unwrap();
        let mut v = bale_parser::type_dockerfile(&df).unwrap();
        v.remove(0);
        v
    }

    fn apply_all(text: &str, config: &mut ImageConfig) -> Vec<String> {
        let mut cmd_set = false;
        ins(text)
            .iter()
            .map(|i| {
                let a = apply(i, config, cmd_set).unwrap();
                cmd_set |= a.cmd_set;
                a.created_by
            })
            .collect()
    }

    #[test]
    fn entrypoint_resets_only_an_inherited_cmd() {
        let mut base = ImageConfig::default();
        cc(&mut base).cmd = Some(vec!["sh".into()]);
        let mut c = base.clone();
        apply_all("ENTRYPOINT [\"/bin/app\"]\n", &mut c);
        assert_eq!(c.config.as_ref().unwrap().cmd, None);
        let mut c = base.clone();
        let h = apply_all("CMD [\"--help\"]\nENTRYPOINT /bin/app\n", &mut c);
        let conf = c.config.as_ref().unwrap();
        assert_eq!(conf.cmd, Some(vec!["--help".to_string()]));
        assert_eq!(
            conf.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "/bin/app".into()])
        );
        assert_eq!(
            h,
            vec![
                "CMD [\"--help\"]",
                "ENTRYPOINT [\"/bin/sh\" \"-c\" \"/bin/app\"]"
            ]
        );
    }

    #[test]
    fn expose_ranges_expand_and_history_reads_like_buildkit() {
        let mut c = ImageConfig::default();
        let h = apply_all(
            "EXPOSE 8000-8002 53/udp\nENV A=1 B=2\nLABEL x=y\nVOLUME /data\nSHELL [\"/bin/bash\", \"-c\"]\n",
            &mut c,
        );
        let conf = c.config.as_ref().unwrap();
        let ports: Vec<&String> = conf.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, vec!["53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]);
        assert_eq!(
            h,
            vec![
                "EXPOSE map[53/udp:{} 8000/tcp:{} 8001/tcp:{} 8002/tcp:{}]",
                "ENV A=1 B=2",
                "LABEL x=y",
                "VOLUME [/data]",
                "SHELL [/bin/bash -c]"
            ]
        );
        let mut c = ImageConfig::default();
        let h = apply_all(
            "HEALTHCHECK --interval=5s --retries=3 CMD curl -f x\n",
            &mut c,
        );
        assert_eq!(
            h[0],
            "HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f x\"] \"5s\" \"0s\" \"0s\" \"0s\" '\\x03'}"
        );
        assert_eq!(
            c.config.unwrap().healthcheck.unwrap().interval,
            Some(5_000_000_000)
        );
    }

    #[test]
    fn workdir_joins_and_cleans() {
        assert_eq!(join_workdir("/", "app"), "/app");
        assert_eq!(join_workdir("/app", "src/../lib"), "/app/lib");
        assert_eq!(join_workdir("/app", "/x/"), "/x");
        assert_eq!(join_workdir("", "."), "/");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }
}
