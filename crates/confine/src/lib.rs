//! The host side of a launch: everything that touches namespaces, ownership, labels,
//! cgroups and the QEMU process before it runs. Knows nothing about XML: it is driven
//! by a [`spec::LaunchSpec`] and per-driver requests built from the launch plan.
//!
//! Module owners (parallel work): `cgroup` (cgroups v1/v2 + BPF device ACL),
//! `dac`/`selinux`/`landlock`/`hostops` (security drivers), `launcher` (the re-exec'd
//! single-threaded helper that builds the namespace and execs QEMU).

pub mod cgroup;
pub mod dac;
pub mod exec;
pub mod hostops;
pub mod landlock;
pub mod launcher;
pub mod selinux;
pub mod spec;
