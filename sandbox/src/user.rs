//! `USER` resolution against the rootfs's `/etc/passwd` and `/etc/group`, with the rules of runc's
//! `GetExecUser` (which docker and BuildKit use): a name must exist in `passwd`, a number need not;
//! an explicit group replaces the primary group and disables supplementary groups; without one,
//! every group that lists the user's name as a member becomes a supplementary group.

use crate::Error;

/// The credentials a process runs with, resolved from a `USER` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
    /// Home directory from `passwd`, `/` when the user has no entry.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first().copied().unwrap_or(""),
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn parse_group(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: f.first().copied().unwrap_or(""),
            gid: f.get(2)?.parse().ok()?,
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
}

/// Ids are limited to what the kernel accepts for a user namespace mapping, as runc does.
fn parse_id(s: &str) -> Option<Result<u32, ()>> {
    let n: i64 = s.parse().ok()?;
    Some(if (0..=i32::MAX as i64).contains(&n) {
        Ok(n as u32)
    } else {
        Err(())
    })
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) against the contents of
/// `/etc/passwd` and `/etc/group` (either may be missing, given as `None`).
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, Error> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_arg = match parse_id(user_arg) {
        Some(Ok(n)) => Some(n),
        Some(Err(())) => return Err(Error::IdRange(user_arg.to_string())),
        None => None,
    };
    let gid_arg = match parse_id(group_arg) {
        Some(Ok(n)) => Some(n),
        Some(Err(())) => return Err(Error::IdRange(group_arg.to_string())),
        None => None,
    };

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        home: "/".to_string(),
    };
    let mut name = String::new();
    let found = parse_passwd(passwd.unwrap_or("")).find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(uid) = uid_arg {
            u.uid == uid
        } else {
            u.name == user_arg
        }
    });
    match found {
        Some(u) => {
            user.uid = u.uid;
            user.gid = u.gid;
            if !u.home.is_empty() {
                user.home = u.home.to_string();
            }
            name = u.name.to_string();
        }
        None if user_arg.is_empty() => {}
        None => match uid_arg {
            Some(uid) => user.uid = uid,
            None => return Err(Error::UserNotFound(user_arg.to_string())),
        },
    }

    if !group_arg.is_empty() || !name.is_empty() {
        let groups: Vec<GroupEntry<'_>> = parse_group(group.unwrap_or(""))
            .filter(|g| {
                if group_arg.is_empty() {
                    g.members.contains(&name.as_str())
                } else if let Some(gid) = gid_arg {
                    g.gid == gid
                } else {
                    g.name == group_arg
                }
            })
            .collect();
        if !group_arg.is_empty() {
            match (groups.first(), gid_arg) {
                (Some(g), _) => user.gid = g.gid,
                (None, Some(gid)) => user.gid = gid,
                (None, None) => return Err(Error::GroupNotFound(group_arg.to_string())),
            }
        } else {
            user.groups = groups.iter().map(|g| g.gid).collect();
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        nohome:x:1001:1001::\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\n";

    fn r(spec: &str) -> Result<ExecUser, Error> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_spec_is_root_with_its_groups() {
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.groups, vec![10]);
    }

    #[test]
    fn name_gives_passwd_ids_and_member_groups() {
        let u = r("app").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.groups, vec![10, 50]);
    }

    #[test]
    fn uid_found_in_passwd_uses_its_entry() {
        let u = r("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.groups, vec![10, 50]);
    }

    #[test]
    fn unknown_uid_is_accepted_with_gid_zero() {
        let u = r("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert!(u.groups.is_empty());
    }

    #[test]
    fn explicit_group_replaces_primary_and_drops_supplementary() {
        let u = r("app:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert!(u.groups.is_empty());
        let u = r("app:777").unwrap();
        assert_eq!(u.gid, 777);
        let u = r("0:10").unwrap();
        assert_eq!((u.uid, u.gid), (0, 10));
    }

    #[test]
    fn missing_user_and_group_have_dockers_messages() {
        assert_eq!(
            r("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            r("app:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert_eq!(
            resolve_user("app", None, None).unwrap_err().to_string(),
            "unable to find user app: no matching entries in passwd file"
        );
    }

    #[test]
    fn empty_home_falls_back_to_root_dir() {
        assert_eq!(r("nohome").unwrap().home, "/");
    }

    #[test]
    fn out_of_range_ids_are_refused() {
        assert!(matches!(r("99999999999"), Err(Error::IdRange(_))));
    }
}
