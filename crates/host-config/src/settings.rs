//! The typed values that qemu.conf keys turn into.
//!
//! Each enum that mirrors a fixed set of names offers `name()` and
//! `from_name()` so that [`crate::keys`] can validate and report the known
//! names in one place.

use std::fmt;
use std::path::PathBuf;

/// Supplementary group that the QEMU process joins when the host has it,
/// so it can open `/dev/kvm`. Whether the group exists is decided where
/// ids are resolved, not here.
pub const KVM_GROUP: &str = "kvm";

/// A user or group as written in `user =` / `group =`.
///
/// A leading `+` forces a numeric id (`"+0"` is root). A plain string, even
/// an all-digit one, stays a [`IdSpec::Name`]: the resolver looks it up as a
/// name first, as libvirt does, so `"107"` can still be a user called 107.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdSpec {
    Name(String),
    Id(u32),
}

/// Why a `user` / `group` string is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdSpecError {
    #[error("it is empty")]
    Empty,
    #[error("'+' must be followed by a decimal id, not '{0}'")]
    NotNumeric(String),
    #[error("id {0} does not fit in 32 bits")]
    OutOfRange(String),
    /// chown() reads (uid_t)-1 as "leave unchanged", so accepting it would
    /// silently skip ownership changes.
    #[error("id 4294967295 is reserved (it means 'unchanged' to chown)")]
    Reserved,
}

impl IdSpec {
    pub fn parse(s: &str) -> Result<IdSpec, IdSpecError> {
        if s.is_empty() {
            return Err(IdSpecError::Empty);
        }
        let Some(digits) = s.strip_prefix('+') else {
            return Ok(IdSpec::Name(s.to_owned()));
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdSpecError::NotNumeric(digits.to_owned()));
        }
        match digits.parse::<u32>() {
            Ok(u32::MAX) => Err(IdSpecError::Reserved),
            Ok(id) => Ok(IdSpec::Id(id)),
            Err(_) => Err(IdSpecError::OutOfRange(digits.to_owned())),
        }
    }
}

/// Written back in the form [`IdSpec::parse`] reads.
impl fmt::Display for IdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdSpec::Name(name) => f.write_str(name),
            IdSpec::Id(id) => write!(f, "+{id}"),
        }
    }
}

/// Implements `name()`, `from_name()`, `ALL`, a comma-separated `KNOWN`
/// list for messages, and `Display` for a fieldless enum of fixed names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident => $name:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vmeta])* $variant,)+ }

        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant,)+];
            /// The accepted names, for error messages.
            pub const KNOWN: &str = concat_known!($($name,)+);

            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name,)+ }
            }

            pub fn from_name(name: &str) -> Option<$ty> {
                match name { $($name => Some($ty::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

macro_rules! concat_known {
    ($first:literal, $($rest:literal,)*) => { concat!($first $(, ", ", $rest)*) };
}

named_enum! {
    /// A security driver rvirt can stack. AppArmor is not offered.
    SecurityDriver {
        Selinux => "selinux",
        Dac => "dac",
    }
}

/// `security_driver`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecurityDrivers {
    /// Key unset: probe the host for what it supports.
    #[default]
    Auto,
    /// `"none"`, `["none"]` or `[]`: no security driver at all.
    None,
    /// One or more drivers, in the order given; never empty.
    Explicit(Vec<SecurityDriver>),
}

named_enum! {
    /// A namespace the QEMU process can be placed in.
    Namespace {
        /// A private mount namespace with its own /dev.
        Mount => "mount",
    }
}

named_enum! {
    /// A cgroup controller rvirt may use for a guest.
    CgroupController {
        Cpu => "cpu",
        Cpuacct => "cpuacct",
        Cpuset => "cpuset",
        Memory => "memory",
        Devices => "devices",
        Freezer => "freezer",
        Blkio => "blkio",
        NetCls => "net_cls",
        PerfEvent => "perf_event",
        /// The named systemd hierarchy of cgroup v1.
        NameSystemd => "name=systemd",
    }
}

impl CgroupController {
    /// What `cgroup_controllers` means when unset.
    pub const DEFAULTS: &[CgroupController] = &[
        CgroupController::Cpu,
        CgroupController::Devices,
        CgroupController::Memory,
        CgroupController::Blkio,
        CgroupController::Cpuset,
        CgroupController::Cpuacct,
    ];
}

named_enum! {
    /// `deprecation_behavior`: what QEMU does when a guest uses a
    /// deprecated feature (passed on through QEMU's `-compat`).
    #[derive(Default)]
    DeprecationBehavior {
        #[default]
        None => "none",
        Omit => "omit",
        Reject => "reject",
        Crash => "crash",
    }
}

/// `seccomp_sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SeccompSandbox {
    /// `-1`: leave it to QEMU, whose own default turns the sandbox on.
    QemuDefault,
    /// `0`.
    Disabled,
    /// `1`.
    #[default]
    Enabled,
}

impl SeccompSandbox {
    pub fn from_int(n: i64) -> Option<SeccompSandbox> {
        match n {
            -1 => Some(SeccompSandbox::QemuDefault),
            0 => Some(SeccompSandbox::Disabled),
            1 => Some(SeccompSandbox::Enabled),
            _ => None,
        }
    }

    pub fn as_int(self) -> i64 {
        match self {
            SeccompSandbox::QemuDefault => -1,
            SeccompSandbox::Disabled => 0,
            SeccompSandbox::Enabled => 1,
        }
    }

    /// Whether the guest ends up sandboxed: only an explicit 0 turns it off.
    pub fn enabled(self) -> bool {
        self != SeccompSandbox::Disabled
    }
}

/// `hugetlbfs_mount`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HugetlbfsMount {
    /// Key unset: use whatever hugetlbfs mounts the host has.
    #[default]
    AutoDetect,
    /// `""` or `[]`: never back guest memory with huge pages.
    Disabled,
    /// These absolute mount points, in order; never empty.
    Explicit(Vec<PathBuf>),
}
