//! One client connection's shared state and its packet output.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use super::api::{BoxFuture, ConnectionInfo};
use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::frame::{self, Header, MessageStatus, MessageType};
use crate::xdr::{Encode, Writer, XdrError, to_bytes};

/// What the client sent on an open stream.
#[derive(Debug)]
pub(super) enum StreamIn {
    Data(Vec<u8>),
    Finish,
    Abort,
}

pub(super) struct ConnState {
    pub(super) opened: bool,
    pub(super) read_only: bool,
    pub(super) keepalive: bool,
    pub(super) next_callback: i32,
    pub(super) callbacks: HashMap<i32, (i32, Option<[u8; 16]>)>,
    pub(super) legacy_events: HashSet<i32>,
    pub(super) streams: HashMap<u32, mpsc::Sender<StreamIn>>,
}

pub(super) struct Conn {
    pub(super) info: Arc<ConnectionInfo>,
    pub(super) state: Mutex<ConnState>,
    pub(super) tx: mpsc::Sender<Vec<u8>>,
    pub(super) max_message: usize,
    pub(super) last_rx: Mutex<Instant>,
    pub(super) missed_pings: AtomicU32,
    pub(super) shutdown: Notify,
}

impl Conn {
    /// A connection not yet open, whose packets go to `tx`.
    pub(super) fn new(
        info: Arc<ConnectionInfo>,
        tx: mpsc::Sender<Vec<u8>>,
        read_only: bool,
        max_message: usize,
    ) -> Self {
        Self {
            info,
            state: Mutex::new(ConnState {
                opened: false,
                read_only,
                keepalive: false,
                next_callback: 1,
                callbacks: HashMap::new(),
                legacy_events: HashSet::new(),
                streams: HashMap::new(),
            }),
            tx,
            max_message,
            last_rx: Mutex::new(Instant::now()),
            missed_pings: AtomicU32::new(0),
            shutdown: Notify::new(),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn send_packet(&self, header: &Header, body: &[u8]) {
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

    pub(super) async fn reply(&self, call: &Header, result: Result<Vec<u8>, RemoteError>) {
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

pub(super) fn decode_error(proc: i32, e: &XdrError) -> RemoteError {
    RemoteError::new(
        ErrorCode::RPC,
        ErrorDomain::RPC,
        format!("Unable to decode arguments of procedure {proc}: {e}"),
    )
}

pub(super) fn enc<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut w = Writer::new();
    v.encode(&mut w);
    w.into_bytes()
}

/// `Ok(())` for an empty argument body, else the decode error of `proc`.
pub(super) fn no_args(proc: i32, body: &[u8]) -> Result<(), RemoteError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(decode_error(proc, &XdrError::TrailingBytes(body.len())))
    }
}

/// A call's work, spawned by the connection's reader.
pub(super) type CallFuture = BoxFuture<'static, ()>;

/// The error for a call on a connection that is not open yet.
pub(super) fn not_open() -> RemoteError {
    RemoteError::new(
        ErrorCode::INTERNAL_ERROR,
        ErrorDomain::RPC,
        "internal error: connection not open",
    )
}
