//! A minimal synchronous QMP client for tests.
//!
//! Not the project's QMP client: no async, no schema, only what a test needs to drive a
//! VM and look at its events.  Every blocking operation has a deadline.

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long [`Qmp::execute`] waits for a reply.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger messages are treated as a protocol error instead of filling memory.
const MAX_MESSAGE: usize = 64 << 20;

/// Errors of the test QMP client.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// Reading from or writing to the socket failed.
    #[error("QMP I/O error: {0}")]
    Io(#[from] io::Error),
    /// QEMU closed the connection (usually: it exited).
    #[error("QMP connection closed by QEMU")]
    Closed,
    /// Nothing suitable arrived in time.
    #[error("QMP: timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
    },
    /// QEMU sent something that is not QMP.
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    /// The command was answered with an error.
    #[error("QMP command '{command}' failed: {class}: {desc}")]
    Command {
        /// The command that failed.
        command: String,
        /// QMP's error class, e.g. `GenericError`.
        class: String,
        /// QEMU's description.
        desc: String,
    },
}

/// A negotiated QMP connection (greeting read, `qmp_capabilities` done).
///
/// Events that arrive while waiting for a reply are kept: [`Qmp::events`] has every
/// event seen so far, [`Qmp::wait_event`] takes them by name.
#[derive(Debug)]
pub struct Qmp {
    stream: UnixStream,
    buf: Vec<u8>,
    greeting: Value,
    events: Vec<Value>,
    /// Indices into `events` not yet returned by `wait_event`.
    pending: VecDeque<usize>,
    next_id: u64,
    closed: bool,
}

impl Qmp {
    /// Connects to the QMP socket at `path`, retrying until it exists and accepts (QEMU
    /// creates it shortly after starting), then reads the greeting and negotiates
    /// capabilities, all within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => {
                    return Err(QmpError::Timeout {
                        what: format!("QMP socket {}", path.display()),
                        timeout,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut qmp = Qmp {
            stream,
            buf: Vec::new(),
            greeting: Value::Null,
            events: Vec::new(),
            pending: VecDeque::new(),
            next_id: 1,
            closed: false,
        };
        let greeting = qmp.read_message(deadline, "the QMP greeting", timeout)?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!(
                "expected a greeting, got {greeting}"
            )));
        }
        qmp.greeting = greeting;
        qmp.execute_with_timeout(
            "qmp_capabilities",
            None,
            deadline.saturating_duration_since(Instant::now()),
        )?;
        Ok(qmp)
    }

    /// The greeting QEMU sent (`{"QMP": {"version": ..., "capabilities": ...}}`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// Runs `command` with optional `arguments` and returns its `return` value, waiting
    /// at most [`DEFAULT_COMMAND_TIMEOUT`].
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        self.execute_with_timeout(command, arguments, DEFAULT_COMMAND_TIMEOUT)
    }

    /// Like [`Qmp::execute`] with an explicit timeout.
    pub fn execute_with_timeout(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        if self.closed {
            return Err(QmpError::Closed);
        }
        let deadline = Instant::now() + timeout;
        let id = format!("testkit-{}", self.next_id);
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.stream
            .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        if let Err(e) = self.stream.write_all(line.as_bytes()) {
            return Err(match e.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    self.closed = true;
                    QmpError::Closed
                }
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => QmpError::Timeout {
                    what: format!("sending '{command}'"),
                    timeout,
                },
                _ => e.into(),
            });
        }

        let what = format!("the reply to '{command}'");
        loop {
            let msg = self.read_message(deadline, &what, timeout)?;
            if msg.get("event").is_some() {
                self.push_event(msg);
                continue;
            }
            // QEMU answers a request it could not parse without an id.
            let ours = match msg.get("id") {
                Some(v) => v.as_str() == Some(id.as_str()),
                None => true,
            };
            if !ours {
                continue;
            }
            if let Some(ret) = msg.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = msg.get("error") {
                let field = |name: &str| {
                    err.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                };
                return Err(QmpError::Command {
                    command: command.to_owned(),
                    class: field("class"),
                    desc: field("desc"),
                });
            }
            return Err(QmpError::Protocol(format!("unexpected message {msg}")));
        }
    }

    /// Waits up to `timeout` for an event named `name` (e.g. `"SHUTDOWN"`) and returns
    /// the whole event object.  Events that already arrived count; each event is
    /// returned at most once.  Other events are kept for later calls.
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Value, QmpError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.take_pending(name) {
                return Ok(event);
            }
            if self.closed {
                return Err(QmpError::Closed);
            }
            let msg = self.read_message(deadline, &format!("event {name}"), timeout)?;
            if msg.get("event").is_some() {
                self.push_event(msg);
            }
        }
    }

    /// Reads whatever arrives within `timeout` and stores the events.  Returns `Ok` on
    /// timeout and [`QmpError::Closed`] once QEMU has closed the connection; use it to
    /// collect the last events after QEMU exited.
    pub fn poll_events(&mut self, timeout: Duration) -> Result<(), QmpError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.closed {
                return Err(QmpError::Closed);
            }
            match self.read_message(deadline, "events", timeout) {
                Ok(msg) => {
                    if msg.get("event").is_some() {
                        self.push_event(msg);
                    }
                }
                Err(QmpError::Timeout { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Every event received so far, oldest first.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Whether QEMU closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn push_event(&mut self, event: Value) {
        self.pending.push_back(self.events.len());
        self.events.push(event);
    }

    fn take_pending(&mut self, name: &str) -> Option<Value> {
        let pos = self
            .pending
            .iter()
            .position(|&i| self.events[i].get("event").and_then(Value::as_str) == Some(name))?;
        let index = self.pending.remove(pos)?;
        Some(self.events[index].clone())
    }

    /// Reads one JSON message (QMP messages end with a newline).
    fn read_message(
        &mut self,
        deadline: Instant,
        what: &str,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return serde_json::from_str(text).map_err(|e| {
                    QmpError::Protocol(format!("invalid JSON from QEMU ({e}): {text}"))
                });
            }
            if self.closed {
                return Err(QmpError::Closed);
            }
            if self.buf.len() > MAX_MESSAGE {
                return Err(QmpError::Protocol(format!(
                    "message longer than {MAX_MESSAGE} bytes"
                )));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(QmpError::Timeout {
                    what: what.to_owned(),
                    timeout,
                });
            }
            self.stream.set_read_timeout(Some(remaining))?;
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {}
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::ConnectionReset => self.closed = true,
                    _ => return Err(e.into()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::net::UnixListener;

    /// A scripted fake QEMU: sends the greeting, then answers each request line with
    /// the given responses (`ID` is replaced by the request's id).
    fn fake_qemu(dir: &Path, script: Vec<Vec<&'static str>>) -> thread::JoinHandle<()> {
        let path = dir.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            for replies in script {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    return;
                }
                let req: Value = serde_json::from_str(&line).unwrap();
                let id = req["id"].to_string();
                for reply in replies {
                    stream
                        .write_all(format!("{}\r\n", reply.replace("ID", &id)).as_bytes())
                        .unwrap();
                }
            }
        })
    }

    #[test]
    fn execute_events_and_errors() {
        let dir = crate::test_dir();
        let server = fake_qemu(
            dir.path(),
            vec![
                vec![r#"{"return": {}, "id": ID}"#],
                vec![
                    r#"{"event": "POWERDOWN", "data": {}}"#,
                    r#"{"return": {}, "id": ID}"#,
                    r#"{"event": "SHUTDOWN", "data": {"guest": true}}"#,
                ],
                vec![r#"{"error": {"class": "CommandNotFound", "desc": "nope"}, "id": ID}"#],
            ],
        );
        let mut qmp = Qmp::connect(&dir.path().join("qmp.sock"), Duration::from_secs(5)).unwrap();
        assert!(qmp.greeting().get("QMP").is_some());
        qmp.execute("system_powerdown", None).unwrap();
        assert_eq!(qmp.events().len(), 1);
        let shutdown = qmp.wait_event("SHUTDOWN", Duration::from_secs(5)).unwrap();
        assert_eq!(shutdown["data"]["guest"], json!(true));
        let pd = qmp.wait_event("POWERDOWN", Duration::from_secs(5)).unwrap();
        assert_eq!(pd["event"], "POWERDOWN");
        match qmp.execute("bogus", Some(json!({"a": 1}))) {
            Err(QmpError::Command { class, .. }) => assert_eq!(class, "CommandNotFound"),
            other => panic!("unexpected {other:?}"),
        }
        server.join().unwrap();
        assert!(matches!(
            qmp.wait_event("RESET", Duration::from_secs(5)),
            Err(QmpError::Closed)
        ));
        assert!(qmp.is_closed());
    }

    #[test]
    fn timeouts_do_not_hang() {
        let dir = crate::test_dir();
        // Answers capabilities, then never replies.
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"{\"QMP\": {}}\n").unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            stream.write_all(b"{\"return\": {}}\n").unwrap();
            // Swallow requests without answering until the client hangs up.
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
            }
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        let start = Instant::now();
        let err = qmp
            .execute_with_timeout("query-status", None, Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, QmpError::Timeout { .. }), "{err}");
        assert!(
            qmp.wait_event("SHUTDOWN", Duration::from_millis(200))
                .is_err()
        );
        qmp.poll_events(Duration::from_millis(50)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(qmp);
        server.join().unwrap();
    }

    #[test]
    fn connect_times_out_without_socket() {
        let dir = crate::test_dir();
        let start = Instant::now();
        let err =
            Qmp::connect(&dir.path().join("absent.sock"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, QmpError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
