//! The native HTTP/1.x connection driver: request heads parsed with httparse, the same
//! [`ResponsePlan`](crate::plan::ResponsePlan) the hyper driver renders, one `write` (or
//! `writev`, or `sendfile`) per response, pipelined requests answered in order. Takes a
//! [`Conn`] from the accept loop; HTTP/2 prior-knowledge connections go to the hyper driver
//! with the bytes already read, still under the loop's watchdog and stop signal. Knows nothing
//! of files or HLS; decides no status code (a head it cannot accept is a [`Refusal`]).

pub mod head;
mod send;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quanta::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::hyper_driver::HyperDriver;
use crate::net::{ActivityIo, Conn, StopWatch};
use crate::request::{RequestHead, MAX_HEAD_BYTES};
use crate::respond::{self, AccessLine, Completed, Refusal, Respond};
use head::{Connection, Head};

/// Serves connections with the native driver; cheap to clone (one per connection).
pub struct NativeDriver<R> {
    responder: Arc<R>,
    h2: HyperDriver<R>,
    header_read_timeout: Duration,
}

impl<R> Clone for NativeDriver<R> {
    fn clone(&self) -> Self {
        NativeDriver {
            responder: Arc::clone(&self.responder),
            h2: self.h2.clone(),
            header_read_timeout: self.header_read_timeout,
        }
    }
}

/// What one connection's requests share.
struct Ctx<'a, R> {
    responder: &'a R,
    peer: SocketAddr,
    stop: &'a StopWatch,
    /// The same signal, for requests that wait (made once per connection).
    signal: crate::net::stop::StopSignal,
    header_read_timeout: Duration,
}

impl<R: Respond> NativeDriver<R> {
    /// A driver answering with `responder`; HTTP/2 goes to `h2`.
    pub fn new(responder: Arc<R>, h2: HyperDriver<R>, header_read_timeout: Duration) -> NativeDriver<R> {
        NativeDriver { responder, h2, header_read_timeout }
    }

    /// Serves one connection from the accept loop until it closes, the server stops while it
    /// is idle, or it turns out to be HTTP/2 (then hyper serves the rest of it).
    pub async fn serve(self, conn: Conn) {
        let Conn { mut io, peer, stop } = conn;
        let signal = stop.signal();
        let header_read_timeout = self.header_read_timeout;
        let ctx = Ctx { responder: &*self.responder, peer, stop: &stop, signal, header_read_timeout };
        let outcome = tokio::select! {
            // Biased: `serve` marks the connection idle before the stop branch looks at the mark.
            biased;
            outcome = serve(&mut io, &ctx) => outcome,
            () = stop.stopped_idle() => Ok(None),
        };
        match outcome {
            // Boxed: hyper's HTTP/2 connection state is large, and only h2c connections need it;
            // inline, every HTTP/1 connection's task would carry its size.
            Ok(Some(prefix)) => Box::pin(self.h2.serve_prefixed(Conn { io, peer, stop }, prefix)).await,
            Ok(None) => {
                let _ = io.shutdown().await;
            }
            Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        }
    }
}

/// Answers requests until the connection should close. `Some(bytes)`: an HTTP/2 client, to be
/// handed to hyper with the bytes already read.
async fn serve<R: Respond>(io: &mut ActivityIo, ctx: &Ctx<'_, R>) -> io::Result<Option<BytesMut>> {
    let timeout = ctx.header_read_timeout;
    // Sized for a typical GET head (a CDN's are 300–900 bytes); grown only for a longer one.
    // Thousands of idle keep-alive connections each hold one.
    let mut buf = BytesMut::with_capacity(HEAD_BUF);
    let mut out = Vec::with_capacity(512);
    let mut first = true;
    // The whole first head must arrive within `header_read_timeout` of the connection's start;
    // later heads within it of their first byte (the idle watchdog bounds the wait before).
    let mut deadline = Some(tokio::time::Instant::now() + timeout);
    loop {
        if !buf.is_empty() {
            if first && head::maybe_h2_preface(&buf) {
                if buf.len() >= head::H2_PREFACE_LEN {
                    return Ok(Some(buf));
                }
            } else {
                let mut slots = head::slots();
                match head::parse(&buf, &mut slots) {
                    Head::Request(parsed) => {
                        first = false;
                        let conn = respond(io, ctx, &parsed, &mut out).await?;
                        let len = parsed.len;
                        buf.advance(len);
                        if conn == Connection::Close {
                            return Ok(None);
                        }
                        deadline = None;
                        continue;
                    }
                    Head::Refuse(why) => return refuse(io, ctx, why, &mut out).await,
                    Head::Partial if buf.len() > MAX_HEAD_BYTES => {
                        return refuse(io, ctx, Refusal::HeadTooLarge, &mut out).await;
                    }
                    Head::Partial => {}
                }
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
        }
        if !read_more(io, &mut buf, deadline, ctx.stop).await? {
            return Ok(None);
        }
    }
}

/// The read buffer's starting size, and how much it grows by when a head needs more.
const HEAD_BUF: usize = 1024;

/// Reads more of the next head; `false` when the connection should close (peer closed, the
/// head's deadline passed, or the server is stopping while the connection is idle).
async fn read_more(
    io: &mut ActivityIo,
    buf: &mut BytesMut,
    deadline: Option<tokio::time::Instant>,
    stop: &StopWatch,
) -> io::Result<bool> {
    if buf.capacity() - buf.len() < HEAD_BUF / 4 {
        buf.reserve(HEAD_BUF);
    }
    let read = match deadline {
        Some(at) => match tokio::time::timeout_at(at, io.read_buf(buf)).await {
            Ok(read) => read?,
            Err(_) => return Ok(false),
        },
        // Between requests: the idle watchdog (in the accept loop) and the stop signal (in
        // `NativeDriver::serve`) end it.
        None => {
            stop.set_idle(true);
            if stop.is_stopping() {
                return Ok(false);
            }
            let read = io.read_buf(buf).await;
            stop.set_idle(false);
            read?
        }
    };
    Ok(read > 0)
}

/// Handles one parsed request and writes its response; says whether the connection stays.
async fn respond<R: Respond>(
    io: &mut ActivityIo,
    ctx: &Ctx<'_, R>,
    parsed: &head::Parsed<'_>,
    out: &mut Vec<u8>,
) -> io::Result<Connection> {
    let started = Instant::now();
    ctx.stop.set_idle(false);
    let mut uri = None;
    let Some(target) = head::target(parsed.target, &mut uri) else {
        refuse(io, ctx, Refusal::Malformed, out).await?;
        return Ok(Connection::Close);
    };
    let req = RequestHead {
        remote: Some(ctx.peer.ip()),
        method: &parsed.method,
        target,
        headers: parsed.fields(),
        stop: Some(&ctx.signal),
    };
    let plan = ctx.responder.respond(req).await;
    let conn = match (parsed.keep_alive && !ctx.stop.is_stopping(), parsed.http10) {
        (false, _) => Connection::Close,
        (true, true) => Connection::KeepAlive10,
        (true, false) => Connection::KeepAlive,
    };
    out.clear();
    head::render((&plan).into(), &date(), conn, out);
    let (total, moved) = (out.len() as u64 + plan.body.len(), io.moved());
    let version = if parsed.http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
    let (peer, method) = (ctx.peer, &parsed.method);
    // The logged target (redacted) is made only when a line is written.
    let head_len = out.len() as u64;
    let sent = send::response(io, out, &plan.body).await;
    // No read happens while a response is sent: what moved since is what was sent.
    let body_sent = match sent {
        Ok(()) => plan.body.len(),
        Err(_) => (io.moved() - moved).saturating_sub(head_len),
    };
    let body = (!plan.body.is_empty()).then_some(&plan.body);
    let done = Completed { status: plan.status, bytes: body_sent, body, started, class: plan.class };
    ctx.responder.completed(done);
    if let Err(error) = sent {
        let target = ctx.responder.log_target(parsed.target);
        let sent = io.moved() - moved;
        respond::cut_short(AccessLine { peer, method, target: &target, version }, plan.status, sent, total, &error);
        return Err(error);
    }
    if ctx.responder.logs_access() {
        let target = ctx.responder.log_target(parsed.target);
        respond::finish(AccessLine { peer, method, target: &target, version }, plan.status, plan.body.len(), started);
    }
    Ok(conn)
}

/// Answers a head that cannot be accepted, then closes.
async fn refuse<R: Respond>(
    io: &mut ActivityIo,
    ctx: &Ctx<'_, R>,
    why: Refusal,
    out: &mut Vec<u8>,
) -> io::Result<Option<BytesMut>> {
    let plan = ctx.responder.refuse(why);
    respond::refused(ctx.peer, why, plan.status);
    out.clear();
    head::render((&plan).into(), &date(), Connection::Close, out);
    send::response(io, out, &plan.body).await?;
    linger(io).await;
    Ok(None)
}

/// After a refusal the client may still be sending (a body, the rest of an oversized head).
/// Closing a socket with unread bytes makes the kernel send a reset, which can destroy the
/// answer before the client has read it; so, as nginx's `lingering_close` does, end our side
/// first and read and discard what still arrives, for a bounded time and amount.
async fn linger(io: &mut ActivityIo) {
    const LINGER_TIME: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 1024 * 1024;
    if io.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut sink = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match tokio::time::timeout_at(deadline, io.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// The IMF-fixdate of the current second, formatted once per second per thread. Read from the
/// coarse real-time clock (tick resolution, a few ms): a `Date` has one-second resolution, and
/// the coarse clock skips the TSC read.
fn date() -> [u8; 29] {
    use nix::time::{clock_gettime, ClockId};
    use std::cell::Cell;
    thread_local!(static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) });
    let secs = match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => u64::try_from(t.tv_sec()).unwrap_or(0),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let now = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    CACHE.with(|c| {
        let (cached, text) = c.get();
        if cached == secs {
            return text;
        }
        let mut out = [0u8; 29];
        let formatted = httpdate::fmt_http_date(now);
        let n = formatted.len().min(29);
        out[..n].copy_from_slice(&formatted.as_bytes()[..n]);
        c.set((secs, out));
        out
    })
}
