//! Delivery directives in a query: never panic; `_HLS_part` is never accepted without
//! `_HLS_msn`.
#![no_main]

use hls_origin::playlist::directives::Directives;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    if let Ok(d) = Directives::parse(query) {
        assert!(d.part.is_none() || d.msn.is_some());
    }
});
