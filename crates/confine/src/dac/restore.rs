//! Giving a file back to its owner so that no crash can lose the owner.
//!
//! The original owner of every file a start chowns is known *before* the chown
//! ([`DacDriver::original_owner`]) and journaled by the caller with the planned
//! change, durably. A restore ([`DacDriver::restore_item`]) then never guesses:
//!
//! * the journaled original wins; libvirt's remembered-owner xattrs are the fallback
//!   for records that predate the journal;
//! * a file still owned by QEMU's account goes back to that owner, and the chown is
//!   made durable before the xattrs are removed (the caller drops its record last);
//! * a file already back with its owner only loses leftover xattrs, so running a
//!   restore twice (a daemon killed in the middle of one) changes nothing more;
//! * a file whose original owner is not known, or that someone else chowned
//!   meanwhile, is left as it is and reported — never given to root;
//! * a file another running domain still uses (the caller knows: it keeps the
//!   records of all of them) keeps its owner; only this domain's xattr reference
//!   is dropped.

use std::io;
use std::path::Path;

use super::accounts::{Owner, parse_numeric_label};
use super::driver::{DRIVER, DacDriver, DacOutcome, step_err};
use super::error::DacError;
use super::transaction::DacItem;
use crate::hostops::{self, HostOps};

/// What [`DacDriver::restore_item`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// `dynamic_ownership` is off: nothing was changed at start, nothing now.
    Disabled,
    /// The file no longer exists.
    Gone,
    /// Chowned back to its original owner (durably).
    Restored { uid: u32, gid: u32 },
    /// Already owned by its original owner (never chowned, or restored before).
    AlreadyBack,
    /// Another domain still uses the file: its owner stays.
    StillShared,
    /// The chown back failed with an errno libvirt tolerates (read-only media,
    /// root-squashed NFS).
    NotChanged { reason: String },
}

impl<O: HostOps> DacDriver<O> {
    /// The owner `path` has for the purpose of a later restore: the owner libvirt's
    /// xattrs remember (a file another user of the xattrs holds), else its current
    /// owner.
    pub fn original_owner(&self, what: &str, path: &Path) -> Result<Owner, DacError> {
        if self.remember_owner
            && let Some(label) = self.remembered(what, path)?
        {
            return Ok(label);
        }
        let st = self
            .ops
            .stat(path)
            .map_err(|e| step_err(what, path, "cannot stat", e))?;
        Ok((st.uid, st.gid))
    }

    fn remembered(&self, what: &str, path: &Path) -> Result<Option<Owner>, DacError> {
        let label =
            hostops::peek_label(&self.ops, DRIVER, path).map_err(|source| DacError::Remember {
                what: what.to_owned(),
                path: path.to_path_buf(),
                source: Box::new(source),
            })?;
        label.map(|l| parse_numeric_label(&l)).transpose()
    }

    /// Gives `item` back to its original owner; see the module documentation for the
    /// rules. `shared`: another running domain still uses the file.
    pub fn restore_item(&self, item: &DacItem, shared: bool) -> Result<Restored, DacError> {
        if !self.dynamic_ownership {
            return Ok(Restored::Disabled);
        }
        let (what, path) = (item.what.as_str(), item.path.as_path());
        let st = match self.ops.stat(path) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Restored::Gone),
            Err(e) => return Err(step_err(what, path, "cannot stat", e)),
        };
        let xattrs = item.remember && self.remember_owner;
        // Users outside this daemon (another rvirtd or a libvirtd on the host) are
        // known only by the xattrs' reference count.
        let others_outside =
            xattrs && hostops::peek_count(&self.ops, DRIVER, path).is_ok_and(|n| n > 1);
        if shared || others_outside {
            if xattrs {
                // This domain's reference only; the label stays for the others.
                let _ = hostops::recall_label(&self.ops, DRIVER, path);
            }
            return Ok(Restored::StillShared);
        }
        let orig = match item.orig {
            Some(o) => Some(o),
            None if xattrs => self.remembered(what, path).ok().flatten(),
            None => None,
        };
        let now = (st.uid, st.gid);
        let label = (item.uid, item.gid);
        let outcome = if Some(now) == orig {
            Restored::AlreadyBack
        } else if now == label {
            let Some((uid, gid)) = orig else {
                return Err(DacError::OwnerUnknown {
                    what: what.to_owned(),
                    path: path.to_path_buf(),
                    uid: now.0,
                    gid: now.1,
                });
            };
            match self.chown_internal(what, path, uid, gid)? {
                DacOutcome::NotChanged { reason, .. } => Restored::NotChanged { reason },
                _ => {
                    self.ops
                        .sync_owner(path)
                        .map_err(|e| step_err(what, path, "cannot make the owner durable", e))?;
                    Restored::Restored { uid, gid }
                }
            }
        } else {
            if xattrs {
                let _ = hostops::forget_label(&self.ops, DRIVER, path);
            }
            return Err(DacError::ChangedMeanwhile {
                what: what.to_owned(),
                path: path.to_path_buf(),
                uid: now.0,
                gid: now.1,
                label_uid: label.0,
                label_gid: label.1,
                orig,
            });
        };
        if xattrs {
            hostops::forget_label(&self.ops, DRIVER, path).map_err(|source| {
                DacError::Remember {
                    what: what.to_owned(),
                    path: path.to_path_buf(),
                    source: Box::new(source),
                }
            })?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::dac::Transaction;
    use crate::hostops::{HostCall, HostOp, RecordingHostOps};

    const IMG: &str = "/img/a.qcow2";
    const QEMU: Owner = (999, 994);
    const USER: Owner = (4242, 4242);

    fn driver() -> DacDriver<RecordingHostOps> {
        let ops = RecordingHostOps::new();
        ops.add_dir("/img", 0, 0, 0o755);
        ops.add_file(IMG, USER.0, USER.1, 0o640);
        ops.set_boot_time(1_700_000_000);
        DacDriver::new(ops)
    }

    fn planned(d: &DacDriver<RecordingHostOps>, remember: bool) -> Transaction {
        let mut t = Transaction::new();
        t.add("disk", IMG, QEMU.0, QEMU.1, remember);
        t.fill_origins(d, &|_| None).unwrap();
        t
    }

    fn no_xattrs(d: &DacDriver<RecordingHostOps>) -> bool {
        d.ops.file(IMG).unwrap().xattrs.is_empty()
    }

    #[test]
    fn start_and_stop_give_the_owner_back_durably() {
        let d = driver();
        let t = planned(&d, true);
        assert_eq!(t.items[0].orig, Some(USER));
        t.commit(&d, &|_| false).unwrap();
        assert_eq!(d.ops.owner(IMG), Some(QEMU));
        d.ops.clear_calls();
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
        assert!(no_xattrs(&d));
        // The chown is made durable before the remembered owner is dropped.
        let calls = d.ops.calls();
        let chown = calls
            .iter()
            .position(|c| matches!(c, HostCall::Chown(..)))
            .unwrap();
        let sync = calls
            .iter()
            .position(|c| matches!(c, HostCall::SyncOwner(..)))
            .unwrap();
        let forget = calls
            .iter()
            .position(|c| matches!(c, HostCall::RemoveXattr(..)))
            .unwrap();
        assert!(chown < sync && sync < forget, "{calls:?}");
    }

    #[test]
    fn a_restore_repeated_after_a_crash_changes_nothing_more() {
        let d = driver();
        let t = planned(&d, true);
        t.commit(&d, &|_| false).unwrap();
        // Killed after the chown back, before the xattrs went.
        d.ops.chown(Path::new(IMG), USER.0, USER.1).unwrap();
        assert_eq!(
            d.ops
                .xattr(IMG, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
        assert!(no_xattrs(&d));
        // And once more: no owner changes.
        d.ops.clear_calls();
        assert!(t.release(&d, &|_| false).is_empty());
        assert!(
            !d.ops
                .mutations()
                .iter()
                .any(|c| matches!(c, HostCall::Chown(..))),
            "{:?}",
            d.ops.mutations()
        );
    }

    #[test]
    fn xattrs_gone_before_the_chown_back_still_restores_from_the_journal() {
        // The old order (xattrs first, chown second) killed in between left a file
        // owned by QEMU with nothing remembered: that used to become root's.
        let d = driver();
        let t = planned(&d, true);
        t.commit(&d, &|_| false).unwrap();
        hostops::forget_label(&d.ops, DRIVER, Path::new(IMG)).unwrap();
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
    }

    #[test]
    fn killed_between_remember_and_chown_at_start() {
        let d = driver();
        let t = planned(&d, true);
        hostops::remember_label(&d.ops, DRIVER, Path::new(IMG), "+4242:+4242").unwrap();
        // The recovery of the interrupted start: owner untouched, xattrs cleared.
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
        assert!(no_xattrs(&d));
    }

    #[test]
    fn unknown_owner_is_left_and_reported_never_root() {
        let d = driver();
        d.ops.chown(Path::new(IMG), QEMU.0, QEMU.1).unwrap();
        let mut t = Transaction::new();
        t.add("disk", IMG, QEMU.0, QEMU.1, true); // a record without the journal
        let errs = t.release(&d, &|_| false);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().contains("original owner is not known"),
            "{}",
            errs[0]
        );
        assert_eq!(d.ops.owner(IMG), Some(QEMU));
    }

    #[test]
    fn owner_changed_by_someone_else_is_left() {
        let d = driver();
        let t = planned(&d, true);
        t.commit(&d, &|_| false).unwrap();
        d.ops.chown(Path::new(IMG), 7, 7).unwrap();
        let errs = t.release(&d, &|_| false);
        assert!(errs[0].to_string().contains("changed by someone else"));
        assert_eq!(d.ops.owner(IMG), Some((7, 7)));
        assert!(no_xattrs(&d));
    }

    #[test]
    fn a_shared_read_only_image_goes_back_with_its_last_user() {
        let d = driver();
        // Domain A, then domain B (B learns the original from A's records).
        let a = planned(&d, false);
        a.commit(&d, &|_| false).unwrap();
        let mut b = Transaction::new();
        b.add("cdrom", IMG, QEMU.0, QEMU.1, false);
        b.fill_origins(&d, &|p| (p == Path::new(IMG)).then_some(Some(USER)))
            .unwrap();
        assert_eq!(b.items[0].orig, Some(USER));
        b.commit(&d, &|_| true).unwrap();
        // A stops while B runs: the owner stays QEMU's.
        assert!(a.release(&d, &|_| true).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(QEMU));
        // B stops last: back to the user.
        assert!(b.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
    }

    #[test]
    fn shared_with_xattrs_counts_down() {
        let d = driver();
        let a = planned(&d, true);
        a.commit(&d, &|_| false).unwrap();
        let mut b = Transaction::new();
        b.add("disk", IMG, QEMU.0, QEMU.1, true);
        b.fill_origins(&d, &|_| None).unwrap();
        // Learned from the xattrs, not from the current (QEMU) owner.
        assert_eq!(b.items[0].orig, Some(USER));
        b.commit(&d, &|_| true).unwrap();
        assert_eq!(
            d.ops
                .xattr(IMG, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("2")
        );
        assert!(a.release(&d, &|_| true).is_empty());
        assert_eq!(
            d.ops
                .xattr(IMG, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
        assert!(b.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(USER));
        assert!(no_xattrs(&d));
    }

    #[test]
    fn a_user_outside_this_daemon_keeps_the_file() {
        // Another daemon (or libvirtd) chowned the image first and holds it.
        let d = driver();
        hostops::remember_label(&d.ops, DRIVER, Path::new(IMG), "+4242:+4242").unwrap();
        d.ops.chown(Path::new(IMG), QEMU.0, QEMU.1).unwrap();
        let t = planned(&d, true);
        // The original owner comes from the xattrs, not from QEMU's current one.
        assert_eq!(t.items[0].orig, Some(USER));
        t.commit(&d, &|_| false).unwrap();
        assert!(t.release(&d, &|_| false).is_empty());
        assert_eq!(d.ops.owner(IMG), Some(QEMU));
        assert_eq!(
            d.ops
                .xattr(IMG, "trusted.libvirt.security.ref_dac")
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn rollback_at_start_restores_what_was_done() {
        let d = driver();
        d.ops.add_file("/img/b.raw", 5, 5, 0o600);
        let mut t = Transaction::new();
        t.add("disk", IMG, QEMU.0, QEMU.1, true);
        t.add("disk", "/img/b.raw", QEMU.0, QEMU.1, true);
        t.fill_origins(&d, &|_| None).unwrap();
        d.ops.fail(HostOp::Chown, "/img/b.raw", libc::EIO);
        assert!(t.commit(&d, &|_| false).is_err());
        assert_eq!(d.ops.owner(IMG), Some(USER));
        assert_eq!(d.ops.owner("/img/b.raw"), Some((5, 5)));
        assert!(no_xattrs(&d));
    }

    #[test]
    fn gone_files_and_disabled_ownership() {
        let mut d = driver();
        let mut t = Transaction::new();
        t.add("disk", PathBuf::from("/img/missing"), QEMU.0, QEMU.1, true);
        t.items[0].orig = Some(USER);
        assert_eq!(d.restore_item(&t.items[0], false).unwrap(), Restored::Gone);
        d.dynamic_ownership = false;
        assert_eq!(
            d.restore_item(&t.items[0], false).unwrap(),
            Restored::Disabled
        );
    }
}
