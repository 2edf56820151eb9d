//! Streams (console, screenshot): STREAM packets pumped both ways between the
//! client and a backend [`ByteStream`], as libvirtd does:
//!
//! - the opening call's REPLY goes first, then data as STREAM/CONTINUE packets
//!   of raw bytes (at most 64 KiB each, under libvirt's 256 KiB);
//! - EOF of the backend is an empty STREAM/CONTINUE (as libvirtd sends it);
//!   the client then finishes (or aborts);
//! - the client's finish (STREAM/OK) and abort (STREAM/ERROR) are confirmed
//!   with an empty STREAM/OK, also when the stream already ended here;
//! - a failure on either side is a STREAM/ERROR carrying a `remote_error`,
//!   after which the stream is gone (the client's further data is dropped);
//! - holes (STREAM_HOLE) belong to sparse volume streams, which this server
//!   has none of: one ends the connection (see `on_packet`).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::api::ByteStream;
use super::conn::{Conn, StreamIn};
use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::frame::{Header, MessageStatus, MessageType};
use crate::xdr::to_bytes;

/// `VIR_FROM_STREAMS`: errors of a stream's own I/O.
const FROM_STREAMS: ErrorDomain = ErrorDomain(38);

pub(super) fn stream_header(call: &Header, status: MessageStatus) -> Header {
    Header {
        message_type: MessageType::Stream,
        status,
        ..*call
    }
}

/// Reply OK (with `reply`, the procedure's return) to the opening call, then
/// pump `stream` both ways as STREAM packets on the call's serial.
pub(super) async fn start_stream(
    conn: Arc<Conn>,
    call: Header,
    reply: Vec<u8>,
    stream: ByteStream,
) {
    let (in_tx, mut in_rx) = mpsc::channel::<StreamIn>(16);
    conn.lock().streams.insert(call.serial, in_tx);
    // The reply goes into the writer queue before any stream packet.
    conn.reply(&call, Ok(reply)).await;
    let (mut rd, mut wr) = tokio::io::split(stream);

    let out_conn = conn.clone();
    let mut output = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => {
                    // EOF is an empty data packet (STREAM/CONTINUE, no bytes):
                    // STREAM/OK only ever confirms the client's finish or abort,
                    // and a client that gets one unasked drops the connection.
                    // The stream stays registered so the client's finish is
                    // confirmed through the usual path.
                    out_conn
                        .send_packet(&stream_header(&call, MessageStatus::Continue), &[])
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
                        FROM_STREAMS,
                        format!("cannot read from stream: {e}"),
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
    let in_conn = conn.clone();
    tokio::spawn(async move {
        while let Some(msg) = in_rx.recv().await {
            match msg {
                StreamIn::Data(d) => {
                    if let Err(e) = wr.write_all(&d).await {
                        // The stream is over: say why, once, and drop the
                        // client's further data (libvirtd does the same).
                        let gone = in_conn.lock().streams.remove(&call.serial).is_some();
                        // Nothing of ours after the error.
                        output.abort();
                        let _ = (&mut output).await;
                        if gone {
                            let err = RemoteError::new(
                                ErrorCode::SYSTEM_ERROR,
                                FROM_STREAMS,
                                format!("cannot write to stream: {e}"),
                            );
                            in_conn
                                .send_packet(
                                    &stream_header(&call, MessageStatus::Error),
                                    &to_bytes(&err),
                                )
                                .await;
                        }
                        break;
                    }
                }
                StreamIn::Finish | StreamIn::Abort => {
                    // Nothing of ours may follow the confirmation: stop the
                    // output side first, then confirm, then close the backend.
                    output.abort();
                    let _ = (&mut output).await;
                    in_conn
                        .send_packet(&stream_header(&call, MessageStatus::Ok), &[])
                        .await;
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
        // A write failed or the connection went away: stop reading too.
        output.abort();
    });
}

/// A STREAM packet from the client: data, finish (OK) or abort (ERROR).
pub(super) async fn handle_stream_packet(conn: &Arc<Conn>, h: Header, body: Vec<u8>) {
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
            let msg = if status == MessageStatus::Ok {
                StreamIn::Finish
            } else {
                StreamIn::Abort
            };
            // The stream's input task confirms once its output has stopped;
            // a stream already gone here is confirmed at once, so a client
            // waiting for the confirmation never hangs.
            let handed = match sender {
                Some(tx) => tx.send(msg).await.is_ok(),
                None => false,
            };
            if !handed {
                conn.send_packet(&stream_header(&h, MessageStatus::Ok), &[])
                    .await;
            }
        }
    }
}
