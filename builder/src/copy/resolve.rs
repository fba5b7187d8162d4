//! Path resolution inside a root, as a chroot resolves: symlinks are followed, an absolute
//! target starts again at the root, and `..` stops at the root (continuity's `fs.RootPath`,
//! which BuildKit uses for sources and destinations). For the build context the root is a
//! wall instead: a symlink that points outside it is refused.

use std::collections::VecDeque;

use crate::Error;

/// What is at a path, as far as resolution cares.
pub(crate) enum Lookup {
    /// Nothing.
    Missing,
    /// A symbolic link to this target.
    Symlink(String),
    /// Anything else.
    Other,
}

/// How resolution may leave the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confine {
    /// Like a chroot: `..` at the root stays there, absolute targets start at the root.
    Chroot,
    /// The build context: any way out is an error.
    Wall,
}

const MAX_LINKS: usize = 255;

/// Splits a path into its components, dropping empty ones and `.`.
pub(crate) fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Resolves `path` (relative to the root; a leading `/` is the root) with `lookup` telling what
/// is at each resolved prefix. The final component is followed when `follow_last` holds.
/// Components below a missing one are taken as they are. Returns the resolved path without a
/// leading `/` (empty for the root itself).
pub(crate) fn resolve(
    path: &str,
    follow_last: bool,
    confine: Confine,
    display: &str,
    mut lookup: impl FnMut(&str) -> Result<Lookup, Error>,
) -> Result<String, Error> {
    let mut pending: VecDeque<String> = components(path).map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    let mut missing = false;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            if resolved.pop().is_none() && confine == Confine::Wall {
                return Err(Error::OutsideContext {
                    path: display.to_string(),
                    reason: "a symlink on the way leads above the context root".into(),
                });
            }
            continue;
        }
        if missing || (pending.is_empty() && !follow_last) {
            resolved.push(c);
            continue;
        }
        let mut candidate = resolved.join("/");
        if !candidate.is_empty() {
            candidate.push('/');
        }
        candidate.push_str(&c);
        match lookup(&candidate)? {
            Lookup::Missing => {
                missing = true;
                resolved.push(c);
            }
            Lookup::Other => resolved.push(c),
            Lookup::Symlink(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::Invalid(format!(
                        "{display}: too many levels of symbolic links"
                    )));
                }
                if target.starts_with('/') {
                    if confine == Confine::Wall {
                        return Err(Error::OutsideContext {
                            path: display.to_string(),
                            reason: format!("{candidate} is a symlink to {target}"),
                        });
                    }
                    resolved.clear();
                }
                for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(t.to_string());
                }
            }
        }
    }
    Ok(resolved.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn fs(links: &[(&str, &str)], others: &[&str]) -> impl FnMut(&str) -> Result<Lookup, Error> {
        let links: HashMap<String, String> = links
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let others: Vec<String> = others.iter().map(|s| s.to_string()).collect();
        move |p: &str| {
            Ok(if let Some(t) = links.get(p) {
                Lookup::Symlink(t.clone())
            } else if others.iter().any(|o| o == p) {
                Lookup::Other
            } else {
                Lookup::Missing
            })
        }
    }

    #[test]
    fn chroot_resolution_stays_inside() {
        let look = || {
            fs(
                &[("lib", "usr/lib"), ("up", "../../.."), ("abs", "/etc")],
                &["usr", "usr/lib", "etc"],
            )
        };
        assert_eq!(
            resolve("/lib/x", true, Confine::Chroot, "", look()).unwrap(),
            "usr/lib/x"
        );
        assert_eq!(
            resolve("up/etc", true, Confine::Chroot, "", look()).unwrap(),
            "etc"
        );
        assert_eq!(
            resolve("abs/passwd", true, Confine::Chroot, "", look()).unwrap(),
            "etc/passwd"
        );
        assert_eq!(
            resolve("lib", false, Confine::Chroot, "", look()).unwrap(),
            "lib"
        );
        assert_eq!(resolve("/", true, Confine::Chroot, "", look()).unwrap(), "");
    }

    #[test]
    fn the_context_wall_refuses_ways_out() {
        let look = || {
            fs(
                &[("up", "../x"), ("abs", "/etc/passwd"), ("in", "sub/../a")],
                &["sub", "a"],
            )
        };
        let e = resolve("up", true, Confine::Wall, "up", look()).unwrap_err();
        assert!(matches!(e, Error::OutsideContext { .. }), "{e}");
        let e = resolve("abs", true, Confine::Wall, "abs", look()).unwrap_err();
        assert!(
            e.to_string().contains("abs is a symlink to /etc/passwd"),
            "{e}"
        );
        assert_eq!(
            resolve("in", true, Confine::Wall, "in", look()).unwrap(),
            "a"
        );
    }

    #[test]
    fn symlink_loops_end() {
        let look = fs(&[("a", "b"), ("b", "a")], &[]);
        assert!(resolve("a", true, Confine::Chroot, "a", look).is_err());
    }
}
