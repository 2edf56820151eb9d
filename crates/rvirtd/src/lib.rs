//! rvirtd's library half: paths, persistence, domain states. The binary wires them to
//! the remote-protocol server and the confined launcher.

pub mod daemon;
pub mod diagnose;
pub mod host;
pub mod hostfacts;
pub mod launch;
pub mod native;
pub mod owners;
pub mod paths;
pub mod registry;
pub mod states;
pub mod store;
pub mod stored;
