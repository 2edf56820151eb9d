//! Shared harness for the live tests: a fake-backend server on a temporary
//! unix socket (plus a read-only one) and helpers that run the real `virsh`
//! and libvirt-python against it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use remote_protocol::fake::FakeBackend;
use remote_protocol::server::{ServeOptions, serve};
use tokio::net::UnixListener;

#[derive(Debug)]
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub sock: PathBuf,
    pub ro_sock: PathBuf,
    pub backend: Arc<FakeBackend>,
}

pub const VIRSH_MISSING: &str = "the real `virsh` is required for rpc_live_* tests \
     (Debian: apt-get install libvirt-clients); it could not be run";

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(FakeBackend::new(), ServeOptions::default())
    }

    /// A server whose fake backend publishes lifecycle events, with our own
    /// keepalive PINGs every `ping` (two unanswered ones drop the client).
    pub fn start_with_events(ping: std::time::Duration) -> Self {
        let (tx, _rx) = tokio::sync::broadcast::channel(64);
        let opts = ServeOptions {
            events: Some(tx.clone()),
            keepalive: Some(remote_protocol::server::Keepalive {
                interval: ping,
                count: 2,
            }),
            ..ServeOptions::default()
        };
        Self::start_with(FakeBackend::new().with_events(tx), opts)
    }

    pub fn start_with(backend: FakeBackend, opts: ServeOptions) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("sock");
        let ro_sock = dir.path().join("sock-ro");
        let backend = Arc::new(backend);
        {
            let _g = rt.enter();
            let rw = UnixListener::bind(&sock).expect("bind rw socket");
            let ro = UnixListener::bind(&ro_sock).expect("bind ro socket");
            let ro_opts = ServeOptions {
                read_only: true,
                ..opts.clone()
            };
            rt.spawn(serve(rw, backend.clone(), opts));
            rt.spawn(serve(ro, backend.clone(), ro_opts));
        }
        Self {
            dir,
            rt,
            sock,
            ro_sock,
            backend,
        }
    }

    pub fn uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.sock.display())
    }

    pub fn ro_uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.ro_sock.display())
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_remove("LIBVIRT_DEFAULT_URI")
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"));
        c
    }

    /// Run `virsh -c URI args...` with a timeout guard; never skips.
    pub fn virsh_uri(&self, uri: &str, args: &[&str]) -> Output {
        let mut c = self.command("virsh");
        c.arg("-c").arg(uri).args(args);
        run_with_timeout(c, VIRSH_MISSING)
    }

    pub fn virsh(&self, args: &[&str]) -> Output {
        self.virsh_uri(&self.uri(), args)
    }

    /// `virsh` that must succeed; returns stdout.
    pub fn virsh_ok(&self, args: &[&str]) -> String {
        let out = self.virsh(args);
        assert!(
            out.status.success(),
            "virsh {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Run a python3 script (with libvirt-python) with `SOCK_URI` set.
    pub fn python(&self, script: &str) -> Output {
        let mut c = self.command("/usr/bin/python3");
        c.arg("-c").arg(script).env("SOCK_URI", self.uri());
        run_with_timeout(
            c,
            "/usr/bin/python3 with libvirt-python is required for rpc_live_python \
             (Debian: apt-get install python3-libvirt); it could not be run",
        )
    }

    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

pub fn run_with_timeout(c: Command, missing: &str) -> Output {
    testkit::run_bounded(c, std::time::Duration::from_secs(30), missing)
}

pub const DOMAIN_XML: &str = "<domain type='kvm'>
  <name>vm1</name>
  <uuid>6b3c1f2e-7d44-4b5a-9a0e-3f1d2c4b5a69</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
</domain>
";
