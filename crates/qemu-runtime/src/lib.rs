//! What the daemon and the CLI share about running a domain on this host, so that
//! `rvirt` links no daemon code and `domxml-to-native` prints exactly what a start
//! runs:
//!
//! * [`paths`]: where an instance keeps everything (`--root` or the system paths);
//! * [`hostfacts`] and [`host`]: the host as the planner may see it (stat, qcow2
//!   backing chains, hugetlbfs mounts);
//! * [`runtime`]: the one [`qemu_plan::Runtime`] of a start — ids, per-domain
//!   paths and descriptor numbers;
//! * [`firmware`]: QEMU firmware descriptors and autoselection; [`firmware_fill`]:
//!   what a definition records of the choice;
//! * [`domcaps`]: domain capabilities from the probed emulator and the host;
//! * [`native`]: `domxml-to-native qemu-argv` on that runtime.

pub mod domcaps;
pub mod firmware;
pub mod firmware_fill;
pub mod host;
pub mod hostfacts;
pub mod native;
pub mod paths;
pub mod runtime;
