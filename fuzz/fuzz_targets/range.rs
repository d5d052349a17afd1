//! Range header decisions: never panics; every range lies inside the representation.
#![no_main]

use hls_origin::range::{decide, RangeDecision, MAX_RANGES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u32, &[u8])| {
    let (len, header) = input;
    let len = u64::from(len);
    if let RangeDecision::Partial(ranges) = decide(header, len) {
        assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
        for r in ranges {
            assert!(r.start <= r.end && r.end < len);
        }
    }
});
