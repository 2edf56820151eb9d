//! libvirt's remote protocol (RPC) for rvirt.
//!
//! * [`xdr`]: a hand-written XDR codec with limits enforced before allocation.
//! * [`frame`]: packet framing (length word, header, payload).
//! * [`error`]: `remote_error` and libvirt's error numbers and domains.
//! * [`procs`]: procedure numbers, wire structs and the typed [`Request`] /
//!   [`Response`] enums.
//! * [`server`]: `serve()` on a unix listener with a [`Backend`] trait object.
//! * [`client`]: an async client with typed calls.
//! * [`uri`]: libvirt URI parsing into a socket path and open name.
//! * [`fake`]: a small in-memory backend for tests and demos.

pub mod client;
pub mod error;
pub mod fake;
pub mod frame;
pub mod procs;
pub mod server;
pub mod uri;
pub mod xdr;

pub use client::{Client, ClientError};
pub use error::{ErrorCode, ErrorDomain, ErrorLevel, RemoteError};
pub use procs::{Domain, Procedure, Request, Response};
pub use server::{Backend, BoxFuture, CallContext, ServeOptions, serve};
pub use uri::ConnectUri;
