//! The media playlist model and its renderings: parsing arbitrary bytes never panics, blocks
//! stay in bounds, and a delta update of an advertised playlist parses back with the segments
//! after the skip boundary, unchanged.
#![no_main]

use hls_origin::playlist::directives::Skip;
use hls_origin::playlist::model::MediaPlaylist;
use hls_origin::playlist::render::{self, Offer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(model) = MediaPlaylist::parse(data) else { return };
    for s in &model.segments {
        assert!(s.lines.start < s.lines.end && s.lines.end <= data.len());
    }
    let offer = Offer { blocking_reload: true, delta_updates: true };
    let Some(text) = render::advertise(data, &model, offer) else { return };
    let Some(advertised) = MediaPlaylist::parse(&text) else { return };
    for skip in [Skip::Segments, Skip::SegmentsAndDateRanges] {
        if let Some(delta) = render::delta(&text, &advertised, skip, &["x".into()]) {
            let parsed = MediaPlaylist::parse(&delta).expect("a delta update is a media playlist");
            assert!(parsed.segments.len() < advertised.segments.len());
        }
    }
});
