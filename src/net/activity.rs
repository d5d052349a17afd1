//! Connection activity tracking for the idle timeout: a transparent I/O wrapper that counts
//! bytes moved, and a watchdog that fires when the count stops changing. Must not buffer or
//! alter the bytes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::stop::Phase;
use crate::config::SEND_RATE_WINDOW;

/// A TCP stream that records that bytes moved.
pub struct ActivityIo {
    stream: TcpStream,
    moved: Arc<AtomicU64>,
    abort: Arc<AtomicBool>,
}

/// The watchdog side of an [`ActivityIo`].
pub struct Activity {
    moved: Arc<AtomicU64>,
    /// Set when the watchdog cuts a response: the socket is then reset, not closed.
    abort: Arc<AtomicBool>,
}

impl Drop for ActivityIo {
    /// A response the watchdog cut is reset (`SO_LINGER` 0): a graceful close would leave the
    /// kernel sending the megabytes still queued to the very client that was too slow.
    fn drop(&mut self) {
        if self.abort.load(Ordering::Acquire) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl ActivityIo {
    /// Wraps an accepted stream (setting `TCP_NODELAY`: responses are written whole, and
    /// Nagle would delay the last partial packet of every small playlist).
    pub fn new(stream: TcpStream) -> (ActivityIo, Activity) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let moved = Arc::new(AtomicU64::new(0));
        let abort = Arc::new(AtomicBool::new(false));
        (ActivityIo { stream, moved: Arc::clone(&moved), abort: Arc::clone(&abort) }, Activity { moved, abort })
    }

    /// The socket, for writes that bypass `AsyncWrite` (`send` with flags, `sendfile`).
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes moved so far, both ways.
    pub(crate) fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Records bytes moved outside `AsyncRead`/`AsyncWrite`.
    pub(crate) fn record(&self, n: usize) {
        // This stream is the counter's only writer, so a plain load and store (no locked
        // read-modify-write) cannot lose an update; Relaxed: the watchdog only needs to see
        // that the count changed eventually.
        self.moved.store(self.moved.load(Ordering::Relaxed).wrapping_add(n as u64), Ordering::Relaxed);
    }
}

/// Why the watchdog closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// No byte moved for the first-byte or the idle timeout.
    Silent,
    /// One response has been sending slower than `min_send_rate` for a whole window.
    TooSlow {
        /// Bytes moved in that window.
        moved: u64,
    },
}

impl Activity {
    /// Resolves when the connection should be dropped: no byte at all within `first_byte`
    /// (hyper-util's protocol detection runs no header timer, so a silent client would
    /// otherwise hold its socket until the idle timeout), later no byte moved for a whole
    /// `idle` period (so after `idle` to `2 × idle` of silence), or — when `min_rate` (bytes per
    /// second) is set — one response in progress for a whole [`SEND_RATE_WINDOW`] that moved
    /// less than `min_rate` per second of it: a reader that trickles cannot hold its socket
    /// and its file open for ever. A connection that keeps moving bytes is never interrupted.
    pub async fn watchdog(&self, first_byte: Duration, idle: Duration, phase: &Phase, min_rate: u64) -> Closed {
        let closed = self.watch(first_byte, idle, phase, min_rate).await;
        if matches!(closed, Closed::TooSlow { .. }) || phase.is_busy() {
            self.abort.store(true, Ordering::Release);
        }
        closed
    }

    async fn watch(&self, first_byte: Duration, idle: Duration, phase: &Phase, min_rate: u64) -> Closed {
        tokio::time::sleep(first_byte.min(idle)).await;
        let mut last = self.moved.load(Ordering::Relaxed);
        if last == 0 {
            return Closed::Silent;
        }
        let tick = if min_rate > 0 { idle.min(SEND_RATE_WINDOW) } else { idle };
        let (mut silent_for, mut busy) = (Duration::ZERO, phase.busy_with());
        loop {
            tokio::time::sleep(tick).await;
            let now = self.moved.load(Ordering::Relaxed);
            let moved = now.wrapping_sub(last);
            silent_for = if moved == 0 { silent_for + tick } else { Duration::ZERO };
            if silent_for >= idle {
                return Closed::Silent;
            }
            let still = phase.busy_with();
            let floor = min_rate.saturating_mul(tick.as_secs());
            if min_rate > 0 && busy.is_some() && still == busy && moved > 0 && moved < floor {
                return Closed::TooSlow { moved };
            }
            (last, busy) = (now, still);
        }
    }
}

impl AsyncRead for ActivityIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.record(buf.filled().len() - before);
        result
    }
}

impl AsyncWrite for ActivityIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            this.record(n);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            this.record(n);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
