//! QEMU driver pieces of rvirt: the QMP monitor client and the emulator
//! capability probe.

pub mod qmp;

pub use qmp::{QmpClient, QmpConfig, QmpError, QmpEvent, QmpEvents};
