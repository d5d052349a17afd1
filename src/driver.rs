//! The native HTTP/1.x connection driver: request heads parsed with httparse, the same
//! [`ResponsePlan`](crate::plan::ResponsePlan) the hyper driver renders, one `writev` per
//! response, pipelined requests answered in order. HTTP/2 prior-knowledge connections go to
//! hyper with the bytes already read. Knows nothing of files or HLS; decides no status code
//! except refusing a head it cannot parse (as hyper does).

pub mod head;
mod send;
mod stop;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::handler::{self, RequestHead};
use crate::server::activity::ActivityIo;
use crate::state::AppState;
use head::{Connection, Head};
use stop::{StopWatch, Stops};

/// Largest request head accepted (431 beyond), as the hyper driver's buffer.
pub const MAX_HEAD_BYTES: usize = crate::server::MAX_HEAD_BUFFER;

/// Serves one listener with the native driver until `shutdown`; then stops accepting, lets
/// in-flight responses finish and closes idle connections, for at most `shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let stops = Arc::new(Stops::default());
    let live = Arc::new(());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (state, stop, live) = (Arc::clone(&state), stops.register(), Arc::clone(&live));
                    tokio::spawn(async move {
                        connection(stream, peer, state, stop).await;
                        drop(live);
                    });
                }
                Err(e) => crate::server::accept_error(e).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    stops.stop();
    let deadline = Instant::now() + state.config.server.shutdown_grace;
    while Arc::strong_count(&live) > 1 {
        if Instant::now() >= deadline {
            tracing::warn!(
                "shutdown: connections still open after {:?}; closing them",
                state.config.server.shutdown_grace
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn connection(stream: TcpStream, peer: SocketAddr, state: Arc<AppState>, stop: StopWatch) {
    let (mut io, activity) = ActivityIo::new(stream);
    let (first_byte, idle) = (state.config.server.header_read_timeout, state.config.server.idle_timeout);
    let outcome = tokio::select! {
        // Biased: `serve` marks the connection idle before the stop branch looks at the mark.
        biased;
        outcome = serve(&mut io, peer, &state, &stop) => outcome,
        () = activity.watchdog(first_byte, idle) => return,
        () = stop.stopped_idle() => Ok(None),
    };
    drop(stop);
    match outcome {
        Ok(Some(prefix)) => crate::server::serve_prefixed(io, prefix, peer, state).await,
        Ok(None) => {
            let _ = io.shutdown().await;
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
    }
}

/// Answers requests until the connection should close. `Some(bytes)`: an HTTP/2 client, to be
/// handed to hyper with the bytes already read.
async fn serve(
    io: &mut ActivityIo,
    peer: SocketAddr,
    state: &AppState,
    stop: &StopWatch,
) -> io::Result<Option<BytesMut>> {
    let timeout = state.config.server.header_read_timeout;
    let mut buf = BytesMut::with_capacity(8 * 1024);
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
                        let conn = respond(io, peer, state, stop, &parsed, &mut out).await?;
                        let len = parsed.len;
                        buf.advance(len);
                        if conn == Connection::Close {
                            return Ok(None);
                        }
                        deadline = None;
                        continue;
                    }
                    Head::Refuse(status) => return refuse(io, state, status, &mut out).await,
                    Head::Partial if buf.len() > MAX_HEAD_BYTES => {
                        return refuse(io, state, http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &mut out).await;
                    }
                    Head::Partial => {}
                }
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
        }
        if !read_more(io, &mut buf, deadline, stop).await? {
            return Ok(None);
        }
    }
}

/// Reads more of the next head; `false` when the connection should close (peer closed, the
/// head's deadline passed, or the server is stopping while the connection is idle).
async fn read_more(
    io: &mut ActivityIo,
    buf: &mut BytesMut,
    deadline: Option<tokio::time::Instant>,
    stop: &StopWatch,
) -> io::Result<bool> {
    let read = match deadline {
        Some(at) => match tokio::time::timeout_at(at, io.read_buf(buf)).await {
            Ok(read) => read?,
            Err(_) => return Ok(false),
        },
        // Between requests: the idle watchdog and the stop signal (in `connection`) end it.
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
async fn respond(
    io: &mut ActivityIo,
    peer: SocketAddr,
    state: &AppState,
    stop: &StopWatch,
    parsed: &head::Parsed<'_>,
    out: &mut Vec<u8>,
) -> io::Result<Connection> {
    let started = state.config.server.access_log.then(Instant::now);
    let mut uri = None;
    let Some(target) = head::target(parsed.target, &mut uri) else {
        refuse(io, state, http::StatusCode::BAD_REQUEST, out).await?;
        return Ok(Connection::Close);
    };
    let req = RequestHead { remote: Some(peer.ip()), method: &parsed.method, target, headers: parsed.fields() };
    let plan = handler::handle(state, req).await;
    let conn = match (parsed.keep_alive && !stop.is_stopping(), parsed.http10) {
        (false, _) => Connection::Close,
        (true, true) => Connection::KeepAlive10,
        (true, false) => Connection::KeepAlive,
    };
    out.clear();
    head::render((&plan).into(), &date(), conn, out);
    send::response(io, out, &plan.body).await?;
    if let Some(started) = started {
        let version = if parsed.http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
        let line = crate::server::AccessLine { peer, method: &parsed.method, target: &parsed.target, version };
        crate::server::log_access(line, plan.status, plan.body.len(), started);
    }
    Ok(conn)
}

/// Answers a head that cannot be accepted, then closes.
async fn refuse(
    io: &mut ActivityIo,
    state: &AppState,
    status: http::StatusCode,
    out: &mut Vec<u8>,
) -> io::Result<Option<BytesMut>> {
    let plan = handler::refuse(state, status);
    out.clear();
    head::render((&plan).into(), &date(), Connection::Close, out);
    send::response(io, out, &plan.body).await?;
    Ok(None)
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
