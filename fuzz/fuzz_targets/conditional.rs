//! Conditional headers (If-Match, If-None-Match, If-Modified-Since, If-Range): never panics.
#![no_main]

use hls_origin::conditional::{evaluate, Validators};
use hls_origin::request::Fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (which, value) = input;
    let name = ["If-Match", "if-none-match", "If-Modified-Since", "IF-UNMODIFIED-SINCE", "If-Range"][usize::from(which) % 5];
    let headers = [httparse::Header { name, value }];
    let _ = evaluate(Fields::raw(&headers), Validators { etag: b"\"0123456789abcdef-10\"", modified_secs: 1_700_000_000 });
});
