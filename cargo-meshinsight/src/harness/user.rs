//! Least privilege for the processes the tool starts: only the eBPF probe needs root, so when
//! the tool runs as root on behalf of someone (`sudo` sets `SUDO_UID`/`SUDO_GID`) or is told a
//! user, every process it starts (echo applications, sidecars, services, builds) runs as that
//! user, and the directories they use are handed to that user. The probe stays in the
//! privileged process.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

/// The user the tool's child processes run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The login name.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// The primary group (`SUDO_GID` when sudo says, else the passwd entry's).
    pub gid: u32,
    /// Every group of the user (the supplementary groups and the primary one).
    pub groups: Vec<u32>,
    /// Its home directory (`HOME` of the children).
    pub home: PathBuf,
}

/// The user to run children as could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// `user = NAME` names no user of this machine.
    #[error("no user `{0}` on this machine (configured as `user`)")]
    NoSuchUser(String),
    /// `SUDO_UID` names no user.
    #[error("SUDO_UID={0} names no user of this machine")]
    NoSuchUid(u32),
    /// `SUDO_UID` or `SUDO_GID` is not a number.
    #[error("{var}={value} is not a numeric id")]
    BadId {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The user database could not be read.
    #[error("could not look up user `{what}` in the user database")]
    Lookup {
        /// The name or id looked up.
        what: String,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// A directory could not be handed to the user.
    #[error("could not give {path} to user `{user}`")]
    Chown {
        /// The path.
        path: PathBuf,
        /// The user.
        user: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RunAs {
    /// Whom the children of a process with effective uid `euid` run as: nobody else unless
    /// it is root; then the `configured` user (`root` keeps them root), else the user `sudo`
    /// named (`SUDO_UID`, `SUDO_GID` read through `env`), else nobody else.
    pub fn for_children(
        euid: u32,
        configured: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RunAs>, UserError> {
        if euid != 0 {
            return Ok(None);
        }
        if let Some(name) = configured {
            let user = lookup(name, User::from_name(name))?
                .ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
            return (user.uid.as_raw() != 0)
                .then(|| RunAs::of(&user, None))
                .transpose();
        }
        let id = |var: &'static str| -> Result<Option<u32>, UserError> {
            env(var)
                .filter(|v| !v.is_empty())
                .map(|value| {
                    value
                        .trim()
                        .parse()
                        .map_err(|_| UserError::BadId { var, value })
                })
                .transpose()
        };
        let Some(uid) = id("SUDO_UID")? else {
            return Ok(None);
        };
        if uid == 0 {
            return Ok(None);
        }
        let user = lookup(&uid.to_string(), User::from_uid(Uid::from_raw(uid)))?
            .ok_or(UserError::NoSuchUid(uid))?;
        RunAs::of(&user, id("SUDO_GID")?).map(Some)
    }

    /// The current process's children as `for_children` decides for this process.
    pub fn from_environment(configured: Option<&str>) -> Result<Option<RunAs>, UserError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        RunAs::for_children(euid, configured, |k| std::env::var(k).ok())
    }

    fn of(user: &User, gid: Option<u32>) -> Result<RunAs, UserError> {
        let gid = gid.unwrap_or(user.gid.as_raw());
        let cname = CString::new(user.name.as_str()).map_err(|_| UserError::Lookup {
            what: user.name.clone(),
            source: nix::Error::EINVAL,
        })?;
        let mut groups: Vec<u32> = nix::unistd::getgrouplist(&cname, Gid::from_raw(gid))
            .map_err(|source| UserError::Lookup {
                what: user.name.clone(),
                source,
            })?
            .into_iter()
            .map(Gid::as_raw)
            .collect();
        if !groups.contains(&gid) {
            groups.push(gid);
        }
        Ok(RunAs {
            name: user.name.clone(),
            uid: user.uid.as_raw(),
            gid,
            groups,
            home: user.dir.clone(),
        })
    }

    /// Makes `cmd` run as this user: its groups, group and user set before `exec` (in that
    /// order, while the child may still change them), and `HOME`, `USER` and `LOGNAME` of the
    /// user.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
        let (uid, gid) = (self.uid, self.gid);
        let groups: Vec<libc::gid_t> = self.groups.clone();
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // async-signal-safe setgroups/setgid/setuid system calls on data allocated before
        // the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Gives `path` and everything under it to this user (the user's primary group), so that
    /// a child running as the user can use a directory this process made.
    pub fn give(&self, path: &Path) -> Result<(), UserError> {
        let chown = |p: &Path| {
            std::os::unix::fs::lchown(p, Some(self.uid), Some(self.gid)).map_err(|source| {
                UserError::Chown {
                    path: p.to_path_buf(),
                    user: self.name.clone(),
                    source,
                }
            })
        };
        chown(path)?;
        if path.is_dir() && !path.is_symlink() {
            let entries = std::fs::read_dir(path).map_err(|source| UserError::Chown {
                path: path.to_path_buf(),
                user: self.name.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                self.give(&entry.path())?;
            }
        }
        Ok(())
    }
}

fn lookup(what: &str, found: nix::Result<Option<User>>) -> Result<Option<User>, UserError> {
    found.map_err(|source| UserError::Lookup {
        what: what.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn only_root_hands_its_children_to_someone_else() {
        let sudo = [("SUDO_UID", "65534"), ("SUDO_GID", "65534")];
        assert_eq!(RunAs::for_children(1000, None, env(&sudo)).unwrap(), None);
        assert_eq!(
            RunAs::for_children(1000, Some("nobody"), env(&[])).unwrap(),
            None
        );
        assert_eq!(RunAs::for_children(0, None, env(&[])).unwrap(), None);
        let nobody = RunAs::for_children(0, None, env(&sudo)).unwrap().unwrap();
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        assert_eq!(nobody.name, "nobody");
        assert!(nobody.groups.contains(&65534));
    }

    #[test]
    fn the_configured_user_wins_over_sudo_and_root_stays_root() {
        let sudo = [("SUDO_UID", "65534")];
        assert_eq!(
            RunAs::for_children(0, Some("root"), env(&sudo)).unwrap(),
            None
        );
        assert_eq!(
            RunAs::for_children(0, None, env(&[("SUDO_UID", "0")])).unwrap(),
            None
        );
        let nobody = RunAs::for_children(0, Some("nobody"), env(&[])).unwrap();
        assert_eq!(nobody.map(|u| u.uid), Some(65534));
    }

    #[test]
    fn unknown_users_and_bad_ids_are_errors_naming_them() {
        let e = RunAs::for_children(0, Some("no-such-user-here"), env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no user `no-such-user-here` on this machine (configured as `user`)"
        );
        let e = RunAs::for_children(0, None, env(&[("SUDO_UID", "x1")])).unwrap_err();
        assert_eq!(e.to_string(), "SUDO_UID=x1 is not a numeric id");
        let e = RunAs::for_children(0, None, env(&[("SUDO_UID", "4000000000")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SUDO_UID=4000000000 names no user of this machine"
        );
    }
}
