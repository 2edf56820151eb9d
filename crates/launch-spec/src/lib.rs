//! The vocabulary the planner (`qemu-plan`, pure) and the host side (`confine`,
//! syscalls) share: one device rule, one device node, one identity, one set of
//! Landlock rules, one launch spec. Both sides use these very types, so nothing the
//! planner decides is printed and parsed back on the way to the host.

mod fds;
mod launch;
mod rule;

pub use fds::{FdSource, PassFd};
pub use launch::{Access, DevNode, Identity, LandlockRules, LaunchSpec, NamespaceSpec, NodeKind};
pub use rule::{DeviceKind, DeviceRule, InvalidRule};
