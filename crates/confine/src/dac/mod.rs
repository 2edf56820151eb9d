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
//!
//! Files: `error.rs` ([`DacError`]), `accounts.rs` ([`PasswdDb`], owners and labels),
//! `image.rs` (who an image should belong to), `driver.rs` ([`DacDriver`]: chown with
//! remembered owners), `transaction.rs` ([`Transaction`]), `restore.rs` (giving a file
//! back without guessing), `access.rs` (the pre-flight access check).

mod access;
mod accounts;
mod driver;
mod error;
mod image;
mod restore;
mod transaction;

pub use access::{
    AccessDenial, AccessProblem, AclEntry, check_access, check_identity_access, parse_posix_acl,
    permits,
};
pub use accounts::{GroupEntry, Owner, PasswdDb, PasswdEntry, base_label, parse_numeric_label};
pub use driver::{DRIVER, DacDriver, DacOutcome};
pub use error::{DacError, errno_text};
pub use image::{DacSeclabel, image_owner};
pub use restore::Restored;
pub use transaction::{DacItem, Transaction};

#[cfg(test)]
mod tests;
