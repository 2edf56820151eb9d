//! [`CgroupError`], the module's result type and the I/O error helper.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this module.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file operation on cgroupfs or procfs failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A name in qemu.conf `cgroup_controllers` that is not a cgroup controller.
    #[error("Unknown cgroup controller '{0}'")]
    UnknownController(String),
    /// `<resource><partition>` must be an absolute path of plain components.
    #[error(
        "invalid cgroup partition '{0}': must be an absolute path without '.', '..' or empty components"
    )]
    InvalidPartition(String),
    /// A line of `/proc/self/mountinfo` or `/proc/PID/cgroup` could not be parsed.
    #[error("malformed {what} line: {line:?}")]
    Malformed { what: &'static str, line: String },
    /// None of the requested controllers is mounted, so there is nothing to create.
    #[error("none of the requested cgroup controllers ({0}) is mounted")]
    NoControllers(String),
    /// `/proc/PID/cgroup` shows no `*.rvirt-qemu` group, or not the expected one.
    #[error("process {pid} is not in the cgroup of VM {expected}")]
    NotInVmCgroup { pid: u32, expected: String },
    /// A machine name that cannot be a cgroup directory name.
    #[error("invalid machine name {0:?} for a cgroup")]
    InvalidName(String),
    /// A device rule that cannot be expressed (e.g. a v1 text line that does not parse).
    #[error("invalid device rule {0:?}")]
    InvalidRule(String),
    /// The devices controller is not available in any mounted hierarchy.
    #[error("the devices cgroup controller is not available")]
    NoDevicesController,
    /// `allow_device`/`deny_device` before `apply_device_acl` (or after a restart, when
    /// no program was found on the cgroup).
    #[error("no device ACL has been applied to cgroup {0}")]
    NoDeviceAcl(PathBuf),
    /// A `bpf(2)` command failed.
    #[error("bpf({cmd}) failed: {source}")]
    Bpf {
        cmd: &'static str,
        #[source]
        source: io::Error,
    },
    /// The kernel refused to load the device program; `log` is the verifier's output.
    #[error("the kernel rejected the cgroup device BPF program: {source}; verifier log:\n{log}")]
    Verifier {
        #[source]
        source: io::Error,
        log: String,
    },
    /// BPF objects could not be created for lack of locked memory (kernels before 5.11
    /// charge them to `RLIMIT_MEMLOCK`), even after trying to raise the limit.
    #[error(
        "cannot create BPF {what}: {source}; the locked memory limit (RLIMIT_MEMLOCK, currently {limit}) probably needs to be raised"
    )]
    Memlock {
        what: &'static str,
        limit: String,
        #[source]
        source: io::Error,
    },
    /// The program found on a cgroup does not have the map layout this module uses.
    #[error("BPF device program {prog_id} on {path} has no usable map: {reason}")]
    ForeignProgram {
        prog_id: u32,
        path: PathBuf,
        reason: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.into();
    move |source| CgroupError::Io { op, path, source }
}
