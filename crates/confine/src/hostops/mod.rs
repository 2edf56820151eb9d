//! Privileged file operations the security drivers need, behind a trait so the driver
//! logic can be unit-tested without root: [`RealHostOps`] does the syscalls (rustix),
//! [`RecordingHostOps`] is an in-memory fake that records every call in order.
//!
//! Also holds the "remember the original label" protocol shared by the DAC and SELinux
//! drivers ([`remember_label`], [`recall_label`]). It uses the same extended attributes
//! and value formats as libvirt, so a host switching from libvirt keeps working:
//!
//! * `trusted.libvirt.security.<driver>`: the original label (DAC: `+UID:+GID`);
//! * `trusted.libvirt.security.ref_<driver>`: decimal reference count;
//! * `trusted.libvirt.security.timestamp_<driver>`: host boot time, decimal seconds
//!   since the epoch. A value that does not match the current boot marks all three
//!   attributes stale: they are removed and treated as absent.
//!
//! Files: the trait and its value types in `ops.rs`, [`RealHostOps`] in `real.rs`, the
//! recording fake in `fake.rs` (tests and the `testing` feature only), the
//! remembered-label protocol in `remember.rs`.

#[cfg(any(test, feature = "testing"))]
mod fake;
mod ops;
mod real;
mod remember;

#[cfg(any(test, feature = "testing"))]
pub use fake::{FakeFile, HostCall, HostOp, RecordingHostOps};
pub use ops::{FileKind, FileStat, HostOps, is_xattr_unsupported};
pub use real::{RealHostOps, boot_time_from_uptime, parse_utmp_boot_time};
pub use remember::{
    Recalled, RememberError, Remembered, forget_label, label_attr, peek_count, peek_label,
    recall_label, ref_attr, remember_label, timestamp_attr,
};

#[cfg(test)]
mod tests;
