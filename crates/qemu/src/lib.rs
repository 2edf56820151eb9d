//! QEMU driver pieces of rvirt: the QMP monitor client and the emulator
//! capability probe.

pub mod caps;
pub mod qmp;

pub use caps::{Capabilities, CapsCache, CapsError, QemuProber};
pub use qmp::{QmpClient, QmpConfig, QmpError, QmpEvent, QmpEvents};
