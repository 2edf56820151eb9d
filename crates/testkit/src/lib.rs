//! Test-only helpers shared by rvirt's end-to-end tests.
//!
//! * [`guest()`]: the tiny x86_64 test guest built by `tools/build-test-guest.sh`
//!   (kernel, initramfs, disk images), built on first use and shared by all test
//!   processes through a file lock.
//! * [`Qemu`]: a QEMU child process with its serial console in a file and a QMP socket,
//!   killed and reaped when dropped, also when the test panics.
//! * [`Qmp`]: a small synchronous QMP client with timeouts everywhere.
//! * [`require_root`] / [`require_binary`]: prerequisites that make a test *fail* with a
//!   clear message instead of silently skipping.
//!
//! Guest protocol on the serial console (see `tools/build-test-guest.sh`): lines ending in
//! `GUEST-BLOCK: <dev> sectors=<n> serial=<s>`, `GUEST-9P: <tag> mounted on /mnt/<tag>`,
//! `GUEST-NET: <if> <mac>`, then [`READY_MARKER`]; after an ACPI power button press the
//! guest prints [`POWEROFF_MARKER`] and powers off.
//!
//! Tests that boot a guest must be named `guest_*` (or `qemu_live_*`): nextest runs those
//! one at a time, since TCG guests compete for the machine's two cores.

mod guest;
mod qemu;
mod qmp;
mod require;
mod run;
mod virsh;

pub use guest::{Guest, guest, repo_root};
pub use qemu::Qemu;
pub use qmp::{Qmp, QmpError};
pub use require::{find_binary, require_binary, require_root};
pub use run::{run_bounded, sibling_binary};
pub use virsh::{RVIRT_LIBVIRT, as_virsh_client, virsh_at_least, virsh_version};

/// The line the guest's `/init` prints when it is ready (power button armed).
pub const READY_MARKER: &str = "GUEST-READY";
/// The line the guest prints when its ACPI power button handler runs.
pub const POWEROFF_MARKER: &str = "GUEST-POWEROFF";

/// A fresh temporary directory for one test's sockets, serial logs and disk copies.
///
/// Removed when dropped.  Drop any [`Qemu`] using it first (declare the directory before
/// the `Qemu`, so it is dropped after it).
pub fn test_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rvirt-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("testkit: cannot create a temporary directory: {e}"))
}
