//! Writing a response on the native driver: head and RAM body in one `writev`; a file body as
//! the head with `MSG_MORE` then a `sendfile` loop driven by socket writability, page cache to
//! socket with no copy through user memory. A file that shrinks mid-send aborts the connection
//! (never padded, never a short body presented as complete).
//! Owns no decisions: it sends what the plan says.

use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

use nix::sys::socket::{send, MsgFlags};
use tokio::io::{AsyncWriteExt, Interest};

use crate::net::ActivityIo;
use crate::plan::Body;

/// RAM bodies up to this size are copied behind the head and sent as one buffer: a plain
/// `write` of one buffer costs the kernel less than a two-part `writev` (measured ~2% of a
/// small-playlist response), and copying a few KiB in user space costs less than that.
const COALESCE_MAX: usize = 16 * 1024;

/// Sends the head in `out` and `body` (`out` may be extended with the body).
pub async fn response(io: &mut ActivityIo, out: &mut Vec<u8>, body: &Body) -> io::Result<()> {
    match body {
        Body::Bytes(bytes) if bytes.len() <= COALESCE_MAX => {
            out.extend_from_slice(bytes);
            io.write_all(out).await
        }
        Body::Bytes(bytes) => write_all(io, out, bytes).await,
        Body::File { file, offset, len } => {
            send_more(io, out).await?;
            send_file(io, file, *offset, *len).await
        }
    }
}

async fn write_all(io: &mut ActivityIo, head: &[u8], body: &[u8]) -> io::Result<()> {
    let (mut head, mut body) = (head, body);
    while !head.is_empty() || !body.is_empty() {
        let n = io.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    Ok(())
}

/// The head, corked with `MSG_MORE` (not in nix's flag set, so its libc value) so it leaves
/// in the same segment as the file's first bytes.
async fn send_more(io: &ActivityIo, mut head: &[u8]) -> io::Result<()> {
    let tcp = io.tcp();
    while !head.is_empty() {
        tcp.writable().await?;
        let sent = tcp.try_io(Interest::WRITABLE, || {
            send(tcp.as_raw_fd(), head, MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(n) => {
                io.record(n);
                head = &head[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn send_file(io: &ActivityIo, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    let tcp = io.tcp();
    let end = offset + len;
    let mut at = offset;
    while at < end {
        tcp.writable().await?;
        let mut off = i64::try_from(at).map_err(io::Error::other)?;
        // sendfile moves at most 0x7ffff000 bytes per call.
        let count = usize::try_from((end - at).min(0x7fff_f000)).unwrap_or(0x7fff_f000);
        let sent = tcp.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(tcp, file, Some(&mut off), count).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent; aborting"));
            }
            Ok(n) => {
                io.record(n);
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
