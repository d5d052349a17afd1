//! Accept-Encoding values: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    let _ = hls_origin::encoding::accepts_gzip(value);
});
