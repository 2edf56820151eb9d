//! Server half: accept connections on a unix listener and answer libvirt
//! clients, forwarding domain/host calls to a [`Backend`].
//!
//! # Backend design
//!
//! The backend is one object-safe method, [`Backend::call`], taking a typed
//! [`Request`] and returning a typed [`Response`] in a boxed future (`async
//! fn` in traits is not object-safe, and this needs no extra dependency).
//! One method instead of one per procedure keeps the trait small and lets a
//! backend answer "unsupported" for everything it does not know with a single
//! fallback arm (`_ => Err(RemoteError::unknown_procedure(..))`), which is
//! exactly what libvirt clients need to take their fallback paths. The price
//! is that the response shape is checked at run time: the server compares
//! [`Response::shape`] with [`Request::expected_shape`] and sends an internal
//! error rather than a malformed reply.
//!
//! The server itself answers everything that is about the connection, not the
//! hypervisor: AUTH_LIST (none), SUPPORTS_FEATURE, OPEN bookkeeping, CLOSE,
//! IS_SECURE, close-callback and event registration, keepalive PING/PONG, and
//! the legacy NUM_OF/LIST procedures (through
//! [`Request::ConnectListAllDomains`]). It enforces read-only connections
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

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio::task::JoinSet;

use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::event::DomainEvent;
use crate::frame::{
    self, FrameError, Header, KEEPALIVE_PING, KEEPALIVE_PONG, MESSAGE_MAX, MessageStatus,
    MessageType, PROGRAM_KEEPALIVE, PROGRAM_REMOTE, PROTOCOL_VERSION,
};
use crate::procs::{
    self, AuthListRet, CallbackLifecycleMsg, CallbackRegisterArgs, DOMAIN_LIST_MAX,
    DOMAIN_MESSAGES_MAX, Domain, IdsRet, IntArgs, LifecycleMsg, ListAllDomainsArgs,
    ListAllDomainsRet, MessagesRet, NamesRet, Procedure, Request, Response, SECURITY_DOI_MAX,
    SECURITY_MODEL_MAX, SecurityModelRet, feature, list_flags,
};
use crate::qemu_program::{MonitorCommandArgs, PROGRAM_QEMU};
use crate::rvirt::{PROGRAM_RVIRT, RVIRT_VERSION, RvirtProcedure, RvirtRequest};
use crate::xdr::{CharVec, Encode, Writer, from_bytes, to_bytes};

/// A boxed, sendable future (what [`Backend::call`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Highest domain event id accepted for registration (libvirt 9.0 has 0..=26).
pub const DOMAIN_EVENT_ID_LAST: i32 = 26;

/// Event callbacks one connection may hold (virsh `event --all` uses 27).
pub const MAX_CALLBACKS: usize = 1024;

/// Errors that end [`serve`] or one connection.
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

    /// Called once when a connection ends.
    fn disconnected(&self, _conn: &ConnectionInfo) {}
}

/// Anything that reads and writes bytes asynchronously (a console pty, a
/// socket, `tokio::io::duplex`...).
pub trait AsyncDuplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncDuplex for T {}

/// A byte stream handed out by the backend (console).
pub type ByteStream = Box<dyn AsyncDuplex>;

/// What the client sent on an open stream.
#[derive(Debug)]
enum StreamIn {
    Data(Vec<u8>),
    Finish,
    Abort,
}

/// Server-initiated keepalive (libvirtd's `keepalive_interval`/`count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before a PING is sent.
    pub interval: Duration,
    /// Unanswered PINGs before the connection is dropped.
    pub count: u32,
}

/// A domain lifecycle event to fan out to registered clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The domain.
    pub dom: Domain,
    /// `virDomainEventType` (DEFINED 0, UNDEFINED 1, STARTED 2, ...).
    pub event: i32,
    /// Event-specific detail.
    pub detail: i32,
}

impl LifecycleEvent {
    /// `event` of `dom`, with its wire numbers.
    pub fn new(dom: Domain, event: DomainEvent) -> Self {
        Self {
            dom,
            event: event.event_code(),
            detail: event.detail_code(),
        }
    }
}

/// Options for [`serve`].
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

struct ConnState {
    opened: bool,
    read_only: bool,
    keepalive: bool,
    next_callback: i32,
    callbacks: HashMap<i32, (i32, Option<[u8; 16]>)>,
    legacy_events: HashSet<i32>,
    streams: HashMap<u32, mpsc::Sender<StreamIn>>,
}

struct Conn {
    info: Arc<ConnectionInfo>,
    state: Mutex<ConnState>,
    tx: mpsc::Sender<Vec<u8>>,
    max_message: usize,
    last_rx: Mutex<Instant>,
    missed_pings: AtomicU32,
    shutdown: Notify,
}

impl Conn {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send_packet(&self, header: &Header, body: &[u8]) {
        match frame::encode_packet(header, body, self.max_message) {
            Ok(p) => {
                let _ = self.tx.send(p).await;
            }
            Err(_) if header.message_type == MessageType::Reply => {
                let e = RemoteError::new(
                    ErrorCode::RPC,
                    ErrorDomain::RPC,
                    "reply is larger than the maximum RPC message size",
                );
                let h = header.reply(MessageStatus::Error);
                if let Ok(p) = frame::encode_packet(&h, &to_bytes(&e), self.max_message) {
                    let _ = self.tx.send(p).await;
                }
            }
            Err(_) => {}
        }
    }

    async fn reply(&self, call: &Header, result: Result<Vec<u8>, RemoteError>) {
        match result {
            Ok(body) => {
                self.send_packet(&call.reply(MessageStatus::Ok), &body)
                    .await
            }
            Err(e) => {
                self.send_packet(&call.reply(MessageStatus::Error), &to_bytes(&e))
                    .await;
            }
        }
    }
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
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let conn = Arc::new(Conn {
        info: info.clone(),
        state: Mutex::new(ConnState {
            opened: false,
            read_only: opts.read_only,
            keepalive: false,
            next_callback: 1,
            callbacks: HashMap::new(),
            legacy_events: HashSet::new(),
            streams: HashMap::new(),
        }),
        tx,
        max_message: opts.max_message,
        last_rx: Mutex::new(Instant::now()),
        missed_pings: AtomicU32::new(0),
        shutdown: Notify::new(),
    });

    let writer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if wr.write_all(&p).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });

    let mut helpers = JoinSet::new();
    if let Some(ka) = opts.keepalive {
        helpers.spawn(keepalive_task(conn.clone(), ka));
    }
    if let Some(events) = &opts.events {
        helpers.spawn(event_task(conn.clone(), events.subscribe()));
    }

    let inflight = Arc::new(Semaphore::new(opts.max_inflight.max(1)));
    let result = loop {
        let packet = tokio::select! {
            p = frame::read_packet(&mut rd, opts.max_message) => p,
            () = conn.shutdown.notified() => break Err(ServerError::KeepaliveTimeout),
        };
        let packet = match packet {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(e) => break Err(ServerError::Protocol(e)),
        };
        *conn.last_rx.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        conn.missed_pings.store(0, Ordering::Relaxed);
        let h = packet.header;
        match h.program {
            PROGRAM_KEEPALIVE => {
                if h.message_type != MessageType::Message {
                    break Err(ServerError::Unexpected(format!(
                        "keepalive packet of type {:?}",
                        h.message_type
                    )));
                }
                if h.procedure == KEEPALIVE_PING {
                    conn.send_packet(&Header::keepalive(KEEPALIVE_PONG), &[])
                        .await;
                }
            }
            PROGRAM_REMOTE if h.message_type == MessageType::Stream => {
                handle_stream_packet(&conn, h, packet.body).await;
            }
            _ if h.message_type != MessageType::Call || h.status != MessageStatus::Ok => {
                break Err(ServerError::Unexpected(format!(
                    "unexpected {:?}/{:?} packet from a client",
                    h.message_type, h.status
                )));
            }
            _ if matches!(
                (h.program, h.version),
                (PROGRAM_REMOTE | PROGRAM_QEMU, PROTOCOL_VERSION) | (PROGRAM_RVIRT, RVIRT_VERSION)
            ) =>
            {
                let permit = match inflight.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break Ok(()),
                };
                let fut = match h.program {
                    PROGRAM_REMOTE => dispatch(&conn, &backend, h, packet.body).await,
                    _ => dispatch_extra(&conn, &backend, h, &packet.body).await,
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
    };
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

async fn keepalive_task(conn: Arc<Conn>, ka: Keepalive) {
    let mut tick = tokio::time::interval(ka.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !conn.lock().keepalive {
            continue;
        }
        let idle = conn
            .last_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if idle < ka.interval {
            continue;
        }
        if conn.missed_pings.fetch_add(1, Ordering::Relaxed) >= ka.count {
            conn.shutdown.notify_one();
            return;
        }
        conn.send_packet(&Header::keepalive(KEEPALIVE_PING), &[])
            .await;
    }
}

async fn event_task(conn: Arc<Conn>, mut rx: broadcast::Receiver<LifecycleEvent>) {
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let (targets, legacy) = {
            let st = conn.lock();
            if !st.opened {
                continue;
            }
            let t: Vec<i32> = st
                .callbacks
                .iter()
                .filter(|(_, (eid, filter))| *eid == 0 && filter.is_none_or(|u| u == ev.dom.uuid))
                .map(|(id, _)| *id)
                .collect();
            (t, st.legacy_events.contains(&0))
        };
        let msg = LifecycleMsg {
            dom: ev.dom.clone(),
            event: ev.event,
            detail: ev.detail,
        };
        for callback_id in targets {
            let body = to_bytes(&CallbackLifecycleMsg {
                callback_id,
                msg: msg.clone(),
            });
            conn.send_packet(
                &event_header(Procedure::DomainEventCallbackLifecycle),
                &body,
            )
            .await;
        }
        if legacy {
            conn.send_packet(
                &event_header(Procedure::DomainEventLifecycle),
                &to_bytes(&msg),
            )
            .await;
        }
    }
}

fn event_header(p: Procedure) -> Header {
    Header {
        program: PROGRAM_REMOTE,
        version: PROTOCOL_VERSION,
        procedure: p.number(),
        message_type: MessageType::Message,
        serial: 0,
        status: MessageStatus::Ok,
    }
}

fn decode_error(proc: i32, e: &crate::xdr::XdrError) -> RemoteError {
    RemoteError::new(
        ErrorCode::RPC,
        ErrorDomain::RPC,
        format!("Unable to decode arguments of procedure {proc}: {e}"),
    )
}

fn enc<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut w = Writer::new();
    v.encode(&mut w);
    w.into_bytes()
}

/// Legacy list procedures answered from CONNECT_LIST_ALL_DOMAINS.
enum Post {
    Plain,
    /// 9: CREATE returns void although the backend returns the domain.
    Void,
    /// 273 with `need_results`.
    ListAll {
        need_results: bool,
    },
    NumOf,
    ListIds(usize),
    ListNames(usize),
}

type CallFuture = BoxFuture<'static, ()>;

/// Why a writing call of a program other than REMOTE is refused here, if it is: the
/// connection is not open yet, or it is read-only.
fn refusal(conn: &Conn, api: &str) -> Option<RemoteError> {
    let st = conn.lock();
    if !st.opened {
        Some(RemoteError::new(
            ErrorCode::INTERNAL_ERROR,
            ErrorDomain::RPC,
            "internal error: connection not open",
        ))
    } else if st.read_only {
        Some(RemoteError::read_only(api))
    } else {
        None
    }
}

/// A decoded call of a program other than REMOTE.
enum ExtraCall {
    /// libvirt's QEMU program: the monitor command.
    Monitor(MonitorCommandArgs),
    /// rvirt's own program.
    Rvirt(RvirtRequest),
}

/// Handle one call of libvirt's QEMU program or rvirt's own: only on an opened,
/// writable connection (every call of both writes).
async fn dispatch_extra(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    h: Header,
    body: &[u8],
) -> Option<CallFuture> {
    use crate::qemu_program::{MONITOR_COMMAND_API, PROC_DOMAIN_MONITOR_COMMAND};
    // The API name (for a read-only refusal) and the decoded arguments.
    let decoded = match h.program {
        PROGRAM_QEMU if h.procedure == PROC_DOMAIN_MONITOR_COMMAND => Some((
            MONITOR_COMMAND_API,
            MonitorCommandArgs::decode(body).map(ExtraCall::Monitor),
        )),
        PROGRAM_RVIRT => RvirtProcedure::from_number(h.procedure)
            .map(|p| (p.api(), RvirtRequest::decode(p, body).map(ExtraCall::Rvirt))),
        _ => None,
    };
    let Some((api, call)) = decoded else {
        conn.reply(&h, Err(RemoteError::unknown_procedure(h.procedure)))
            .await;
        return None;
    };
    if let Some(e) = refusal(conn, api) {
        conn.reply(&h, Err(e)).await;
        return None;
    }
    let call = match call {
        Ok(c) => c,
        Err(e) => {
            conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
            return None;
        }
    };
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let r = match call {
            ExtraCall::Monitor(a) => backend
                .qemu_monitor_command(&conn.info, a)
                .await
                .map(|s| enc(&s)),
            ExtraCall::Rvirt(req) => backend
                .rvirt_call(&conn.info, req)
                .await
                .map(|()| Vec::new()),
        };
        conn.reply(&h, r).await;
    }))
}

/// Handle one call. Connection-level procedures are answered inline; backend
/// calls come back as a future for the caller to spawn.
async fn dispatch(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    h: Header,
    body: Vec<u8>,
) -> Option<CallFuture> {
    use Procedure as P;
    let Some(proc) = Procedure::from_number(h.procedure) else {
        conn.reply(&h, Err(RemoteError::unknown_procedure(h.procedure)))
            .await;
        return None;
    };
    let (opened, read_only) = {
        let st = conn.lock();
        (st.opened, st.read_only)
    };

    // Allowed before OPEN.
    match proc {
        P::AuthList => {
            let r = if body.is_empty() {
                Ok(enc(&AuthListRet { types: vec![0] }))
            } else {
                Err(decode_error(
                    h.procedure,
                    &crate::xdr::XdrError::TrailingBytes(body.len()),
                ))
            };
            conn.reply(&h, r).await;
            return None;
        }
        P::ConnectSupportsFeature => {
            let r = from_bytes::<IntArgs>(&body)
                .map_err(|e| decode_error(h.procedure, &e))
                .map(|a| {
                    let yes = match a.value {
                        feature::PROGRAM_KEEPALIVE => {
                            conn.lock().keepalive = true;
                            true
                        }
                        feature::REMOTE_EVENT_CALLBACK | feature::REMOTE_CLOSE_CALLBACK => true,
                        _ => false,
                    };
                    enc(&i32::from(yes))
                });
            conn.reply(&h, r).await;
            return None;
        }
        P::ConnectOpen => {
            if opened {
                let e = RemoteError::new(
                    ErrorCode::INTERNAL_ERROR,
                    ErrorDomain::RPC,
                    "internal error: connection already open",
                );
                conn.reply(&h, Err(e)).await;
                return None;
            }
            let req = match Request::decode(proc, &body) {
                Ok(Some(r)) => r,
                Ok(None) => unreachable!("CONNECT_OPEN decodes to a request"),
                Err(e) => {
                    conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
                    return None;
                }
            };
            let ro_flag =
                matches!(req, Request::ConnectOpen { flags, .. } if flags & procs::CONNECT_RO != 0);
            let ctx = CallContext {
                connection: conn.info.clone(),
                read_only: read_only || ro_flag,
                procedure: proc,
                serial: h.serial,
            };
            // Inline: nothing else may run on this connection before OPEN ends.
            let r = backend.call(&ctx, req).await;
            let r = match r {
                Ok(Response::Void) => {
                    let mut st = conn.lock();
                    st.opened = true;
                    st.read_only |= ro_flag;
                    Ok(Vec::new())
                }
                Ok(other) => Err(shape_error(proc, &other)),
                Err(e) => Err(e),
            };
            conn.reply(&h, r).await;
            return None;
        }
        _ if !opened => {
            let e = RemoteError::new(
                ErrorCode::INTERNAL_ERROR,
                ErrorDomain::RPC,
                "internal error: connection not open",
            );
            conn.reply(&h, Err(e)).await;
            return None;
        }
        _ => {}
    }

    if let Some(api) = proc.mutating_api()
        && read_only
    {
        conn.reply(&h, Err(RemoteError::read_only(api))).await;
        return None;
    }

    // Connection-level procedures after OPEN.
    let inline: Option<Result<Vec<u8>, RemoteError>> = match proc {
        P::ConnectClose | P::ConnectRegisterCloseCallback | P::ConnectUnregisterCloseCallback => {
            Some(if body.is_empty() {
                Ok(Vec::new())
            } else {
                Err(decode_error(
                    h.procedure,
                    &crate::xdr::XdrError::TrailingBytes(body.len()),
                ))
            })
        }
        P::ConnectIsSecure => Some(Ok(enc(&1i32))),
        P::ConnectDomainEventCallbackRegisterAny => Some(
            from_bytes::<CallbackRegisterArgs>(&body)
                .map_err(|e| decode_error(h.procedure, &e))
                .and_then(|a| {
                    if !(0..=DOMAIN_EVENT_ID_LAST).contains(&a.event_id) {
                        return Err(RemoteError::invalid_arg(&format!(
                            "unsupported event ID {}",
                            a.event_id
                        )));
                    }
                    let mut st = conn.lock();
                    if st.callbacks.len() >= MAX_CALLBACKS {
                        return Err(RemoteError::operation_failed(
                            "too many event callbacks on this connection",
                        ));
                    }
                    let id = st.next_callback;
                    st.next_callback = st.next_callback.checked_add(1).unwrap_or(1);
                    st.callbacks.insert(id, (a.event_id, a.dom.map(|d| d.uuid)));
                    Ok(enc(&id))
                }),
        ),
        P::ConnectDomainEventCallbackDeregisterAny => Some(
            from_bytes::<IntArgs>(&body)
                .map_err(|e| decode_error(h.procedure, &e))
                .and_then(|a| match conn.lock().callbacks.remove(&a.value) {
                    Some(_) => Ok(Vec::new()),
                    None => Err(RemoteError::invalid_arg(&format!(
                        "callback ID {} not registered",
                        a.value
                    ))),
                }),
        ),
        P::ConnectDomainEventRegisterAny | P::ConnectDomainEventDeregisterAny => Some(
            from_bytes::<IntArgs>(&body)
                .map_err(|e| decode_error(h.procedure, &e))
                .and_then(|a| {
                    if !(0..=DOMAIN_EVENT_ID_LAST).contains(&a.value) {
                        return Err(RemoteError::invalid_arg(&format!(
                            "unsupported event ID {}",
                            a.value
                        )));
                    }
                    let mut st = conn.lock();
                    if proc == P::ConnectDomainEventRegisterAny {
                        st.legacy_events.insert(a.value);
                    } else {
                        st.legacy_events.remove(&a.value);
                    }
                    Ok(Vec::new())
                }),
        ),
        P::DomainEventLifecycle | P::DomainEventCallbackLifecycle => {
            Some(Err(RemoteError::unknown_procedure(h.procedure)))
        }
        _ => None,
    };
    if let Some(r) = inline {
        conn.reply(&h, r).await;
        return None;
    }

    if proc == P::DomainOpenConsole {
        let args = match from_bytes::<procs::OpenConsoleArgs>(&body) {
            Ok(a) => a,
            Err(e) => {
                conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
                return None;
            }
        };
        let ctx = CallContext {
            connection: conn.info.clone(),
            read_only,
            procedure: proc,
            serial: h.serial,
        };
        let conn = conn.clone();
        let backend = backend.clone();
        return Some(Box::pin(async move {
            let r = backend
                .open_console(&ctx, args.dom, args.dev_name, args.flags)
                .await;
            match r {
                Ok(stream) => start_stream(conn, h, stream).await,
                Err(e) => conn.reply(&h, Err(e)).await,
            }
        }));
    }

    // Backend calls.
    let decoded = match proc {
        P::ConnectNumOfDomains | P::ConnectNumOfDefinedDomains => {
            if body.is_empty() {
                Ok((list_request(proc), Post::NumOf))
            } else {
                Err(decode_error(
                    h.procedure,
                    &crate::xdr::XdrError::TrailingBytes(body.len()),
                ))
            }
        }
        P::ConnectListDomains | P::ConnectListDefinedDomains => from_bytes::<IntArgs>(&body)
            .map_err(|e| decode_error(h.procedure, &e))
            .and_then(|a| {
                if a.value < 0 || a.value as u32 > DOMAIN_LIST_MAX {
                    return Err(RemoteError::new(
                        ErrorCode::RPC,
                        ErrorDomain::REMOTE,
                        "maximum number of domains requested is out of range",
                    ));
                }
                let n = a.value as usize;
                let post = if proc == P::ConnectListDomains {
                    Post::ListIds(n)
                } else {
                    Post::ListNames(n)
                };
                Ok((list_request(proc), post))
            }),
        P::ConnectListAllDomains => from_bytes::<ListAllDomainsArgs>(&body)
            .map_err(|e| decode_error(h.procedure, &e))
            .map(|a| {
                (
                    Request::ConnectListAllDomains { flags: a.flags },
                    Post::ListAll {
                        need_results: a.need_results != 0,
                    },
                )
            }),
        _ => match Request::decode(proc, &body) {
            Ok(Some(req)) => {
                let post = if proc == P::DomainCreate {
                    Post::Void
                } else {
                    Post::Plain
                };
                Ok((req, post))
            }
            Ok(None) => Err(RemoteError::unknown_procedure(h.procedure)),
            Err(e) => Err(decode_error(h.procedure, &e)),
        },
    };
    let (req, post) = match decoded {
        Ok(x) => x,
        Err(e) => {
            conn.reply(&h, Err(e)).await;
            return None;
        }
    };
    if read_only
        && let Request::DomainGetXmlDesc { flags, .. } = &req
        && flags & procs::DOMAIN_XML_SECURE != 0
    {
        let e = RemoteError::new(
            ErrorCode::OPERATION_DENIED,
            ErrorDomain::REMOTE,
            "operation forbidden: virDomainGetXMLDesc with secure flag",
        );
        conn.reply(&h, Err(e)).await;
        return None;
    }

    let ctx = CallContext {
        connection: conn.info.clone(),
        read_only,
        procedure: proc,
        serial: h.serial,
    };
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let expected = req.expected_shape();
        let r = backend.call(&ctx, req).await;
        let r = r.and_then(|resp| {
            if resp.shape() != expected {
                return Err(shape_error(proc, &resp));
            }
            encode_ret(resp, post)
        });
        conn.reply(&h, r).await;
    }))
}

fn list_request(proc: Procedure) -> Request {
    let flags = match proc {
        Procedure::ConnectNumOfDomains | Procedure::ConnectListDomains => list_flags::ACTIVE,
        _ => list_flags::INACTIVE,
    };
    Request::ConnectListAllDomains { flags }
}

fn shape_error(proc: Procedure, resp: &Response) -> RemoteError {
    RemoteError::internal(&format!(
        "backend returned a {:?} response for procedure {}",
        resp.shape(),
        proc.number()
    ))
}

fn too_many(what: &str) -> RemoteError {
    RemoteError::new(
        ErrorCode::RPC,
        ErrorDomain::REMOTE,
        format!("too many {what} for one RPC reply"),
    )
}

fn encode_ret(resp: Response, post: Post) -> Result<Vec<u8>, RemoteError> {
    let doms_check = |d: &Vec<Domain>| {
        if d.len() > DOMAIN_LIST_MAX as usize {
            Err(too_many("domains"))
        } else {
            Ok(())
        }
    };
    Ok(match (post, resp) {
        (Post::Void, _) => Vec::new(),
        (Post::ListAll { need_results }, Response::Domains(d)) => {
            doms_check(&d)?;
            let ret = d.len() as u32;
            enc(&ListAllDomainsRet {
                domains: if need_results { d } else { Vec::new() },
                ret,
            })
        }
        (Post::NumOf, Response::Domains(d)) => enc(&(d.len().min(i32::MAX as usize) as i32)),
        (Post::ListIds(max), Response::Domains(d)) => enc(&IdsRet {
            ids: d
                .iter()
                .filter(|d| d.id >= 0)
                .map(|d| d.id)
                .take(max)
                .collect(),
        }),
        (Post::ListNames(max), Response::Domains(d)) => enc(&NamesRet {
            names: d.into_iter().map(|d| d.name).take(max).collect(),
        }),
        (_, Response::Void) => Vec::new(),
        (_, Response::Int(v)) => enc(&v),
        (_, Response::UHyper(v)) => enc(&v),
        (_, Response::String(s)) => enc(&s),
        (_, Response::Domain(d)) => enc(&d),
        (_, Response::Domains(d)) => {
            doms_check(&d)?;
            enc(&d)
        }
        (_, Response::State(s)) => enc(&s),
        (_, Response::DomainInfo(i)) => enc(&i),
        (_, Response::NodeInfo(n)) => enc(&n),
        (_, Response::JobInfo(j)) => enc(&j),
        (_, Response::ControlInfo(c)) => enc(&c),
        (_, Response::SecurityModel { model, doi }) => {
            if model.len() >= SECURITY_MODEL_MAX as usize || doi.len() >= SECURITY_DOI_MAX as usize
            {
                return Err(too_many("security model characters"));
            }
            // libvirtd sends the C string with its NUL; an empty model is sent
            // as an empty array, which makes virsh skip the security output.
            let chars = |s: String| {
                let mut v = s.into_bytes();
                if !v.is_empty() {
                    v.push(0);
                }
                CharVec(v)
            };
            enc(&SecurityModelRet {
                model: chars(model),
                doi: chars(doi),
            })
        }
        (_, Response::Strings(s)) => {
            if s.len() > DOMAIN_MESSAGES_MAX as usize {
                return Err(too_many("messages"));
            }
            enc(&MessagesRet { msgs: s })
        }
    })
}

fn stream_header(call: &Header, status: MessageStatus) -> Header {
    Header {
        message_type: MessageType::Stream,
        status,
        ..*call
    }
}

/// Reply OK to the opening call, then pump `stream` both ways as STREAM
/// packets on the call's serial.
async fn start_stream(conn: Arc<Conn>, call: Header, stream: ByteStream) {
    let (in_tx, mut in_rx) = mpsc::channel::<StreamIn>(16);
    conn.lock().streams.insert(call.serial, in_tx);
    // The reply goes into the writer queue before any stream packet.
    conn.reply(&call, Ok(Vec::new())).await;
    let (mut rd, mut wr) = tokio::io::split(stream);

    let out_conn = conn.clone();
    let output = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => {
                    // EOF: tell the client the stream is finished.
                    out_conn.lock().streams.remove(&call.serial);
                    out_conn
                        .send_packet(&stream_header(&call, MessageStatus::Ok), &[])
                        .await;
                    return;
                }
                Ok(n) => {
                    out_conn
                        .send_packet(&stream_header(&call, MessageStatus::Continue), &buf[..n])
                        .await;
                }
                Err(e) => {
                    out_conn.lock().streams.remove(&call.serial);
                    let err = RemoteError::new(
                        ErrorCode::SYSTEM_ERROR,
                        ErrorDomain::QEMU,
                        format!("cannot read from console: {e}"),
                    );
                    out_conn
                        .send_packet(&stream_header(&call, MessageStatus::Error), &to_bytes(&err))
                        .await;
                    return;
                }
            }
        }
    });

    // The input side runs in its own task so the console does not hold one
    // of the connection's call slots for its whole lifetime.
    tokio::spawn(async move {
        while let Some(msg) = in_rx.recv().await {
            match msg {
                StreamIn::Data(d) => {
                    if wr.write_all(&d).await.is_err() {
                        break;
                    }
                }
                StreamIn::Finish | StreamIn::Abort => {
                    let _ = wr.shutdown().await;
                    break;
                }
            }
        }
        // Either the client ended the stream (already confirmed) or the
        // connection went away: stop reading the console too.
        output.abort();
    });
}

/// A STREAM packet from the client: data, finish (OK) or abort (ERROR).
async fn handle_stream_packet(conn: &Arc<Conn>, h: Header, body: Vec<u8>) {
    let sender = {
        let mut st = conn.lock();
        match h.status {
            MessageStatus::Continue => st.streams.get(&h.serial).cloned(),
            _ => st.streams.remove(&h.serial),
        }
    };
    match h.status {
        MessageStatus::Continue => {
            if let Some(tx) = sender {
                let _ = tx.send(StreamIn::Data(body)).await;
            }
        }
        status => {
            if let Some(tx) = sender {
                let msg = if status == MessageStatus::Ok {
                    StreamIn::Finish
                } else {
                    StreamIn::Abort
                };
                let _ = tx.send(msg).await;
            }
            // Confirm finish/abort even if the stream already ended on our
            // side, so a client waiting for the confirmation never hangs.
            conn.send_packet(&stream_header(&h, MessageStatus::Ok), &[])
                .await;
        }
    }
}
