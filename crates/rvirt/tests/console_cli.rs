//! `rvirt console` against the fake daemon's echo console: the banner, what is
//! typed comes back, `^]` ends the session; a domain that is not running is
//! refused as virsh refuses it.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use remote_protocol::Client;
use remote_protocol::fake::FakeBackend;
use remote_protocol::server::{ServeOptions, serve};

const VM1: &str =
    "<domain type='kvm'><name>vm1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu></domain>";

#[test]
fn console_echo_and_escape() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    {
        let _g = rt.enter();
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        rt.spawn(serve(
            l,
            Arc::new(FakeBackend::new()),
            ServeOptions::default(),
        ));
    }
    let uri = format!("qemu+unix:///system?socket={}", sock.display());
    let rvirt = |stdin: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rvirt"))
            .args(["-c", &uri, "console", "vm1"])
            .env_remove("LIBVIRT_DEFAULT_URI")
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let bytes = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            // Typed after the session is up, the escape a moment later.
            std::thread::sleep(std::time::Duration::from_millis(500));
            let (typed, esc) = bytes.split_at(bytes.len().saturating_sub(1));
            let _ = input.write_all(typed);
            std::thread::sleep(std::time::Duration::from_millis(500));
            let _ = input.write_all(esc);
            std::thread::sleep(std::time::Duration::from_millis(2000));
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    };
    rt.block_on(async {
        let c = Client::connect_uri(&uri, false).await.unwrap();
        c.define_xml(VM1, 0).await.unwrap();
    });
    let out = rvirt(b"x\x1d");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("The domain is not running"), "{err}");

    rt.block_on(async {
        let c = Client::connect_uri(&uri, false).await.unwrap();
        let d = c.lookup_by_name("vm1").await.unwrap();
        c.create(&d, 0).await.unwrap();
    });
    let out = rvirt(b"hello\x1d");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Connected to domain 'vm1'"), "{text}");
    assert!(text.contains("fake console of vm1"), "{text}");
    assert!(text.contains("hello"), "{text}");
}
