//! The native driver's head parsing and framing decisions: never panics, never claims more bytes
//! than it was given, never accepts a request that carries a body.
#![no_main]

use hls_origin::native_driver::head::{self, Head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = head::maybe_h2_preface(data);
    let mut slots = head::slots();
    if let Head::Request(p) = head::parse(data, &mut slots) {
        assert!(p.len <= data.len());
        assert!(!p.fields().contains("transfer-encoding"));
        if let Some(target) = head::target(p.target, &mut None) {
            assert!(target.path.len() <= p.target.len());
        }
        let headers = http::HeaderMap::new();
        let plan = head::Rendered { status: http::StatusCode::OK, fixed: None, headers: &headers };
        let mut out = Vec::new();
        head::render(plan, b"Thu, 01 Jan 1970 00:00:00 GMT", head::Connection::KeepAlive, &mut out);
        assert!(out.ends_with(b"\r\n\r\n"));
    }
});
