//! Serve the in-memory fake backend on a unix socket (and `<path>-ro`), for
//! poking at with the real clients:
//!
//! ```text
//! cargo run -p remote-protocol --features testing --example fake_daemon -- /tmp/rvirt-fake.sock
//! virsh -c 'qemu+unix:///system?socket=/tmp/rvirt-fake.sock' list --all
//! ```

use std::sync::Arc;
use std::time::Duration;

use remote_protocol::fake::FakeBackend;
use remote_protocol::server::{Keepalive, ServeOptions, serve};
use tokio::net::UnixListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: fake_daemon SOCKET_PATH")?;
    let ro_path = format!("{path}-ro");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&ro_path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (tx, _rx) = tokio::sync::broadcast::channel(64);
        let backend = Arc::new(FakeBackend::new().with_events(tx.clone()));
        let opts = ServeOptions {
            keepalive: Some(Keepalive {
                interval: Duration::from_secs(5),
                count: 5,
            }),
            events: Some(tx),
            ..ServeOptions::default()
        };
        let ro_opts = ServeOptions {
            read_only: true,
            ..opts.clone()
        };
        let rw = UnixListener::bind(&path)?;
        let ro = UnixListener::bind(&ro_path)?;
        eprintln!("fake libvirt daemon on {path} (read-only: {ro_path})");
        let r = tokio::try_join!(
            serve(rw, backend.clone(), opts),
            serve(ro, backend, ro_opts)
        );
        r.map(|_| ()).map_err(Into::into)
    })
}
