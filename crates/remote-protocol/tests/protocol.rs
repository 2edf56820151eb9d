//! Protocol-level tests of the server with our own client and raw packets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use remote_protocol::error::{ErrorCode, ErrorDomain, RemoteError};
use remote_protocol::fake::FakeBackend;
use remote_protocol::frame::{
    self, Header, MESSAGE_MAX, MessageStatus, MessageType, PROGRAM_KEEPALIVE, PROGRAM_QEMU,
    PROGRAM_REMOTE, Packet,
};
use remote_protocol::procs::{
    CallbackLifecycleMsg, CallbackRegisterArgs, IntArgs, OpenArgs, Procedure, Request, Response,
    StringArgs, feature, list_flags, state,
};
use remote_protocol::server::{Backend, BoxFuture, CallContext, Keepalive, ServeOptions, serve};
use remote_protocol::xdr::{from_bytes, to_bytes};
use remote_protocol::{Client, ClientError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const XML: &str =
    "<domain type='kvm'><name>vm1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu></domain>";

struct Server {
    _dir: tempfile::TempDir,
    sock: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start(backend: Arc<dyn Backend>, opts: ServeOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sock");
    let l = UnixListener::bind(&sock).unwrap();
    let task = tokio::spawn(async move {
        let _ = serve(l, backend, opts).await;
    });
    Server {
        _dir: dir,
        sock,
        task,
    }
}

fn fake() -> Server {
    start(Arc::new(FakeBackend::new()), ServeOptions::default())
}

struct Raw {
    s: UnixStream,
}

impl Raw {
    async fn connect(srv: &Server) -> Self {
        Self {
            s: UnixStream::connect(&srv.sock).await.unwrap(),
        }
    }

    async fn send_hdr(&mut self, h: Header, body: &[u8]) {
        let p = frame::encode_packet(&h, body, MESSAGE_MAX).unwrap();
        self.s.write_all(&p).await.unwrap();
    }

    async fn call(&mut self, proc: i32, serial: u32, body: &[u8]) {
        self.send_hdr(call_hdr(PROGRAM_REMOTE, proc, serial), body)
            .await;
    }

    async fn recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(
            Duration::from_secs(5),
            frame::read_packet(&mut self.s, MESSAGE_MAX),
        )
        .await
        .expect("no packet within 5 s")
        .ok()
        .flatten()
    }

    async fn open(&mut self, flags: u32) {
        let a = OpenArgs {
            name: Some("qemu:///system".into()),
            flags,
        };
        self.call(1, 100, &to_bytes(&a)).await;
        let r = self.recv().await.unwrap();
        assert_eq!(r.header.status, MessageStatus::Ok, "open failed");
    }
}

fn call_hdr(program: u32, proc: i32, serial: u32) -> Header {
    Header {
        program,
        version: 1,
        procedure: proc,
        message_type: MessageType::Call,
        serial,
        status: MessageStatus::Ok,
    }
}

fn err_of(p: &Packet) -> RemoteError {
    assert_eq!(p.header.message_type, MessageType::Reply);
    assert_eq!(p.header.status, MessageStatus::Error);
    from_bytes(&p.body).unwrap()
}

async fn client(srv: &Server) -> Client {
    let uri = format!("qemu+unix:///system?socket={}", srv.sock.display());
    Client::connect_uri(&uri, false).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_client_round_trip() {
    let srv = fake();
    let c = client(&srv).await;
    assert_eq!(c.get_type().await.unwrap(), "QEMU");
    assert_eq!(c.get_version().await.unwrap(), 7_002_000);
    assert_eq!(c.get_lib_version().await.unwrap(), 11_003_000);
    assert_eq!(c.get_uri().await.unwrap(), "qemu:///system");
    assert_eq!(c.get_hostname().await.unwrap(), "fakehost");
    assert!(
        c.get_capabilities()
            .await
            .unwrap()
            .contains("<capabilities>")
    );
    assert_eq!(
        c.node_get_info().await.unwrap().model.to_string_lossy(),
        "x86_64"
    );
    assert!(
        c.supports_feature(feature::PROGRAM_KEEPALIVE)
            .await
            .unwrap()
    );
    assert!(!c.supports_feature(feature::FD_PASSING).await.unwrap());

    let d = c.define_xml(XML, 0).await.unwrap();
    assert_eq!(d.name, "vm1");
    assert_eq!(d.id, -1);
    assert_eq!(c.list_all_domains(0).await.unwrap(), vec![d.clone()]);
    assert!(
        c.list_all_domains(list_flags::ACTIVE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.lookup_by_uuid(d.uuid).await.unwrap(), d);
    assert_eq!(c.num_of_defined_domains().await.unwrap(), 1);
    assert_eq!(c.list_defined_domains(10).await.unwrap(), vec!["vm1"]);

    let running = c.create(&d, 0).await.unwrap();
    assert!(running.id > 0);
    assert_eq!(c.lookup_by_id(running.id).await.unwrap(), running);
    assert_eq!(c.get_state(&d).await.unwrap().state, state::RUNNING);
    let info = c.get_info(&d).await.unwrap();
    assert_eq!((info.memory, info.nr_virt_cpu), (256 * 1024, 1));
    assert!(c.is_active(&d).await.unwrap());
    assert!(c.is_persistent(&d).await.unwrap());
    assert_eq!(c.num_of_domains().await.unwrap(), 1);
    assert_eq!(c.list_domains(10).await.unwrap(), vec![running.id]);
    c.suspend(&d).await.unwrap();
    assert_eq!(c.get_state(&d).await.unwrap().state, state::PAUSED);
    c.resume(&d).await.unwrap();
    c.reboot(&d, 0).await.unwrap();
    c.set_autostart(&d, true).await.unwrap();
    assert!(c.get_autostart(&d).await.unwrap());
    c.shutdown(&d, 0).await.unwrap();
    assert!(!c.is_active(&d).await.unwrap());
    assert!(c.get_xml_desc(&d, 0).await.unwrap().contains("<uuid>"));
    assert!(
        c.domain_xml_to_native("qemu-argv", XML, 0)
            .await
            .unwrap()
            .contains("guest=vm1")
    );
    c.undefine(&d, 0).await.unwrap();

    match c.lookup_by_name("vm1").await {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, ErrorCode::NO_DOMAIN);
            assert_eq!(e.domain, ErrorDomain::QEMU);
        }
        other => panic!("expected NO_DOMAIN, got {other:?}"),
    }
    match c.destroy(&d, 0).await {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, ErrorCode::NO_DOMAIN);
            assert!(e.message().contains("no domain with matching uuid"), "{e}");
        }
        other => panic!("expected NO_DOMAIN, got {other:?}"),
    }
    c.close().await.unwrap();
}

/// A backend where looking up "slow" takes a while.
struct Slow;

static SLOW_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Backend for Slow {
    fn call<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, RemoteError>> {
        Box::pin(async move {
            match req {
                Request::ConnectOpen { .. } => Ok(Response::Void),
                // Report the peer credentials the server saw.
                Request::ConnectGetUri => {
                    let p = ctx.connection.peer.expect("peer credentials");
                    Ok(Response::String(format!(
                        "{} {}",
                        p.uid,
                        p.pid.unwrap_or(-1)
                    )))
                }
                Request::DomainLookupByName { name } => {
                    if name == "slow" {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        SLOW_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(Response::Domain(remote_protocol::Domain {
                        name,
                        uuid: [0; 16],
                        id: -1,
                    }))
                }
                // Wrong shape on purpose: the server must not send it.
                Request::ConnectGetType => Ok(Response::Int(1)),
                _ => Err(RemoteError::unknown_procedure(0)),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_calls_are_answered_out_of_order() {
    let srv = start(Arc::new(Slow), ServeOptions::default());
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    let slow = to_bytes(&StringArgs {
        value: "slow".into(),
    });
    let fast = to_bytes(&StringArgs {
        value: "fast".into(),
    });
    let t0 = Instant::now();
    r.call(23, 1, &slow).await;
    r.call(23, 2, &fast).await;
    let first = r.recv().await.unwrap();
    let second = r.recv().await.unwrap();
    assert_eq!(first.header.serial, 2, "fast call should be answered first");
    assert_eq!(second.header.serial, 1);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let d: remote_protocol::Domain = from_bytes(&second.body).unwrap();
    assert_eq!(d.name, "slow");

    // Shape mismatch from the backend becomes an internal error.
    r.call(3, 3, &[]).await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!(e.code, ErrorCode::INTERNAL_ERROR);
    // Peer credentials reach the backend.
    r.call(110, 40, &[]).await;
    let who: String = from_bytes(&r.recv().await.unwrap().body).unwrap();
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    assert_eq!(who, format!("{} {}", uid.unwrap(), std::process::id()));
    // Unimplemented by the backend: its unknown-procedure error passes through.
    r.call(59, 4, &[]).await;
    assert!(err_of(&r.recv().await.unwrap()).is_unsupported());

    // A client that hangs up does not cancel a backend call in flight.
    SLOW_DONE.store(false, std::sync::atomic::Ordering::SeqCst);
    r.call(23, 5, &slow).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(r);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(SLOW_DONE.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_rules_and_unknown_calls() {
    let srv = fake();
    let mut r = Raw::connect(&srv).await;
    // AUTH_LIST before open: [NONE]; reply is 36 bytes on the wire.
    r.call(66, 0, &[]).await;
    let p = r.recv().await.unwrap();
    assert_eq!(p.header.status, MessageStatus::Ok);
    assert_eq!(p.body, vec![0, 0, 0, 1, 0, 0, 0, 0]);
    // Feature probe before open works.
    r.call(60, 1, &to_bytes(&IntArgs { value: 10 })).await;
    assert_eq!(r.recv().await.unwrap().body, vec![0, 0, 0, 1]);
    // Anything else before open is refused.
    r.call(3, 2, &[]).await;
    let e = err_of(&r.recv().await.unwrap());
    assert!(e.message().contains("connection not open"), "{e}");
    r.open(0).await;
    // A second open is refused.
    r.call(
        1,
        3,
        &to_bytes(&OpenArgs {
            name: None,
            flags: 0,
        }),
    )
    .await;
    assert!(
        err_of(&r.recv().await.unwrap())
            .message()
            .contains("already open")
    );
    // Unknown procedure number.
    r.call(283, 4, &[]).await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!((e.code, e.domain), (ErrorCode::RPC, ErrorDomain::RPC));
    assert_eq!(e.message(), "unknown procedure: 283");
    // QEMU program (monitor passthrough): unknown program error, serial kept.
    r.send_hdr(call_hdr(PROGRAM_QEMU, 1, 5), &[]).await;
    let p = r.recv().await.unwrap();
    assert_eq!(p.header.serial, 5);
    assert_eq!(p.header.program, PROGRAM_QEMU);
    assert_eq!(err_of(&p).code, ErrorCode::RPC);
    // Undecodable arguments: error reply, connection stays usable.
    r.call(23, 6, &[0, 0, 0, 9]).await;
    let e = err_of(&r.recv().await.unwrap());
    assert!(e.message().contains("Unable to decode"), "{e}");
    // Keepalive PING → PONG.
    r.send_hdr(Header::keepalive(1), &[]).await;
    let p = r.recv().await.unwrap();
    assert_eq!(p.header.program, PROGRAM_KEEPALIVE);
    assert_eq!(p.header.procedure, 2);
    assert_eq!(p.header.message_type, MessageType::Message);
    // Still alive.
    r.call(3, 7, &[]).await;
    assert_eq!(r.recv().await.unwrap().header.status, MessageStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_the_connection() {
    let srv = fake();
    // A 4 GiB length: closed without a reply (and without allocating).
    let mut r = Raw::connect(&srv).await;
    r.s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let mut buf = [0u8; 4];
    let n = tokio::time::timeout(Duration::from_secs(5), r.s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "server should close the connection");
    // A REPLY sent by a client: closed.
    let mut r = Raw::connect(&srv).await;
    let mut h = call_hdr(PROGRAM_REMOTE, 3, 1);
    h.message_type = MessageType::Reply;
    r.send_hdr(h, &[]).await;
    assert!(r.recv().await.is_none());
    // Bad message type word: closed.
    let mut r = Raw::connect(&srv).await;
    let mut p = frame::encode_packet(&call_hdr(PROGRAM_REMOTE, 3, 1), &[], MESSAGE_MAX).unwrap();
    p[16..20].copy_from_slice(&77i32.to_be_bytes());
    r.s.write_all(&p).await.unwrap();
    assert!(r.recv().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_connections() {
    let srv = fake();
    let mut r = Raw::connect(&srv).await;
    r.open(1).await; // VIR_CONNECT_RO
    r.call(11, 1, &to_bytes(&StringArgs { value: XML.into() }))
        .await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!(e.code, ErrorCode::OPERATION_DENIED);
    assert_eq!(
        e.message(),
        "operation forbidden: read only access prevents virDomainDefineXML"
    );
    // Reads are fine.
    r.call(
        273,
        2,
        &to_bytes(&remote_protocol::procs::ListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        }),
    )
    .await;
    assert_eq!(r.recv().await.unwrap().header.status, MessageStatus::Ok);
    // The secure XML flag is refused on read-only connections.
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    let args = remote_protocol::procs::DomainFlagsArgs { dom: d, flags: 1 };
    r.call(14, 3, &to_bytes(&args)).await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!(e.code, ErrorCode::OPERATION_DENIED);
    assert!(e.message().contains("secure flag"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keepalive_pings_then_drops_silent_clients() {
    let opts = ServeOptions {
        keepalive: Some(Keepalive {
            interval: Duration::from_millis(100),
            count: 2,
        }),
        ..ServeOptions::default()
    };
    let srv = start(Arc::new(FakeBackend::new()), opts);
    let mut r = Raw::connect(&srv).await;
    r.call(60, 1, &to_bytes(&IntArgs { value: 10 })).await;
    assert_eq!(r.recv().await.unwrap().body, vec![0, 0, 0, 1]);
    let mut pings = 0;
    while let Some(p) = r.recv().await {
        assert_eq!(p.header.program, PROGRAM_KEEPALIVE);
        assert_eq!(p.header.procedure, 1);
        pings += 1;
    }
    assert_eq!(
        pings, 2,
        "two unanswered PINGs, then the connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_reach_registered_callbacks() {
    let (tx, _rx) = tokio::sync::broadcast::channel(16);
    let backend = FakeBackend::new().with_events(tx.clone());
    let opts = ServeOptions {
        events: Some(tx),
        ..ServeOptions::default()
    };
    let srv = start(Arc::new(backend), opts);
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    let reg = CallbackRegisterArgs {
        event_id: 0,
        dom: None,
    };
    r.call(
        Procedure::ConnectDomainEventCallbackRegisterAny.number(),
        1,
        &to_bytes(&reg),
    )
    .await;
    let id: i32 = from_bytes(&r.recv().await.unwrap().body).unwrap();
    // Bad event id is refused.
    let bad = CallbackRegisterArgs {
        event_id: 99,
        dom: None,
    };
    r.call(316, 2, &to_bytes(&bad)).await;
    assert_eq!(
        err_of(&r.recv().await.unwrap()).code,
        ErrorCode::INVALID_ARG
    );

    let c = client(&srv).await;
    c.define_xml(XML, 0).await.unwrap();
    let p = r.recv().await.unwrap();
    assert_eq!(p.header.message_type, MessageType::Message);
    assert_eq!(p.header.procedure, 318);
    let m: CallbackLifecycleMsg = from_bytes(&p.body).unwrap();
    assert_eq!(m.callback_id, id);
    assert_eq!((m.msg.event, m.msg.detail), (0, 0));
    assert_eq!(m.msg.dom.name, "vm1");

    r.call(317, 3, &to_bytes(&IntArgs { value: id })).await;
    assert_eq!(r.recv().await.unwrap().header.status, MessageStatus::Ok);

    // The typed client receives them too, filtered by domain.
    let vm = c.lookup_by_name("vm1").await.unwrap();
    let (cb, mut rx) = c.register_lifecycle_events(Some(&vm)).await.unwrap();
    c.create(&vm, 0).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.callback_id, m.msg.event, m.msg.detail), (cb, 2, 0));
    c.deregister_events(cb).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_stream_round_trip() {
    let srv = fake();
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    let args = remote_protocol::procs::OpenConsoleArgs {
        dom: d.clone(),
        dev_name: None,
        flags: 0,
    };
    // Not running: error reply, no stream.
    r.call(201, 1, &to_bytes(&args)).await;
    assert_eq!(
        err_of(&r.recv().await.unwrap()).code,
        ErrorCode::OPERATION_INVALID
    );

    c.create(&d, 0).await.unwrap();
    r.call(201, 2, &to_bytes(&args)).await;
    let reply = r.recv().await.unwrap();
    assert_eq!(
        (reply.header.message_type, reply.header.status),
        (MessageType::Reply, MessageStatus::Ok)
    );
    assert!(reply.body.is_empty());
    let banner = r.recv().await.unwrap();
    assert_eq!(
        (
            banner.header.message_type,
            banner.header.status,
            banner.header.serial
        ),
        (MessageType::Stream, MessageStatus::Continue, 2)
    );
    assert_eq!(banner.body, b"fake console of vm1\r\n");
    // Raw bytes, no XDR framing inside the payload.
    let mut h = call_hdr(PROGRAM_REMOTE, 201, 2);
    h.message_type = MessageType::Stream;
    h.status = MessageStatus::Continue;
    r.send_hdr(h, b"abc").await;
    let echo = r.recv().await.unwrap();
    assert_eq!(echo.body, b"abc");
    // Finish: confirmed with an empty STREAM/OK.
    h.status = MessageStatus::Ok;
    r.send_hdr(h, &[]).await;
    let done = r.recv().await.unwrap();
    assert_eq!(
        (
            done.header.message_type,
            done.header.status,
            done.header.serial
        ),
        (MessageType::Stream, MessageStatus::Ok, 2)
    );
    assert!(done.body.is_empty());
    // The connection is still usable.
    r.call(3, 3, &[]).await;
    assert_eq!(r.recv().await.unwrap().header.status, MessageStatus::Ok);

    // Read-only connections may not open consoles.
    let mut ro = Raw::connect(&srv).await;
    ro.open(1).await;
    ro.call(201, 1, &to_bytes(&args)).await;
    assert_eq!(
        err_of(&ro.recv().await.unwrap()).code,
        ErrorCode::OPERATION_DENIED
    );
}

/// DOMAIN_SCREENSHOT: the reply carries the MIME type, the image follows as
/// data, EOF is an empty STREAM/CONTINUE (an unasked STREAM/OK would make
/// libvirt clients drop the connection), the client's finish is confirmed with
/// STREAM/OK; data the client sends on this read-only stream fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshot_stream_eof_and_finish() {
    let srv = fake();
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    c.create(&d, 0).await.unwrap();
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    let args = remote_protocol::procs::domain_ops::ScreenshotArgs {
        dom: d.clone(),
        screen: 0,
        flags: 0,
    };
    r.call(211, 5, &to_bytes(&args)).await;
    let reply = r.recv().await.unwrap();
    assert_eq!(
        (reply.header.message_type, reply.header.status),
        (MessageType::Reply, MessageStatus::Ok)
    );
    let mime: Option<String> = from_bytes(&reply.body).unwrap();
    assert_eq!(mime.as_deref(), Some("image/x-portable-pixmap"));
    let data = r.recv().await.unwrap();
    assert_eq!(
        (
            data.header.message_type,
            data.header.status,
            data.header.serial
        ),
        (MessageType::Stream, MessageStatus::Continue, 5)
    );
    assert!(data.body.starts_with(b"P6\n2 1\n255\n"));
    let eof = r.recv().await.unwrap();
    assert_eq!(
        (eof.header.message_type, eof.header.status),
        (MessageType::Stream, MessageStatus::Continue)
    );
    assert!(eof.body.is_empty());
    let mut h = call_hdr(PROGRAM_REMOTE, 211, 5);
    h.message_type = MessageType::Stream;
    h.status = MessageStatus::Ok;
    r.send_hdr(h, &[]).await;
    let done = r.recv().await.unwrap();
    assert_eq!(
        (done.header.message_type, done.header.status),
        (MessageType::Stream, MessageStatus::Ok)
    );
    r.call(3, 6, &[]).await;
    assert_eq!(r.recv().await.unwrap().header.status, MessageStatus::Ok);

    // Writing to the read-only stream: a STREAM/ERROR, then nothing more.
    r.call(211, 7, &to_bytes(&args)).await;
    assert_eq!(
        r.recv().await.unwrap().header.message_type,
        MessageType::Reply
    );
    h.serial = 7;
    h.status = MessageStatus::Continue;
    r.send_hdr(h, b"junk").await;
    let mut saw_error = false;
    for _ in 0..3 {
        let p = r.recv().await.unwrap();
        if p.header.status == MessageStatus::Error {
            let e: RemoteError = from_bytes(&p.body).unwrap();
            assert!(e.message().contains("cannot write to stream"), "{e:?}");
            saw_error = true;
            break;
        }
    }
    assert!(saw_error);

    // Not running: an error reply and no stream.
    c.destroy(&d, 0).await.unwrap();
    r.call(211, 8, &to_bytes(&args)).await;
    assert_eq!(
        err_of(&r.recv().await.unwrap()).code,
        ErrorCode::OPERATION_INVALID
    );
}

/// The client's own console stream (what `rvirt console` uses): data both
/// ways, finish confirmed; the connection goes on serving calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_console_stream() {
    let srv = fake();
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    assert!(c.open_console(&d, None, 0).await.is_err(), "not running");
    c.create(&d, 0).await.unwrap();
    let mut st = c.open_console(&d, None, 0).await.unwrap();
    assert_eq!(
        st.recv().await.unwrap().unwrap(),
        b"fake console of vm1\r\n"
    );
    st.send(b"ping").await.unwrap();
    assert_eq!(st.recv().await.unwrap().unwrap(), b"ping");
    st.finish().await.unwrap();
    assert_eq!(c.get_type().await.unwrap(), "QEMU");
}

/// A stream hole (only sparse volume streams have them) ends the connection,
/// as in libvirtd; other connections are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_hole_closes_the_connection() {
    let srv = fake();
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    let mut h = call_hdr(PROGRAM_REMOTE, 201, 9);
    h.message_type = MessageType::StreamHole;
    h.status = MessageStatus::Continue;
    let mut hole = to_bytes(&4096u64);
    hole.extend(to_bytes(&0u32));
    r.send_hdr(h, &hole).await;
    assert!(r.recv().await.is_none(), "the connection stays open");
    let mut r2 = Raw::connect(&srv).await;
    r2.open(0).await;
}

/// Random packets (valid framing, random procedure and payload) never take
/// the server down: each one gets a reply or closes that connection, and
/// fresh connections keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_packets_do_not_break_the_server() {
    let srv = fake();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let procs: Vec<i32> = Procedure::ALL.iter().map(|p| p.number()).collect();
    let mut r = Raw::connect(&srv).await;
    r.open(0).await;
    for serial in 0..400u32 {
        let proc = procs[(next() % procs.len() as u64) as usize];
        let len = (next() % 64) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Sometimes make it look like a plausible small XDR value.
        if next() % 3 == 0 {
            body = to_bytes(&(next() as u32 % 8));
        }
        if proc == 2 || proc == 201 || proc == 211 {
            continue; // close / console / screenshot would change the connection's mode
        }
        r.call(proc, serial, &body).await;
        match r.recv().await {
            Some(p) => assert_eq!(p.header.serial, serial),
            None => {
                r = Raw::connect(&srv).await;
                r.open(0).await;
            }
        }
    }
    let c = client(&srv).await;
    assert_eq!(c.get_type().await.unwrap(), "QEMU");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_read_only_client() {
    let srv = fake();
    // A 5 MiB XML fits in a packet but exceeds REMOTE_STRING_MAX (4 MiB):
    // refused by the argument decoder, connection stays up.
    let c = client(&srv).await;
    let big = format!("<domain><name>x</name>{}</domain>", " ".repeat(5 << 20));
    match c.define_xml(&big, 0).await {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, ErrorCode::RPC);
            assert!(e.message().contains("exceeds the maximum"), "{e}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(c.get_type().await.unwrap(), "QEMU");
    // Read-only client: VIR_CONNECT_RO in OPEN.
    let uri = format!("qemu+unix:///system?socket={}", srv.sock.display());
    let ro = Client::connect_uri(&uri, true).await.unwrap();
    assert!(ro.list_all_domains(0).await.unwrap().is_empty());
    match ro.define_xml(XML, 0).await {
        Err(ClientError::Remote(e)) => assert_eq!(e.code, ErrorCode::OPERATION_DENIED),
        other => panic!("expected OPERATION_DENIED, got {other:?}"),
    }
    // Connecting to a missing socket is a clear error.
    let bad = Client::connect_uri("qemu+unix:///system?socket=/nonexistent/sock", false).await;
    assert!(matches!(bad, Err(ClientError::Connect { .. })));
    // A closed server: calls fail instead of hanging.
    drop(srv);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = tokio::time::timeout(Duration::from_secs(5), c.get_type()).await;
    assert!(matches!(r, Ok(Err(ClientError::Closed))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let opts = ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    };
    let srv = start(Arc::new(FakeBackend::new()), opts);
    let mut first = Raw::connect(&srv).await;
    first.open(0).await;
    let mut second = Raw::connect(&srv).await;
    // The server closes it: either the write fails or the read sees EOF.
    let p = frame::encode_packet(&call_hdr(PROGRAM_REMOTE, 66, 0), &[], MESSAGE_MAX).unwrap();
    if second.s.write_all(&p).await.is_ok() {
        assert!(
            second.recv().await.is_none(),
            "second connection should be closed"
        );
    }
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = client(&srv).await;
    assert_eq!(c.get_type().await.unwrap(), "QEMU");
}

/// A domain reference for calls that never reach a real domain.
fn some_domain() -> remote_protocol::Domain {
    remote_protocol::Domain {
        name: "vm".into(),
        uuid: [1; 16],
        id: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rvirt_program_rules() {
    use remote_protocol::rvirt::{DomainGrantArgs, PROGRAM_RVIRT};
    let srv = fake();
    let grant = DomainGrantArgs {
        dom: some_domain(),
        path: "/dev/sdb".into(),
        access: 1,
        flags: 0,
    };
    // Before OPEN: refused like any call.
    let mut r = Raw::connect(&srv).await;
    r.send_hdr(call_hdr(PROGRAM_RVIRT, 1, 1), &to_bytes(&grant))
        .await;
    assert!(
        err_of(&r.recv().await.unwrap())
            .message()
            .contains("not open")
    );
    // Read-only: refused, naming the API.
    r.open(1).await;
    r.send_hdr(call_hdr(PROGRAM_RVIRT, 1, 2), &to_bytes(&grant))
        .await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!(e.code, ErrorCode::OPERATION_DENIED);
    assert!(e.message().contains("rvirtDomainGrant"), "{e}");
    // Writable: reaches the backend (the fake one does not implement it); an
    // unknown procedure and bad arguments are errors, the connection stays.
    let mut w = Raw::connect(&srv).await;
    w.open(0).await;
    w.send_hdr(call_hdr(PROGRAM_RVIRT, 1, 3), &to_bytes(&grant))
        .await;
    let e = err_of(&w.recv().await.unwrap());
    assert!(e.is_unsupported(), "{e}");
    w.send_hdr(call_hdr(PROGRAM_RVIRT, 9, 4), &[]).await;
    assert!(err_of(&w.recv().await.unwrap()).is_unsupported());
    w.send_hdr(call_hdr(PROGRAM_RVIRT, 2, 5), &[0, 0]).await;
    let e = err_of(&w.recv().await.unwrap());
    assert!(!e.is_unsupported(), "{e}");
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    let e = c.domain_revoke(&d, "/x", 0).await.unwrap_err();
    assert!(e.to_string().contains("unknown procedure"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_program_monitor_command_rules() {
    use remote_protocol::qemu_program::{MonitorCommandArgs, PROGRAM_QEMU};
    let srv = fake();
    let args = MonitorCommandArgs {
        dom: some_domain(),
        cmd: r#"{"execute":"query-status"}"#.into(),
        flags: 0,
    };
    let mut r = Raw::connect(&srv).await;
    r.open(1).await;
    r.send_hdr(call_hdr(PROGRAM_QEMU, 1, 2), &to_bytes(&args))
        .await;
    let e = err_of(&r.recv().await.unwrap());
    assert_eq!(
        e.message(),
        "operation forbidden: read only access prevents virDomainQemuMonitorCommand"
    );
    let mut w = Raw::connect(&srv).await;
    w.open(0).await;
    // Only procedure 1 exists; the fake backend does not implement it.
    w.send_hdr(call_hdr(PROGRAM_QEMU, 2, 3), &[]).await;
    assert!(err_of(&w.recv().await.unwrap()).is_unsupported());
    let c = client(&srv).await;
    let d = c.define_xml(XML, 0).await.unwrap();
    let e = c.qemu_monitor_command(&d, "x", 0).await.unwrap_err();
    assert!(e.to_string().contains("unknown procedure"), "{e}");
}
