//! The response plan: status, headers and a body, independent of any HTTP library, so every
//! connection driver renders the same decisions. Must not make decisions itself.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// What to send back for one request.
#[derive(Debug)]
pub struct ResponsePlan {
    /// Status code.
    pub status: StatusCode,
    /// Header fields computed once per cached file version, sent first.
    pub fixed: Option<Arc<FixedHeaders>>,
    /// The other header fields (drivers add only `Date` and framing).
    pub headers: HeaderMap,
    /// The body; empty for HEAD, 304 and preflights.
    pub body: Body,
    /// Marks the response in flight for its stream until the driver drops it (after the
    /// body has been handed to the socket).
    pub guard: Option<crate::usage::ReadGuard>,
    /// What was asked for, for the metrics (decided with the response, not re-parsed).
    pub class: crate::metrics::Class,
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

/// Header fields made once and sent with many responses: kept both as fields (for hyper) and
/// as their HTTP/1.1 wire form, so the native driver copies one block per response instead of
/// formatting header by header.
#[derive(Debug)]
pub struct FixedHeaders {
    fields: Vec<(HeaderName, HeaderValue)>,
    wire: Box<[u8]>,
}

impl FixedHeaders {
    /// The fields, in order.
    pub fn new(fields: Vec<(HeaderName, HeaderValue)>) -> FixedHeaders {
        let mut wire = Vec::with_capacity(fields.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum());
        for (name, value) in &fields {
            wire.extend_from_slice(name.as_str().as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        FixedHeaders { fields, wire: wire.into_boxed_slice() }
    }

    /// The fields.
    pub fn fields(&self) -> &[(HeaderName, HeaderValue)] {
        &self.fields
    }

    /// `name: value\r\n` for each field.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }
}

impl ResponsePlan {
    /// Every header field of the response, fixed ones first (for drivers that need a map).
    pub fn header_map(&self) -> HeaderMap {
        let fixed = self.fixed.as_deref().map_or(&[][..], FixedHeaders::fields);
        let mut map = HeaderMap::with_capacity(fixed.len() + self.headers.len());
        for (name, value) in fixed {
            map.append(name.clone(), value.clone());
        }
        for (name, value) in &self.headers {
            map.append(name.clone(), value.clone());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_headers_render_and_merge() {
        let fixed = FixedHeaders::new(vec![
            (http::header::ETAG, HeaderValue::from_static("\"a\"")),
            (http::header::CONTENT_LENGTH, HeaderValue::from_static("3")),
        ]);
        assert_eq!(fixed.wire(), b"etag: \"a\"\r\ncontent-length: 3\r\n");
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let plan = ResponsePlan {
            status: StatusCode::OK,
            fixed: Some(Arc::new(fixed)),
            headers,
            body: Body::empty(),
            guard: None,
            class: crate::metrics::Class::Other,
        };
        let map = plan.header_map();
        assert_eq!(map.len(), 3);
        assert_eq!(map["etag"], "\"a\"");
        assert_eq!(map["accept-ranges"], "bytes");
    }
}
