//! cgroup v2 device ACL: a `BPF_PROG_TYPE_CGROUP_DEVICE` program that looks the
//! device up in a `BPF_MAP_TYPE_HASH` map, in the layout libvirt uses:
//!
//! * key (u64): `(major << 32) | minor`, `0xffffffff` for "any" in either half;
//! * value (u32): `(access << 16) | type`, access = `BPF_DEVCG_ACC_*` bits, type =
//!   `BPF_DEVCG_DEV_*` bits (both for `a`).
//!
//! The program tries the exact key, then major-wildcard, minor-wildcard and the full
//! wildcard, and allows the access when `(requested & value) == requested` for one of
//! them (`requested` is the context's `access_type`, encoded like a value). The
//! program is assembled here by hand; `bpf(2)` is called through `libc::syscall`.
//!
//! Files, as in youki's `libcgroups` device code: `encoding.rs` (the map's key and
//! value layout, rules ⇄ entries), `program.rs` (the instructions of the device
//! program), `sys.rs` (the `bpf(2)` loader: maps, program load with the verifier log,
//! attach/detach/query, object info), `acl.rs` (the controller, [`BpfDeviceAcl`]) and,
//! for the unit tests only, `emulator.rs` (an interpreter that runs the program).

mod acl;
#[cfg(test)]
mod emulator;
mod encoding;
mod program;
mod sys;

pub use acl::BpfDeviceAcl;
pub use encoding::{
    BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_DEV_BLOCK,
    BPF_DEVCG_DEV_CHAR, DEVICE_MAP_INITIAL_ENTRIES, WILDCARD, decode_map_entry, map_key, map_value,
};
pub use program::{BpfInsn, DEVICE_PROG_NAME, device_program};
pub(crate) use sys::devices_supported;

#[cfg(test)]
mod tests;
