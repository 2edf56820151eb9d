//! What the server offers its users: the [`Backend`] trait, the per-call and
//! per-connection facts handed to it, [`ServeOptions`] and [`ServerError`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;

use crate::error::RemoteError;
use crate::event::DomainEvent;
use crate::frame::{FrameError, MESSAGE_MAX};
use crate::procs::{Domain, Procedure, Request, Response};
use crate::qemu_program::MonitorCommandArgs;
use crate::rvirt::{RvirtProcedure, RvirtRequest};

/// A boxed, sendable future (what [`Backend::call`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors that end [`super::serve`] or one connection.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `accept()` failed with a non-transient error.
    #[error("accepting a connection failed: {0}")]
    Accept(#[source] io::Error),
    /// The peer broke the framing rules (the connection was closed).
    #[error("protocol violation: {0}")]
    Protocol(#[from] FrameError),
    /// The peer did not answer our keepalive PINGs (the connection was closed).
    #[error("keepalive timeout: the client stopped answering")]
    KeepaliveTimeout,
    /// The peer sent a packet that is not allowed here (the connection was closed).
    #[error("protocol violation: {0}")]
    Unexpected(String),
}

/// The peer's credentials (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Process id, if the kernel reported one.
    pub pid: Option<i32>,
}

/// Facts about one client connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Unique (per process) connection number.
    pub id: u64,
    /// Peer credentials, if available.
    pub peer: Option<PeerCredentials>,
    /// Whether the listener forces read-only.
    pub listener_read_only: bool,
}

/// Per-call context handed to the backend.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The connection.
    pub connection: Arc<ConnectionInfo>,
    /// Whether this connection is read-only (listener or `VIR_CONNECT_RO`).
    pub read_only: bool,
    /// The wire procedure (e.g. CREATE vs CREATE_WITH_FLAGS).
    pub procedure: Procedure,
    /// The call's serial.
    pub serial: u32,
}

/// The hypervisor side of the daemon.
pub trait Backend: Send + Sync + 'static {
    /// Answer one request. Return [`RemoteError::unknown_procedure`] for
    /// requests you do not implement.
    fn call<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, RemoteError>>;

    /// DOMAIN_OPEN_CONSOLE: return a byte stream connected to the domain's
    /// console (`dev_name` `None` = the first one). The server pumps it as
    /// STREAM packets until either side finishes. Default: unsupported.
    fn open_console<'a>(
        &'a self,
        _ctx: &'a CallContext,
        _dom: Domain,
        _dev_name: Option<String>,
        _flags: u32,
    ) -> BoxFuture<'a, Result<ByteStream, RemoteError>> {
        Box::pin(async {
            Err(RemoteError::unknown_procedure(
                Procedure::DomainOpenConsole.number(),
            ))
        })
    }

    /// DOMAIN_SCREENSHOT: the image's MIME type and a stream of its bytes, which
    /// the server sends to the client until EOF (wrap a reader in
    /// [`ReadOnlyStream`]). Default: unsupported.
    fn screenshot<'a>(
        &'a self,
        _ctx: &'a CallContext,
        _dom: Domain,
        _screen: u32,
        _flags: u32,
    ) -> BoxFuture<'a, Result<(String, ByteStream), RemoteError>> {
        Box::pin(async {
            Err(RemoteError::unknown_procedure(
                Procedure::DomainScreenshot.number(),
            ))
        })
    }

    /// A call of rvirt's own program ([`crate::rvirt`]), on an open, writable
    /// connection. Default: unsupported.
    fn rvirt_call<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        req: RvirtRequest,
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        let n = match req {
            RvirtRequest::DomainGrant { .. } => RvirtProcedure::DomainGrant.number(),
            RvirtRequest::DomainRevoke { .. } => RvirtProcedure::DomainRevoke.number(),
        };
        Box::pin(async move { Err(RemoteError::unknown_procedure(n)) })
    }

    /// `virDomainQemuMonitorCommand` (libvirt's QEMU program), on an open, writable
    /// connection: the monitor's reply text. Default: unsupported.
    fn qemu_monitor_command<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        _args: MonitorCommandArgs,
    ) -> BoxFuture<'a, Result<String, RemoteError>> {
        Box::pin(async {
            Err(RemoteError::unknown_procedure(
                crate::qemu_program::PROC_DOMAIN_MONITOR_COMMAND,
            ))
        })
    }

    /// `virDomainQemuAgentCommand` (libvirt's QEMU program), on an open, writable
    /// connection: the agent's reply text. Default: unsupported.
    fn qemu_agent_command<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        _args: crate::qemu_program::AgentCommandArgs,
    ) -> BoxFuture<'a, Result<Option<String>, RemoteError>> {
        Box::pin(async {
            Err(RemoteError::unknown_procedure(
                crate::qemu_program::PROC_DOMAIN_AGENT_COMMAND,
            ))
        })
    }

    /// Called once when a connection ends.
    fn disconnected(&self, _conn: &ConnectionInfo) {}
}

/// Anything that reads and writes bytes asynchronously (a console pty, a
/// socket, `tokio::io::duplex`...).
pub trait AsyncDuplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncDuplex for T {}

/// A byte stream handed out by the backend (console, screenshot).
pub type ByteStream = Box<dyn AsyncDuplex>;

/// A stream the client may only read (a screenshot): bytes the client sends
/// fail the stream, as writing to libvirt's read-only file stream does.
#[derive(Debug)]
pub struct ReadOnlyStream<R>(pub R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadOnlyStream<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadOnlyStream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "this stream can only be read",
        )))
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Server-initiated keepalive (libvirtd's `keepalive_interval`/`count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before a PING is sent.
    pub interval: Duration,
    /// Unanswered PINGs before the connection is dropped.
    pub count: u32,
}

/// A domain event to fan out to registered clients: a lifecycle event, or
/// (with `metadata`) a metadata change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The domain.
    pub dom: Domain,
    /// `virDomainEventType` (DEFINED 0, UNDEFINED 1, STARTED 2, ...).
    pub event: i32,
    /// Event-specific detail.
    pub detail: i32,
    /// `Some` for a METADATA_CHANGE event (event id 23) instead of a lifecycle one.
    pub metadata: Option<MetadataChange>,
}

/// What a METADATA_CHANGE event says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataChange {
    /// `virDomainMetadataType` (DESCRIPTION 0, TITLE 1, ELEMENT 2).
    pub typ: i32,
    /// The element's namespace URI (ELEMENT only).
    pub nsuri: Option<String>,
}

impl LifecycleEvent {
    /// `event` of `dom`, with its wire numbers.
    pub fn new(dom: Domain, event: DomainEvent) -> Self {
        Self {
            dom,
            event: event.event_code(),
            detail: event.detail_code(),
            metadata: None,
        }
    }

    /// The metadata of `dom` changed (`virsh metadata`, `desc`).
    pub fn metadata_change(dom: Domain, typ: i32, nsuri: Option<String>) -> Self {
        Self {
            dom,
            event: 0,
            detail: 0,
            metadata: Some(MetadataChange { typ, nsuri }),
        }
    }
}

/// Options for [`super::serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Force every connection read-only (the `-ro` socket).
    pub read_only: bool,
    /// Largest packet accepted or sent (header + payload).
    pub max_message: usize,
    /// Calls processed at once per connection.
    pub max_inflight: usize,
    /// Connections served at once (libvirtd's `max_clients`); further ones
    /// are accepted and closed at once.
    pub max_connections: usize,
    /// Send our own PINGs to clients that enabled keepalive.
    pub keepalive: Option<Keepalive>,
    /// Lifecycle events to deliver to clients that registered for them.
    pub events: Option<broadcast::Sender<LifecycleEvent>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            max_message: MESSAGE_MAX,
            max_inflight: 16,
            max_connections: 5000,
            keepalive: None,
            events: None,
        }
    }
}
