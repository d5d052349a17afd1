//! The hyper connection driver: HTTP/1.1 and h2c through hyper-util's auto builder, for
//! `http1_driver = "hyper"` and for every HTTP/2 connection the native driver hands over. Takes
//! a [`Conn`] from the accept loop, asks a [`Respond`]er for each request and renders its plan.
//! On the stop signal it starts hyper's graceful shutdown (HTTP/1: close after the response in
//! progress; HTTP/2: GOAWAY, finish open streams). Must not accept connections or decide
//! responses.

mod body;
mod prefixed;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quanta::Instant;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::net::{Conn, StopWatch};
use crate::request::{Fields, RequestHead, Target, MAX_HEAD_BYTES};
use crate::respond::{self, AccessLine, Completed, Refusal, Respond};

/// Serves connections with hyper; cheap to clone (one per connection).
pub struct HyperDriver<R> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    responder: Arc<R>,
}

impl<R> Clone for HyperDriver<R> {
    fn clone(&self) -> Self {
        HyperDriver { builder: Arc::clone(&self.builder), responder: Arc::clone(&self.responder) }
    }
}

impl<R: Respond> HyperDriver<R> {
    /// A driver answering with `responder`; a request head must arrive within
    /// `header_read_timeout`.
    pub fn new(responder: Arc<R>, header_read_timeout: Duration) -> HyperDriver<R> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(true)
            .max_buf_size(MAX_HEAD_BYTES);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
        HyperDriver { builder: Arc::new(builder), responder }
    }

    /// Serves one connection from the accept loop.
    pub async fn serve(self, conn: Conn) {
        let Conn { io, peer, stop } = conn;
        self.drive(io, peer, &stop).await;
    }

    /// Serves a connection the native driver hands over (HTTP/2 prior knowledge), the bytes
    /// it already read first, under the same watchdog and stop signal.
    pub async fn serve_prefixed(self, conn: Conn, prefix: bytes::BytesMut) {
        let Conn { io, peer, stop } = conn;
        self.drive(prefixed::Prefixed { prefix, inner: io }, peer, &stop).await;
    }

    async fn drive<I>(self, io: I, peer: SocketAddr, stop: &StopWatch)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let responder = self.responder;
        let signal = stop.signal();
        let service = service_fn(move |req| respond(Arc::clone(&responder), peer, signal.clone(), req));
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = stop.stopped() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            ended_with_error(peer, e.as_ref());
        }
    }
}

/// hyper answers heads it cannot parse itself (400, or 431 beyond its buffer) and ends the
/// connection: those get the same refusal line as the native driver's. A connection that broke
/// while writing a response (the client went away) gets a cut-short line.
fn ended_with_error(peer: SocketAddr, e: &(dyn std::error::Error + 'static)) {
    let Some(e) = e.downcast_ref::<hyper::Error>() else {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
        return;
    };
    if e.is_parse_too_large() {
        respond::refused(peer, Refusal::HeadTooLarge, http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    } else if e.is_parse() {
        respond::refused(peer, Refusal::Malformed, http::StatusCode::BAD_REQUEST);
    } else if e.is_body_write_aborted() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) {
        tracing::warn!(target: "access", %peer, error = %e, "response cut short: the connection broke mid-response");
    } else {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

async fn respond<R: Respond>(
    responder: Arc<R>,
    peer: SocketAddr,
    stop: crate::net::stop::StopSignal,
    req: http::Request<Incoming>,
) -> Result<http::Response<body::PlanBody>, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let head = RequestHead {
        remote: Some(peer.ip()),
        method: &parts.method,
        target: Target::of_uri(&parts.uri),
        headers: Fields::Map(&parts.headers),
        stop: Some(&stop),
    };
    let plan = if hyper::body::Body::is_end_stream(&body) {
        responder.respond(head).await
    } else {
        // A request with a body is refused as the native driver refuses it: nothing here takes
        // one, and the connection closes rather than read it.
        let mut plan = responder.refuse(Refusal::Malformed);
        if parts.version < http::Version::HTTP_2 {
            plan.headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        plan
    };
    // Path and query only: HTTP/2 requests carry an absolute URI, HTTP/1 ones rarely do.
    let raw_target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // hyper sends the body after this returns: counted as planned (a broken connection gets
    // its own cut-short line).
    let body = (!plan.body.is_empty()).then_some(&plan.body);
    let done = Completed { status: plan.status, bytes: plan.body.len(), body, started, class: plan.class };
    responder.completed(done);
    if responder.logs_access() {
        let target = responder.log_target(raw_target);
        let line = AccessLine { peer, method: &parts.method, target: &target, version: parts.version };
        respond::finish(line, plan.status, plan.body.len(), started);
    }
    Ok(body::render(plan))
}
