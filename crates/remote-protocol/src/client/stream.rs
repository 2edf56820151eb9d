//! Client-side streams (`rvirt console`): a call that opens a stream, then the
//! stream's packets on its serial, as libvirt's client sends and reads them —
//! data as STREAM/CONTINUE (an empty one is EOF), finish as STREAM/OK answered
//! by STREAM/OK, errors as STREAM/ERROR.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Client, ClientError, StreamMap, lock};
use crate::error::RemoteError;
use crate::frame::{
    self, Header, MESSAGE_MAX, MessageStatus, MessageType, PROGRAM_REMOTE, PROTOCOL_VERSION,
};
use crate::procs::{Domain, OpenConsoleArgs, Procedure};
use crate::xdr::{from_bytes, to_bytes};

/// Largest data packet this client sends (libvirt's client uses 256 KiB).
const CHUNK: usize = 64 * 1024;

/// One open stream.
#[derive(Debug)]
pub struct ClientStream {
    serial: u32,
    procedure: i32,
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::UnboundedReceiver<(MessageStatus, Vec<u8>)>,
    streams: StreamMap,
    eof: bool,
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        lock(&self.streams).remove(&self.serial);
    }
}

impl Client {
    /// DOMAIN_OPEN_CONSOLE: the console of `dom` (`dev_name` `None` = the first)
    /// as a stream. Flags: FORCE 1, SAFE 2.
    pub async fn open_console(
        &self,
        dom: &Domain,
        dev_name: Option<&str>,
        flags: u32,
    ) -> Result<ClientStream, ClientError> {
        let args = OpenConsoleArgs {
            dom: dom.clone(),
            dev_name: dev_name.map(str::to_owned),
            flags,
        };
        let (_, st) = self
            .call_stream(Procedure::DomainOpenConsole.number(), to_bytes(&args))
            .await?;
        Ok(st)
    }

    /// A REMOTE call whose reply opens a stream on the call's serial; the
    /// stream is registered before the call goes out, so no packet is missed.
    pub async fn call_stream(
        &self,
        procedure: i32,
        args: Vec<u8>,
    ) -> Result<(Vec<u8>, ClientStream), ClientError> {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let (stx, srx) = mpsc::unbounded_channel();
        lock(&self.streams).insert(serial, stx);
        let st = ClientStream {
            serial,
            procedure,
            tx: self.tx.clone(),
            rx: srx,
            streams: self.streams.clone(),
            eof: false,
        };
        let body = self
            .call_with_serial(PROGRAM_REMOTE, PROTOCOL_VERSION, procedure, serial, args)
            .await?;
        Ok((body, st))
    }
}

impl ClientStream {
    fn header(&self, status: MessageStatus) -> Header {
        Header {
            program: PROGRAM_REMOTE,
            version: PROTOCOL_VERSION,
            procedure: self.procedure,
            message_type: MessageType::Stream,
            serial: self.serial,
            status,
        }
    }

    async fn send_packet(&self, status: MessageStatus, body: &[u8]) -> Result<(), ClientError> {
        let p = frame::encode_packet(&self.header(status), body, MESSAGE_MAX)?;
        self.tx.send(p).await.map_err(|_| ClientError::Closed)
    }

    /// The next bytes from the server; `None` at its EOF.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        if self.eof {
            return Ok(None);
        }
        match self.rx.recv().await {
            None => Err(ClientError::Closed),
            Some((MessageStatus::Continue, b)) if b.is_empty() => {
                self.eof = true;
                Ok(None)
            }
            Some((MessageStatus::Continue, b)) => Ok(Some(b)),
            Some((MessageStatus::Error, b)) => {
                self.eof = true;
                Err(ClientError::Remote(from_bytes::<RemoteError>(&b)?))
            }
            // An unasked confirmation: the stream is over.
            Some((MessageStatus::Ok, _)) => {
                self.eof = true;
                Ok(None)
            }
        }
    }

    /// Sends bytes to the server (in packets of at most 64 KiB).
    pub async fn send(&self, data: &[u8]) -> Result<(), ClientError> {
        for c in data.chunks(CHUNK) {
            self.send_packet(MessageStatus::Continue, c).await?;
        }
        Ok(())
    }

    /// Ends the stream (STREAM/OK) and waits up to 10 s for the server's
    /// confirmation; data still arriving meanwhile is dropped.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        self.send_packet(MessageStatus::Ok, &[]).await?;
        let wait = async {
            loop {
                match self.rx.recv().await {
                    None => return Err(ClientError::Closed),
                    Some((MessageStatus::Ok, _)) => return Ok(()),
                    Some((MessageStatus::Error, b)) => {
                        return Err(ClientError::Remote(from_bytes::<RemoteError>(&b)?));
                    }
                    Some((MessageStatus::Continue, _)) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or(Err(ClientError::Closed))
    }
}
