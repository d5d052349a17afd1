//! Presenting decisions: the one place that maps an [`Outcome`] or a [`RequestError`] to a
//! status code, headers and body. Must not look at files or parse request semantics.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    ACCEPT_RANGES, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ALLOW, CACHE_CONTROL,
    CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, RETRY_AFTER,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{Outcome, Part, RequestError};
use crate::config::CorsConfig;
use crate::plan::ResponsePlan;
use crate::range::ByteRange;
use crate::store::FileEntry;

const ALLOWED: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
const EXPOSED: HeaderValue = HeaderValue::from_static("Content-Length, Content-Range");
const PREFLIGHT_HEADERS: HeaderValue = HeaderValue::from_static("Range, If-None-Match, If-Modified-Since, If-Range");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");

pub(super) fn outcome(outcome: Outcome, cors: Option<&CorsConfig>, req_headers: &HeaderMap) -> ResponsePlan {
    match outcome {
        Outcome::Preflight => preflight(cors, req_headers),
        Outcome::File { entry, part, head_only, guard } => {
            let mut plan = file(&entry, part, head_only, cors);
            plan.guard = guard;
            plan
        }
    }
}

fn preflight(cors: Option<&CorsConfig>, req_headers: &HeaderMap) -> ResponsePlan {
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(ALLOW, ALLOWED);
    if let Some(cors) = cors {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin.clone());
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, ALLOWED);
        // Echoing the requested headers lets players send whatever they need (hls.js adds
        // custom ones); anything sent here is only ever used for GET/HEAD of static files.
        let allow_headers = req_headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned().unwrap_or(PREFLIGHT_HEADERS);
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        headers.insert(ACCESS_CONTROL_MAX_AGE, cors.max_age.clone());
    }
    ResponsePlan { status: StatusCode::NO_CONTENT, headers, body: Bytes::new(), guard: None }
}

fn file(entry: &FileEntry, part: Part, head_only: bool, cors: Option<&CorsConfig>) -> ResponsePlan {
    let mut headers = HeaderMap::with_capacity(10);
    add_cors(&mut headers, cors);
    headers.insert(ETAG, entry.etag.clone());
    headers.insert(LAST_MODIFIED, entry.last_modified.clone());
    headers.insert(CACHE_CONTROL, entry.cache_control.clone());
    if matches!(part, Part::NotModified) {
        // RFC 9110 §15.4.5: a 304 carries the validators and caching headers, no content.
        return ResponsePlan { status: StatusCode::NOT_MODIFIED, headers, body: Bytes::new(), guard: None };
    }
    headers.insert(ACCEPT_RANGES, BYTES);
    let len = entry.bytes.len() as u64;
    let (status, body) = match part {
        Part::Whole | Part::NotModified => {
            headers.insert(CONTENT_TYPE, entry.content_type.clone());
            headers.insert(CONTENT_LENGTH, entry.content_length.clone());
            (StatusCode::OK, entry.bytes.clone())
        }
        Part::Single(r) => {
            headers.insert(CONTENT_TYPE, entry.content_type.clone());
            headers.insert(CONTENT_RANGE, content_range(r, len));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(r.len()));
            (StatusCode::PARTIAL_CONTENT, slice(&entry.bytes, r))
        }
        Part::Multi(ranges) => {
            let boundary = boundary(entry);
            let body = multipart(entry, &ranges, &boundary);
            let ct = format!("multipart/byteranges; boundary={boundary}");
            headers.insert(CONTENT_TYPE, header_value(&ct));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            (StatusCode::PARTIAL_CONTENT, body)
        }
    };
    let body = if head_only { Bytes::new() } else { body };
    ResponsePlan { status, headers, body, guard: None }
}

pub(super) fn error(error: RequestError, cors: Option<&CorsConfig>, head_only: bool) -> ResponsePlan {
    let mut headers = HeaderMap::with_capacity(6);
    add_cors(&mut headers, cors);
    let status = match error {
        RequestError::BadPath(_) | RequestError::Malformed => StatusCode::BAD_REQUEST,
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
        RequestError::Busy => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            StatusCode::SERVICE_UNAVAILABLE
        }
        RequestError::Internal(e) => {
            tracing::error!(error = %e, "internal error reading a file");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    // Errors are never cached by a CDN for long: a 404 for a segment a moment early must not
    // outlive the segment's arrival.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    let text = format!("{} {}\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    let body = if head_only { Bytes::new() } else { Bytes::from(text) };
    ResponsePlan { status, headers, body, guard: None }
}

fn add_cors(headers: &mut HeaderMap, cors: Option<&CorsConfig>) {
    if let Some(cors) = cors {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin.clone());
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
    }
}

fn slice(bytes: &Bytes, r: ByteRange) -> Bytes {
    // `ByteRange` guarantees start <= end < len, and len == bytes.len().
    bytes.slice(r.start as usize..=r.end as usize)
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
fn multipart(entry: &FileEntry, ranges: &[ByteRange], boundary: &str) -> Bytes {
    let len = entry.bytes.len() as u64;
    let ct = entry.content_type.to_str().unwrap_or_default();
    let total: u64 = ranges.iter().map(|r| r.len() + 128 + boundary.len() as u64).sum();
    let mut out = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    for r in ranges {
        let part_head = format!(
            "\r\n--{boundary}\r\nContent-Type: {ct}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            r.start, r.end
        );
        out.put_slice(part_head.as_bytes());
        out.put_slice(&slice(&entry.bytes, *r));
    }
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out.freeze()
}

/// For values built from digits, fixed text and an already-valid header value.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}
