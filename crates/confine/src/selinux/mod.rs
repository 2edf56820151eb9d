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
//! Files: `error.rs` ([`SelinuxError`]), `context.rs` (security contexts, the policy's virt context files, the
//! daemon's own context),
//! `host.rs` (detection), `mcs.rs` (category ranges and
//! allocation), `decision.rs` (`<seclabel>` + qemu.conf → what to do), `labels.rs`
//! (the labels of QEMU and its images), `driver.rs` (applying and restoring them,
//! the exec label).

mod context;
mod decision;
mod driver;
mod error;
mod host;
mod labels;
mod mcs;
mod plan;

pub use context::{Context, VirtContexts, current_context};
pub use decision::{SeclabelSpec, SeclabelType, SelinuxConfig, SelinuxDecision, decide};
pub use driver::{
    DRIVER, EXEC_ATTR, LabelOutcome, SelinuxDriver, XATTR, set_exec_label, set_exec_label_with,
};
pub use error::SelinuxError;
pub use host::{SelinuxHost, detect};
pub use labels::{DiskSeclabel, DomainLabels, ImageUse, build_labels, build_labels_with};
pub use mcs::{McsRange, McsTable, parse_process_range};
pub use plan::{LabelTarget, SelinuxPlan, plan_labels, plan_labels_with};

#[cfg(test)]
mod tests;
