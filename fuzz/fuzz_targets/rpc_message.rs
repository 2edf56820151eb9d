//! Any bytes on a client connection: the server (libvirt's remote protocol, with the
//! fake backend behind it) answers or closes, and never panics or hangs. The input is
//! the whole byte stream a client sends (length-prefixed packets, XDR bodies), so
//! framing, XDR decoding and procedure dispatch are all reached.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use remote_protocol::fake::FakeBackend;
use remote_protocol::server::{ServeOptions, serve_connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, server) = tokio::net::UnixStream::pair().expect("socketpair");
        let opts = Arc::new(ServeOptions {
            max_message: 1 << 20,
            ..ServeOptions::default()
        });
        let served = tokio::spawn(serve_connection(
            server,
            Arc::new(FakeBackend::new()),
            opts,
            1,
        ));
        let (mut rd, mut wr) = client.into_split();
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        });
        let _ = wr.write_all(data).await;
        let _ = wr.shutdown().await;
        drop(wr);
        // The server must notice the end of input and finish by itself.
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("the server did not finish after the client closed")
            .expect("the connection task panicked")
            .ok();
        reader.abort();
    });
});
