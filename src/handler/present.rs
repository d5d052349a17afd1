//! Presenting decisions: the one place that maps an [`Outcome`] or a [`RequestError`] to a
//! status code, headers and body. Must not look at files or parse request semantics.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    ACCEPT_RANGES, ACCESS_CONTROL_REQUEST_HEADERS, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    RETRY_AFTER,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{Outcome, Part, RequestError};
use crate::config::CorsConfig;
use crate::headers::{self, ALLOWED, BYTES};
use crate::metrics::Class;
use crate::plan::{Body, ResponsePlan};
use crate::range::ByteRange;
use crate::request::Fields;
use crate::store::{Content, Encoded, FileEntry};

pub(super) fn outcome(outcome: Outcome, cors: Option<&CorsConfig>, req_headers: Fields<'_>) -> ResponsePlan {
    match outcome {
        Outcome::Preflight => preflight(cors, req_headers),
        Outcome::File { entry, gzip: Some(gz), part, head_only, guard } => {
            let mut plan = encoded(&entry, &gz, part, head_only);
            plan.guard = Some(guard);
            plan
        }
        Outcome::File { entry, gzip: None, part, head_only, guard } => {
            let mut plan = file(&entry, part, head_only);
            plan.guard = Some(guard);
            plan
        }
    }
}

fn preflight(cors: Option<&CorsConfig>, req_headers: Fields<'_>) -> ResponsePlan {
    let headers = headers::preflight(cors, req_headers.get(ACCESS_CONTROL_REQUEST_HEADERS.as_str()));
    ResponsePlan {
        status: StatusCode::NO_CONTENT,
        fixed: None,
        headers,
        body: Body::empty(),
        guard: None,
        class: Class::Other,
    }
}

/// A file response. The entry's fixed blocks carry CORS, validators and caching fields (and
/// for a 200 the framing too), formatted when the version was cached.
fn file(entry: &FileEntry, part: Part, head_only: bool) -> ResponsePlan {
    let len = entry.len;
    // A file left on disk answers several ranges with the whole body (RFC 9110 §14.2 allows
    // it): a multipart body would have to be assembled in RAM, which zero-copy avoids.
    let part = match (part, &entry.content) {
        (Part::Multi(_), Content::Disk(_)) => Part::Whole,
        (part, _) => part,
    };
    let mut headers = HeaderMap::new();
    let (status, fixed, body) = match part {
        // RFC 9110 §15.4.5: a 304 carries the validators and caching headers, no content.
        Part::NotModified => (StatusCode::NOT_MODIFIED, &entry.validators_head, Body::empty()),
        Part::Whole => (StatusCode::OK, &entry.ok_head, body_of(entry, 0, len)),
        Part::Single(r) => {
            headers.insert(ACCEPT_RANGES, BYTES);
            headers.insert(CONTENT_TYPE, entry.content_type.clone());
            headers.insert(CONTENT_RANGE, content_range(r, len));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(r.len()));
            (StatusCode::PARTIAL_CONTENT, &entry.validators_head, body_of(entry, r.start, r.len()))
        }
        Part::Multi(ranges) => {
            let boundary = boundary(entry);
            let bytes = entry.ram().map(|b| multipart(entry, b, &ranges, &boundary)).unwrap_or_default();
            let ct = format!("multipart/byteranges; boundary={boundary}");
            headers.insert(ACCEPT_RANGES, BYTES);
            headers.insert(CONTENT_TYPE, header_value(&ct));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            (StatusCode::PARTIAL_CONTENT, &entry.validators_head, Body::Bytes(bytes))
        }
    };
    let body = if head_only { Body::empty() } else { body };
    ResponsePlan {
        status,
        fixed: Some(Arc::clone(fixed)),
        headers,
        body,
        guard: None,
        class: Class::of_kind(entry.kind),
    }
}

/// The gzip representation: whole, or 304 (a Range request never selects it).
fn encoded(entry: &FileEntry, gz: &Encoded, part: Part, head_only: bool) -> ResponsePlan {
    let (status, fixed, body) = match part {
        Part::NotModified => (StatusCode::NOT_MODIFIED, &gz.validators_head, Body::empty()),
        _ => (StatusCode::OK, &gz.ok_head, Body::Bytes(gz.bytes.clone())),
    };
    let body = if head_only { Body::empty() } else { body };
    let class = Class::of_kind(entry.kind);
    ResponsePlan { status, fixed: Some(Arc::clone(fixed)), headers: HeaderMap::new(), body, guard: None, class }
}

/// `len` bytes from `offset`: a zero-copy slice of RAM bytes, or a file range.
fn body_of(entry: &FileEntry, offset: u64, len: u64) -> Body {
    match &entry.content {
        // Ranges were decided against `entry.len`, which is the RAM length.
        Content::Ram(bytes) => Body::Bytes(bytes.slice(offset as usize..(offset + len) as usize)),
        Content::Disk(file) => Body::File { file: Arc::clone(file), offset, len },
    }
}

pub(super) fn error(error: RequestError, cors: Option<&CorsConfig>, head_only: bool) -> ResponsePlan {
    let mut headers = headers::error(cors);
    let status = match error {
        RequestError::BadPath(_)
        | RequestError::Malformed
        | RequestError::BadDirective(_)
        | RequestError::TooFarAhead { .. } => StatusCode::BAD_REQUEST,
        RequestError::Forbidden | RequestError::NotAuthorized => StatusCode::FORBIDDEN,
        RequestError::LinkExpired => StatusCode::GONE,
        RequestError::NotFound => StatusCode::NOT_FOUND,
        RequestError::MethodNotAllowed => {
            headers.insert(ALLOW, ALLOWED);
            StatusCode::METHOD_NOT_ALLOWED
        }
        RequestError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        RequestError::UriTooLong => StatusCode::URI_TOO_LONG,
        RequestError::RangeNotSatisfiable(len) => {
            headers.insert(CONTENT_RANGE, header_value(&format!("bytes */{len}")));
            StatusCode::RANGE_NOT_SATISFIABLE
        }
        RequestError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        RequestError::Busy
        | RequestError::HoldTimedOut { .. }
        | RequestError::Stopping
        | RequestError::NotStarted(_) => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            StatusCode::SERVICE_UNAVAILABLE
        }
        // RFC 6585 §4: 429 with Retry-After.
        RequestError::TooManyRequests(over) => {
            headers.insert(RETRY_AFTER, HeaderValue::from(over.retry_after_secs));
            StatusCode::TOO_MANY_REQUESTS
        }
        RequestError::Internal(e) => {
            tracing::error!(error = %e, "internal error reading a file");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    headers.insert(CACHE_CONTROL, headers::ERROR_CACHE_CONTROL);
    headers.insert(CONTENT_TYPE, headers::ERROR_CONTENT_TYPE);
    let text = format!("{} {}\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    let body = if head_only { Body::empty() } else { Body::Bytes(Bytes::from(text)) };
    ResponsePlan { status, fixed: None, headers, body, guard: None, class: Class::Other }
}

fn content_range(r: ByteRange, len: u64) -> HeaderValue {
    header_value(&format!("bytes {}-{}/{len}", r.start, r.end))
}

/// Derived from the content hash: identical requests get identical bytes.
fn boundary(entry: &FileEntry) -> String {
    let etag = entry.etag.to_str().unwrap_or_default();
    format!("hls-origin-{}", etag.trim_matches('"'))
}

/// RFC 9110 §14.6: each part carries its Content-Type and Content-Range.
fn multipart(entry: &FileEntry, bytes: &Bytes, ranges: &[ByteRange], boundary: &str) -> Bytes {
    let len = entry.len;
    let ct = entry.content_type.to_str().unwrap_or_default();
    let total: u64 = ranges.iter().map(|r| r.len() + 128 + boundary.len() as u64).sum();
    let mut out = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    for r in ranges {
        let part_head = format!(
            "\r\n--{boundary}\r\nContent-Type: {ct}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            r.start, r.end
        );
        out.put_slice(part_head.as_bytes());
        // `ByteRange` guarantees start <= end < len, and len == bytes.len().
        out.put_slice(&bytes[r.start as usize..=r.end as usize]);
    }
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out.freeze()
}

/// For values built from digits, fixed text and an already-valid header value.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}
