//! Accounts from `/etc/passwd` and `/etc/group` text (no NSS), libvirt's rules for
//! `USER:GROUP` labels, and the `+UID:+GID` form of remembered owners.

use std::path::Path;

use super::error::DacError;
use crate::hostops::{self, HostOps};
use crate::spec::Identity;

/// A file owner, `(uid, gid)`.
pub type Owner = (u32, u32);

/// One `/etc/passwd` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One `/etc/group` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The host's accounts, parsed from `/etc/passwd` and `/etc/group` text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswdDb {
    pub users: Vec<PasswdEntry>,
    pub groups: Vec<GroupEntry>,
}

fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim_end).filter(|l| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('+') && !t.starts_with('-')
    })
}

impl PasswdDb {
    /// Parse the two files. Malformed lines are skipped (as NSS does).
    pub fn parse(passwd: &str, group: &str) -> Self {
        let users = data_lines(passwd)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 4 || f[0].is_empty() {
                    return None;
                }
                Some(PasswdEntry {
                    name: f[0].to_owned(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: f.get(5).copied().unwrap_or("").to_owned(),
                })
            })
            .collect();
        let groups = data_lines(group)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 3 || f[0].is_empty() {
                    return None;
                }
                Some(GroupEntry {
                    name: f[0].to_owned(),
                    gid: f[2].parse().ok()?,
                    members: f
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        PasswdDb { users, groups }
    }

    /// Read `<root>/etc/passwd` and `<root>/etc/group` through `ops`.
    pub fn load_with(ops: &dyn HostOps, root: &Path) -> Result<Self, DacError> {
        let read = |rel: &str| {
            let path = root.join(rel);
            ops.read_file(&path)
                .map_err(|source| DacError::Load { path, source })
        };
        Ok(Self::parse(&read("etc/passwd")?, &read("etc/group")?))
    }

    /// Read the host's `/etc/passwd` and `/etc/group`.
    pub fn load() -> Result<Self, DacError> {
        Self::load_with(&hostops::RealHostOps, Path::new("/"))
    }

    pub fn user_by_name(&self, name: &str) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.uid == uid)
    }

    pub fn group_by_name(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// A user: `+N` is the number N; otherwise a name, then a plain number.
    pub fn user_id(&self, spec: &str) -> Result<u32, DacError> {
        if let Some(n) = spec.strip_prefix('+') {
            return n.parse().map_err(|_| DacError::BadNumber(spec.to_owned()));
        }
        if let Some(u) = self.user_by_name(spec) {
            return Ok(u.uid);
        }
        spec.parse()
            .map_err(|_| DacError::UnknownUser(spec.to_owned()))
    }

    /// A group: `+N` is the number N; otherwise a name, then a plain number.
    pub fn group_id(&self, spec: &str) -> Result<u32, DacError> {
        if let Some(n) = spec.strip_prefix('+') {
            return n.parse().map_err(|_| DacError::BadNumber(spec.to_owned()));
        }
        if let Some(g) = self.group_by_name(spec) {
            return Ok(g.gid);
        }
        spec.parse()
            .map_err(|_| DacError::UnknownGroup(spec.to_owned()))
    }

    /// A `<seclabel model='dac'>` `<label>`/`<imagelabel>`: `USER:GROUP`, each part a
    /// name or `+N` (libvirt's `virParseOwnershipIds`).
    pub fn parse_ownership(&self, label: &str) -> Result<(u32, u32), DacError> {
        let (u, g) = label
            .split_once(':')
            .ok_or_else(|| DacError::BadLabel(label.to_owned()))?;
        if u.is_empty() || g.is_empty() {
            return Err(DacError::BadLabel(label.to_owned()));
        }
        Ok((self.user_id(u)?, self.group_id(g)?))
    }

    /// The groups a process running as `uid` with primary group `gid` gets, as
    /// `getgrouplist(3)` computes them: `gid` first, then every group listing the
    /// user's name as a member (each once). A uid without a passwd entry gets `[gid]`.
    pub fn group_list(&self, uid: u32, gid: u32) -> Vec<u32> {
        let mut out = vec![gid];
        if let Some(user) = self.user_by_uid(uid) {
            for g in &self.groups {
                if g.members.contains(&user.name) && !out.contains(&g.gid) {
                    out.push(g.gid);
                }
            }
        }
        out
    }

    /// The full identity for `uid:gid`.
    pub fn identity(&self, uid: u32, gid: u32) -> Identity {
        Identity {
            uid,
            gid,
            groups: self.group_list(uid, gid),
        }
    }

    /// qemu.conf `user` / `group`. Without a group, the user's primary group (or the
    /// uid itself as gid for a numeric user without passwd entry, like libvirt's
    /// fallback to `+N:+N`).
    pub fn resolve_account(&self, user: &str, group: Option<&str>) -> Result<Identity, DacError> {
        let uid = self.user_id(user)?;
        let gid = match group {
            Some(g) => self.group_id(g)?,
            None => self.user_by_uid(uid).map_or(uid, |u| u.gid),
        };
        Ok(self.identity(uid, gid))
    }
}

/// The base label libvirt shows for an identity: `+UID:+GID`.
pub fn base_label(uid: u32, gid: u32) -> String {
    format!("+{uid}:+{gid}")
}

/// Parse a remembered owner `+UID:+GID` (names are not allowed here).
pub fn parse_numeric_label(label: &str) -> Result<(u32, u32), DacError> {
    let bad = || DacError::BadLabel(label.to_owned());
    let (u, g) = label.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| {
        s.strip_prefix('+')
            .unwrap_or(s)
            .parse::<u32>()
            .map_err(|_| bad())
    };
    Ok((num(u)?, num(g)?))
}
