//! libvirt's remote protocol (RPC), written from the documented wire facts,
//! so that the stock `virsh`, libvirt-python and virt-install can talk to the
//! rvirt daemon over a unix socket.
//!
//! * [`xdr`]: a small hand-written XDR codec ([`xdr::Encode`],
//!   [`xdr::Decode`], [`xdr_struct!`]) with every length checked against its
//!   protocol maximum and the input left *before* allocating.
//! * [`frame`]: packets (length word, six-word header, payload), program
//!   numbers, libvirt 9.0 size limits.
//! * [`error`]: `remote_error` ([`RemoteError`]) and libvirt's error numbers
//!   ([`ErrorCode`]) and domains ([`ErrorDomain`]).
//! * [`event`]: lifecycle event types and details ([`DomainEvent`]).
//! * [`procs`]: procedure numbers ([`Procedure`]), wire structs, and the typed
//!   [`Request`] / [`Response`] enums handed to a backend.
//! * [`server`]: [`serve`] on a `tokio::net::UnixListener` with an
//!   `Arc<dyn` [`Backend`]`>`; handshake, read-only enforcement, keepalive,
//!   event fan-out, console streams, pipelined calls answered out of order.
//! * [`client`]: [`Client`], an async client with typed calls.
//! * [`qemu_program`]: libvirt's QEMU program (monitor command passthrough).
//! * [`rvirt`]: rvirt's own program (grants on a running domain) on the same
//!   socket.
//! * [`uri`]: libvirt URIs ([`ConnectUri`]) → socket path + CONNECT_OPEN name.
//! * `fake`: a small in-memory backend for tests and demos, built only with
//!   the `testing` feature (or in this crate's unit tests)
//!   (`cargo run -p remote-protocol --features testing --example fake_daemon -- /tmp/sock`).
//!
//! The live tests (`tests/rpc_live.rs`, names `rpc_live_*`) drive the real
//! Debian `virsh` 9.0 and python3-libvirt against the fake backend and fail
//! if those clients are missing.

pub mod client;
pub mod error;
pub mod event;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod frame;
pub mod procs;
pub mod qemu_program;
pub mod rvirt;
pub mod server;
pub mod uri;
pub mod xdr;

/// The libvirt release whose protocol and behaviour rvirt speaks for, as its
/// clients show it and as `CONNECT_GET_LIB_VERSION` encodes it.
pub const LIBVIRT_VERSION: &str = "11.3.0";
/// [`LIBVIRT_VERSION`] as libvirt numbers versions (major × 1,000,000 + minor × 1,000 + micro).
pub const LIBVIRT_VERSION_NUMBER: u64 = 11_003_000;

pub use client::{Client, ClientError, ClientStream};
pub use error::{ErrorCode, ErrorDomain, ErrorLevel, RemoteError};
pub use event::DomainEvent;
pub use procs::{Domain, Procedure, Request, Response};
pub use server::{Backend, BoxFuture, ByteStream, CallContext, ServeOptions, serve};
pub use uri::ConnectUri;

#[cfg(test)]
mod tests {
    #[test]
    fn libvirt_version_spellings_agree() {
        let parts: Vec<u64> = super::LIBVIRT_VERSION
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2],
            super::LIBVIRT_VERSION_NUMBER
        );
    }
}
