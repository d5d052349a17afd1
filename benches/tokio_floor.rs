//! The floor for the playlist workload (run by `benches/run.sh`): the least a Tokio server can
//! do per keep-alive request on this machine — read until a blank line, write one fixed
//! response of the same size as a benchmark playlist's (head + 601-byte body) — with no
//! parsing, no cache and no file. Its CPU per request, next to nginx's and hls-origin's, shows
//! how much of a ratio is the runtime and the kernel, and how much is ours.
//!
//! `cargo bench --bench tokio_floor -- --addr 127.0.0.1:8080`
#![allow(clippy::unwrap_used, missing_docs)]

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\naccess-control-allow-origin: *\r\n\
access-control-expose-headers: Content-Length, Content-Range\r\netag: \"8bac433568f8c994-161\"\r\n\
last-modified: Sat, 21 Nov 2026 07:53:08 GMT\r\ncache-control: public, max-age=3\r\naccept-ranges: bytes\r\n\
content-type: application/vnd.apple.mpegurl\r\ncontent-length: 601\r\ndate: Sat, 21 Nov 2026 09:52:14 GMT\r\n\r\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.iter().position(|a| a == "--addr").map_or("127.0.0.1:8099", |i| args[i + 1].as_str()).to_string();
    let mut response = HEAD.to_vec();
    response.extend_from_slice(&[b'#'; 600]);
    response.push(b'\n');
    let response: &'static [u8] = response.leak();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity(8192);
                loop {
                    match stream.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.advance(end + 4);
                        if stream.write_all(response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
}
