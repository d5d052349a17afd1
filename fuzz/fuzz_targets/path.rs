//! Request-path normalisation: never panics; an accepted path is canonical and stays inside.
#![no_main]

use hls_origin::path::NormPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(p) = NormPath::parse(raw) {
        let s = p.as_str();
        assert!(s.starts_with('/'));
        assert!(!s.contains("//"));
        assert!(!s.contains('\0'));
        assert!(!s.split('/').any(|seg| seg == "." || seg == ".."));
    }
});
