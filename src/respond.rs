//! The seam between connection drivers and what answers requests: the [`Respond`] trait both
//! HTTP/1 drivers (and hyper's HTTP/2) call, generic so the hot path has no dynamic dispatch;
//! [`Refusal`], why a driver could not accept a head; and [`finish`], the one place that writes
//! the access line. Must not know files, HLS or sockets.

use quanta::Instant;
use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;

use crate::plan::ResponsePlan;
use crate::request::RequestHead;

/// Answers requests: the media handler on the public listeners, later the admin endpoints.
pub trait Respond: Send + Sync + 'static {
    /// The plan for one accepted request head.
    fn respond<'a>(&'a self, req: RequestHead<'a>) -> impl Future<Output = ResponsePlan> + Send + 'a;

    /// The answer to a head the driver could not accept; the connection closes after it.
    fn refuse(&self, why: Refusal) -> ResponsePlan;

    /// Whether each response gets an access line (read per request: a reload may change it).
    fn logs_access(&self) -> bool;

    /// The request target as the access log shows it (the media handler redacts signatures).
    fn log_target<'t>(&self, target: &'t str) -> Cow<'t, str> {
        Cow::Borrowed(target)
    }

    /// Called once per response the driver finished with (sent whole or cut short), for
    /// metrics. The default counts nothing.
    fn completed(&self, _done: Completed<'_>) {}
}

/// A response a driver finished with, as [`Respond::completed`] sees it.
pub struct Completed<'a> {
    /// The status sent.
    pub status: http::StatusCode,
    /// Body bytes sent.
    pub bytes: u64,
    /// The body, `None` when it was empty.
    pub body: Option<&'a crate::plan::Body>,
    /// When the driver had the whole head.
    pub started: Instant,
    /// What was asked for (from the plan).
    pub class: crate::metrics::Class,
}

/// Why a driver refused a request head before any responder saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP/1.x as RFC 9112 frames it, or a request with a body, `Expect` or `Upgrade`.
    Malformed,
    /// More header fields or head bytes than the limits in [`crate::request`].
    HeadTooLarge,
}

/// Who asked for what, for the access log.
pub struct AccessLine<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// Method.
    pub method: &'a http::Method,
    /// The request target: path and query, as [`Respond::log_target`] shows it.
    pub target: &'a str,
    /// Protocol version.
    pub version: http::Version,
}

/// Writes one access-log line (target `access`) for a response that was sent; both drivers
/// call it once per response.
pub fn finish(line: AccessLine<'_>, status: http::StatusCode, bytes: u64, started: Instant) {
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

/// The line for a head refused before any responder saw it (400 malformed, 431 too large).
pub fn refused(peer: SocketAddr, why: Refusal, status: http::StatusCode) {
    tracing::info!(target: "access", %peer, status = status.as_u16(), refused = ?why, "request head refused");
}

/// The line for a response that could not be sent whole (the client went away, the file shrank
/// under `sendfile`): how much of it left.
pub fn cut_short(line: AccessLine<'_>, status: http::StatusCode, sent: u64, of: u64, error: &std::io::Error) {
    tracing::warn!(
        target: "access",
        peer = %line.peer,
        method = %line.method,
        uri = %line.target,
        status = status.as_u16(),
        sent,
        of,
        %error,
        "response cut short"
    );
}
