//! Server half: accept connections on a unix listener and answer libvirt
//! clients, forwarding domain/host calls to a [`Backend`].
//!
//! # Backend design
//!
//! The backend is one object-safe method, [`Backend::call`], taking a typed
//! [`Request`](crate::procs::Request) and returning a typed [`Response`](crate::procs::Response) in a boxed future (`async
//! fn` in traits is not object-safe, and this needs no extra dependency).
//! One method instead of one per procedure keeps the trait small and lets a
//! backend answer "unsupported" for everything it does not know with a single
//! fallback arm (`_ => Err(RemoteError::unknown_procedure(..))`), which is
//! exactly what libvirt clients need to take their fallback paths. The price
//! is that the response shape is checked at run time: the server compares
//! [`Response::shape`](crate::procs::Response::shape) with [`Request::expected_shape`](crate::procs::Request::expected_shape) and sends an internal
//! error rather than a malformed reply.
//!
//! The server itself answers everything that is about the connection, not the
//! hypervisor: AUTH_LIST (none), SUPPORTS_FEATURE, OPEN bookkeeping, CLOSE,
//! IS_SECURE, close-callback and event registration, keepalive PING/PONG, and
//! the legacy NUM_OF/LIST procedures (through
//! [`Request::ConnectListAllDomains`](crate::procs::Request::ConnectListAllDomains)). It enforces read-only connections
//! (listener flag or `VIR_CONNECT_RO` in OPEN) before the backend sees a
//! mutating call.
//!
//! # Concurrency
//!
//! One reader per connection, one task per call (bounded by
//! [`ServeOptions::max_inflight`]; the reader stops reading while the limit
//! is reached), one writer task fed by a channel so packets never interleave.
//! Replies go out in completion order, which may differ from call order.
//! Call tasks are detached: if the client disconnects, backend operations
//! already started still run to completion (as in libvirtd) and their replies
//! are discarded. Dropping the [`serve`] future stops accepting and aborts
//! the connection readers, but not backend calls already in flight.
//!
//! # Files
//!
//! `api` holds the public types; `conn` one connection's state and
//! output; `dispatch` the REMOTE program's calls, `reply` their answers,
//! `extra` the QEMU and rvirt programs; `events`, `keepalive` and `stream`
//! the tasks beside the calls.

mod api;
mod conn;
mod dispatch;
mod events;
mod extra;
mod keepalive;
mod reply;
mod stream;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

pub use api::{
    AsyncDuplex, Backend, BoxFuture, ByteStream, CallContext, ConnectionInfo, Keepalive,
    LifecycleEvent, MetadataChange, PeerCredentials, ReadOnlyStream, ServeOptions, ServerError,
};
pub use events::{DOMAIN_EVENT_ID_LAST, MAX_CALLBACKS};

use crate::error::RemoteError;
use crate::frame::{
    self, Header, KEEPALIVE_PING, KEEPALIVE_PONG, MessageStatus, MessageType, PROGRAM_KEEPALIVE,
    PROGRAM_REMOTE, PROTOCOL_VERSION,
};
use crate::qemu_program::PROGRAM_QEMU;
use crate::rvirt::{PROGRAM_RVIRT, RVIRT_VERSION};
use conn::Conn;

/// Accept connections forever, one task per connection. Dropping the returned
/// future stops accepting and aborts every connection it started.
pub async fn serve(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    opts: ServeOptions,
) -> Result<(), ServerError> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let opts = Arc::new(opts);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if conns.len() >= opts.max_connections {
                        drop(stream);
                        continue;
                    }
                    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                    let (b, o) = (backend.clone(), opts.clone());
                    conns.spawn(async move {
                        let _ = serve_connection(stream, b, o, id).await;
                    });
                }
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(ServerError::Accept(e)),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) // ENFILE, EMFILE, ENOBUFS, ENOMEM
}

/// Serve one already-accepted connection until it closes.
pub async fn serve_connection(
    stream: UnixStream,
    backend: Arc<dyn Backend>,
    opts: Arc<ServeOptions>,
    id: u64,
) -> Result<(), ServerError> {
    let peer = stream.peer_cred().ok().map(|c| PeerCredentials {
        uid: c.uid(),
        gid: c.gid(),
        pid: c.pid(),
    });
    let info = Arc::new(ConnectionInfo {
        id,
        peer,
        listener_read_only: opts.read_only,
    });
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    let conn = Arc::new(Conn::new(
        info.clone(),
        tx,
        opts.read_only,
        opts.max_message,
    ));
    let writer = spawn_writer(wr, rx);

    let mut helpers = JoinSet::new();
    if let Some(ka) = opts.keepalive {
        helpers.spawn(keepalive::keepalive_task(conn.clone(), ka));
    }
    if let Some(events) = &opts.events {
        helpers.spawn(events::event_task(conn.clone(), events.subscribe()));
    }

    let result = read_calls(&conn, &backend, &opts, rd).await;
    helpers.shutdown().await;
    // Dropping the senders ends the stream pumps of this connection.
    conn.lock().streams.clear();
    backend.disconnected(&info);
    drop(conn);
    if result.is_ok() {
        // Clean EOF: let replies still queued (or still being computed) go out.
        let _ = writer.await;
    } else {
        // Violation: close the socket now.
        writer.abort();
    }
    result
}

/// The one task writing a connection's packets, in the order queued.
fn spawn_writer(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if wr.write_all(&p).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    })
}

/// Read packets until EOF (`Ok`), a violation or a keepalive timeout.
async fn read_calls(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    opts: &ServeOptions,
    mut rd: OwnedReadHalf,
) -> Result<(), ServerError> {
    let inflight = Arc::new(Semaphore::new(opts.max_inflight.max(1)));
    loop {
        let packet = tokio::select! {
            p = frame::read_packet(&mut rd, opts.max_message) => p,
            () = conn.shutdown.notified() => return Err(ServerError::KeepaliveTimeout),
        };
        let packet = match packet {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(e) => return Err(ServerError::Protocol(e)),
        };
        *conn.last_rx.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        conn.missed_pings.store(0, Ordering::Relaxed);
        if let Some(end) = on_packet(conn, backend, &inflight, packet).await {
            return end;
        }
    }
}

/// Handle one packet from the client; `Some` ends the connection.
async fn on_packet(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    inflight: &Arc<Semaphore>,
    packet: frame::Packet,
) -> Option<Result<(), ServerError>> {
    let h = packet.header;
    match h.program {
        PROGRAM_KEEPALIVE => {
            if h.message_type != MessageType::Message {
                return Some(Err(ServerError::Unexpected(format!(
                    "keepalive packet of type {:?}",
                    h.message_type
                ))));
            }
            if h.procedure == KEEPALIVE_PING {
                conn.send_packet(&Header::keepalive(KEEPALIVE_PONG), &[])
                    .await;
            }
        }
        PROGRAM_REMOTE if h.message_type == MessageType::Stream => {
            stream::handle_stream_packet(conn, h, packet.body).await;
        }
        PROGRAM_REMOTE if h.message_type == MessageType::StreamHole => {
            // No stream here is sparse (volume up/download): like libvirtd,
            // a hole is a protocol violation that ends the connection.
            return Some(Err(ServerError::Unexpected(
                "unexpected stream hole: no sparse stream is open".into(),
            )));
        }
        _ if h.message_type != MessageType::Call || h.status != MessageStatus::Ok => {
            return Some(Err(ServerError::Unexpected(format!(
                "unexpected {:?}/{:?} packet from a client",
                h.message_type, h.status
            ))));
        }
        _ if matches!(
            (h.program, h.version),
            (PROGRAM_REMOTE | PROGRAM_QEMU, PROTOCOL_VERSION) | (PROGRAM_RVIRT, RVIRT_VERSION)
        ) =>
        {
            let Ok(permit) = inflight.clone().acquire_owned().await else {
                return Some(Ok(()));
            };
            let fut = match h.program {
                PROGRAM_REMOTE => dispatch::dispatch(conn, backend, h, packet.body).await,
                _ => extra::dispatch_extra(conn, backend, h, &packet.body).await,
            };
            if let Some(fut) = fut {
                // Detached on purpose: a backend operation (starting a
                // VM...) is never cancelled half-way because the client
                // went away; its reply is simply dropped.
                tokio::spawn(async move {
                    fut.await;
                    drop(permit);
                });
            }
        }
        _ => {
            conn.reply(&h, Err(RemoteError::unknown_program(h.program, h.version)))
                .await;
        }
    }
    None
}
