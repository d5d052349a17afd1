//! Content codings (RFC 9110 §8.4, §12.5.3): whether a request's `Accept-Encoding` takes gzip,
//! and gzip compression of a playlist version, done once when the version is cached. Must not
//! choose which representation a response gets (the handler does) or hold any state.

use std::io::Write;

/// Whether an `Accept-Encoding` field value accepts gzip (RFC 9110 §12.5.3): `gzip` (or
/// `x-gzip`, §8.4.1.3) with a non-zero weight, or `*` with a non-zero weight when gzip is not
/// named. Anything malformed in a member makes that member count as absent.
pub fn accepts_gzip(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else { return false };
    let mut star = false;
    for member in value.split(',') {
        let mut parts = member.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let weight = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
        });
        let accepted = weight.is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0 && q <= 1.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return accepted;
        }
        if coding == "*" {
            star = accepted;
        }
    }
    star
}

/// `bytes` gzip-compressed, or `None` when that would not make them smaller.
pub fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3 + 32), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < bytes.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_and_wildcards_decide() {
        for yes in ["gzip", "deflate, gzip", "GZIP;q=0.5", "br;q=1.0, gzip;q=0.001", "*", "x-gzip", "identity, *;q=1"] {
            assert!(accepts_gzip(yes.as_bytes()), "{yes}");
        }
        for no in ["", "identity", "br", "gzip;q=0", "gzip;q=0.000, *", "*;q=0", "gzip;q=x", "gzip;q=2", "gzipx"] {
            assert!(!accepts_gzip(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn gzip_round_trips_and_declines_what_it_cannot_shrink() {
        let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n".to_string() + &"#EXTINF:4.0,\nsegment.ts\n".repeat(30);
        let packed = gzip(playlist.as_bytes()).unwrap();
        assert!(packed.len() < playlist.len() / 4);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out).unwrap();
        assert_eq!(out, playlist);
        assert_eq!(gzip(b"x"), None);
    }

    proptest! {
        /// Any bytes: no panic; adding an explicit refusal of gzip always refuses it.
        #[test]
        fn never_panics_and_an_explicit_zero_wins(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = accepts_gzip(&value);
            let text = String::from_utf8_lossy(&value).replace(['g', 'G'], "");
            let value = format!("gzip;q=0, {text}");
            prop_assert!(!accepts_gzip(value.as_bytes()));
        }
    }
}
