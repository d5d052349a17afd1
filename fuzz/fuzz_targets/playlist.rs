//! Playlist scanning: never panics on arbitrary bytes.
#![no_main]

use hls_origin::playlist::PlaylistInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = PlaylistInfo::scan(data);
    if PlaylistInfo::looks_complete(data) {
        assert!(data.starts_with(b"#EXTM3U"));
    }
    let _ = info;
    for (uri, duration) in hls_origin::playlist::segments(data) {
        assert!(!uri.is_empty() && duration >= 0.0);
    }
});
