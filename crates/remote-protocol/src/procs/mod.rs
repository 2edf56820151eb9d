//! REMOTE program procedures (tier A of the reference notes plus a few cheap
//! stubs): numbers, wire argument/return structs, and the typed
//! [`Request`]/[`Response`] enums the server hands to a backend.
//!
//! The wire structs are written from the documented field layouts (numbers
//! and field orders are interface facts); no libvirt text is copied.

mod consts;
mod decode;
mod procedure;
mod request;
pub mod stats;
mod wire;

#[cfg(test)]
mod tests;

pub use consts::*;
pub use procedure::{Family, Procedure};
pub use request::{Request, Response, Shape};
pub use stats::{StatsReply, StatsRequest, StatsShape, TuningKind};
pub use wire::*;
