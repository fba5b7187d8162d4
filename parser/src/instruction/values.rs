//! Values inside flags and arguments that have a grammar of their own: Go durations
//! (HEALTHCHECK), file modes (`--chmod`, octal or symbolic) and exposed ports (EXPOSE).

use std::time::Duration;

/// Go's `time.ParseDuration`: `300ms`, `1m30s`, `1.5h`, `-2s`, `0`. Returns nanoseconds, signed.
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let bad = || format!("invalid duration \"{s}\" (use a number and a unit: 30s, 1m30s, 500ms)");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_end);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let e = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(e)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "missing unit in duration \"{s}\" (add s, m, h, ms, ...)"
                ));
            }
            _ => {
                return Err(format!(
                    "unknown unit \"{unit}\" in duration \"{s}\" (use ns, us, ms, s, m or h)"
                ));
            }
        };
        let int: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut v = int.checked_mul(scale).ok_or_else(bad)?;
        let mut f = scale;
        for d in frac.bytes().take(30) {
            f /= 10;
            v += i128::from(d - b'0') * f;
        }
        total = total.checked_add(v).ok_or_else(bad)?;
        if total > i128::from(i64::MAX) {
            return Err(bad());
        }
        rest = after;
    }
    Ok(if neg { -total } else { total })
}

/// A HEALTHCHECK interval flag as BuildKit's `parseOptInterval` reads it: 0 means "the default";
/// anything else must be at least 1ms.
pub fn parse_interval(flag: &str, s: &str) -> Result<Option<Duration>, String> {
    let ns = parse_go_duration(s).map_err(|e| format!("--{flag}: {e}"))?;
    if ns == 0 {
        return Ok(None);
    }
    if ns < 1_000_000 {
        return Err(format!(
            "Interval \"{flag}\" cannot be less than 1ms (got {s})"
        ));
    }
    Ok(Some(Duration::from_nanos(ns as u64)))
}

/// One clause of a symbolic `--chmod` (`ug+x`, `o=`, `g=u`). A clause that names no class
/// applies to all of them, with no umask (chmod(1) would apply its umask; a build has none).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModeClause {
    /// `u`, `g`, `o` as bits 4, 2, 1; 0 when the clause names none (`+x`), which means all.
    pub who: u8,
    /// The operations in order: `+`, `-` or `=`, with their permission letters (`rwxXst`) or a
    /// single class to copy from (`u`, `g`, `o`).
    pub ops: Vec<(char, String)>,
}

/// A `--chmod` value: octal (`0755`) or symbolic (`u+x,g-w`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileMode {
    /// An octal mode, at most 07777.
    Octal(u32),
    /// chmod(1)'s symbolic clauses, applied to each file's own mode.
    Symbolic(Vec<ModeClause>),
}

impl FileMode {
    /// Reads a `--chmod` value.
    pub fn parse(s: &str) -> Result<FileMode, String> {
        let bad = || {
            format!(
                "invalid chmod parameter \"{s}\": use an octal mode between 0 and 07777 (0755) or symbolic clauses (u+x,g-w)"
            )
        };
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let v = u32::from_str_radix(s, 8).map_err(|_| bad())?;
            return if v <= 0o7777 {
                Ok(FileMode::Octal(v))
            } else {
                Err(bad())
            };
        }
        let mut clauses = Vec::new();
        for clause in s.split(',') {
            let ops_at = clause.find(['+', '-', '=']).ok_or_else(bad)?;
            let (who_s, mut rest) = clause.split_at(ops_at);
            let mut who = 0u8;
            for c in who_s.chars() {
                who |= match c {
                    'u' => 4,
                    'g' => 2,
                    'o' => 1,
                    'a' => 7,
                    _ => return Err(bad()),
                };
            }
            let mut ops = Vec::new();
            while let Some(op) = rest.chars().next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(bad());
                }
                rest = &rest[1..];
                let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
                let (perms, after) = rest.split_at(end);
                let copy = matches!(perms, "u" | "g" | "o");
                if !copy && !perms.chars().all(|c| "rwxXst".contains(c)) {
                    return Err(bad());
                }
                ops.push((op, perms.to_string()));
                rest = after;
            }
            clauses.push(ModeClause { who, ops });
        }
        Ok(FileMode::Symbolic(clauses))
    }

    /// The mode a file whose current permission bits are `mode` gets.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            FileMode::Octal(v) => return *v,
            FileMode::Symbolic(c) => c,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            let who = if clause.who == 0 { 7 } else { clause.who };
            for (op, perms) in &clause.ops {
                let mut bits = 0u32;
                match perms.as_str() {
                    class @ ("u" | "g" | "o") => {
                        let shift = match class {
                            "u" => 6,
                            "g" => 3,
                            _ => 0,
                        };
                        let v = (mode >> shift) & 7;
                        bits = v << 6 | v << 3 | v;
                    }
                    letters => {
                        for c in letters.chars() {
                            bits |= match c {
                                'r' => 0o444,
                                'w' => 0o222,
                                'x' => 0o111,
                                'X' if is_dir || mode & 0o111 != 0 => 0o111,
                                's' => 0o6000,
                                't' => 0o1000,
                                _ => 0,
                            };
                        }
                    }
                }
                let mut mask = 0u32;
                if who & 4 != 0 {
                    mask |= 0o4700;
                }
                if who & 2 != 0 {
                    mask |= 0o2070;
                }
                if who & 1 != 0 {
                    mask |= 0o0007;
                }
                if who == 7 {
                    mask |= 0o1000;
                }
                let bits = bits & mask;
                mode = match op {
                    '+' => mode | bits,
                    '-' => mode & !bits,
                    _ => (mode & !mask) | bits,
                };
            }
        }
        mode
    }
}

/// Transport protocol of an exposed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// An EXPOSE entry: `80`, `8000-8010/udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for one port).
    pub end: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl PortRange {
    /// Reads `PORT[-PORT][/PROTO]`, as Docker's `nat.ParsePortSpec` does for EXPOSE.
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let (ports, proto) = match s.split_once('/') {
            Some((p, proto)) => (p, proto),
            None => (s, "tcp"),
        };
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => {
                return Err(format!(
                    "invalid proto \"{proto}\" in EXPOSE {s} (use tcp, udp or sctp)"
                ));
            }
        };
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("invalid port \"{p}\" in EXPOSE {s} (use 0 to 65535)"))
        };
        let (start, end) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        if end < start {
            return Err(format!(
                "invalid range in EXPOSE {s}: the end port is below the start port"
            ));
        }
        Ok(PortRange {
            start,
            end,
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("2us"), Ok(2_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert!(
            parse_go_duration("1")
                .unwrap_err()
                .starts_with("missing unit")
        );
        assert!(
            parse_go_duration("1x")
                .unwrap_err()
                .starts_with("unknown unit \"x\"")
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration("99999999999h").is_err());
    }

    #[test]
    fn intervals_have_a_minimum() {
        assert_eq!(parse_interval("interval", "0s"), Ok(None));
        assert_eq!(
            parse_interval("interval", "1m30s"),
            Ok(Some(Duration::from_secs(90)))
        );
        assert_eq!(
            parse_interval("timeout", "10us").unwrap_err(),
            "Interval \"timeout\" cannot be less than 1ms (got 10us)"
        );
        assert!(parse_interval("timeout", "-1s").is_err());
        assert!(
            parse_interval("timeout", "abc")
                .unwrap_err()
                .starts_with("--timeout: invalid duration")
        );
    }

    #[test]
    fn chmod_octal_and_symbolic() {
        assert_eq!(FileMode::parse("0755"), Ok(FileMode::Octal(0o755)));
        assert_eq!(FileMode::parse("4755"), Ok(FileMode::Octal(0o4755)));
        assert!(FileMode::parse("10000").is_err());
        assert!(FileMode::parse("0799").is_err());
        assert!(FileMode::parse("u+q").is_err());
        assert!(FileMode::parse("z+x").is_err());
        assert!(FileMode::parse("").is_err());
        assert!(FileMode::parse("u").is_err());
        let m = FileMode::parse("u+x,g-w").unwrap();
        assert_eq!(m.apply(0o664, false), 0o744);
        assert_eq!(FileMode::parse("a=r").unwrap().apply(0o777, false), 0o444);
        assert_eq!(FileMode::parse("go=").unwrap().apply(0o777, false), 0o700);
        assert_eq!(FileMode::parse("+X").unwrap().apply(0o644, true), 0o755);
        assert_eq!(FileMode::parse("+X").unwrap().apply(0o644, false), 0o644);
        assert_eq!(FileMode::parse("g=u").unwrap().apply(0o740, false), 0o770);
        assert_eq!(FileMode::parse("u+s").unwrap().apply(0o755, false), 0o4755);
        assert_eq!(
            FileMode::parse("u=rwx").unwrap().apply(0o4644, false),
            0o744
        );
        assert_eq!(FileMode::parse("0644").unwrap().apply(0o777, false), 0o644);
    }

    #[test]
    fn ports() {
        assert_eq!(
            PortRange::parse("80"),
            Ok(PortRange {
                start: 80,
                end: 80,
                protocol: Protocol::Tcp
            })
        );
        assert_eq!(
            PortRange::parse("8000-8010/UDP"),
            Ok(PortRange {
                start: 8000,
                end: 8010,
                protocol: Protocol::Udp
            })
        );
        assert_eq!(PortRange::parse("9/sctp").unwrap().protocol, Protocol::Sctp);
        assert!(
            PortRange::parse("80/icmp")
                .unwrap_err()
                .starts_with("invalid proto")
        );
        assert!(
            PortRange::parse("http")
                .unwrap_err()
                .starts_with("invalid port")
        );
        assert!(PortRange::parse("70000").is_err());
        assert!(
            PortRange::parse("90-80")
                .unwrap_err()
                .starts_with("invalid range")
        );
    }
}
