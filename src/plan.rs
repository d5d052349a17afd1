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
}

impl ResponsePlan {
    /// Renders the plan as a hyper response.
    pub fn into_http(self) -> http::Response<http_body_util::Full<Bytes>> {
        let mut response = http::Response::new(http_body_util::Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}
