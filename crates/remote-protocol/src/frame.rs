//! Packet framing: length word, the six-word header, payload.
//!
//! ```text
//! u32 len (whole packet, including these 4 bytes)
//! u32 prog | u32 vers | i32 proc | i32 type | u32 serial | i32 status
//! payload (XDR, or raw bytes for stream data)
//! ```

use tokio::io::{AsyncRead, AsyncReadExt};

/// Program number of the main REMOTE protocol.
pub const PROGRAM_REMOTE: u32 = 0x2000_8086;
/// Program number of the QEMU-specific protocol (monitor passthrough).
pub const PROGRAM_QEMU: u32 = 0x2000_8087;
/// Program number of the LXC-specific protocol.
pub const PROGRAM_LXC: u32 = 0x0006_8000;
/// Program number of the keepalive protocol ("keep").
pub const PROGRAM_KEEPALIVE: u32 = 0x6b65_6570;
/// Version used by all of the programs above.
pub const PROTOCOL_VERSION: u32 = 1;
/// Keepalive procedure: PING.
pub const KEEPALIVE_PING: i32 = 1;
/// Keepalive procedure: PONG.
pub const KEEPALIVE_PONG: i32 = 2;

/// `VIR_NET_MESSAGE_MAX`: header plus payload (not the length word), libvirt 9.0.
pub const MESSAGE_MAX: usize = 33_554_432;
/// `VIR_NET_MESSAGE_HEADER_MAX`.
pub const HEADER_LEN: usize = 24;
/// `VIR_NET_MESSAGE_PAYLOAD_MAX`.
pub const PAYLOAD_MAX: usize = MESSAGE_MAX - HEADER_LEN;
/// `VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`: stream chunk size.
pub const LEGACY_PAYLOAD_MAX: usize = 262_144;
/// Size of the length word.
pub const LEN_WORD: usize = 4;

/// Errors from reading or building packets.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The transport failed.
    #[error("I/O error on the RPC socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the socket in the middle of a packet.
    #[error("connection closed in the middle of a packet")]
    UnexpectedEof,
    /// The length word is smaller than a header.
    #[error("packet length {0} is smaller than the 28-byte minimum")]
    TooShort(u32),
    /// The length word is above the limit.
    #[error("packet length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// Length from the wire (or of the packet being built).
        len: u64,
        /// Limit for header plus payload.
        max: usize,
    },
    /// The header's type word is not a known message type.
    #[error("unknown message type {0}")]
    BadType(i32),
    /// The header's status word is not a known status.
    #[error("unknown message status {0}")]
    BadStatus(i32),
}

/// `virNetMessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Client to server call.
    Call = 0,
    /// Server reply to a call.
    Reply = 1,
    /// Asynchronous message (event, keepalive).
    Message = 2,
    /// Stream data.
    Stream = 3,
    /// Call followed by passed file descriptors.
    CallWithFds = 4,
    /// Reply followed by passed file descriptors.
    ReplyWithFds = 5,
    /// Stream hole (sparse streams).
    StreamHole = 6,
}

impl MessageType {
    /// Parse the wire value.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            0 => Self::Call,
            1 => Self::Reply,
            2 => Self::Message,
            3 => Self::Stream,
            4 => Self::CallWithFds,
            5 => Self::ReplyWithFds,
            6 => Self::StreamHole,
            _ => return None,
        })
    }
}

/// `virNetMessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Success (payload is the return value).
    Ok = 0,
    /// Failure (payload is a `remote_error`).
    Error = 1,
    /// More stream data follows.
    Continue = 2,
}

impl MessageStatus {
    /// Parse the wire value.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            0 => Self::Ok,
            1 => Self::Error,
            2 => Self::Continue,
            _ => return None,
        })
    }
}

/// `virNetMessageHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Program number.
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number within the program.
    pub procedure: i32,
    /// Message type.
    pub message_type: MessageType,
    /// Call serial (copied into replies; 0 for events).
    pub serial: u32,
    /// Status.
    pub status: MessageStatus,
}

impl Header {
    /// The header of a successful reply to `self` (a call).
    pub fn reply(&self, status: MessageStatus) -> Self {
        Self {
            message_type: MessageType::Reply,
            status,
            ..*self
        }
    }

    /// A keepalive message (PING or PONG).
    pub fn keepalive(procedure: i32) -> Self {
        Self {
            program: PROGRAM_KEEPALIVE,
            version: PROTOCOL_VERSION,
            procedure,
            message_type: MessageType::Message,
            serial: 0,
            status: MessageStatus::Ok,
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.program.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.procedure.to_be_bytes());
        out.extend_from_slice(&(self.message_type as i32).to_be_bytes());
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&(self.status as i32).to_be_bytes());
    }

    /// Parse the 24 header bytes, validating the type and status words.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, FrameError> {
        let word = |i: usize| [b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]];
        let t = i32::from_be_bytes(word(3));
        let s = i32::from_be_bytes(word(5));
        Ok(Self {
            program: u32::from_be_bytes(word(0)),
            version: u32::from_be_bytes(word(1)),
            procedure: i32::from_be_bytes(word(2)),
            message_type: MessageType::from_i32(t).ok_or(FrameError::BadType(t))?,
            serial: u32::from_be_bytes(word(4)),
            status: MessageStatus::from_i32(s).ok_or(FrameError::BadStatus(s))?,
        })
    }
}

/// One decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// The payload bytes (not yet decoded).
    pub body: Vec<u8>,
}

/// Build a whole packet (length word included). Fails if header plus body is
/// above `max` (normally [`MESSAGE_MAX`]).
pub fn encode_packet(header: &Header, body: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let inner = HEADER_LEN + body.len();
    if inner > max {
        return Err(FrameError::TooLong {
            len: inner as u64,
            max,
        });
    }
    let total = u32::try_from(LEN_WORD + inner).map_err(|_| FrameError::TooLong {
        len: (LEN_WORD + inner) as u64,
        max,
    })?;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    header.encode_into(&mut out);
    out.extend_from_slice(body);
    Ok(out)
}

/// Check a length word: at least a header, at most `max` bytes after it.
pub fn check_length(len: u32, max: usize) -> Result<usize, FrameError> {
    let len_usize = len as usize;
    if len_usize < LEN_WORD + HEADER_LEN {
        return Err(FrameError::TooShort(len));
    }
    if len_usize - LEN_WORD > max {
        return Err(FrameError::TooLong {
            len: u64::from(len),
            max,
        });
    }
    Ok(len_usize - LEN_WORD)
}

/// Read one packet. `Ok(None)` on a clean EOF between packets.
///
/// The length is validated before the buffer is allocated; the header is
/// validated before the payload is handed out.
pub async fn read_packet<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Packet>, FrameError> {
    let mut len = [0u8; LEN_WORD];
    let mut got = 0;
    while got < LEN_WORD {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::UnexpectedEof)
            };
        }
        got += n;
    }
    let inner = check_length(u32::from_be_bytes(len), max)?;
    let mut hdr = [0u8; HEADER_LEN];
    read_exact(r, &mut hdr).await?;
    let header = Header::decode(&hdr)?;
    let mut body = vec![0u8; inner - HEADER_LEN];
    read_exact(r, &mut body).await?;
    Ok(Some(Packet { header, body }))
}

async fn read_exact<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::UnexpectedEof),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Parse a complete packet held in memory (length word included).
pub fn decode_packet(buf: &[u8], max: usize) -> Result<Packet, FrameError> {
    if buf.len() < LEN_WORD {
        return Err(FrameError::UnexpectedEof);
    }
    let inner = check_length(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]), max)?;
    if buf.len() != LEN_WORD + inner {
        return Err(FrameError::UnexpectedEof);
    }
    let mut hdr = [0u8; HEADER_LEN];
    hdr.copy_from_slice(&buf[LEN_WORD..LEN_WORD + HEADER_LEN]);
    Ok(Packet {
        header: Header::decode(&hdr)?,
        body: buf[LEN_WORD + HEADER_LEN..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_call() -> Vec<u8> {
        // CONNECT_OPEN as virsh sends it (strace'd, in the reference notes).
        let words: [u32; 14] = [
            0x38,
            0x2000_8086,
            1,
            1,
            0,
            2,
            0,
            1,
            14,
            0x71656d75,
            0x3a2f2f2f,
            0x73797374,
            0x656d0000,
            0,
        ];
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn decodes_a_real_connect_open() {
        let p = decode_packet(&open_call(), MESSAGE_MAX).unwrap();
        assert_eq!(p.header.program, PROGRAM_REMOTE);
        assert_eq!(p.header.procedure, 1);
        assert_eq!(p.header.message_type, MessageType::Call);
        assert_eq!(p.header.serial, 2);
        assert_eq!(p.header.status, MessageStatus::Ok);
        assert_eq!(p.body.len(), 56 - 28);
        let again = encode_packet(&p.header, &p.body, MESSAGE_MAX).unwrap();
        assert_eq!(again, open_call());
    }

    #[test]
    fn reply_is_28_bytes() {
        let p = decode_packet(&open_call(), MESSAGE_MAX).unwrap();
        let r = encode_packet(&p.header.reply(MessageStatus::Ok), &[], MESSAGE_MAX).unwrap();
        assert_eq!(r.len(), 28);
        assert_eq!(&r[..4], &[0, 0, 0, 28]);
        assert_eq!(&r[16..20], &[0, 0, 0, 1]);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(matches!(
            check_length(27, MESSAGE_MAX),
            Err(FrameError::TooShort(27))
        ));
        assert!(check_length(28, MESSAGE_MAX).is_ok());
        assert!(check_length((MESSAGE_MAX + 4) as u32, MESSAGE_MAX).is_ok());
        assert!(matches!(
            check_length((MESSAGE_MAX + 5) as u32, MESSAGE_MAX),
            Err(FrameError::TooLong { .. })
        ));
        assert!(matches!(
            check_length(u32::MAX, MESSAGE_MAX),
            Err(FrameError::TooLong { .. })
        ));
        let h = Header::keepalive(KEEPALIVE_PING);
        assert!(encode_packet(&h, &[0u8; 100], 100).is_err());
    }

    #[test]
    fn bad_header_words() {
        let mut b = open_call();
        b[16..20].copy_from_slice(&9i32.to_be_bytes());
        assert!(matches!(
            decode_packet(&b, MESSAGE_MAX),
            Err(FrameError::BadType(9))
        ));
        let mut b = open_call();
        b[24..28].copy_from_slice(&7i32.to_be_bytes());
        assert!(matches!(
            decode_packet(&b, MESSAGE_MAX),
            Err(FrameError::BadStatus(7))
        ));
    }

    #[tokio::test]
    async fn async_reader_handles_eof_and_huge_lengths() {
        let mut empty: &[u8] = &[];
        assert!(
            read_packet(&mut empty, MESSAGE_MAX)
                .await
                .unwrap()
                .is_none()
        );
        let mut partial: &[u8] = &[0, 0];
        assert!(matches!(
            read_packet(&mut partial, MESSAGE_MAX).await,
            Err(FrameError::UnexpectedEof)
        ));
        // 4 GiB length followed by nothing: refused without allocating.
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_packet(&mut huge, MESSAGE_MAX).await,
            Err(FrameError::TooLong { .. })
        ));
        let buf = open_call();
        let mut two: Vec<u8> = buf.clone();
        two.extend_from_slice(&buf);
        let mut rd: &[u8] = &two;
        assert!(read_packet(&mut rd, MESSAGE_MAX).await.unwrap().is_some());
        assert!(read_packet(&mut rd, MESSAGE_MAX).await.unwrap().is_some());
        assert!(read_packet(&mut rd, MESSAGE_MAX).await.unwrap().is_none());
        let mut cut: &[u8] = &buf[..40];
        assert!(matches!(
            read_packet(&mut cut, MESSAGE_MAX).await,
            Err(FrameError::UnexpectedEof)
        ));
    }

    #[test]
    fn keepalive_header_is_message_type() {
        let b = encode_packet(&Header::keepalive(KEEPALIVE_PONG), &[], MESSAGE_MAX).unwrap();
        assert_eq!(b.len(), 28);
        let p = decode_packet(&b, MESSAGE_MAX).unwrap();
        assert_eq!(p.header.program, PROGRAM_KEEPALIVE);
        assert_eq!(p.header.message_type, MessageType::Message);
        assert_eq!(p.header.procedure, KEEPALIVE_PONG);
    }
}
