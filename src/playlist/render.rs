//! Renderings of a media playlist version, made once per version: the packager's text with
//! `EXT-X-SERVER-CONTROL` added (§4.4.3.8), and Playlist Delta Updates (§4.4.5.2, §6.2.5.1).
//! Cuts and splices the text at the model's offsets; never re-serialises a line it keeps.
//! Pure; must not do I/O.

use super::directives::Skip;
use super::model::{CarriedTag, MediaPlaylist};

/// What the server offers, to be advertised in playlists that do not say it themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Offer {
    /// Blocking playlist reload (`CAN-BLOCK-RELOAD=YES`).
    pub blocking_reload: bool,
    /// Delta updates (`CAN-SKIP-UNTIL`, `CAN-SKIP-DATERANGES=YES`).
    pub delta_updates: bool,
}

/// The Skip Boundary advertised, in target durations: §4.4.3.8 asks for at least six.
pub const SKIP_BOUNDARY_TDS: u64 = 6;

/// The packager's text with an `EXT-X-SERVER-CONTROL` line after `EXT-X-TARGETDURATION`, or
/// `None` when there is nothing to add: the playlist already has the tag (left as the packager
/// wrote it), has ended (directives are ignored then), has no target duration, or nothing is
/// offered.
pub fn advertise(text: &[u8], model: &MediaPlaylist, offer: Offer) -> Option<Vec<u8>> {
    let target = model.target_duration?;
    if model.server_control.is_some() || model.ended || !(offer.blocking_reload || offer.delta_updates) {
        return None;
    }
    let mut attrs = Vec::new();
    if offer.blocking_reload {
        attrs.push("CAN-BLOCK-RELOAD=YES".to_string());
    }
    if offer.delta_updates {
        attrs.push(format!("CAN-SKIP-UNTIL={:.1}", (SKIP_BOUNDARY_TDS * target.max(1)) as f64));
        attrs.push("CAN-SKIP-DATERANGES=YES".to_string());
    }
    let line = format!("#EXT-X-SERVER-CONTROL:{}\n", attrs.join(","));
    let at = model.header_insert_at.min(text.len());
    let mut out = Vec::with_capacity(text.len() + line.len());
    out.extend_from_slice(&text[..at]);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(&text[at..]);
    Some(out)
}

/// How many leading segments a delta update replaces: those that end at or before the Skip
/// Boundary measured back from the end of the playlist.
pub fn skippable(model: &MediaPlaylist, boundary: f64) -> usize {
    let total = model.duration();
    let mut ended_at = 0.0;
    let mut n = 0;
    for segment in &model.segments {
        ended_at += segment.duration;
        if total - ended_at < boundary {
            break;
        }
        n += 1;
    }
    // Never every segment: a delta update keeps at least the last one.
    n.min(model.segments.len().saturating_sub(1))
}

/// A Playlist Delta Update of `text` (§6.2.5.1), or `None` when the playlist does not offer
/// one (no `CAN-SKIP-UNTIL`), has ended, or has nothing older than the Skip Boundary (the whole
/// playlist is then the answer). The segments before the boundary and the tags that applied to
/// them alone become one `EXT-X-SKIP`; the last `EXT-X-MAP` and `EXT-X-KEY` among them are kept
/// after it (they apply to the segments that follow), and so are their date ranges unless `v2`
/// asked to skip those too, in which case `removed` (date range IDs dropped from the playlist
/// recently) is listed in `RECENTLY-REMOVED-DATERANGES`.
pub fn delta(text: &[u8], model: &MediaPlaylist, skip: Skip, removed: &[Box<str>]) -> Option<Vec<u8>> {
    let control = model.server_control.as_ref()?;
    let boundary = control.can_skip_until?;
    if skip == Skip::No || model.ended {
        return None;
    }
    let n = skippable(model, boundary);
    if n == 0 {
        return None;
    }
    let dateranges_too = skip == Skip::SegmentsAndDateRanges && control.can_skip_dateranges;
    let (from, to) = (model.segments[0].lines.start, model.segments[n].lines.start);
    let mut out = Vec::with_capacity(text.len() - (to - from) + 128);
    out.extend_from_slice(&version_at_least(&text[..from], if dateranges_too { 10 } else { 9 }));
    out.extend_from_slice(format!("#EXT-X-SKIP:SKIPPED-SEGMENTS={n}").as_bytes());
    if dateranges_too {
        let ids: Vec<&str> = removed.iter().map(|s| &**s).collect();
        out.extend_from_slice(format!(",RECENTLY-REMOVED-DATERANGES=\"{}\"", ids.join("\t")).as_bytes());
    }
    out.push(b'\n');
    let skipped: Vec<_> = model.carried.iter().filter(|c| c.line.start >= from && c.line.start < to).collect();
    let last = |tag| skipped.iter().rposition(|c| c.tag == tag);
    let (last_map, last_key) = (last(CarriedTag::Map), last(CarriedTag::Key));
    for (i, c) in skipped.iter().enumerate() {
        let keep = match c.tag {
            CarriedTag::Map => Some(i) == last_map,
            CarriedTag::Key => Some(i) == last_key,
            CarriedTag::DateRange => !dateranges_too,
        };
        if keep {
            out.extend_from_slice(&text[c.line.clone()]);
        }
    }
    out.extend_from_slice(&text[to..]);
    Some(out)
}

/// The header with `EXT-X-VERSION` raised to `min` (a Playlist with `EXT-X-SKIP` needs 9,
/// with `RECENTLY-REMOVED-DATERANGES` 10: §7), added after `#EXTM3U` when absent.
fn version_at_least(header: &[u8], min: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 20);
    let mut found = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        match bare.strip_prefix(b"#EXT-X-VERSION:") {
            Some(v) => {
                found = true;
                let current = std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
                out.extend_from_slice(format!("#EXT-X-VERSION:{}\n", current.max(min)).as_bytes());
            }
            None => out.extend_from_slice(line),
        }
    }
    if !found {
        let first = header.iter().position(|&b| b == b'\n').map_or(header.len(), |i| i + 1);
        let mut with = header[..first].to_vec();
        with.extend_from_slice(format!("#EXT-X-VERSION:{min}\n").as_bytes());
        with.extend_from_slice(&out[first..]);
        return with;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn live(n: u64, seq: u64) -> String {
        let mut text = format!("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
        text += "#EXT-X-MAP:URI=\"init0.mp4\"\n";
        for i in seq..seq + n {
            if i == seq + 2 {
                text +=
                    "#EXT-X-MAP:URI=\"init1.mp4\"\n#EXT-X-DATERANGE:ID=\"d1\",START-DATE=\"2026-12-03T10:00:00Z\"\n";
                text += "#EXT-X-DISCONTINUITY\n";
            }
            text += &format!("#EXTINF:2.000,\ns{i}.m4s\n");
        }
        text
    }

    fn offered(text: &str) -> (Vec<u8>, MediaPlaylist) {
        let model = MediaPlaylist::parse(text.as_bytes()).unwrap();
        let out = advertise(text.as_bytes(), &model, Offer { blocking_reload: true, delta_updates: true }).unwrap();
        let model = MediaPlaylist::parse(&out).unwrap();
        (out, model)
    }

    #[test]
    fn advertises_after_the_target_duration_once() {
        let (out, model) = offered(&live(3, 10));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(
            "#EXT-X-TARGETDURATION:2\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,CAN-SKIP-DATERANGES=YES\n"
        ));
        assert_eq!(model.server_control.as_ref().unwrap().can_skip_until, Some(12.0));
        let offer = Offer { blocking_reload: true, delta_updates: false };
        assert!(advertise(&out, &model, offer).is_none(), "a playlist with the tag is left alone");
        let ended = live(3, 10) + "#EXT-X-ENDLIST\n";
        assert!(advertise(ended.as_bytes(), &MediaPlaylist::parse(ended.as_bytes()).unwrap(), offer).is_none());
        let plain = live(1, 0);
        let only_block = advertise(plain.as_bytes(), &MediaPlaylist::parse(plain.as_bytes()).unwrap(), offer).unwrap();
        assert!(String::from_utf8(only_block).unwrap().contains("SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n"));
    }

    #[test]
    fn a_delta_update_replaces_what_is_older_than_the_boundary() {
        // 10 segments of 2 s, boundary 12 s: the first 4 end at or before 20 - 12 = 8 s.
        let (out, model) = offered(&live(10, 100));
        assert_eq!(skippable(&model, 12.0), 4);
        let delta = String::from_utf8(delta(&out, &model, Skip::Segments, &[]).unwrap()).unwrap();
        let d = MediaPlaylist::parse(delta.as_bytes()).unwrap();
        assert_eq!(d.media_sequence, 100, "the full playlist's media sequence");
        let uris: Vec<_> = d.segments.iter().map(|s| s.uri.to_string()).collect();
        assert_eq!(uris, (104..110).map(|i| format!("s{i}.m4s")).collect::<Vec<_>>());
        assert!(delta.contains("#EXT-X-VERSION:9\n"));
        // The map in force is kept after the skip, the older one (in the header) stays too;
        // the date range is kept for YES, the discontinuity went with its segment.
        let after_skip = delta.split("#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n").nth(1).unwrap();
        assert!(after_skip.starts_with("#EXT-X-MAP:URI=\"init1.mp4\"\n#EXT-X-DATERANGE:ID=\"d1\""));
        assert!(!delta.contains("DISCONTINUITY\n"));
        let v2 = String::from_utf8(delta_v2(&out, &model)).unwrap();
        assert!(v2.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=4,RECENTLY-REMOVED-DATERANGES=\"old\tolder\"\n"));
        assert!(!v2.contains("DATERANGE:ID") && v2.contains("#EXT-X-VERSION:10\n"));
    }

    fn delta_v2(out: &[u8], model: &MediaPlaylist) -> Vec<u8> {
        delta(out, model, Skip::SegmentsAndDateRanges, &["old".into(), "older".into()]).unwrap()
    }

    #[test]
    fn nothing_to_skip_means_the_whole_playlist() {
        let (out, model) = offered(&live(6, 0));
        assert!(delta(&out, &model, Skip::Segments, &[]).is_none(), "12 s of segments, boundary 12 s");
        let text = live(10, 0);
        let model = MediaPlaylist::parse(text.as_bytes()).unwrap();
        assert!(delta(text.as_bytes(), &model, Skip::Segments, &[]).is_none(), "not offered");
        assert!(delta(&out, &model, Skip::No, &[]).is_none());
    }

    proptest! {
        #[test]
        fn delta_plus_skipped_segments_is_the_whole_list(n in 1u64..60, seq in 0u64..1000, durs in proptest::collection::vec(1u32..40, 60)) {
            let mut text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
            for i in 0..n {
                text += &format!("#EXTINF:{}.{},\ns{}.ts\n", durs[i as usize] / 10, durs[i as usize] % 10, seq + i);
            }
            let (out, model) = offered(&text);
            let full: Vec<_> = model.segments.iter().map(|s| s.uri.clone()).collect();
            if let Some(d) = delta(&out, &model, Skip::Segments, &[]) {
                let d = MediaPlaylist::parse(&d).unwrap();
                let skipped = skippable(&model, 24.0);
                prop_assert!(skipped > 0);
                let kept: Vec<_> = d.segments.iter().map(|s| s.uri.clone()).collect();
                prop_assert_eq!(&full[skipped..], &kept[..]);
                prop_assert!(d.duration() >= 24.0 - 1e-9);
            }
        }
    }
}
