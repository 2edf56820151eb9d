//! REMOTE program procedures (tier A of the reference notes plus a few cheap
//! stubs): numbers, wire argument/return structs, and the typed
//! [`Request`]/[`Response`] enums the server hands to a backend.
//!
//! The wire structs are written from the documented field layouts (numbers
//! and field orders are interface facts); no libvirt text is copied.

mod consts;
mod decode;
pub mod domain_ops;
mod procedure;
mod request;
mod wire;

#[cfg(test)]
mod tests;

pub use consts::*;
pub use domain_ops::{DomainOp, DomainOpReply, OpShape};
pub use procedure::{Family, Procedure};
pub use request::{Request, Response, Shape};
pub use wire::*;
