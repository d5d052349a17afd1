//! The seam between connection drivers and what answers requests: the [`Respond`] trait both
//! HTTP/1 drivers (and hyper's HTTP/2) call, generic so the hot path has no dynamic dispatch;
//! [`Refusal`], why a driver could not accept a head; and [`finish`], the one place that writes
//! the access line. Must not know files, HLS or sockets.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

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
    /// The request target as the driver has it.
    pub target: &'a dyn Display,
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
