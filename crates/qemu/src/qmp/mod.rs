//! Asynchronous QMP (QEMU Machine Protocol) client.
//!
//! One [`QmpClient`] owns one monitor connection. Two background tasks serve
//! it: a reader that frames incoming JSON, routes replies to waiting callers by
//! `id` and forwards events to [`QmpEvents`], and a writer that serialises
//! outgoing commands (so a caller that times out or is cancelled can never
//! leave half a command on the socket). The client is cheap to clone and can
//! be used from many tasks at once.
//!
//! When QEMU closes the socket (it exited, or crashed), every pending and
//! future command fails with [`QmpError::Disconnected`] carrying
//! [`DisconnectReason::Eof`], the event stream ends, and
//! [`QmpClient::closed`] resolves: the daemon uses that as the exit signal.
//!
//! Memory is bounded per message ([`QmpConfig::max_message_size`]) and by
//! the number of events queued but not yet received
//! ([`QmpConfig::max_queued_events`]). Exceeding either closes the
//! connection; events are never dropped silently (losing e.g. `SHUTDOWN`
//! would corrupt the daemon's view), and the reader never blocks on a slow
//! event consumer (that would dead-lock a task that is both the event
//! consumer and waiting for a command reply). Events are discarded only if
//! the [`QmpEvents`] receiver was dropped.
//!
//! Replies whose `id` matches no waiting command (typically the late reply
//! to a command that timed out) are logged and ignored; anything that isn't
//! a JSON object closes the connection with [`DisconnectReason::Protocol`].

mod framing;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

pub use framing::FrameError;
use framing::Framer;
pub use qemu_caps::QemuVersion;

/// The kernel's limit on descriptors in one `SCM_RIGHTS` message.
pub const MAX_FDS_PER_MESSAGE: usize = 253;

const READ_CHUNK: usize = 64 * 1024;

/// Tunables of a QMP connection.
#[derive(Debug, Clone)]
pub struct QmpConfig {
    /// Default timeout of every command (and of waiting for the greeting).
    pub command_timeout: Duration,
    /// Largest single message accepted from QEMU; a larger one is a protocol
    /// error that closes the connection.
    pub max_message_size: usize,
    /// Most events queued but not yet received from [`QmpEvents`]. Beyond
    /// that the connection is closed ([`DisconnectReason::EventQueueFull`])
    /// rather than dropping events silently or growing without bound.
    pub max_queued_events: usize,
}

impl Default for QmpConfig {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(30),
            max_message_size: 16 * 1024 * 1024,
            max_queued_events: 65_536,
        }
    }
}

/// The `{"QMP": ...}` greeting sent by QEMU when a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    /// QEMU version.
    pub version: QemuVersion,
    /// Distribution package string (may be empty).
    pub package: String,
    /// Capabilities offered by the server (e.g. `oob`).
    pub capabilities: Vec<String>,
}

/// Time stamp attached to events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimestamp {
    /// Seconds since the epoch (QEMU reports -1 if its clock failed).
    pub seconds: i64,
    /// Microseconds within the second.
    pub microseconds: i64,
}

/// An asynchronous QMP event. Unknown events are delivered as they come:
/// only the name is interpreted, `data` is kept as raw JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QmpEvent {
    /// Event name, e.g. `SHUTDOWN`.
    pub name: String,
    /// Event payload (`{}` when QEMU sent none).
    pub data: Value,
    /// When QEMU emitted the event, if it said.
    pub timestamp: Option<EventTimestamp>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The peer closed the socket cleanly (QEMU exited).
    Eof,
    /// Reading from or writing to the socket failed.
    Io(String),
    /// The peer sent something that is not QMP.
    Protocol(String),
    /// The peer sent a message larger than the configured bound.
    MessageTooLarge {
        /// The configured bound in bytes.
        limit: usize,
    },
    /// Events arrived faster than they were received from [`QmpEvents`].
    EventQueueFull {
        /// The configured bound in events.
        limit: usize,
    },
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eof => f.write_str("end of file: the peer closed the connection"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::MessageTooLarge { limit } => {
                write!(f, "message larger than the {limit}-byte limit")
            }
            Self::EventQueueFull { limit } => {
                write!(f, "more than {limit} events queued but not received")
            }
        }
    }
}

/// Errors of the QMP client.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// Connecting to the monitor socket failed.
    #[error("cannot connect to QMP socket {path}: {source}")]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// The first message was not a valid QMP greeting.
    #[error("invalid QMP greeting: {0}")]
    Greeting(String),
    /// QEMU answered the command with an error reply.
    #[error("QMP command '{command}' failed: {class}: {desc}")]
    Command {
        /// Command name.
        command: String,
        /// QMP error class, e.g. `GenericError`, `CommandNotFound`.
        class: String,
        /// Human-readable description.
        desc: String,
    },
    /// No reply arrived in time.
    #[error("QMP command '{command}' timed out after {timeout:?}")]
    Timeout {
        /// Command name (`<greeting>` while waiting for the greeting).
        command: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The connection is gone; no reply will come.
    #[error("QMP connection closed: {0}")]
    Disconnected(DisconnectReason),
    /// The caller passed unusable arguments; nothing was sent.
    #[error("invalid request for QMP command '{command}': {reason}")]
    InvalidRequest {
        /// Command name.
        command: String,
        /// What is wrong.
        reason: String,
    },
    /// The reply could not be decoded into the requested type.
    #[error("cannot decode reply to QMP command '{command}': {source}")]
    Decode {
        /// Command name.
        command: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl QmpError {
    /// True if the connection is gone (QEMU exited or the stream broke).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected(_))
    }

    /// True if the peer closed the connection cleanly.
    pub fn is_eof(&self) -> bool {
        matches!(self, Self::Disconnected(DisconnectReason::Eof))
    }

    /// The QMP error class if QEMU rejected the command.
    pub fn class(&self) -> Option<&str> {
        match self {
            Self::Command { class, .. } => Some(class),
            _ => None,
        }
    }
}

type ReplyTx = oneshot::Sender<Result<Value, QmpError>>;

struct Pending {
    command: String,
    tx: ReplyTx,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    closed: Option<DisconnectReason>,
}

struct Shared {
    state: Mutex<State>,
    next_id: AtomicU64,
    closed_tx: watch::Sender<Option<DisconnectReason>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can't leave `State` inconsistent in
        // a way that matters (it's a map and an option), so ignore poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection closed (first reason wins) and fails every
    /// pending command.
    fn close(&self, reason: DisconnectReason) {
        let drained: Vec<Pending> = {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(reason.clone());
            st.pending.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            let _ = p.tx.send(Err(QmpError::Disconnected(reason.clone())));
        }
        self.closed_tx.send_replace(Some(reason));
    }

    fn closed_reason(&self) -> DisconnectReason {
        self.lock().closed.clone().unwrap_or(DisconnectReason::Eof)
    }
}

struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

struct ClientInner {
    shared: Arc<Shared>,
    writer_tx: mpsc::UnboundedSender<Outgoing>,
    greeting: Greeting,
    config: QmpConfig,
    reader: AbortHandle,
    writer: AbortHandle,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// A connected, negotiated QMP monitor. Clone it to share between tasks;
/// the connection is torn down when the last clone is dropped.
#[derive(Clone)]
pub struct QmpClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for QmpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QmpClient")
            .field("version", &self.inner.greeting.version)
            .field("closed", &self.inner.shared.lock().closed)
            .finish_non_exhaustive()
    }
}

/// The stream of events of one connection. Ends (`recv` returns `None`) when
/// the connection closes.
#[derive(Debug)]
pub struct QmpEvents {
    rx: mpsc::UnboundedReceiver<QmpEvent>,
    queued: Arc<AtomicUsize>,
}

impl QmpEvents {
    /// The next event, or `None` once the connection has closed and all
    /// queued events were received.
    pub async fn recv(&mut self) -> Option<QmpEvent> {
        let e = self.rx.recv().await;
        if e.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        e
    }

    /// A queued event, without waiting.
    pub fn try_recv(&mut self) -> Option<QmpEvent> {
        let e = self.rx.try_recv().ok();
        if e.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        e
    }
}

/// Removes a pending entry if the command future is dropped or times out.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.id);
    }
}

impl QmpClient {
    /// Connects to a monitor socket by path (e.g. after a daemon restart),
    /// reads the greeting and negotiates capabilities.
    pub async fn connect(
        path: impl AsRef<Path>,
        config: QmpConfig,
    ) -> Result<(Self, QmpEvents), QmpError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| QmpError::Connect {
                path: path.to_owned(),
                source,
            })?;
        Self::from_stream(stream, config).await
    }

    /// Takes over an already-connected socket (e.g. one end of a socketpair
    /// or a connection to a listening socket pre-opened for QEMU), reads the
    /// greeting and negotiates capabilities. Must run inside a tokio runtime.
    pub async fn from_stream(
        stream: UnixStream,
        config: QmpConfig,
    ) -> Result<(Self, QmpEvents), QmpError> {
        let mut framer = Framer::new(config.max_message_size);
        let greeting =
            tokio::time::timeout(config.command_timeout, read_greeting(&stream, &mut framer))
                .await
                .map_err(|_| QmpError::Timeout {
                    command: "<greeting>".into(),
                    timeout: config.command_timeout,
                })??;

        let stream = Arc::new(stream);
        let (closed_tx, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            closed_tx,
        });
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let event_sink = EventSink {
            tx: event_tx,
            queued: Arc::clone(&queued),
            limit: config.max_queued_events,
        };
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(reader_task(
            Arc::clone(&stream),
            framer,
            Arc::clone(&shared),
            event_sink,
        ))
        .abort_handle();
        let writer =
            tokio::spawn(writer_task(stream, writer_rx, Arc::clone(&shared))).abort_handle();
        let client = Self {
            inner: Arc::new(ClientInner {
                shared,
                writer_tx,
                greeting,
                config,
                reader,
                writer,
            }),
        };
        client.execute("qmp_capabilities", None).await?;
        Ok((
            client,
            QmpEvents {
                rx: event_rx,
                queued,
            },
        ))
    }

    /// The greeting QEMU sent on connect.
    pub fn greeting(&self) -> &Greeting {
        &self.inner.greeting
    }

    /// The connection's configuration.
    pub fn config(&self) -> &QmpConfig {
        &self.inner.config
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.lock().closed.is_none()
    }

    /// Resolves once the connection has closed, with the reason.
    pub async fn closed(&self) -> DisconnectReason {
        let mut rx = self.inner.shared.closed_tx.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(DisconnectReason::Eof),
            // The sender lives in `self`, so this can't happen; be total.
            Err(_) => DisconnectReason::Eof,
        }
    }

    /// Runs a command with the default timeout. `args` must be a JSON object
    /// (or `None`). Returns the `return` member of the reply.
    pub async fn execute(&self, command: &str, args: Option<Value>) -> Result<Value, QmpError> {
        self.request(command, args, &[], self.inner.config.command_timeout)
            .await
    }

    /// Runs a command with an explicit timeout.
    pub async fn execute_timeout(
        &self,
        command: &str,
        args: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        self.request(command, args, &[], timeout).await
    }

    /// Runs a command and decodes its `return` value.
    pub async fn execute_as<T: DeserializeOwned>(
        &self,
        command: &str,
        args: Option<Value>,
    ) -> Result<T, QmpError> {
        let v = self.execute(command, args).await?;
        serde_json::from_value(v).map_err(|source| QmpError::Decode {
            command: command.to_owned(),
            source,
        })
    }

    /// Runs a command, passing `fds` via `SCM_RIGHTS` on the same `sendmsg`
    /// that carries the command's first bytes (as `getfd`/`add-fd` need).
    /// The descriptors are duplicated; the caller keeps ownership of its own.
    pub async fn execute_with_fds(
        &self,
        command: &str,
        args: Option<Value>,
        fds: &[BorrowedFd<'_>],
    ) -> Result<Value, QmpError> {
        self.request(command, args, fds, self.inner.config.command_timeout)
            .await
    }

    /// The general form: explicit descriptors and timeout.
    pub async fn request(
        &self,
        command: &str,
        args: Option<Value>,
        fds: &[BorrowedFd<'_>],
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let invalid = |reason: String| QmpError::InvalidRequest {
            command: command.to_owned(),
            reason,
        };
        if fds.len() > MAX_FDS_PER_MESSAGE {
            return Err(invalid(format!(
                "{} descriptors exceed the limit of {MAX_FDS_PER_MESSAGE}",
                fds.len()
            )));
        }
        let shared = &self.inner.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = Map::new();
        msg.insert("execute".into(), Value::String(command.to_owned()));
        match args {
            None => {}
            Some(Value::Object(a)) => {
                msg.insert("arguments".into(), Value::Object(a));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "arguments must be a JSON object, not {other}"
                )));
            }
        }
        msg.insert("id".into(), Value::from(id));
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| invalid(e.to_string()))?;
        bytes.extend_from_slice(b"\r\n");
        let fds = fds
            .iter()
            .map(|fd| fd.try_clone_to_owned())
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| invalid(format!("cannot duplicate descriptor: {e}")))?;

        let (tx, rx) = oneshot::channel();
        {
            let mut st = shared.lock();
            if let Some(reason) = &st.closed {
                return Err(QmpError::Disconnected(reason.clone()));
            }
            st.pending.insert(
                id,
                Pending {
                    command: command.to_owned(),
                    tx,
                },
            );
        }
        let _guard = PendingGuard { shared, id };
        if self.inner.writer_tx.send(Outgoing { bytes, fds }).is_err() {
            return Err(QmpError::Disconnected(shared.closed_reason()));
        }
        tracing::trace!(command, id, "QMP command sent");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(QmpError::Disconnected(shared.closed_reason())),
            Err(_) => Err(QmpError::Timeout {
                command: command.to_owned(),
                timeout,
            }),
        }
    }
}

/// Makes a child spawned from `cmd` inherit `fd` under the same number, so it
/// can be named on QEMU's command line (e.g. `-chardev socket,id=mon,fd=N,...`
/// for a monitor socket pre-opened by the daemon). Returns that number.
///
/// Only the child sees the descriptor without `FD_CLOEXEC`: the flag is
/// cleared between fork and exec, so concurrent spawns elsewhere in the
/// process don't leak it. `fd` must stay open until the command is spawned.
pub fn inherit_fd(cmd: &mut std::process::Command, fd: BorrowedFd<'_>) -> RawFd {
    use std::os::unix::process::CommandExt;
    let raw = fd.as_raw_fd();
    let hook = move || -> io::Result<()> {
        // SAFETY: `raw` was open in the parent at fork time (the caller keeps
        // it open until spawn), so it is open in the child; the borrow does
        // not outlive this hook.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only calls
    // fcntl(2) (async-signal-safe) and neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(hook);
    }
    raw
}

fn frame_error_reason(e: FrameError) -> DisconnectReason {
    match e {
        FrameError::TooLarge { limit } => DisconnectReason::MessageTooLarge { limit },
        other => DisconnectReason::Protocol(other.to_string()),
    }
}

/// Reads one chunk. `Ok(0)` is end of stream.
async fn read_chunk(stream: &UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads until one message is framed; `Ok(None)` at end of stream.
async fn read_value(
    stream: &UnixStream,
    framer: &mut Framer,
    chunk: &mut [u8],
) -> Result<Option<Value>, DisconnectReason> {
    loop {
        if let Some(v) = framer.next_value().map_err(frame_error_reason)? {
            return Ok(Some(v));
        }
        let n = match read_chunk(stream, chunk).await {
            Ok(n) => n,
            // The peer closed while input we sent was still unread. QEMU
            // reads its monitor byte by byte, so after `quit` our trailing
            // newline (or a racing command) is typically left over: that is
            // an ordinary close, not a failure.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(DisconnectReason::Io(e.to_string())),
        };
        if n == 0 {
            return framer.finish().map_err(frame_error_reason);
        }
        framer.push(&chunk[..n]);
    }
}

async fn read_greeting(stream: &UnixStream, framer: &mut Framer) -> Result<Greeting, QmpError> {
    #[derive(Deserialize)]
    struct VersionInfo {
        qemu: QemuVersion,
        #[serde(default)]
        package: String,
    }
    #[derive(Deserialize)]
    struct Inner {
        version: VersionInfo,
        #[serde(default)]
        capabilities: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Wire {
        #[serde(rename = "QMP")]
        qmp: Inner,
    }
    let mut chunk = vec![0u8; READ_CHUNK];
    let v = read_value(stream, framer, &mut chunk)
        .await
        .map_err(QmpError::Disconnected)?
        .ok_or(QmpError::Disconnected(DisconnectReason::Eof))?;
    let wire: Wire = serde_json::from_value(v).map_err(|e| QmpError::Greeting(e.to_string()))?;
    Ok(Greeting {
        version: wire.qmp.version.qemu,
        package: wire.qmp.version.package,
        capabilities: wire.qmp.capabilities,
    })
}

/// The reader's end of the event queue, counting what is not yet received.
struct EventSink {
    tx: mpsc::UnboundedSender<QmpEvent>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl EventSink {
    fn send(&self, event: QmpEvent) -> Result<(), DisconnectReason> {
        if self.tx.is_closed() {
            // Nobody listens: discard.
            return Ok(());
        }
        if self.queued.load(Ordering::Relaxed) >= self.limit {
            return Err(DisconnectReason::EventQueueFull { limit: self.limit });
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(event).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

async fn reader_task(
    stream: Arc<UnixStream>,
    mut framer: Framer,
    shared: Arc<Shared>,
    events: EventSink,
) {
    let mut chunk = vec![0u8; READ_CHUNK];
    let reason = loop {
        match read_value(&stream, &mut framer, &mut chunk).await {
            Ok(Some(v)) => {
                if let Err(reason) = dispatch(v, &shared, &events) {
                    break reason;
                }
            }
            Ok(None) => break DisconnectReason::Eof,
            Err(reason) => break reason,
        }
    };
    tracing::debug!(%reason, "QMP connection closed");
    if reason != DisconnectReason::Eof {
        // Make sure QEMU sees us go away too; the stream is unusable now.
        let _ = rustix::net::shutdown(&*stream, rustix::net::Shutdown::Both);
    }
    shared.close(reason);
}

/// Routes one message. An error means the stream is not QMP: close it.
fn dispatch(v: Value, shared: &Shared, events: &EventSink) -> Result<(), DisconnectReason> {
    let mut obj = match v {
        Value::Object(obj) => obj,
        other => {
            return Err(DisconnectReason::Protocol(format!(
                "expected a JSON object, got {}",
                short(&other)
            )));
        }
    };
    if let Some(name) = obj.get("event") {
        let Some(name) = name.as_str() else {
            return Err(DisconnectReason::Protocol(
                "event name is not a string".into(),
            ));
        };
        let event = QmpEvent {
            name: name.to_owned(),
            data: obj
                .remove("data")
                .unwrap_or_else(|| Value::Object(Map::new())),
            timestamp: obj
                .remove("timestamp")
                .and_then(|t| serde_json::from_value(t).ok()),
        };
        tracing::debug!(event = %event.name, "QMP event");
        return events.send(event);
    }
    if obj.contains_key("return") || obj.contains_key("error") {
        let id = obj.get("id").and_then(Value::as_u64);
        let pending = id.and_then(|id| shared.lock().pending.remove(&id));
        let Some(Pending { command, tx }) = pending else {
            let issued = shared.next_id.load(Ordering::Relaxed);
            match id {
                // Most likely the reply to a command that timed out.
                Some(id) if id < issued => {
                    tracing::debug!(id, "QMP reply for an abandoned command")
                }
                _ => {
                    let reply = short(&Value::Object(obj));
                    tracing::warn!(%reply, "QMP reply with an unknown id ignored");
                }
            }
            return Ok(());
        };
        let result = match obj.remove("error") {
            Some(err) => {
                let class = err
                    .get("class")
                    .and_then(Value::as_str)
                    .unwrap_or("<missing class>")
                    .to_owned();
                let desc = err
                    .get("desc")
                    .and_then(Value::as_str)
                    .map_or_else(|| err.to_string(), str::to_owned);
                Err(QmpError::Command {
                    command,
                    class,
                    desc,
                })
            }
            None => Ok(obj.remove("return").unwrap_or(Value::Null)),
        };
        let _ = tx.send(result);
        return Ok(());
    }
    let message = short(&Value::Object(obj));
    tracing::warn!(%message, "unrecognised QMP message ignored");
    Ok(())
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

async fn writer_task(
    stream: Arc<UnixStream>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    while let Some(msg) = rx.recv().await {
        if let Err(e) = write_message(&stream, &msg.bytes, &msg.fds).await {
            tracing::debug!(error = %e, "QMP write failed");
            let _ = rustix::net::shutdown(&*stream, rustix::net::Shutdown::Both);
            shared.close(
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) {
                    DisconnectReason::Eof
                } else {
                    DisconnectReason::Io(e.to_string())
                },
            );
            return;
        }
        // `msg.fds` (our duplicates) close here; QEMU holds its own copies.
    }
}

/// Writes `bytes` completely; `fds` ride along with the first chunk.
async fn write_message(stream: &UnixStream, mut bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    let mut fds_sent = borrowed.is_empty();
    while !bytes.is_empty() {
        stream.writable().await?;
        let res = if fds_sent {
            stream.try_write(bytes)
        } else {
            stream.try_io(Interest::WRITABLE, || {
                send_with_fds(stream, bytes, &borrowed)
            })
        };
        match res {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                fds_sent = true;
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn send_with_fds(stream: &UnixStream, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("SCM_RIGHTS control message does not fit"));
    }
    let n = rustix::net::sendmsg(
        stream,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests;
