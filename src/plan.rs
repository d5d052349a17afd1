//! The response plan: status, headers and a body, independent of any HTTP library, so every
//! connection driver renders the same decisions. Must not make decisions itself.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// What to send back for one request.
#[derive(Debug)]
pub struct ResponsePlan {
    /// Status code.
    pub status: StatusCode,
    /// Every header the response carries (drivers add only `Date` and framing).
    pub headers: HeaderMap,
    /// The body; empty for HEAD, 304 and preflights.
    pub body: Bytes,
    /// Marks the response in flight for disk retention until the driver drops it (after the
    /// body has been handed to the socket).
    pub guard: Option<crate::retention::ReadGuard>,
}
