//! Conditional headers (If-Match, If-None-Match, If-Modified-Since, If-Range): never panics.
#![no_main]

use hls_origin::conditional::{evaluate, Validators};
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (which, value) = input;
    let Ok(value) = HeaderValue::from_bytes(value) else { return };
    let name = [IF_MATCH, IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE, IF_RANGE][usize::from(which) % 5].clone();
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    let _ = evaluate(&headers, Validators { etag: "\"0123456789abcdef-10\"", modified_secs: 1_700_000_000 });
});
