//! Client tests against an in-process fake QMP server.

use super::*;
use serde_json::json;
use std::io::{Read, Seek, Write};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2"}, "capabilities": ["oob"]}}"#;

/// The server end of a socketpair, speaking line-framed JSON.
struct Fake {
    io: BufReader<UnixStream>,
}

impl Fake {
    async fn send_raw(&mut self, data: &[u8]) {
        self.io.get_mut().write_all(data).await.expect("fake write");
    }

    async fn send(&mut self, v: &Value) {
        let mut s = v.to_string();
        s.push_str("\r\n");
        self.send_raw(s.as_bytes()).await;
    }

    /// Next command from the client; `None` at EOF.
    async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = self.io.read_line(&mut line).await.expect("fake read");
        (n > 0).then(|| serde_json::from_str(&line).expect("client sent JSON"))
    }

    async fn expect(&mut self, command: &str) -> Value {
        let cmd = self.recv().await.expect("a command");
        assert_eq!(cmd["execute"], command, "unexpected command {cmd}");
        cmd
    }

    async fn reply(&mut self, cmd: &Value, ret: Value) {
        self.send(&json!({"return": ret, "id": cmd["id"]})).await;
    }

    async fn handshake(&mut self) {
        self.send_raw(GREETING.as_bytes()).await;
        self.send_raw(b"\r\n").await;
        let cmd = self.expect("qmp_capabilities").await;
        assert!(cmd["id"].is_u64(), "commands carry an id: {cmd}");
        self.reply(&cmd, json!({})).await;
    }
}

fn pair() -> (UnixStream, Fake) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    (
        a,
        Fake {
            io: BufReader::new(b),
        },
    )
}

fn small_config() -> QmpConfig {
    QmpConfig {
        command_timeout: Duration::from_secs(5),
        max_message_size: 4096,
        max_queued_events: 100,
    }
}

async fn connected(config: QmpConfig) -> (QmpClient, QmpEvents, Fake) {
    let (a, mut fake) = pair();
    let server = async {
        fake.handshake().await;
        fake
    };
    let (client, fake) = tokio::join!(QmpClient::from_stream(a, config), server);
    let (client, events) = client.expect("handshake");
    (client, events, fake)
}

#[tokio::test]
async fn handshake_keeps_greeting_and_commands_return_values() {
    let (client, _events, mut fake) = connected(small_config()).await;
    assert_eq!(
        client.greeting().version,
        QemuVersion {
            major: 7,
            minor: 2,
            micro: 22
        }
    );
    assert_eq!(client.greeting().package, "Debian 1:7.2");
    assert_eq!(client.greeting().capabilities, vec!["oob".to_owned()]);

    let server = async {
        let cmd = fake.expect("query-status").await;
        assert!(cmd.get("arguments").is_none());
        fake.reply(&cmd, json!({"status": "prelaunch", "running": false}))
            .await;
        let cmd = fake.expect("human-monitor-command").await;
        assert_eq!(cmd["arguments"], json!({"command-line": "info version"}));
        fake.reply(&cmd, json!("7.2.22\r\n")).await;
    };
    let client_side = async {
        #[derive(Deserialize)]
        struct Status {
            status: String,
            running: bool,
        }
        let st: Status = client
            .execute_as("query-status", None)
            .await
            .expect("query-status");
        assert_eq!(st.status, "prelaunch");
        assert!(!st.running);
        let v = client
            .execute(
                "human-monitor-command",
                Some(json!({"command-line": "info version"})),
            )
            .await
            .expect("hmp");
        assert_eq!(v, json!("7.2.22\r\n"));
    };
    tokio::join!(server, client_side);
}

#[tokio::test]
async fn error_reply_is_typed() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let server = async {
        let cmd = fake.expect("bogus").await;
        fake.send(&json!({"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}, "id": cmd["id"]}))
            .await;
    };
    let (res, ()) = tokio::join!(client.execute("bogus", None), server);
    match res {
        Err(QmpError::Command {
            command,
            class,
            desc,
        }) => {
            assert_eq!(command, "bogus");
            assert_eq!(class, "CommandNotFound");
            assert_eq!(desc, "The command bogus has not been found");
        }
        other => panic!("expected a command error, got {other:?}"),
    }
}

#[tokio::test]
async fn concurrent_commands_matched_by_id_out_of_order() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let n = 20;
    let server = async {
        let mut cmds = Vec::new();
        for _ in 0..n {
            cmds.push(fake.recv().await.expect("command"));
        }
        let ids: std::collections::HashSet<_> =
            cmds.iter().map(|c| c["id"].as_u64().expect("id")).collect();
        assert_eq!(ids.len(), n, "ids are unique");
        // Answer in reverse order, echoing the argument.
        for cmd in cmds.iter().rev() {
            fake.reply(cmd, cmd["arguments"]["n"].clone()).await;
        }
    };
    let calls = async {
        let futs = (0..n).map(|i| {
            let c = client.clone();
            tokio::spawn(async move { (i, c.execute("echo", Some(json!({"n": i}))).await) })
        });
        for f in futs.collect::<Vec<_>>() {
            let (i, res) = f.await.expect("task");
            assert_eq!(res.expect("reply"), json!(i));
        }
    };
    tokio::join!(server, calls);
}

#[tokio::test]
async fn events_are_delivered_raw_and_stream_ends_on_eof() {
    let (client, mut events, mut fake) = connected(small_config()).await;
    fake.send(&json!({"event": "STOP", "timestamp": {"seconds": 1700000000, "microseconds": 5}}))
        .await;
    fake.send(&json!({"event": "SOME_FUTURE_EVENT", "data": {"weird": [1, {"x": null}]}, "timestamp": {"seconds": 1, "microseconds": 2}}))
        .await;
    let e = events.recv().await.expect("STOP");
    assert_eq!(e.name, "STOP");
    assert_eq!(e.data, json!({}));
    assert_eq!(
        e.timestamp,
        Some(EventTimestamp {
            seconds: 1_700_000_000,
            microseconds: 5
        })
    );
    let e = events.recv().await.expect("future event");
    assert_eq!(e.name, "SOME_FUTURE_EVENT");
    assert_eq!(e.data, json!({"weird": [1, {"x": null}]}));
    drop(fake);
    assert!(events.recv().await.is_none(), "event stream ends at EOF");
    assert_eq!(client.closed().await, DisconnectReason::Eof);
    assert!(!client.is_connected());
}

#[tokio::test]
async fn eof_fails_pending_and_later_commands() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let server = async {
        fake.expect("quit").await;
        // QEMU exits without replying.
        drop(fake);
    };
    let (res, ()) = tokio::join!(client.execute("quit", None), server);
    let err = res.expect_err("no reply");
    assert!(err.is_eof(), "{err:?}");
    let err = client
        .execute("query-status", None)
        .await
        .expect_err("closed");
    assert!(err.is_eof(), "{err:?}");
}

#[tokio::test]
async fn timeout_then_late_reply_is_ignored() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let res = client
        .execute_timeout("slow", None, Duration::from_millis(50))
        .await;
    assert!(
        matches!(&res, Err(QmpError::Timeout { command, .. }) if command == "slow"),
        "{res:?}"
    );
    let slow = fake.expect("slow").await;
    fake.reply(&slow, json!("late")).await;
    let server = async {
        let cmd = fake.expect("fast").await;
        fake.reply(&cmd, json!("ok")).await;
    };
    let (res, ()) = tokio::join!(client.execute("fast", None), server);
    assert_eq!(res.expect("fast"), json!("ok"));
    assert!(client.inner.shared.lock().pending.is_empty());
}

#[tokio::test]
async fn cancelled_command_leaves_stream_and_map_clean() {
    let (client, _events, mut fake) = connected(small_config()).await;
    // Drop the command future right after it was queued.
    let fut = client.execute("cancelled", Some(json!({"big": "x".repeat(1000)})));
    tokio::select! {
        biased;
        _ = fut => panic!("no reply was sent"),
        () = tokio::task::yield_now() => {}
    }
    assert!(client.inner.shared.lock().pending.is_empty());
    // The command still went out whole, and the next one works.
    let c = fake.expect("cancelled").await;
    assert_eq!(c["arguments"]["big"].as_str().map(str::len), Some(1000));
    let server = async {
        let cmd = fake.expect("next").await;
        fake.reply(&cmd, json!(1)).await;
    };
    let (res, ()) = tokio::join!(client.execute("next", None), server);
    assert_eq!(res.expect("next"), json!(1));
}

#[tokio::test]
async fn unknown_ids_and_unrecognised_messages_are_ignored() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let server = async {
        let cmd = fake.expect("x").await;
        fake.send(&json!({"return": {}, "id": 999_999})).await;
        fake.send(&json!({"return": {}, "id": "not-a-number"}))
            .await;
        fake.send(&json!({"return": {}})).await;
        fake.send(&json!({"error": {"class": "GenericError", "desc": "JSON parse error"}}))
            .await;
        fake.send(&json!({"something": "else"})).await;
        fake.send(&json!({"QMP": {}})).await;
        fake.reply(&cmd, json!("mine")).await;
    };
    let (res, ()) = tokio::join!(client.execute("x", None), server);
    assert_eq!(res.expect("x"), json!("mine"));
    assert!(client.is_connected());
}

async fn expect_protocol_close(data: &[u8], config: QmpConfig) -> DisconnectReason {
    let (client, mut events, mut fake) = connected(config).await;
    let server = async {
        fake.expect("victim").await;
        fake.send_raw(data).await;
        fake
    };
    let (res, _fake) = tokio::join!(client.execute("victim", None), server);
    let err = res.expect_err("connection must close");
    let QmpError::Disconnected(reason) = err else {
        panic!("expected Disconnected, got {err:?}")
    };
    assert!(events.recv().await.is_none());
    assert_eq!(client.closed().await, reason);
    let later = client.execute("after", None).await.expect_err("closed");
    assert!(later.is_disconnected());
    reason
}

#[tokio::test]
async fn garbage_closes_the_connection() {
    let r = expect_protocol_close(b"this is not json\r\n", small_config()).await;
    assert!(matches!(r, DisconnectReason::Protocol(_)), "{r:?}");
}

#[tokio::test]
async fn non_object_json_closes_the_connection() {
    for data in [&b"[1,2,3]\r\n"[..], b"42\r\n", b"\"str\"\r\n", b"null\r\n"] {
        let r = expect_protocol_close(data, small_config()).await;
        assert!(
            matches!(&r, DisconnectReason::Protocol(m) if m.contains("object")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn truncated_json_at_eof_is_a_protocol_error() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let server = async {
        fake.expect("victim").await;
        fake.send_raw(br#"{"return": {"status": "runn"#).await;
        drop(fake);
    };
    let (res, ()) = tokio::join!(client.execute("victim", None), server);
    match res {
        Err(QmpError::Disconnected(DisconnectReason::Protocol(m))) => {
            assert!(m.contains("ended inside"), "{m}")
        }
        other => panic!("expected truncation error, got {other:?}"),
    }
}

#[tokio::test]
async fn huge_line_is_bounded() {
    let mut huge = br#"{"return": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    let r = expect_protocol_close(&huge, small_config()).await;
    assert_eq!(r, DisconnectReason::MessageTooLarge { limit: 4096 });
}

#[tokio::test]
async fn large_message_below_the_bound_is_fine() {
    let config = QmpConfig {
        max_message_size: 4 << 20,
        ..small_config()
    };
    let (client, _events, mut fake) = connected(config).await;
    let big = "b".repeat(3 << 20);
    let server = async {
        let cmd = fake.expect("big").await;
        fake.reply(&cmd, json!(big)).await;
    };
    let (res, ()) = tokio::join!(client.execute("big", None), server);
    assert_eq!(res.expect("big").as_str().map(str::len), Some(3 << 20));
}

#[tokio::test]
async fn greeting_problems() {
    // Not a greeting.
    let (a, mut fake) = pair();
    fake.send_raw(b"{\"return\": {}}\r\n").await;
    let err = QmpClient::from_stream(a, small_config())
        .await
        .expect_err("bad greeting");
    assert!(matches!(err, QmpError::Greeting(_)), "{err:?}");

    // EOF before any greeting.
    let (a, fake) = pair();
    drop(fake);
    let err = QmpClient::from_stream(a, small_config())
        .await
        .expect_err("eof");
    assert!(err.is_eof(), "{err:?}");

    // Silence.
    let (a, _fake) = pair();
    let config = QmpConfig {
        command_timeout: Duration::from_millis(50),
        ..small_config()
    };
    let err = QmpClient::from_stream(a, config)
        .await
        .expect_err("timeout");
    assert!(
        matches!(&err, QmpError::Timeout { command, .. } if command == "<greeting>"),
        "{err:?}"
    );

    // Capabilities negotiation refused.
    let (a, mut fake) = pair();
    let server = async {
        fake.send_raw(GREETING.as_bytes()).await;
        fake.send_raw(b"\n").await;
        let cmd = fake.expect("qmp_capabilities").await;
        fake.send(&json!({"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}, "id": cmd["id"]})).await;
    };
    let (res, ()) = tokio::join!(QmpClient::from_stream(a, small_config()), server);
    assert_eq!(res.expect_err("refused").class(), Some("CommandNotFound"));
}

#[tokio::test]
async fn connect_by_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mon.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let server = async {
        let (s, _) = listener.accept().await.expect("accept");
        let mut fake = Fake {
            io: BufReader::new(s),
        };
        fake.handshake().await;
        fake
    };
    let (res, _fake) = tokio::join!(QmpClient::connect(&path, small_config()), server);
    let (client, _events) = res.expect("connect");
    assert_eq!(client.greeting().version.major, 7);

    let err = QmpClient::connect(dir.path().join("missing.sock"), small_config())
        .await
        .expect_err("no socket");
    assert!(matches!(err, QmpError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_requests_send_nothing() {
    let (client, _events, _fake) = connected(small_config()).await;
    let err = client
        .execute("x", Some(json!([1])))
        .await
        .expect_err("array args");
    assert!(matches!(err, QmpError::InvalidRequest { .. }), "{err:?}");
    let f = tempfile::tempfile().expect("tempfile");
    let fds = vec![f.as_fd(); MAX_FDS_PER_MESSAGE + 1];
    let err = client
        .execute_with_fds("getfd", None, &fds)
        .await
        .expect_err("too many fds");
    assert!(matches!(err, QmpError::InvalidRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn dropping_the_client_closes_the_socket() {
    let (client, mut events, mut fake) = connected(small_config()).await;
    drop(client);
    assert!(fake.recv().await.is_none(), "server sees EOF");
    assert!(events.recv().await.is_none());
}

/// Receives one message with its descriptors on the fake server end.
async fn recv_with_fds(stream: &UnixStream) -> (Vec<u8>, Vec<OwnedFd>) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    loop {
        stream.readable().await.expect("readable");
        let mut data = vec![0u8; 4096];
        let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let res = stream.try_io(Interest::READABLE, || {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let msg = rustix::net::recvmsg(
                stream,
                &mut [io::IoSliceMut::new(&mut data)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )?;
            let mut fds = Vec::new();
            for m in control.drain() {
                if let RecvAncillaryMessage::ScmRights(r) = m {
                    fds.extend(r);
                }
            }
            Ok((msg.bytes, fds))
        });
        match res {
            Ok((n, fds)) => {
                data.truncate(n);
                return (data, fds);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("recvmsg: {e}"),
        }
    }
}

#[tokio::test]
async fn fds_travel_with_the_command_bytes() {
    let (client, _events, mut fake) = connected(small_config()).await;
    let mut file = tempfile::tempfile().expect("tempfile");
    file.write_all(b"hello").expect("write");
    let server = async {
        let (bytes, fds) = recv_with_fds(fake.io.get_ref()).await;
        let cmd: Value = serde_json::from_slice(&bytes).expect("whole command in one message");
        assert_eq!(cmd["execute"], "getfd");
        assert_eq!(cmd["arguments"]["fdname"], "f0");
        assert_eq!(fds.len(), 1);
        let mut received = std::fs::File::from(fds.into_iter().next().expect("fd"));
        received.rewind().expect("seek");
        let mut s = String::new();
        received.read_to_string(&mut s).expect("read");
        assert_eq!(s, "hello");
        fake.reply(&cmd, json!({})).await;
    };
    let fds = [file.as_fd()];
    let (res, ()) = tokio::join!(
        client.execute_with_fds("getfd", Some(json!({"fdname": "f0"})), &fds),
        server
    );
    res.expect("getfd");
    // Our own descriptor is untouched.
    file.write_all(b"!").expect("still usable");
}

#[tokio::test]
async fn unreceived_events_are_bounded() {
    let (client, mut events, mut fake) = connected(small_config()).await;
    // Received events free their slot.
    for _ in 0..250 {
        fake.send(&json!({"event": "RTC_CHANGE", "data": {"offset": 1}}))
            .await;
        assert_eq!(events.recv().await.expect("event").name, "RTC_CHANGE");
    }
    assert!(client.is_connected());
    // A flood nobody receives closes the connection.
    for _ in 0..150 {
        fake.send(&json!({"event": "RTC_CHANGE", "data": {"offset": 1}}))
            .await;
    }
    assert_eq!(
        client.closed().await,
        DisconnectReason::EventQueueFull { limit: 100 }
    );
    // What was queued is still delivered, then the stream ends.
    let mut n = 0;
    while events.recv().await.is_some() {
        n += 1;
    }
    assert_eq!(n, 100);
}

#[tokio::test]
async fn dropped_event_receiver_discards_events() {
    let (client, events, mut fake) = connected(small_config()).await;
    drop(events);
    for _ in 0..300 {
        fake.send(&json!({"event": "RTC_CHANGE"})).await;
    }
    let server = async {
        let cmd = fake.expect("ping").await;
        fake.reply(&cmd, json!({})).await;
    };
    let (res, ()) = tokio::join!(client.execute("ping", None), server);
    res.expect("still connected");
}

#[tokio::test]
async fn peer_closing_with_unread_input_is_eof() {
    // QEMU reads its monitor byte by byte; when it exits after `quit`, our
    // trailing newline is still unread and the kernel reports ECONNRESET.
    let (client, mut events, fake) = connected(small_config()).await;
    let server = async {
        // Let the command arrive, then close without reading it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(fake);
    };
    let (res, ()) = tokio::join!(client.execute("quit", None), server);
    let err = res.expect_err("no reply");
    assert!(err.is_eof(), "{err:?}");
    assert!(events.recv().await.is_none());
}
