//! What an emulator binary supports, probed once through QMP and cached.
//!
//! [`QemuProber`] starts the binary with `-machine none -S -nodefaults
//! -no-user-config -display none` (KVM if usable, TCG otherwise), asks it a
//! fixed set of cheap `query-*` questions over a socketpair monitor and turns
//! the answers into [`Capabilities`]. [`CapsCache`] keeps the result as JSON,
//! keyed by emulator path, size and mtime (plus the QEMU module directories
//! and our own format version), so later lookups never start QEMU.
//!
//! # CPU models: no per-start verification
//!
//! libvirt re-verifies the guest CPU on every x86 start with roughly 400
//! `qom-get` round trips (about a quarter of a second). We don't do per-start
//! CPU checks at all: the probe records the CPU models once
//! (`query-cpu-definitions`, including which features each model lacks under
//! the accelerator the probe ran with) and the planner trusts that record.
//!
//! The record's types ([`Capabilities`], [`flags`], ...) live in crate
//! `qemu_caps`, which has no async runtime, so the planner can use them
//! without this crate; they are re-exported here.

mod cache;
mod probe;
mod replay;

use std::path::PathBuf;
use std::time::Duration;

use crate::qmp::QmpError;

pub use cache::{CACHE_FORMAT_VERSION, CapsCache};
pub use probe::{Prober, QemuProber};
pub use qemu_caps::{Capabilities, CpuModel, KvmState, MachineType, flags};
pub use replay::{ReplayError, Replayed, replay_replies};

/// Errors of probing and caching.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// The emulator could not be examined (missing, unreadable).
    #[error("cannot stat emulator {path}: {source}")]
    Emulator {
        /// Emulator path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The emulator could not be started.
    #[error("cannot start emulator {path}: {source}")]
    Spawn {
        /// Emulator path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A probe query failed.
    #[error("probing {path}: {query} failed: {source}{}", stderr_suffix(stderr))]
    Query {
        /// Emulator path.
        path: PathBuf,
        /// The QMP command that failed (`<greeting>` for the handshake).
        query: String,
        /// Underlying error (boxed to keep `CapsError` small).
        #[source]
        source: Box<QmpError>,
        /// What the emulator printed on stderr (truncated), if anything.
        stderr: String,
    },
    /// The probe took longer than allowed.
    #[error("probing {path} timed out after {timeout:?}{}", stderr_suffix(stderr))]
    Timeout {
        /// Emulator path.
        path: PathBuf,
        /// The time allowed.
        timeout: Duration,
        /// What the emulator printed on stderr (truncated), if anything.
        stderr: String,
    },
    /// Reading or writing the cache failed.
    #[error("capability cache {path}: {source}")]
    Cache {
        /// Cache file or directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; emulator stderr: {}", stderr.trim())
    }
}

#[cfg(test)]
mod tests;
