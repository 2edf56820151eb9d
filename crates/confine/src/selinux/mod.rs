//! A minimal pure-Rust SELinux driver (no libselinux): detection, the policy's virt
//! context files, MCS category allocation, the labels of QEMU and its images, the
//! static/dynamic/none decision, and applying labels through [`HostOps`].
//!
//! Behaviour follows libvirt's SELinux driver:
//! * contexts come from `/etc/selinux/<type>/contexts/virtual_domain_context` (line 1:
//!   QEMU's process context, optional line 2: the TCG one) and
//!   `virtual_image_context` (line 1: image files, line 2: read-only content);
//! * a dynamic label draws two different random categories from the daemon's own
//!   range (`c0.c1023` when it has none) and gives `s0:cX,cY` with X < Y, unique among
//!   running domains. Current libvirt discards a draw with X == Y because `s0:cN` is a
//!   subset of every pair containing N (older versions produced `s0:cN`);
//! * the process label is the base context with the daemon's user and role and the
//!   MCS range; the image label is the image context with the daemon's user and the
//!   same range; shared images get the image context as is (`svirt_image_t:s0`),
//!   read-only ones the content context (`virt_content_t:s0`);
//! * original file labels are remembered in `trusted.libvirt.security.selinux`
//!   (+ `ref_selinux`, `timestamp_selinux`), like DAC owners.
//!
//! Without libselinux there is no `selabel_lookup`: a file whose original label was not
//! remembered keeps the domain's label on restore ([`LabelOutcome::NoDefault`]).
//!
//! Files: `context.rs` (security contexts, the policy's virt context files, the
//! daemon's own context),
//! `host.rs` (detection), `mcs.rs` (category ranges and
//! allocation), `decision.rs` (`<seclabel>` + qemu.conf → what to do), `labels.rs`
//! (the labels of QEMU and its images), `driver.rs` (applying and restoring them,
//! the exec label).

use std::io;
use std::path::PathBuf;

use crate::dac::errno_text;
use crate::hostops::RememberError;

mod context;
mod decision;
mod driver;
mod host;
mod labels;
mod mcs;

pub use context::{Context, VirtContexts, current_context};
pub use decision::{SeclabelSpec, SeclabelType, SelinuxConfig, SelinuxDecision, decide};
pub use driver::{LabelOutcome, SelinuxDriver, set_exec_label, set_exec_label_with};
pub use host::{SelinuxHost, detect};
pub use labels::{DiskSeclabel, DomainLabels, ImageUse, build_labels, build_labels_with};
pub use mcs::{McsRange, McsTable, parse_process_range};

/// The driver name in the remembered-label xattrs.
pub const DRIVER: &str = "selinux";
/// The file label attribute.
pub const XATTR: &str = "security.selinux";
/// Where a process sets the context of its next `execve`.
pub const EXEC_ATTR: &str = "/proc/thread-self/attr/exec";

/// Errors of the SELinux driver.
#[derive(Debug, thiserror::Error)]
pub enum SelinuxError {
    #[error("SELinux is not enabled on this host: {0}")]
    NotEnabled(String),
    #[error("cannot read {}: {}", path.display(), errno_text(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is empty", .0.display())]
    EmptyContextFile(PathBuf),
    #[error("invalid SELinux context '{0}' (expected user:role:type[:range])")]
    BadContext(String),
    #[error("SELinux context '{0}' has no MLS/MCS range")]
    NoRange(String),
    #[error("Cannot parse category in {0}")]
    BadCategory(String),
    #[error("No category range available in {0}")]
    NoCategoryRange(String),
    #[error("Category range c{0}-c{1} too small")]
    RangeTooSmall(u32, u32),
    #[error("no free MCS category pair left in {0}")]
    Exhausted(String),
    #[error("MCS level for existing domain label {0} already reserved")]
    AlreadyReserved(String),
    #[error(
        "Unconfined guests are not allowed on this host (qemu.conf security_require_confined = 1)"
    )]
    UnconfinedNotAllowed,
    #[error("invalid SELinux seclabel: {0}")]
    BadSeclabel(String),
    #[error("unable to set security context '{label}' on '{}': {}", path.display(), errno_text(source))]
    SetLabel {
        label: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unable to read the security context of '{}': {}", path.display(), errno_text(source))]
    GetLabel {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("setting SELinux label '{label}' on '{}' which is already in use with label '{current}'", path.display())]
    InUse {
        path: PathBuf,
        label: String,
        current: String,
    },
    #[error("'{}': remembered label: {source}", path.display())]
    Remember {
        path: PathBuf,
        #[source]
        source: Box<RememberError>,
    },
    #[error(
        "unable to set the exec context '{label}': {}{hint}",
        errno_text(source)
    )]
    ExecLabel {
        label: String,
        /// Extra explanation (e.g. SELinux is off).
        hint: &'static str,
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests;
