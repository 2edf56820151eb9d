//! cgroups for QEMU processes: per-VM groups on cgroup v1, v2 or a hybrid of both,
//! and the device ACL (v1 `devices.allow`/`devices.deny`, or on v2 a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program that consults a hash map).
//!
//! * [`CgroupLayout::detect`] reads `/proc/self/mountinfo` text and decides, per
//!   controller, which hierarchy holds it. Like libvirt, the unified (v2) hierarchy
//!   claims `devices` (through BPF) and `cpuacct` (`cpu.stat` always exists) whenever
//!   cgroup2 is mounted, even on a hybrid host where v1 also mounts them.
//! * [`VmCgroup::create`] makes `<partition>/qemu-<id>-<name>.rvirt-qemu` in each
//!   hierarchy that holds a requested controller and hands back the `cgroup.procs`
//!   files the launcher joins before dropping privileges.
//! * [`VmCgroup::apply_device_acl`] installs a [`DeviceRule`] list; afterwards
//!   [`VmCgroup::allow_device`] / [`VmCgroup::deny_device`] change it at runtime (v2: a
//!   map update, the program stays).
//! * [`VmCgroup::find_for_pid`] re-adopts a running VM's groups (and its BPF program
//!   and map) after a daemon restart.
//!
//! Nothing here needs root unless it touches a real cgroupfs: all paths come from the
//! mountinfo text, so tests run against a fake tree in a temporary directory.

mod bpf;
mod error;
mod layout;
mod rule;
mod vm;

pub use bpf::{
    BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_DEV_BLOCK,
    BPF_DEVCG_DEV_CHAR, BpfDeviceAcl, BpfInsn, DEVICE_MAP_INITIAL_ENTRIES, DEVICE_PROG_NAME,
    WILDCARD, decode_map_entry, device_program, map_key, map_value,
};
pub use error::{CgroupError, Result};
pub use layout::{CgroupLayout, Controller, Hierarchy, V1Mount, V2Mount};
pub use rule::{DeviceKind, DeviceRule};
pub use vm::{
    DEFAULT_PARTITION, DeviceAcl, GROUP_SUFFIX, VmCgroup, group_dir_name, machine_name,
    parse_proc_cgroup, remove_group_dirs,
};
