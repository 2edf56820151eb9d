//! [`DacDriver`]: chown of the files QEMU uses, with the original owner remembered in
//! libvirt's extended attributes, and restored at the last reference.

use std::io;
use std::path::Path;

use super::access::{AccessDenial, check_access};
use super::accounts::{base_label, parse_numeric_label};
use super::error::{DacError, errno_text};
use crate::hostops::{self, HostOps, Recalled, Remembered};

/// The driver name in the xattr names (`trusted.libvirt.security.dac`).
pub const DRIVER: &str = "dac";

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

pub(super) fn step_err(
    what: &str,
    path: &Path,
    step: impl Into<String>,
    source: io::Error,
) -> DacError {
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
                // The chown failed, so the owner is as it was: only this call's
                // reference is dropped again (a restore here would chown, and with
                // nothing remembered it would give the file to root).
                if remember && let Err(r) = hostops::recall_label(&self.ops, DRIVER, path) {
                    return Err(DacError::Rollback {
                        first: Box::new(e),
                        failures: vec![r.to_string()],
                    });
                }
                Err(e)
            }
        }
    }

    pub(super) fn chown_internal(
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
