//! The runtime a domain is planned with: one function for a real start and for
//! `domxml-to-native`, so the argv a user previews is the argv that runs (same
//! paths, same descriptor numbers).

use domain_xml::Domain;
use host_config::HostConfig;
use qemu_plan::{HostFacts, Runtime};

use crate::paths::Paths;

/// Descriptor numbers QEMU sees: 0-2 stdio, 3 the launcher's channel (closed at
/// exec), 4 the monitor, then the other passed descriptors.
pub const MONITOR_FD: i32 = 4;
/// The first number for descriptors other than the monitor.
pub const FIRST_FREE_FD: i32 = 5;

/// The runtime of domain `d` started with id `id` on the instance at `paths`.
pub fn runtime<'a>(
    paths: &Paths,
    config: &HostConfig,
    id: u32,
    d: &Domain,
    host: &'a dyn HostFacts,
) -> Runtime<'a> {
    let lib_dir = paths.domain_dir(id as i32, &d.name);
    let lib = lib_dir.to_string_lossy().into_owned();
    Runtime {
        domain_id: id,
        emulator: Runtime::emulator_for(d),
        monitor_socket: format!("{lib}/monitor.sock"),
        monitor_fd: MONITOR_FD,
        first_free_fd: FIRST_FREE_FD,
        log_path: paths.log_file(&d.name).to_string_lossy().into_owned(),
        channel_dir: format!("{lib}/channel"),
        lib_dir: lib,
        network_bridges: Vec::new(),
        master_key: None,
        hugetlbfs: crate::host::hugetlbfs_mounts(&config.hugetlbfs_mount),
        hugepage_subdir: paths.hugepage_subdir(),
        host,
    }
}
