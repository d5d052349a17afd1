//! The connection driver: accepts TCP connections and speaks HTTP/1.1 and h2c through hyper,
//! with timeouts, head-size limits, an access log and graceful shutdown. Knows nothing of files
//! or HLS: every request goes to [`crate::handler::handle`].

pub(crate) mod activity;
mod body;
mod prefixed;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Http1Driver;
use crate::fields::{Fields, Target};
use crate::handler::{self, RequestHead, MAX_HEADER_BYTES, MAX_TARGET_BYTES};
use crate::state::AppState;
use activity::ActivityIo;

/// hyper's read buffer (and the native driver's head limit): room for the largest head we accept plus slack, so that requests just
/// over our limits reach the handler and get a precise 414/431; beyond it hyper answers 431.
pub const MAX_HEAD_BUFFER: usize = 4 * (MAX_TARGET_BYTES + MAX_HEADER_BYTES);

/// Binds every configured listener, logging `listening on <addr>` for each.
pub async fn bind(addrs: &[SocketAddr]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        tracing::info!("listening on {}", listener.local_addr()?);
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves every listener until `shutdown` resolves, then drains in-flight responses for at most
/// `server.shutdown_grace`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(());
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let mut rx = rx.clone();
        let signal = async move {
            let _ = rx.changed().await;
        };
        tasks.spawn(run(listener, Arc::clone(&state), signal));
    }
    shutdown.await;
    drop(tx);
    while let Some(result) = tasks.join_next().await {
        result.context("listener task panicked")??;
    }
    Ok(())
}

/// Serves one listener until `shutdown` resolves; then stops accepting and gives open
/// connections `server.shutdown_grace` to finish their responses.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if state.config.server.http1_driver == Http1Driver::Native {
        return crate::driver::run(listener, state, shutdown).await;
    }
    let builder = Arc::new(http_builder(&state));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let watcher = graceful.watcher();
                    let builder = Arc::clone(&builder);
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let (first_byte, idle) = (state.config.server.header_read_timeout, state.config.server.idle_timeout);
                        let (io, activity) = ActivityIo::new(stream);
                        let service = service_fn(move |req| respond(Arc::clone(&state), peer, req));
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
                        tokio::select! {
                            result = conn => if let Err(e) = result {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            },
                            () = activity.watchdog(first_byte, idle) => tracing::debug!(%peer, "idle connection closed"),
                        }
                    });
                }
                Err(e) => accept_error(e).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let grace = state.config.server.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: connections still open after {grace:?}; closing them");
    }
    Ok(())
}

fn http_builder(state: &AppState) -> auto::Builder<TokioExecutor> {
    let server = &state.config.server;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER);
    builder.http2().timer(TokioTimer::new()).max_header_list_size(u32::try_from(MAX_HEAD_BUFFER).unwrap_or(u32::MAX));
    builder
}

/// Running out of descriptors (EMFILE/ENFILE) must not spin the accept loop.
pub(crate) async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn respond(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: http::Request<Incoming>,
) -> Result<http::Response<body::PlanBody>, Infallible> {
    let started = Instant::now();
    let (parts, _body) = req.into_parts();
    let head = RequestHead {
        remote: Some(peer.ip()),
        method: &parts.method,
        target: Target::of_uri(&parts.uri),
        headers: Fields::Map(&parts.headers),
    };
    let plan = handler::handle(&state, head).await;
    if state.config.server.access_log {
        let line = AccessLine { peer, method: &parts.method, target: &parts.uri, version: parts.version };
        log_access(line, plan.status, plan.body.len(), started);
    }
    Ok(body::render(plan))
}

/// Who asked for what, for the access log.
pub(crate) struct AccessLine<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// Method.
    pub method: &'a http::Method,
    /// The request target as the driver has it.
    pub target: &'a dyn std::fmt::Display,
    /// Protocol version.
    pub version: http::Version,
}

/// One access-log line (target `access`), for both drivers.
pub(crate) fn log_access(line: AccessLine<'_>, status: http::StatusCode, bytes: u64, started: Instant) {
    tracing::info!(
        target: "access",
        peer = %line.peer,
        method = %line.method,
        uri = %line.target,
        version = ?line.version,
        status = status.as_u16(),
        bytes,
        micros = started.elapsed().as_micros() as u64,
    );
}

/// Serves a connection the native driver hands over (HTTP/2 prior knowledge) with hyper, the
/// bytes it already read first.
pub(crate) async fn serve_prefixed(io: ActivityIo, prefix: bytes::BytesMut, peer: SocketAddr, state: Arc<AppState>) {
    let builder = http_builder(&state);
    let io = prefixed::Prefixed { prefix, inner: io };
    let service = service_fn(move |req| respond(Arc::clone(&state), peer, req));
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
