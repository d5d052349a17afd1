//! The native HTTP/1.x connection driver: request heads parsed with httparse, the same
//! [`ResponsePlan`](crate::plan::ResponsePlan) the hyper driver renders, one `writev` per
//! response, pipelined requests answered in order. HTTP/2 prior-knowledge connections go to
//! hyper with the bytes already read. Knows nothing of files or HLS; decides no status code
//! except refusing a head it cannot parse (as hyper does).

pub mod head;
mod send;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::handler::{self, RequestHead};
use crate::server::activity::ActivityIo;
use crate::state::AppState;
use head::{Connection, Head};

/// Largest request head accepted (431 beyond), as the hyper driver's buffer.
pub const MAX_HEAD_BYTES: usize = crate::server::MAX_HEAD_BUFFER;

/// Serves one listener with the native driver until `shutdown`; then stops accepting, lets
/// in-flight responses finish and closes idle connections, for at most `shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = Arc::new(());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (state, stop, live) = (Arc::clone(&state), stop_rx.clone(), Arc::clone(&live));
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
    let _ = stop_tx.send(true);
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

async fn connection(stream: TcpStream, peer: SocketAddr, state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let (mut io, activity) = ActivityIo::new(stream);
    let (first_byte, idle) = (state.config.server.header_read_timeout, state.config.server.idle_timeout);
    let outcome = tokio::select! {
        outcome = serve(&mut io, peer, &state, &mut stop) => outcome,
        () = activity.watchdog(first_byte, idle) => return,
    };
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
    stop: &mut watch::Receiver<bool>,
) -> io::Result<Option<BytesMut>> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut out = Vec::with_capacity(512);
    let mut first = true;
    loop {
        let parsed = match next_head(io, &mut buf, state, stop, first).await? {
            Next::Head(p) => p,
            Next::H2 => return Ok(Some(buf)),
            Next::Close => return Ok(None),
            Next::Refuse(status) => {
                let plan = handler::refuse(state, status);
                out.clear();
                head::render(plan.status, &plan.headers, &date(), Connection::Close, &mut out);
                send::response(io, &out, &plan.body).await?;
                return Ok(None);
            }
        };
        first = false;
        let started = Instant::now();
        let req =
            RequestHead { remote: Some(peer.ip()), method: &parsed.method, uri: &parsed.uri, headers: &parsed.headers };
        let plan = handler::handle(state, req).await;
        let conn = match (parsed.keep_alive && !*stop.borrow(), parsed.http10) {
            (false, _) => Connection::Close,
            (true, true) => Connection::KeepAlive10,
            (true, false) => Connection::KeepAlive,
        };
        out.clear();
        head::render(plan.status, &plan.headers, &date(), conn, &mut out);
        send::response(io, &out, &plan.body).await?;
        if state.config.server.access_log {
            let version = if parsed.http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
            crate::server::log_access(
                peer,
                &parsed.method,
                &parsed.uri,
                version,
                plan.status,
                plan.body.len(),
                started,
            );
        }
        drop(plan);
        buf.advance(parsed.len);
        if conn == Connection::Close {
            return Ok(None);
        }
    }
}

enum Next {
    Head(Box<head::Parsed>),
    H2,
    Close,
    Refuse(http::StatusCode),
}

/// Reads until `buf` starts with a whole head. Between requests it waits for the first byte
/// (the idle watchdog bounds that) or for shutdown; from the first byte of a head — or from the
/// start of the connection — the whole head must arrive within `header_read_timeout`.
async fn next_head(
    io: &mut ActivityIo,
    buf: &mut BytesMut,
    state: &AppState,
    stop: &mut watch::Receiver<bool>,
    first: bool,
) -> io::Result<Next> {
    let timeout = state.config.server.header_read_timeout;
    let mut deadline = first.then(|| tokio::time::Instant::now() + timeout);
    loop {
        if !buf.is_empty() {
            if first && head::maybe_h2_preface(buf) {
                if buf.len() >= head::H2_PREFACE_LEN {
                    return Ok(Next::H2);
                }
            } else {
                match head::parse(buf) {
                    Head::Request(p) => return Ok(Next::Head(p)),
                    Head::Refuse(status) => return Ok(Next::Refuse(status)),
                    Head::Partial if buf.len() > MAX_HEAD_BYTES => {
                        return Ok(Next::Refuse(http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
                    }
                    Head::Partial => {}
                }
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
        }
        let read = match deadline {
            Some(at) => match tokio::time::timeout_at(at, io.read_buf(buf)).await {
                Ok(read) => read?,
                Err(_) => return Ok(Next::Close),
            },
            None => tokio::select! {
                read = io.read_buf(buf) => read?,
                _ = stop.changed() => return Ok(Next::Close),
            },
        };
        if read == 0 {
            return Ok(Next::Close);
        }
    }
}

/// The IMF-fixdate of the current second, formatted once per second per thread.
fn date() -> [u8; 29] {
    use std::cell::Cell;
    thread_local!(static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) });
    let now = std::time::SystemTime::now();
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
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
