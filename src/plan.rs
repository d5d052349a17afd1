//! The response plan: status, headers and a body, independent of any HTTP library, so every
//! connection driver renders the same decisions. Must not make decisions itself.

use std::fs::File;
use std::sync::Arc;

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
    pub body: Body,
    /// Marks the response in flight for disk retention until the driver drops it (after the
    /// body has been handed to the socket).
    pub guard: Option<crate::retention::ReadGuard>,
}

/// A response body: bytes in RAM, or a range of an open file (sent with `sendfile` by the
/// native driver, read in chunks by hyper).
#[derive(Debug)]
pub enum Body {
    /// Bytes in RAM.
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`.
    File {
        /// The open file (kept open by the cache entry too).
        file: Arc<File>,
        /// First byte.
        offset: u64,
        /// Byte count.
        len: u64,
    },
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::Bytes(Bytes::new())
    }

    /// Bytes the body holds.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
