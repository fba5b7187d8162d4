//! RUN's `--mount`, `--network` and `--security` values, as BuildKit's
//! `commands_runmount.go`, `commands_runnetwork.go` and `commands_runsecurity.go` read them.
//!
//! A `--mount` value is one CSV record of `key=value` fields (`ro`, `rw`, `readonly`,
//! `readwrite` and `required` may stand alone). Values may hold variables, which are only known at
//! build time: [`MountSpec::parse`] checks every key now and reads the values that hold no `$`;
//! the rest are read after expansion.

use crate::ast::Word;

/// What a `--mount` provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountType {
    /// Files from the context or another stage (the default).
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty in-memory filesystem.
    Tmpfs,
    /// A secret, as a file or an environment variable.
    Secret,
    /// The SSH agent socket.
    Ssh,
}

impl MountType {
    /// The name as written in `type=`.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Any number of writers at once (the default).
    Shared,
    /// A new copy when the cache is in use.
    Private,
    /// Wait for the other writer.
    Locked,
}

/// One `--mount` with BuildKit's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// `type=`, bind by default.
    pub kind: MountType,
    /// `from=`: a stage or image.
    pub from: Option<String>,
    /// `source=`/`src=`.
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`; BuildKit mounts over the working directory when absent.
    pub target: Option<String>,
    /// Read-only: explicit `ro`/`rw`, else true except for cache and tmpfs.
    pub readonly: bool,
    /// `id=`: the cache or secret id.
    pub id: Option<String>,
    /// `sharing=`: cache mounts only, shared by default for them.
    pub sharing: Option<Sharing>,
    /// `mode=`, octal.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `required`: secret and ssh mounts fail the build when missing.
    pub required: bool,
    /// `size=` of a tmpfs mount, in bytes.
    pub size: Option<u64>,
    /// `env=`: the variable a secret is exposed as.
    pub env: Option<String>,
}

/// A `--mount` flag as written, read as far as it can be before expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    /// The flag value.
    pub raw: Word,
    /// The mount, when no value needs expanding; `None` until [`MountSpec::expand_with`].
    pub mount: Option<Mount>,
}

/// The fields of a CSV record, as Go's `encoding/csv` reads one line with `,` as separator.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

const MOUNT_KEYS: &str = "type, from, source, src, target, dst, destination, readonly, ro, readwrite, rw, id, sharing, mode, uid, gid, required, size, env";

/// BuildKit's `RAMInBytes`: a number with an optional binary unit (`64m`, `1.5GiB`, `100`).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or(unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mul: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    let v = n * mul;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

fn bool_value(key: &str, value: &str) -> Result<bool, String> {
    // Go's strconv.ParseBool.
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "invalid value for {key}: {value} (use true or false)"
        )),
    }
}

impl MountSpec {
    /// Reads a `--mount` value, checking every key; values holding `$` wait for
    /// [`MountSpec::expand_with`].
    pub fn parse(raw: Word) -> Result<MountSpec, String> {
        if raw.value.contains('$') {
            // Keys and standalone options are still checked now.
            read_mount(&raw.value, &mut |_, v| Ok(v.to_string()), true)?;
            return Ok(MountSpec { raw, mount: None });
        }
        let mount = read_mount(&raw.value, &mut |_, v| Ok(v.to_string()), false)?;
        Ok(MountSpec {
            raw,
            mount: Some(mount),
        })
    }

    /// The mount with each value passed through `expand` first.
    pub fn expand_with(
        &self,
        expand: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<MountSpec, String> {
        let mount = read_mount(
            &self.raw.value,
            &mut |key, v| {
                // BuildKit refuses variables in from= before expansion too: a stage reference
                // must be static.
                if key == "from" {
                    return Ok(v.to_string());
                }
                expand(v)
            },
            false,
        )?;
        Ok(MountSpec {
            raw: self.raw.clone(),
            mount: Some(mount),
        })
    }
}

/// Reads one mount. With `keys_only`, values are not interpreted (they hold variables), but keys,
/// standalone options and a variable in `from=` are checked.
/// Turns a field's key and raw value into the value to read.
type ValueOf<'a> = dyn FnMut(&str, &str) -> Result<String, String> + 'a;

fn read_mount(s: &str, value_of: &mut ValueOf<'_>, keys_only: bool) -> Result<Mount, String> {
    let fields = csv_fields(s).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
    };
    let mut ro_auto = true;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" if !keys_only => {
                    return Err(format!(
                        "unexpected key 'required' for mount type '{}' (only secret and ssh mounts take it)",
                        m.kind.as_str()
                    ));
                }
                "required" => {}
                _ => {
                    return Err(format!("invalid field '{field}' must be a key=value pair"));
                }
            }
            continue;
        };
        if !MOUNT_KEYS.split(", ").any(|k| k == key) {
            return Err(format!(
                "unexpected key '{key}' in '{field}' (allowed: {MOUNT_KEYS})"
            ));
        }
        if key == "from" && value.contains('$') {
            return Err(
                "'from' doesn't support variable expansion, define alias stage instead".into(),
            );
        }
        if keys_only && value.contains('$') && key != "type" {
            continue;
        }
        let value = value_of(&key, value)?;
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ if keys_only && value.contains('$') => m.kind,
                    _ => {
                        return Err(format!(
                            "unsupported mount type \"{value}\" (use bind, cache, tmpfs, secret or ssh)"
                        ));
                    }
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                m.readonly = bool_value(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !bool_value(&key, &value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(format!(
                        "unexpected key 'required' for mount type '{}' (only secret and ssh mounts take it)",
                        m.kind.as_str()
                    ));
                }
                m.required = bool_value(&key, &value)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(format!(
                        "unexpected key 'size' for mount type '{}' (only tmpfs mounts take it)",
                        m.kind.as_str()
                    ));
                }
                m.size = Some(ram_in_bytes(&value).ok_or_else(|| {
                    format!("invalid value for size: {value} (use bytes or a unit such as 64m)")
                })?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(format!(
                            "unsupported sharing value \"{value}\" (use shared, private or locked)"
                        ));
                    }
                })
            }
            "mode" => {
                m.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| {
                    format!("invalid value {value} for mode (use octal, such as 0644)")
                })?)
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => {
                if m.kind != MountType::Secret {
                    return Err(format!(
                        "unexpected key 'env' for mount type '{}' (only secret mounts take it)",
                        m.kind.as_str()
                    ));
                }
                m.env = Some(value)
            }
            // Every other key was refused against MOUNT_KEYS above.
            _ => {}
        }
    }
    if keys_only {
        return Ok(m);
    }
    validate(&mut m, ro_auto)?;
    Ok(m)
}

fn validate(m: &mut Mount, ro_auto: bool) -> Result<(), String> {
    let kind = m.kind.as_str();
    if !matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    ) {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for \"{kind}\" type mounts"));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
            return Err("invalid secret mount. one of source, target required (or id, env)".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set on a secret mount".into());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {kind} mount (sharing is for cache mounts only)"
        ));
    }
    if m.kind == MountType::Cache && m.sharing.is_none() {
        m.sharing = Some(Sharing::Shared);
    }
    Ok(())
}

/// `RUN --network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// The default network.
    Default,
    /// No network at all.
    None,
    /// The host's network namespace.
    Host,
}

impl Network {
    /// Reads a `--network` value.
    pub fn parse(v: &str) -> Result<Network, String> {
        match v {
            "default" => Ok(Network::Default),
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            _ => Err(format!(
                "unsupported network mode \"{v}\" (use default, none or host)"
            )),
        }
    }
}

/// `RUN --security`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Security {
    /// The default sandbox.
    Sandbox,
    /// All capabilities, as `--privileged`.
    Insecure,
}

impl Security {
    /// Reads a `--security` value.
    pub fn parse(v: &str) -> Result<Security, String> {
        match v {
            "sandbox" => Ok(Security::Sandbox),
            "insecure" => Ok(Security::Insecure),
            _ => Err(format!(
                "unsupported security mode \"{v}\" (use sandbox or insecure)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Pos;

    fn mount(s: &str) -> Result<Mount, String> {
        MountSpec::parse(Word::new(s, Pos::new(1, 1))).map(|m| m.mount.expect("no variables"))
    }

    #[test]
    fn bind_is_default_and_readonly() {
        let m = mount("target=/src,source=.,from=build").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source.as_deref(), Some("."));
        assert!(!mount("dst=/x,rw").unwrap().readonly);
        assert!(!mount("destination=/x,readwrite=true").unwrap().readonly);
        assert!(!mount("destination=/x,readonly=false").unwrap().readonly);
    }

    #[test]
    fn cache_defaults_to_shared_and_writable() {
        let m = mount("type=cache,target=/root/.cache,id=go,mode=0755,uid=1000,gid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.sharing, Some(Sharing::Shared));
        assert!(!m.readonly);
        assert_eq!(
            (m.mode, m.uid, m.gid),
            (Some(0o755), Some(1000), Some(1000))
        );
        assert_eq!(m.id.as_deref(), Some("go"));
        let m = mount("type=cache,target=/c,sharing=LOCKED,ro").unwrap();
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert!(m.readonly);
        assert_eq!(
            mount("type=cache,target=/c,sharing=private")
                .unwrap()
                .sharing,
            Some(Sharing::Private)
        );
    }

    #[test]
    fn tmpfs_size() {
        let m = mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        assert!(!m.readonly);
        assert!(
            mount("type=tmpfs,target=/t,size=lots")
                .unwrap_err()
                .starts_with("invalid value for size")
        );
        assert!(
            mount("target=/t,size=1")
                .unwrap_err()
                .contains("only tmpfs")
        );
    }

    #[test]
    fn secret_and_ssh() {
        let m = mount("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert_eq!(m.kind, MountType::Secret);
        assert!(m.required && m.readonly);
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = mount("type=ssh,required=true").unwrap();
        assert!(m.required);
        assert_eq!(
            mount("type=secret,id=a,from=x").unwrap_err(),
            "secret mount should not have a from"
        );
        assert_eq!(
            mount("type=secret,id=a,sharing=shared").unwrap_err(),
            "secret mount should not define sharing"
        );
        assert!(
            mount("type=secret")
                .unwrap_err()
                .starts_with("invalid secret mount")
        );
        assert!(
            mount("type=secret,source=a,id=b")
                .unwrap_err()
                .starts_with("both source and id")
        );
        assert!(
            mount("target=/x,env=A")
                .unwrap_err()
                .contains("only secret")
        );
    }

    #[test]
    fn bad_options() {
        assert!(
            mount("type=volume,target=/x")
                .unwrap_err()
                .starts_with("unsupported mount type \"volume\"")
        );
        assert!(
            mount("target=/x,foo=bar")
                .unwrap_err()
                .starts_with("unexpected key 'foo' in 'foo=bar'")
        );
        assert_eq!(
            mount("target=/x,bogus").unwrap_err(),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert!(
            mount("target=/x,required")
                .unwrap_err()
                .contains("for mount type 'bind'")
        );
        assert!(
            mount("target=/x,ro=maybe")
                .unwrap_err()
                .starts_with("invalid value for ro: maybe")
        );
        assert!(
            mount("type=cache,target=/x,sharing=all")
                .unwrap_err()
                .starts_with("unsupported sharing value")
        );
        assert!(
            mount("type=cache,target=/x,mode=9")
                .unwrap_err()
                .starts_with("invalid value 9 for mode")
        );
        assert!(
            mount("type=cache,target=/x,uid=-1")
                .unwrap_err()
                .starts_with("invalid value -1 for uid")
        );
        assert!(
            mount("type=cache,target=/x,gid=g")
                .unwrap_err()
                .starts_with("invalid value g for gid")
        );
        assert_eq!(
            mount("target=/x,mode=0644").unwrap_err(),
            "mode not allowed for \"bind\" type mounts"
        );
        assert!(
            mount("target=/x,sharing=locked")
                .unwrap_err()
                .starts_with("invalid cache sharing")
        );
        assert!(
            mount("target=\"/x")
                .unwrap_err()
                .starts_with("failed to parse csv mounts")
        );
    }

    #[test]
    fn csv_quoting() {
        let m = mount("\"target=/a,b\",type=bind").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn variables_wait_for_expansion() {
        let spec =
            MountSpec::parse(Word::new("type=cache,target=$DIR,uid=$UID", Pos::new(1, 1))).unwrap();
        assert!(spec.mount.is_none());
        let done = spec
            .expand_with(&mut |v| Ok(v.replace("$DIR", "/c").replace("$UID", "7")))
            .unwrap();
        let m = done.mount.unwrap();
        assert_eq!((m.target.as_deref(), m.uid), (Some("/c"), Some(7)));
        // Keys are still checked before expansion.
        assert!(MountSpec::parse(Word::new("target=$D,bad=1", Pos::new(1, 1))).is_err());
        assert!(
            MountSpec::parse(Word::new("target=/x,from=$S", Pos::new(1, 1)))
                .unwrap_err()
                .starts_with("'from' doesn't support variable expansion")
        );
    }

    #[test]
    fn network_and_security() {
        assert_eq!(Network::parse("none"), Ok(Network::None));
        assert_eq!(Network::parse("host"), Ok(Network::Host));
        assert_eq!(Network::parse("default"), Ok(Network::Default));
        assert!(
            Network::parse("bridge")
                .unwrap_err()
                .contains("use default, none or host")
        );
        assert_eq!(Security::parse("insecure"), Ok(Security::Insecure));
        assert_eq!(Security::parse("sandbox"), Ok(Security::Sandbox));
        assert!(Security::parse("x").is_err());
    }
}
