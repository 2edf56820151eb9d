//! Descriptors the daemon opens for QEMU and places at fixed numbers.

use serde::{Deserialize, Serialize};

/// What the daemon opens for a passed fd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FdSource {
    /// A UNIX socket the daemon creates and listens on at this path (the
    /// monitor, listening chardevs); QEMU inherits the listening fd.
    UnixListener { path: String },
    /// A chardev output file, opened for writing (`O_APPEND` when `append`,
    /// truncated otherwise), passed through `-add-fd`.
    File { path: String, append: bool },
    /// A host device node opened read-write (no create, no truncate), such as a
    /// passed-through TPM.
    Device { path: String },
    /// A tap device attached to `bridge` (when set), named `ifname` if given.
    Tap {
        ifname: Option<String>,
        bridge: Option<String>,
    },
}

/// One fd the daemon must open and place at `fd` in QEMU's fd table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassFd {
    pub fd: i32,
    /// The device it belongs to (`monitor`, `serial0`, `net0`).
    pub owner: String,
    pub source: FdSource,
}
