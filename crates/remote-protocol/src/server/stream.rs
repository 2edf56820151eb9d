//! Console streams: STREAM packets pumped both ways between the client and a
//! backend [`ByteStream`].

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::api::ByteStream;
use super::conn::{Conn, StreamIn};
use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::frame::{Header, MessageStatus, MessageType};
use crate::xdr::to_bytes;

pub(super) fn stream_header(call: &Header, status: MessageStatus) -> Header {
    Header {
        message_type: MessageType::Stream,
        status,
        ..*call
    }
}

/// Reply OK to the opening call, then pump `stream` both ways as STREAM
/// packets on the call's serial.
pub(super) async fn start_stream(conn: Arc<Conn>, call: Header, stream: ByteStream) {
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
