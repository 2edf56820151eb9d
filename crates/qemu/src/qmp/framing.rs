//! Incremental framing of the QMP byte stream into JSON values.
//!
//! QEMU terminates every message with `\r\n` and never puts a raw newline
//! inside one, so the framer only attempts a parse when a newline arrives (or
//! at end of stream). That keeps the cost linear in the input even for large
//! messages that trickle in over many reads. Peers that pretty-print (newlines
//! inside a value) or terminate with a bare `\n` are handled too: an
//! incomplete parse simply waits for the next newline. Small messages without
//! any terminator are delivered as soon as they are complete.

use serde_json::Value;

/// Messages without a trailing newline are only re-parsed speculatively while
/// they are this small, so a huge unterminated message can't cause quadratic
/// re-parsing.
const SPECULATIVE_PARSE_LIMIT: usize = 64 * 1024;

/// Why the byte stream could not be split into JSON messages.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A single message exceeded the configured bound.
    #[error("QMP message exceeds the {limit}-byte limit")]
    TooLarge {
        /// The configured bound in bytes.
        limit: usize,
    },
    /// The peer sent bytes that are not JSON.
    #[error("malformed JSON from peer: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The stream ended in the middle of a message.
    #[error("stream ended inside a message ({0} bytes pending)")]
    Truncated(usize),
}

/// Splits a byte stream into JSON values, bounding the memory held for any
/// single message.
#[derive(Debug)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte.
    start: usize,
    /// Everything in `buf[start..scan]` is known to hold no complete message.
    scan: usize,
    max: usize,
}

impl Framer {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            max,
        }
    }

    /// Bytes buffered but not yet returned as a message.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends freshly read bytes.
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn skip_whitespace(&mut self) {
        while self.start < self.buf.len() && self.buf[self.start].is_ascii_whitespace() {
            self.start += 1;
        }
        if self.scan < self.start {
            self.scan = self.start;
        }
    }

    fn check_size(&self, len: usize) -> Result<(), FrameError> {
        if len > self.max {
            Err(FrameError::TooLarge { limit: self.max })
        } else {
            Ok(())
        }
    }

    /// Tries to parse one value at `start` from `buf[start..end]`.
    /// `Ok(None)` means the value continues past `end`.
    fn parse_segment(&mut self, end: usize) -> Result<Option<Value>, FrameError> {
        let mut it =
            serde_json::Deserializer::from_slice(&self.buf[self.start..end]).into_iter::<Value>();
        match it.next() {
            None => {
                // Whitespace only: nothing to return, skip it.
                self.start = end;
                self.scan = end;
                Ok(None)
            }
            Some(Ok(v)) => {
                let used = it.byte_offset();
                self.check_size(used)?;
                self.start += used;
                self.scan = self.start;
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(FrameError::Syntax(e)),
        }
    }

    /// Returns the next complete message, `Ok(None)` if more input is needed.
    pub(crate) fn next_value(&mut self) -> Result<Option<Value>, FrameError> {
        loop {
            self.skip_whitespace();
            let len = self.buf.len();
            if self.start == len {
                return Ok(None);
            }
            match self.buf[self.scan..].iter().position(|&b| b == b'\n') {
                Some(p) => {
                    let end = self.scan + p + 1;
                    let before = self.start;
                    if let Some(v) = self.parse_segment(end)? {
                        return Ok(Some(v));
                    }
                    if self.start == before {
                        // Incomplete: the message spans this newline.
                        self.check_size(end - self.start)?;
                        self.scan = end;
                    }
                }
                None => {
                    self.scan = len;
                    let pending = len - self.start;
                    self.check_size(pending)?;
                    let ends_like_object = self.buf[..len]
                        .iter()
                        .rev()
                        .find(|b| !b.is_ascii_whitespace())
                        .is_some_and(|&b| b == b'}' || b == b']');
                    if pending <= SPECULATIVE_PARSE_LIMIT && ends_like_object {
                        return self.parse_segment(len);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Called at end of stream: returns a final unterminated message if there
    /// is one, and fails if a partial message is left over.
    pub(crate) fn finish(&mut self) -> Result<Option<Value>, FrameError> {
        self.skip_whitespace();
        if self.start == self.buf.len() {
            return Ok(None);
        }
        let len = self.buf.len();
        match self.parse_segment(len)? {
            Some(v) => Ok(Some(v)),
            None => Err(FrameError::Truncated(self.pending())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn drain(f: &mut Framer) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = f.next_value().expect("frame") {
            out.push(v);
        }
        out
    }

    #[test]
    fn crlf_and_lf_terminated() {
        let mut f = Framer::new(1024);
        f.push(b"{\"a\":1}\r\n{\"b\":2}\n");
        assert_eq!(drain(&mut f), vec![json!({"a":1}), json!({"b":2})]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn split_across_pushes_byte_by_byte() {
        let msg = b"{\"return\": {\"status\": \"running\"}, \"id\": 7}\r\n{\"event\":\"STOP\"}\r\n";
        let mut f = Framer::new(1024);
        let mut out = Vec::new();
        for b in msg {
            f.push(std::slice::from_ref(b));
            out.extend(drain(&mut f));
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["id"], 7);
        assert_eq!(out[1]["event"], "STOP");
    }

    #[test]
    fn several_values_on_one_line() {
        let mut f = Framer::new(1024);
        f.push(b"{\"a\":1} {\"b\":2}{\"c\":3}\n");
        assert_eq!(drain(&mut f).len(), 3);
    }

    #[test]
    fn pretty_printed_multiline_value() {
        let mut f = Framer::new(1024);
        f.push(b"{\n  \"a\": [\n 1,\n 2\n ],\n");
        assert!(drain(&mut f).is_empty());
        f.push(b"  \"b\": \"x\\ny\"\n}\n");
        assert_eq!(drain(&mut f), vec![json!({"a":[1,2],"b":"x\ny"})]);
    }

    #[test]
    fn unterminated_small_message_is_delivered() {
        let mut f = Framer::new(1024);
        f.push(b"{\"a\":1}");
        assert_eq!(drain(&mut f), vec![json!({"a":1})]);
    }

    #[test]
    fn garbage_is_a_syntax_error() {
        let mut f = Framer::new(1024);
        f.push(b"hello world\n");
        assert!(matches!(f.next_value(), Err(FrameError::Syntax(_))));
    }

    #[test]
    fn oversized_line_without_newline() {
        let mut f = Framer::new(100);
        f.push(&[b'x'; 101]);
        assert!(matches!(
            f.next_value(),
            Err(FrameError::TooLarge { limit: 100 })
        ));
    }

    #[test]
    fn oversized_message_spanning_lines() {
        let mut f = Framer::new(100);
        f.push(b"{\"a\":\n");
        assert!(drain(&mut f).is_empty());
        let mut long = b"\"".to_vec();
        long.extend_from_slice(&[b'y'; 200]);
        long.extend_from_slice(b"\"}\n");
        f.push(&long);
        assert!(matches!(f.next_value(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn message_at_the_limit_is_fine() {
        let body = format!("{{\"s\":\"{}\"}}", "z".repeat(50));
        let mut f = Framer::new(body.len());
        f.push(body.as_bytes());
        f.push(b"\r\n");
        assert_eq!(drain(&mut f).len(), 1);
    }

    #[test]
    fn truncated_at_eof() {
        let mut f = Framer::new(1024);
        f.push(b"{\"return\": {\"a\"");
        assert!(drain(&mut f).is_empty());
        assert!(matches!(f.finish(), Err(FrameError::Truncated(_))));
    }

    #[test]
    fn finish_delivers_tail_and_accepts_whitespace() {
        let mut f = Framer::new(1024);
        f.push(b"  42  ");
        assert!(drain(&mut f).is_empty());
        assert_eq!(f.finish().expect("tail"), Some(json!(42)));
        assert_eq!(f.finish().expect("empty"), None);
    }

    #[test]
    fn memory_is_reclaimed_between_messages() {
        let mut f = Framer::new(1 << 20);
        for _ in 0..1000 {
            f.push(b"{\"event\":\"X\",\"data\":{}}\r\n");
            assert_eq!(drain(&mut f).len(), 1);
        }
        f.push(b"");
        assert!(f.buf.len() < 64);
    }
}
