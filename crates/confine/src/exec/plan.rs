//! What a start does on the host, decided before anything is done: the input of
//! [`super::execute`]. Made by the daemon from the planner's [`launch_spec`] types.

use std::path::PathBuf;

use launch_spec::{DeviceRule, Identity, LaunchSpec, PassFd};

use super::helpers::{FilePlan, HelperPlan};
use crate::dac::Transaction;

/// A directory the start makes for QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirPlan {
    pub path: PathBuf,
    /// Permission bits set after creation.
    pub mode: u32,
    /// Its owner (QEMU's account).
    pub uid: u32,
    pub gid: u32,
    /// For messages: `per-domain directory`, `memory backing`…
    pub what: String,
}

/// QEMU's per-VM cgroup and its device ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPlan {
    /// `/machine` or the domain's `<resource><partition>`.
    pub partition: String,
    /// The machine name the group directory is made from.
    pub machine: String,
    /// The controllers to use (qemu.conf `cgroup_controllers`).
    pub controllers: Vec<String>,
    /// The device ACL, when the devices controller is used.
    pub device_acl: Option<Vec<DeviceRule>>,
}

/// A file QEMU's account must be able to open, checked before QEMU runs so a
/// denial names the blocking directory instead of QEMU failing with EACCES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessCheck {
    pub path: PathBuf,
    pub write: bool,
    /// The device it belongs to, for the message.
    pub origin: String,
}

/// An SELinux label a file gets for QEMU (its current label remembered in libvirt's
/// xattrs when `remember`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLabel {
    pub path: PathBuf,
    pub label: String,
    pub remember: bool,
    /// The device it belongs to, for messages.
    pub origin: String,
}

/// Everything one start does on the host, in the order [`super::execute`] does it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartPlan {
    pub domain: String,
    /// QEMU's private directory (its HOME and working directory).
    pub lib_dir: DirPlan,
    /// Directories of the daemon's own tree that QEMU's account must traverse to
    /// reach `lib_dir` get search permission (root-owned ones beneath `within`).
    pub reach: Option<Reach>,
    /// Where the domain log lives (made if missing, owned by root).
    pub log_dir: PathBuf,
    /// Other directories the daemon makes for QEMU (the per-domain hugetlbfs
    /// directory); ones that already exist are left as they are.
    pub dirs: Vec<DirPlan>,
    /// Files made from a template when missing (UEFI variable stores).
    pub files: Vec<FilePlan>,
    /// Descriptors opened by the daemon and placed at fixed numbers in QEMU.
    pub fds: Vec<PassFd>,
    pub cgroup: Option<CgroupPlan>,
    /// Processes started before QEMU, in its cgroup (swtpm).
    pub helpers: Vec<HelperPlan>,
    pub log_path: PathBuf,
    /// Written to the domain log before QEMU starts (its command line, taints).
    pub log_header: String,
    /// The launch itself. `cgroup_procs` is filled from the cgroup made here.
    pub launch: LaunchSpec,
    /// DAC ownership changes (empty when nothing is relabelled).
    pub owners: Transaction,
    /// SELinux file labels (empty without the SELinux driver); QEMU's own exec
    /// label is `launch.selinux_exec_label`.
    pub labels: Vec<FileLabel>,
    /// Checked as `launch.identity` once the owners are changed.
    pub access_checks: Vec<AccessCheck>,
}

/// See [`StartPlan::reach`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    pub within: PathBuf,
    pub who: Identity,
}
