//! rvirtd's library half: paths, persistence, domain states. The binary wires them to
//! the remote-protocol server and the confined launcher.

pub mod daemon;
pub mod diagnose;
// Shared with the CLI (which links no daemon code); re-exported under the old paths.
pub use qemu_runtime::{host, hostfacts, native, paths};
pub mod launch;
pub mod owners;
pub mod registry;
pub mod states;
pub mod storage;
pub mod store;
pub mod stored;
