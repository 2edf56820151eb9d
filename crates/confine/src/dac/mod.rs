//! The DAC security driver: who QEMU runs as, chown of the files it uses with the
//! original owner remembered in libvirt's extended attributes, and a pre-flight access
//! check that explains a denial before QEMU hits it.
//!
//! * Accounts come from `/etc/passwd` and `/etc/group` text ([`PasswdDb`]); no NSS,
//!   so it is testable. Ids follow libvirt's rules: a name is looked up first, then a
//!   number; a leading `+` forces a number (`+107`). Labels are `USER:GROUP`.
//! * [`DacDriver::set_owner`] / [`DacDriver::restore_owner`] keep the
//!   `trusted.libvirt.security.{dac,ref_dac,timestamp_dac}` attributes exactly as
//!   libvirt does (see [`crate::hostops`]): original owner `+UID:+GID`, decimal
//!   refcount, boot-time stamp; at refcount 0 the owner is restored and the attributes
//!   removed. With nothing remembered, [`DacDriver::restore_owner`] goes to `root:root`
//!   (libvirt's rule).
//! * [`Transaction`]: a list of changes applied in order, rolled back on the first
//!   failure; each item carries its original owner, learned before the chown, and is
//!   given back by [`DacDriver::restore_item`], which never guesses an owner and can
//!   run again after a crash (see `restore.rs`).
//! * [`check_access`]: walks every directory on the way to a file as the QEMU identity
//!   would (mode bits and POSIX ACLs) and names the component that blocks.

use std::io;
use std::path::{Path, PathBuf};

use crate::hostops::{self, HostOps, Recalled, RememberError, Remembered};
use crate::spec::Identity;

mod access;
mod restore;
pub use access::{
    AccessDenial, AccessProblem, AclEntry, check_access, check_identity_access, parse_posix_acl,
    permits,
};
pub use restore::{Owner, Restored};

/// The driver name in the xattr names (`trusted.libvirt.security.dac`).
pub const DRIVER: &str = "dac";

/// Errors of the DAC driver.
#[derive(Debug, thiserror::Error)]
pub enum DacError {
    #[error("cannot read {}: {}", path.display(), errno_text(source))]
    Load {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("user '{0}' not found (not in /etc/passwd, and not a number)")]
    UnknownUser(String),
    #[error("group '{0}' not found (not in /etc/group, and not a number)")]
    UnknownGroup(String),
    #[error("invalid numeric id '{0}' (expected +N with N a decimal number)")]
    BadNumber(String),
    #[error("failed to parse uid and gid from '{0}' (expected USER:GROUP)")]
    BadLabel(String),
    /// A syscall on a file failed.
    #[error("{what} '{}': {step}: {}", path.display(), errno_text(source))]
    Step {
        what: String,
        path: PathBuf,
        step: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{what} '{}': setting DAC owner {uid}:{gid} on a file already in use by another \
         domain as {cur_uid}:{cur_gid}",
        path.display()
    )]
    InUse {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
        cur_uid: u32,
        cur_gid: u32,
    },
    #[error("{what} '{}': remembered owner: {source}", path.display())]
    Remember {
        what: String,
        path: PathBuf,
        #[source]
        source: Box<RememberError>,
    },
    #[error(
        "{what} '{}': owned by QEMU's account {uid}:{gid} and its original owner is not \
         known (no journal record, no remembered owner): left as it is",
        path.display()
    )]
    OwnerUnknown {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    #[error(
        "{what} '{}': now owned by {uid}:{gid}, neither QEMU's account {label_uid}:{label_gid} \
         nor its original owner {}: changed by someone else, left as it is",
        path.display(),
        orig.map_or_else(|| "(unknown)".to_owned(), |(u, g)| format!("{u}:{g}"))
    )]
    ChangedMeanwhile {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
        label_uid: u32,
        label_gid: u32,
        orig: Option<Owner>,
    },
    #[error("{first}; rolling back also failed: {}", failures.join("; "))]
    Rollback {
        first: Box<DacError>,
        failures: Vec<String>,
    },
}

/// `Permission denied` rather than `Permission denied (os error 13)`.
pub fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

// ---------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Image ownership decisions
// ---------------------------------------------------------------------------------------

/// A `<seclabel model='dac'>` as the XML layer parsed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DacSeclabel {
    /// `type='none'`.
    pub none: bool,
    /// `relabel` (default yes).
    pub relabel: bool,
    pub label: Option<String>,
    pub imagelabel: Option<String>,
}

/// Who a disk image should be owned by, or `None` when it must not be touched.
///
/// * `dynamic_ownership = 0`, a domain label with `type='none'` or `relabel='no'`, or a
///   disk `<seclabel model='dac' relabel='no'/>`: `None`;
/// * a disk `<label>` wins, then the domain `<imagelabel>`, then the domain `<label>`,
///   then the qemu.conf account;
/// * `remember` is true only for the top of a chain that is neither read-only nor
///   shared (libvirt never restores shared resources).
#[allow(clippy::too_many_arguments)]
pub fn image_owner(
    db: &PasswdDb,
    dynamic_ownership: bool,
    domain: Option<&DacSeclabel>,
    disk: Option<&DacSeclabel>,
    account: (u32, u32),
    chain_top: bool,
    readonly: bool,
    shared: bool,
) -> Result<Option<(u32, u32, bool)>, DacError> {
    if !dynamic_ownership {
        return Ok(None);
    }
    if let Some(d) = domain
        && (d.none || !d.relabel)
    {
        return Ok(None);
    }
    let remember = chain_top && !readonly && !shared;
    if let Some(s) = disk {
        if !s.relabel {
            return Ok(None);
        }
        if let Some(l) = &s.label {
            let (u, g) = db.parse_ownership(l)?;
            return Ok(Some((u, g, remember)));
        }
    }
    let (u, g) = match domain.and_then(|d| d.imagelabel.as_ref().or(d.label.as_ref())) {
        Some(l) => db.parse_ownership(l)?,
        None => account,
    };
    Ok(Some((u, g, remember)))
}

// ---------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------

/// What [`DacDriver::set_owner`] / [`DacDriver::restore_owner`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DacOutcome {
    /// `dynamic_ownership` is off: nothing done.
    Disabled,
    /// Already owned by the wanted ids: no chown needed.
    AlreadyOwned,
    Chowned {
        uid: u32,
        gid: u32,
    },
    /// chown failed with an errno libvirt tolerates (`EPERM`, `EROFS`, `EOPNOTSUPP`,
    /// `EINVAL`: root-squashed NFS, read-only media): logged, not an error.
    NotChanged {
        uid: u32,
        gid: u32,
        reason: String,
    },
    /// Restore: other domains still use the file (refcount now `remaining`).
    StillInUse {
        remaining: u32,
    },
}

/// The DAC driver over some [`HostOps`].
#[derive(Debug)]
pub struct DacDriver<O: HostOps> {
    pub ops: O,
    /// qemu.conf `dynamic_ownership`.
    pub dynamic_ownership: bool,
    /// qemu.conf `remember_owner`.
    pub remember_owner: bool,
}

fn step_err(what: &str, path: &Path, step: impl Into<String>, source: io::Error) -> DacError {
    DacError::Step {
        what: what.to_owned(),
        path: path.to_path_buf(),
        step: step.into(),
        source,
    }
}

fn tolerated_chown_errno(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EROFS | libc::EOPNOTSUPP | libc::EINVAL)
    )
}

impl<O: HostOps> DacDriver<O> {
    /// Both knobs on (the privileged default).
    pub fn new(ops: O) -> Self {
        DacDriver {
            ops,
            dynamic_ownership: true,
            remember_owner: true,
        }
    }

    /// chown `path` to `uid:gid` (label name `file` in errors).
    pub fn set_owner(
        &self,
        path: &Path,
        uid: u32,
        gid: u32,
        remember: bool,
    ) -> Result<DacOutcome, DacError> {
        self.set_owner_for("file", path, uid, gid, remember)
    }

    /// chown `path` to `uid:gid`; `what` names the resource in errors (`disk`,
    /// `nvram`, `chardev`…). With `remember` (and qemu.conf `remember_owner`), the
    /// current owner is recorded (first user) or the refcount incremented; a file
    /// already in use by another domain under a different owner is refused.
    pub fn set_owner_for(
        &self,
        what: &str,
        path: &Path,
        uid: u32,
        gid: u32,
        remember: bool,
    ) -> Result<DacOutcome, DacError> {
        if !self.dynamic_ownership {
            return Ok(DacOutcome::Disabled);
        }
        let remember = remember && self.remember_owner;
        if remember {
            let st = self
                .ops
                .stat(path)
                .map_err(|e| step_err(what, path, "cannot stat", e))?;
            let label = base_label(st.uid, st.gid);
            let rc =
                hostops::remember_label(&self.ops, DRIVER, path, &label).map_err(|source| {
                    DacError::Remember {
                        what: what.to_owned(),
                        path: path.to_path_buf(),
                        source: Box::new(source),
                    }
                })?;
            if let Remembered::Count(n) = rc
                && n > 1
                && (st.uid != uid || st.gid != gid)
            {
                let err = DacError::InUse {
                    what: what.to_owned(),
                    path: path.to_path_buf(),
                    uid,
                    gid,
                    cur_uid: st.uid,
                    cur_gid: st.gid,
                };
                // Undo our increment; the owner stays (others still use the file).
                let _ = self.restore_owner_for(what, path, true);
                return Err(err);
            }
        }
        match self.chown_internal(what, path, uid, gid) {
            Ok(o) => Ok(o),
            Err(e) => {
                // Leave the xattrs as they were before this call.
                if let Err(r) = self.restore_owner_for(what, path, remember) {
                    return Err(DacError::Rollback {
                        first: Box::new(e),
                        failures: vec![r.to_string()],
                    });
                }
                Err(e)
            }
        }
    }

    fn chown_internal(
        &self,
        what: &str,
        path: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<DacOutcome, DacError> {
        let st = self
            .ops
            .stat(path)
            .map_err(|e| step_err(what, path, "cannot stat", e))?;
        if st.uid == uid && st.gid == gid {
            return Ok(DacOutcome::AlreadyOwned);
        }
        match self.ops.chown(path, uid, gid) {
            Ok(()) => Ok(DacOutcome::Chowned { uid, gid }),
            Err(e) if tolerated_chown_errno(&e) => Ok(DacOutcome::NotChanged {
                uid,
                gid,
                reason: errno_text(&e),
            }),
            Err(e) => Err(step_err(
                what,
                path,
                format!("cannot chown to {uid}:{gid}"),
                e,
            )),
        }
    }

    /// Give `path` back (label name `file` in errors).
    pub fn restore_owner(&self, path: &Path) -> Result<DacOutcome, DacError> {
        self.restore_owner_for("file", path, true)
    }

    /// Give `path` back: with `recall` (and `remember_owner`), drop one reference; if
    /// others remain nothing changes, at 0 the remembered owner is restored and the
    /// xattrs removed. With nothing remembered (no xattrs, stale ones, no xattr support,
    /// or `recall == false`) the owner becomes `0:0`, as libvirt does.
    pub fn restore_owner_for(
        &self,
        what: &str,
        path: &Path,
        recall: bool,
    ) -> Result<DacOutcome, DacError> {
        if !self.dynamic_ownership {
            return Ok(DacOutcome::Disabled);
        }
        let (mut uid, mut gid) = (0, 0);
        if recall && self.remember_owner {
            let r = hostops::recall_label(&self.ops, DRIVER, path).map_err(|source| {
                DacError::Remember {
                    what: what.to_owned(),
                    path: path.to_path_buf(),
                    source: Box::new(source),
                }
            })?;
            match r {
                Recalled::NotRemembered => {}
                Recalled::InUse(remaining) => return Ok(DacOutcome::StillInUse { remaining }),
                Recalled::Restore(label) => (uid, gid) = parse_numeric_label(&label)?,
            }
        }
        self.chown_internal(what, path, uid, gid)
    }

    /// Restore many files, best effort (every item is attempted, like libvirt's
    /// restore-all). Returns the errors.
    pub fn restore_all(&self, items: &[DacItem]) -> Vec<DacError> {
        items
            .iter()
            .filter_map(|i| self.restore_owner_for(&i.what, &i.path, i.remember).err())
            .collect()
    }

    /// [`check_access`] through this driver's [`HostOps`].
    pub fn check_access(
        &self,
        path: &Path,
        uid: u32,
        gid: u32,
        groups: &[u32],
        want_write: bool,
    ) -> Result<(), AccessDenial> {
        check_access(&self.ops, path, uid, gid, groups, want_write)
    }
}

/// One change of a [`Transaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DacItem {
    /// For messages: `disk`, `nvram`, `chardev`, `tpm`…
    pub what: String,
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub remember: bool,
    /// The owner before this domain's start, known before the chown and journaled
    /// with it, so a restore never has to guess (see [`DacDriver::restore_item`]).
    pub orig: Option<Owner>,
}

/// Ownership changes applied in order; on the first failure the ones already made
/// are undone in reverse order and the failure is returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub items: Vec<DacItem>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a chown.
    pub fn add(
        &mut self,
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        uid: u32,
        gid: u32,
        remember: bool,
    ) -> &mut Self {
        self.items.push(DacItem {
            what: what.into(),
            path: path.into(),
            uid,
            gid,
            remember,
            orig: None,
        });
        self
    }

    /// Records each item's original owner (see [`DacDriver::original_owner`]);
    /// `held` gives the original an item's path has in another running domain's
    /// records. Done before the records are journaled and before any chown.
    pub fn fill_origins<O: HostOps>(
        &mut self,
        driver: &DacDriver<O>,
        held: &dyn Fn(&Path) -> Option<Option<Owner>>,
    ) -> Result<(), DacError> {
        for it in &mut self.items {
            it.orig = match held(&it.path) {
                Some(orig) => orig,
                None => Some(driver.original_owner(&it.what, &it.path)?),
            };
        }
        Ok(())
    }

    /// Apply all items. On success the outcomes are in item order. `shared` says
    /// whether another domain still uses a path (a rollback leaves those alone).
    pub fn commit<O: HostOps>(
        &self,
        driver: &DacDriver<O>,
        shared: &dyn Fn(&Path) -> bool,
    ) -> Result<Vec<DacOutcome>, DacError> {
        let mut done = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            match driver.set_owner_for(&it.what, &it.path, it.uid, it.gid, it.remember) {
                Ok(o) => done.push(o),
                Err(e) => {
                    let failures: Vec<String> = self.items[..i]
                        .iter()
                        .rev()
                        .filter_map(|it| driver.restore_item(it, shared(&it.path)).err())
                        .map(|e| e.to_string())
                        .collect();
                    if failures.is_empty() {
                        return Err(e);
                    }
                    return Err(DacError::Rollback {
                        first: Box::new(e),
                        failures,
                    });
                }
            }
        }
        Ok(done)
    }

    /// Undo a committed (or partly committed) transaction: reverse order, best
    /// effort, each item through [`DacDriver::restore_item`], so running it again
    /// after a crash changes nothing more.
    pub fn release<O: HostOps>(
        &self,
        driver: &DacDriver<O>,
        shared: &dyn Fn(&Path) -> bool,
    ) -> Vec<DacError> {
        self.items
            .iter()
            .rev()
            .filter_map(|it| driver.restore_item(it, shared(&it.path)).err())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::{FileKind, FileStat, HostCall, HostOp, RecordingHostOps};

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
rvirt-qemu:x:999:994:rvirt QEMU:/var/lib/rvirt:/usr/sbin/nologin
107:x:4242:4242:numeric name:/:/bin/false
broken line
+nisuser
";
    const GROUP: &str = "\
root:x:0:
kvm:x:995:rvirt-qemu
disk:x:6:alice, rvirt-qemu
rvirt-qemu:x:994:
";

    fn db() -> PasswdDb {
        PasswdDb::parse(PASSWD, GROUP)
    }

    #[test]
    fn ids_names_numbers_plus() {
        let db = db();
        assert_eq!(db.users.len(), 4);
        assert_eq!(db.user_id("rvirt-qemu").unwrap(), 999);
        assert_eq!(db.user_id("root").unwrap(), 0);
        assert_eq!(db.user_id("+107").unwrap(), 107);
        // Name first: "107" is a user name here.
        assert_eq!(db.user_id("107").unwrap(), 4242);
        assert_eq!(db.user_id("555").unwrap(), 555);
        assert!(matches!(
            db.user_id("nobody-here"),
            Err(DacError::UnknownUser(_))
        ));
        assert!(matches!(db.user_id("+x1"), Err(DacError::BadNumber(_))));
        assert_eq!(db.group_id("kvm").unwrap(), 995);
        assert_eq!(db.group_id("+36").unwrap(), 36);
        assert!(matches!(
            db.group_id("nogroup-x"),
            Err(DacError::UnknownGroup(_))
        ));
    }

    #[test]
    fn ownership_labels() {
        let db = db();
        assert_eq!(db.parse_ownership("rvirt-qemu:kvm").unwrap(), (999, 995));
        assert_eq!(db.parse_ownership("+107:+107").unwrap(), (107, 107));
        assert_eq!(db.parse_ownership("root:+5").unwrap(), (0, 5));
        assert!(matches!(
            db.parse_ownership("rvirt-qemu"),
            Err(DacError::BadLabel(_))
        ));
        assert!(matches!(
            db.parse_ownership(":kvm"),
            Err(DacError::BadLabel(_))
        ));
        assert_eq!(parse_numeric_label("+0:+0").unwrap(), (0, 0));
        assert_eq!(base_label(107, 36), "+107:+36");
    }

    #[test]
    fn group_list_and_account() {
        let db = db();
        assert_eq!(db.group_list(999, 994), vec![994, 995, 6]);
        assert_eq!(db.group_list(12345, 7), vec![7]);
        let id = db.resolve_account("rvirt-qemu", None).unwrap();
        assert_eq!(
            id,
            Identity {
                uid: 999,
                gid: 994,
                groups: vec![994, 995, 6]
            }
        );
        let id = db.resolve_account("+107", Some("+107")).unwrap();
        assert_eq!(id.groups, vec![107]);
        let id = db.resolve_account("+107", None).unwrap();
        assert_eq!((id.uid, id.gid), (107, 107));
    }

    #[test]
    fn load_through_ops() {
        let ops = RecordingHostOps::new();
        ops.add_text("/r/etc/passwd", PASSWD);
        ops.add_text("/r/etc/group", GROUP);
        let db = PasswdDb::load_with(&ops, Path::new("/r")).unwrap();
        assert_eq!(db.user_id("rvirt-qemu").unwrap(), 999);
        let e = PasswdDb::load_with(&ops, Path::new("/none")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /none/etc/passwd: No such file or directory"
        );
    }

    #[test]
    fn real_host_has_the_qemu_account() {
        let db = PasswdDb::load().unwrap();
        assert_eq!(db.user_id("root").unwrap(), 0);
    }

    #[test]
    fn image_owner_rules() {
        let db = db();
        let acc = (999, 994);
        assert_eq!(
            image_owner(&db, true, None, None, acc, true, false, false).unwrap(),
            Some((999, 994, true))
        );
        assert_eq!(
            image_owner(&db, false, None, None, acc, true, false, false).unwrap(),
            None
        );
        // Read-only, shared, backing: chown but do not remember.
        assert_eq!(
            image_owner(&db, true, None, None, acc, true, true, false).unwrap(),
            Some((999, 994, false))
        );
        assert_eq!(
            image_owner(&db, true, None, None, acc, false, false, false).unwrap(),
            Some((999, 994, false))
        );
        let no = DacSeclabel {
            relabel: false,
            ..Default::default()
        };
        assert_eq!(
            image_owner(&db, true, None, Some(&no), acc, true, false, false).unwrap(),
            None
        );
        assert_eq!(
            image_owner(&db, true, Some(&no), None, acc, true, false, false).unwrap(),
            None
        );
        let none = DacSeclabel {
            none: true,
            relabel: true,
            ..Default::default()
        };
        assert_eq!(
            image_owner(&db, true, Some(&none), None, acc, true, false, false).unwrap(),
            None
        );
        let dom = DacSeclabel {
            relabel: true,
            label: Some("+107:+107".into()),
            imagelabel: Some("root:kvm".into()),
            ..Default::default()
        };
        assert_eq!(
            image_owner(&db, true, Some(&dom), None, acc, true, false, false).unwrap(),
            Some((0, 995, true))
        );
        let disk = DacSeclabel {
            relabel: true,
            label: Some("rvirt-qemu:+5".into()),
            ..Default::default()
        };
        assert_eq!(
            image_owner(&db, true, Some(&dom), Some(&disk), acc, true, false, false).unwrap(),
            Some((999, 5, true))
        );
    }

    const DISK: &str = "/var/lib/x.qcow2";

    fn fake() -> DacDriver<RecordingHostOps> {
        let ops = RecordingHostOps::new();
        ops.add_file(DISK, 0, 0, 0o600);
        DacDriver::new(ops)
    }

    #[test]
    fn set_and_restore_remembers_like_libvirt() {
        let d = fake();
        let p = Path::new(DISK);
        assert_eq!(
            d.set_owner(p, 999, 994, true).unwrap(),
            DacOutcome::Chowned { uid: 999, gid: 994 }
        );
        assert_eq!(d.ops.owner(p), Some((999, 994)));
        assert_eq!(
            d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+0:+0")
        );
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.timestamp_dac")
                .as_deref(),
            Some("1700000000")
        );
        assert_eq!(
            d.ops.mutations(),
            vec![
                HostCall::SetXattr(
                    p.into(),
                    "trusted.libvirt.security.dac".into(),
                    "+0:+0".into()
                ),
                HostCall::SetXattr(
                    p.into(),
                    "trusted.libvirt.security.timestamp_dac".into(),
                    "1700000000".into()
                ),
                HostCall::SetXattr(
                    p.into(),
                    "trusted.libvirt.security.ref_dac".into(),
                    "1".into()
                ),
                HostCall::Chown(p.into(), 999, 994),
            ]
        );
        assert_eq!(
            d.restore_owner(p).unwrap(),
            DacOutcome::Chowned { uid: 0, gid: 0 }
        );
        assert_eq!(d.ops.owner(p), Some((0, 0)));
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    }

    #[test]
    fn refcount_two_domains() {
        let d = fake();
        let p = Path::new(DISK);
        d.ops.chown(p, 1000, 1000).unwrap();
        d.set_owner(p, 999, 994, true).unwrap();
        assert_eq!(
            d.set_owner(p, 999, 994, true).unwrap(),
            DacOutcome::AlreadyOwned
        );
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("2")
        );
        assert_eq!(
            d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+1000:+1000")
        );
        assert_eq!(
            d.restore_owner(p).unwrap(),
            DacOutcome::StillInUse { remaining: 1 }
        );
        assert_eq!(d.ops.owner(p), Some((999, 994)));
        assert_eq!(
            d.restore_owner(p).unwrap(),
            DacOutcome::Chowned {
                uid: 1000,
                gid: 1000
            }
        );
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    }

    #[test]
    fn different_owner_while_in_use_is_refused() {
        let d = fake();
        let p = Path::new(DISK);
        d.set_owner(p, 999, 994, true).unwrap();
        let e = d.set_owner_for("disk", p, 107, 107, true).unwrap_err();
        assert!(matches!(e, DacError::InUse { cur_uid: 999, .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("disk '/var/lib/x.qcow2': setting DAC owner 107:107")
        );
        // Count back to 1, owner unchanged.
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
        assert_eq!(d.ops.owner(p), Some((999, 994)));
    }

    #[test]
    fn stale_timestamp_is_dropped() {
        let d = fake();
        let p = Path::new(DISK);
        d.ops.chown(p, 5, 5).unwrap();
        d.ops.put_xattr(p, "trusted.libvirt.security.dac", "+1:+1");
        d.ops.put_xattr(p, "trusted.libvirt.security.ref_dac", "3");
        d.ops
            .put_xattr(p, "trusted.libvirt.security.timestamp_dac", "1600000000");
        d.set_owner(p, 999, 994, true).unwrap();
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+5:+5")
        );
        // Stale on restore: attributes go, owner falls back to root.
        d.ops
            .put_xattr(p, "trusted.libvirt.security.timestamp_dac", "1");
        assert_eq!(
            d.restore_owner(p).unwrap(),
            DacOutcome::Chowned { uid: 0, gid: 0 }
        );
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
        // Missing timestamp counts as stale too.
        d.ops.put_xattr(p, "trusted.libvirt.security.ref_dac", "1");
        d.set_owner(p, 999, 994, true).unwrap();
        assert_eq!(
            d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+0:+0")
        );
    }

    #[test]
    fn no_remember_and_disabled() {
        let mut d = fake();
        let p = Path::new(DISK);
        d.set_owner(p, 999, 994, false).unwrap();
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
        assert_eq!(
            d.restore_owner_for("disk", p, false).unwrap(),
            DacOutcome::Chowned { uid: 0, gid: 0 }
        );
        d.remember_owner = false;
        d.set_owner(p, 999, 994, true).unwrap();
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
        d.dynamic_ownership = false;
        d.ops.clear_calls();
        assert_eq!(d.set_owner(p, 1, 1, true).unwrap(), DacOutcome::Disabled);
        assert_eq!(d.restore_owner(p).unwrap(), DacOutcome::Disabled);
        assert!(d.ops.calls().is_empty());
    }

    #[test]
    fn no_xattr_support_still_chowns() {
        let d = fake();
        let p = Path::new(DISK);
        d.ops.set_xattr_support(p, false);
        d.set_owner(p, 999, 994, true).unwrap();
        assert_eq!(d.ops.owner(p), Some((999, 994)));
        assert_eq!(
            d.restore_owner(p).unwrap(),
            DacOutcome::Chowned { uid: 0, gid: 0 }
        );
    }

    #[test]
    fn chown_failure_message_and_xattrs_undone() {
        let d = fake();
        let p = Path::new(DISK);
        d.ops.fail(HostOp::Chown, p, libc::EACCES);
        let e = d.set_owner_for("disk", p, 999, 994, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "disk '/var/lib/x.qcow2': cannot chown to 999:994: Permission denied"
        );
        assert!(d.ops.file(p).unwrap().xattrs.is_empty());
        // Tolerated errnos (libvirt logs and goes on).
        d.ops.fail(HostOp::Chown, p, libc::EROFS);
        assert!(matches!(
            d.set_owner(p, 999, 994, false).unwrap(),
            DacOutcome::NotChanged { .. }
        ));
    }

    #[test]
    fn transaction_rolls_back_on_first_failure() {
        let d = fake();
        d.ops.add_file("/a", 1, 1, 0o600);
        d.ops.add_file("/b", 2, 2, 0o600);
        d.ops.add_file("/c", 3, 3, 0o600);
        d.ops.fail(HostOp::Chown, "/c", libc::EIO);
        let mut t = Transaction::new();
        t.add("disk", "/a", 999, 994, true)
            .add("nvram", "/b", 999, 994, true)
            .add("chardev", "/c", 999, 994, true);
        let e = t.commit(&d, &|_| false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chardev '/c': cannot chown to 999:994: Input/output error"
        );
        for (p, o) in [("/a", (1, 1)), ("/b", (2, 2)), ("/c", (3, 3))] {
            assert_eq!(d.ops.owner(p), Some(o), "{p}");
            assert!(d.ops.file(p).unwrap().xattrs.is_empty(), "{p}");
        }
        // Rollback in reverse order: /b restored before /a.
        let chowns: Vec<_> = d
            .ops
            .mutations()
            .into_iter()
            .filter(|c| matches!(c, HostCall::Chown(..)))
            .collect();
        assert_eq!(
            chowns,
            vec![
                HostCall::Chown("/a".into(), 999, 994),
                HostCall::Chown("/b".into(), 999, 994),
                HostCall::Chown("/c".into(), 999, 994),
                HostCall::Chown("/b".into(), 2, 2),
                HostCall::Chown("/a".into(), 1, 1),
            ]
        );
        d.ops.clear_failures();
        assert_eq!(t.commit(&d, &|_| false).unwrap().len(), 3);
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner("/c"), Some((3, 3)));
    }

    fn tree() -> RecordingHostOps {
        let ops = RecordingHostOps::new();
        ops.add_dir("/", 0, 0, 0o755);
        ops.add_dir("/root", 0, 0, 0o700);
        ops.add_file("/root/x.qcow2", 999, 994, 0o600);
        ops.add_dir("/var", 0, 0, 0o755);
        ops.add_dir("/var/lib", 0, 0, 0o755);
        ops.add_dir("/var/lib/img", 0, 995, 0o750);
        ops.add_file("/var/lib/img/a.qcow2", 0, 0, 0o644);
        ops.add_file("/var/lib/img/g.qcow2", 0, 995, 0o660);
        ops.add_symlink("/var/lib/link.qcow2", "/root/x.qcow2");
        ops.add_symlink("/var/lib/rel.qcow2", "img/g.qcow2");
        ops
    }

    #[test]
    fn access_root_0700_dir_blocks() {
        let ops = tree();
        let e = check_access(
            &ops,
            Path::new("/root/x.qcow2"),
            999,
            994,
            &[994, 995],
            true,
        )
        .unwrap_err();
        assert_eq!(e.layer(), "DAC");
        assert_eq!(e.problem, AccessProblem::Search);
        assert_eq!(e.blocking, Path::new("/root"));
        assert_eq!(e.owner, Some((0, 0, 0o700)));
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "DAC: QEMU as uid 999 gid 994 (groups 994,995) cannot search directory '/root' \
                 (owner 0:0, mode 0700) on the way to '/root/x.qcow2'; fix: "
            ),
            "{msg}"
        );
        assert!(
            msg.contains("chmod o+x '/root'") && msg.contains("qemu.conf user/group"),
            "{msg}"
        );
        // Root passes.
        check_access(&ops, Path::new("/root/x.qcow2"), 0, 0, &[], true).unwrap();
        // Symlink into /root is blocked at /root too.
        let e = check_access(
            &ops,
            Path::new("/var/lib/link.qcow2"),
            999,
            994,
            &[994],
            false,
        )
        .unwrap_err();
        assert_eq!(e.blocking, Path::new("/root"));
    }

    #[test]
    fn access_group_and_rw() {
        let ops = tree();
        // Group kvm (995) may search /var/lib/img and write g.qcow2.
        check_access(
            &ops,
            Path::new("/var/lib/img/g.qcow2"),
            999,
            994,
            &[994, 995],
            true,
        )
        .unwrap();
        check_access(
            &ops,
            Path::new("/var/lib/rel.qcow2"),
            999,
            994,
            &[994, 995],
            true,
        )
        .unwrap();
        // Without the kvm group the directory blocks.
        let e = check_access(
            &ops,
            Path::new("/var/lib/img/g.qcow2"),
            999,
            994,
            &[994],
            false,
        )
        .unwrap_err();
        assert_eq!(
            (e.problem, e.blocking),
            (AccessProblem::Search, PathBuf::from("/var/lib/img"))
        );
        // a.qcow2 is readable, not writable.
        check_access(
            &ops,
            Path::new("/var/lib/img/a.qcow2"),
            999,
            994,
            &[995],
            false,
        )
        .unwrap();
        let e = check_access(
            &ops,
            Path::new("/var/lib/img/a.qcow2"),
            999,
            994,
            &[995],
            true,
        )
        .unwrap_err();
        assert_eq!(e.problem, AccessProblem::Write);
        assert!(e.to_string().contains("dynamic_ownership"), "{e}");
        // Missing.
        let e = check_access(&ops, Path::new("/var/nope/x"), 999, 994, &[], false).unwrap_err();
        assert_eq!(
            (e.layer(), e.problem.clone()),
            ("path", AccessProblem::Missing)
        );
        assert_eq!(e.blocking, Path::new("/var/nope"));
        let e =
            check_access(&ops, Path::new("/var/lib/img/a.qcow2/x"), 0, 0, &[], false).unwrap_err();
        assert_eq!(e.problem, AccessProblem::NotDir);
    }

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (t, p, i) in entries {
            v.extend_from_slice(&t.to_le_bytes());
            v.extend_from_slice(&p.to_le_bytes());
            v.extend_from_slice(&i.to_le_bytes());
        }
        v
    }

    #[test]
    fn posix_acl_grants_and_masks() {
        let st = FileStat {
            kind: FileKind::Dir,
            mode: 0o700,
            uid: 0,
            gid: 0,
        };
        let user = acl(&[
            (1, 7, u32::MAX),
            (2, 5, 999),
            (4, 0, u32::MAX),
            (0x10, 5, u32::MAX),
            (0x20, 0, u32::MAX),
        ]);
        let a = parse_posix_acl(&user).unwrap();
        assert!(permits(&st, Some(&a), 999, 994, &[], 1));
        assert!(!permits(&st, Some(&a), 999, 994, &[], 2));
        assert!(!permits(&st, Some(&a), 1000, 1000, &[], 1));
        let masked = acl(&[
            (1, 7, u32::MAX),
            (8, 7, 995),
            (4, 0, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ]);
        let a = parse_posix_acl(&masked).unwrap();
        assert!(permits(&st, Some(&a), 999, 994, &[995], 4));
        assert!(!permits(&st, Some(&a), 999, 994, &[995], 1));
        assert!(parse_posix_acl(&[1, 0, 0, 0]).is_none());
        // Through check_access.
        let ops2 = RecordingHostOps::new();
        ops2.add_dir("/", 0, 0, 0o755);
        ops2.add_dir("/root", 0, 0, 0o700);
        ops2.add_file("/root/f", 999, 994, 0o600);
        ops2.set_xattr(Path::new("/root"), "system.posix_acl_access", &user)
            .unwrap();
        check_access(&ops2, Path::new("/root/f"), 999, 994, &[], true).unwrap();
    }
}
