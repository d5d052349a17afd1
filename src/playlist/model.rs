//! The media playlist model: one parse of a media playlist version (RFC 8216bis §4.4.3–4.4.5),
//! made once when the version is cached, that blocking reload, delta updates and the producer
//! lint read. Keeps byte offsets into the text it was parsed from so renderings (`render.rs`)
//! cut and splice instead of re-serialising. Pure; must not do I/O.

use std::ops::Range;

/// One media segment: its duration and where its lines are in the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Its URI line, trimmed.
    pub uri: Box<str>,
    /// `EXTINF` duration, seconds.
    pub duration: f64,
    /// From the first tag line that applies to it alone (after the previous segment's URI line,
    /// not counting tags that apply to every later segment) to the end of its URI line.
    pub lines: Range<usize>,
}

/// A tag that applies to every segment after it (`EXT-X-KEY`, `EXT-X-MAP`) or that describes
/// the timeline rather than one segment (`EXT-X-DATERANGE`): a delta update that skips the
/// segments around it must keep the effect (§4.4.5.2).
#[derive(Clone, Debug, PartialEq)]
pub struct Carried {
    /// Which tag.
    pub tag: CarriedTag,
    /// The whole line, terminator included.
    pub line: Range<usize>,
    /// `ID` of a date range.
    pub id: Option<Box<str>>,
}

/// See [`Carried`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarriedTag {
    /// `EXT-X-KEY` (§4.4.4.4).
    Key,
    /// `EXT-X-MAP` (§4.4.4.5).
    Map,
    /// `EXT-X-DATERANGE` (§4.4.5.1).
    DateRange,
}

/// What `EXT-X-SERVER-CONTROL` (§4.4.3.8) says, when the playlist has it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerControl {
    /// `CAN-BLOCK-RELOAD=YES`.
    pub can_block_reload: bool,
    /// `CAN-SKIP-UNTIL`, seconds: the Skip Boundary.
    pub can_skip_until: Option<f64>,
    /// `CAN-SKIP-DATERANGES=YES`.
    pub can_skip_dateranges: bool,
}

/// One parsed media playlist version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaPlaylist {
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration: Option<u64>,
    /// `EXT-X-MEDIA-SEQUENCE` (§4.4.3.2), 0 when absent.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (§4.4.3.3), 0 when absent.
    pub discontinuity_sequence: u64,
    /// The complete segments, in order.
    pub segments: Vec<Segment>,
    /// `EXT-X-PART` tags after the last segment's URI: parts of the segment being made.
    pub pending_parts: u64,
    /// `EXT-X-PART-INF:PART-TARGET` (§4.4.3.7).
    pub part_target: Option<f64>,
    /// An `EXT-X-PRELOAD-HINT` is present (§4.4.5.3).
    pub preload_hint: bool,
    /// `EXT-X-SERVER-CONTROL`, when present.
    pub server_control: Option<ServerControl>,
    /// `EXT-X-ENDLIST` (§4.4.3.4).
    pub ended: bool,
    /// `EXT-X-KEY`, `EXT-X-MAP` and `EXT-X-DATERANGE` lines, in order.
    pub carried: Vec<Carried>,
    /// Where a tag added to the header goes: after the `EXT-X-TARGETDURATION` line (else after
    /// `#EXTM3U`).
    pub header_insert_at: usize,
}

impl MediaPlaylist {
    /// Parses a media playlist; `None` for a multivariant playlist or text that does not start
    /// with `#EXTM3U`. Lines may end in LF or CRLF; unknown tags are ignored (§4.1).
    pub fn parse(text: &[u8]) -> Option<MediaPlaylist> {
        if !text.starts_with(b"#EXTM3U") {
            return None;
        }
        let mut p = MediaPlaylist::default();
        let mut pos = 0;
        let mut block_start: Option<usize> = None;
        let mut duration: Option<f64> = None;
        while pos < text.len() {
            let end = text[pos..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| pos + i + 1);
            let line = trim_eol(&text[pos..end]);
            if pos == 0 {
                p.header_insert_at = end;
            } else if line.starts_with(b"#EXT-X-STREAM-INF:") || line.starts_with(b"#EXT-X-I-FRAME-STREAM-INF:") {
                return None;
            } else if let Some(v) = line.strip_prefix(b"#EXT-X-TARGETDURATION:") {
                p.target_duration = number(v);
                p.header_insert_at = end;
            } else if let Some(v) = line.strip_prefix(b"#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = number(v).unwrap_or(0);
            } else if let Some(v) = line.strip_prefix(b"#EXT-X-DISCONTINUITY-SEQUENCE:") {
                p.discontinuity_sequence = number(v).unwrap_or(0);
            } else if line == b"#EXT-X-ENDLIST" {
                p.ended = true;
            } else if let Some(v) = line.strip_prefix(b"#EXT-X-SERVER-CONTROL:") {
                p.server_control = Some(server_control(v));
            } else if let Some(v) = line.strip_prefix(b"#EXT-X-PART-INF:") {
                p.part_target = attribute(v, "PART-TARGET").and_then(|s| s.parse().ok());
            } else if line.starts_with(b"#EXT-X-PRELOAD-HINT:") {
                p.preload_hint = true;
            } else if let Some(tag) = carried_tag(line) {
                let id = (tag == CarriedTag::DateRange).then(|| attribute(&line[17..], "ID").map(Box::from)).flatten();
                p.carried.push(Carried { tag, line: pos..end, id });
            } else if line.starts_with(b"#EXT-X-PART:") {
                p.pending_parts += 1;
                block_start.get_or_insert(pos);
            } else if let Some(v) = line.strip_prefix(b"#EXTINF:") {
                duration = extinf(v);
                block_start.get_or_insert(pos);
            } else if is_segment_tag(line) {
                block_start.get_or_insert(pos);
            } else if !line.is_empty() && !line.starts_with(b"#") {
                if let (Some(d), Ok(uri)) = (duration.take(), std::str::from_utf8(line)) {
                    let start = block_start.take().unwrap_or(pos);
                    p.segments.push(Segment { uri: uri.trim().into(), duration: d, lines: start..end });
                    p.pending_parts = 0;
                }
            }
            pos = end;
        }
        Some(p)
    }

    /// The media sequence number the next segment will have (§6.2.5.2: what `_HLS_msn` asks).
    pub fn next_msn(&self) -> u64 {
        self.media_sequence.saturating_add(self.segments.len() as u64)
    }

    /// Total duration of the listed segments, seconds.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn number(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

fn extinf(v: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(v).ok()?;
    text.split(',').next()?.trim().parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0)
}

/// Tags that apply to the one segment that follows (§4.4.4): they belong to its block.
fn is_segment_tag(line: &[u8]) -> bool {
    const TAGS: [&[u8]; 5] = [
        b"#EXT-X-BYTERANGE:",
        b"#EXT-X-DISCONTINUITY",
        b"#EXT-X-PROGRAM-DATE-TIME:",
        b"#EXT-X-GAP",
        b"#EXT-X-BITRATE:",
    ];
    TAGS.iter().any(|t| line.starts_with(t))
}

fn carried_tag(line: &[u8]) -> Option<CarriedTag> {
    if line.starts_with(b"#EXT-X-KEY:") {
        Some(CarriedTag::Key)
    } else if line.starts_with(b"#EXT-X-MAP:") {
        Some(CarriedTag::Map)
    } else if line.starts_with(b"#EXT-X-DATERANGE:") {
        Some(CarriedTag::DateRange)
    } else {
        None
    }
}

fn server_control(v: &[u8]) -> ServerControl {
    ServerControl {
        can_block_reload: attribute(v, "CAN-BLOCK-RELOAD") == Some("YES"),
        can_skip_until: attribute(v, "CAN-SKIP-UNTIL").and_then(|s| s.parse().ok()).filter(|s: &f64| s.is_finite()),
        can_skip_dateranges: attribute(v, "CAN-SKIP-DATERANGES") == Some("YES"),
    }
}

/// The value of `name` in an attribute list (§4.2), quotes removed. Commas inside quoted
/// strings do not split.
pub fn attribute<'a>(list: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(list).ok()?;
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let close = quoted.find('"')?;
            (&quoted[..close], quoted[close + 1..].trim_start_matches(','))
        } else {
            let cut = after.find(',').unwrap_or(after.len());
            (&after[..cut], after[cut..].trim_start_matches(','))
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FFMPEG: &str = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
        #EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000000,\nseg41.m4s\n\
        #EXT-X-DISCONTINUITY\n#EXTINF:1.960000,\nseg42.m4s\n#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:00Z\n\
        #EXTINF:2.0,\r\nseg43.m4s\r\n";

    #[test]
    fn parses_an_ffmpeg_playlist() {
        let p = MediaPlaylist::parse(FFMPEG.as_bytes()).unwrap();
        assert_eq!((p.target_duration, p.media_sequence, p.discontinuity_sequence), (Some(2), 41, 2));
        let uris: Vec<_> = p.segments.iter().map(|s| &*s.uri).collect();
        assert_eq!(uris, ["seg41.m4s", "seg42.m4s", "seg43.m4s"]);
        assert_eq!(p.next_msn(), 44);
        assert!((p.duration() - 5.96).abs() < 1e-9);
        // Each block starts at its first own tag and ends after its URI line.
        assert!(FFMPEG[p.segments[1].lines.clone()].starts_with("#EXT-X-DISCONTINUITY\n"));
        assert!(FFMPEG[p.segments[2].lines.clone()].starts_with("#EXT-X-PROGRAM-DATE-TIME"));
        assert!(FFMPEG[p.segments[2].lines.clone()].ends_with("seg43.m4s\r\n"));
        assert_eq!(p.carried.len(), 1);
        assert_eq!(&FFMPEG[p.carried[0].line.clone()], "#EXT-X-MAP:URI=\"init.mp4\"\n");
        assert!(FFMPEG[p.header_insert_at..].starts_with("#EXT-X-MEDIA-SEQUENCE"));
        assert!(!p.ended && p.server_control.is_none());
    }

    #[test]
    fn low_latency_tags_and_master() {
        let ll = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=24.0,PART-HOLD-BACK=1.0\n\
            #EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-DATERANGE:ID=\"ad,1\",START-DATE=\"2026-12-03T10:00:00Z\"\n\
            #EXT-X-PART:DURATION=0.5,URI=\"a.0.mp4\"\n#EXTINF:4,\na.mp4\n#EXT-X-PART:DURATION=0.5,URI=\"b.0.mp4\"\n\
            #EXT-X-PART:DURATION=0.5,URI=\"b.1.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"b.2.mp4\"\n";
        let p = MediaPlaylist::parse(ll.as_bytes()).unwrap();
        let control = p.server_control.clone().unwrap();
        assert!(control.can_block_reload && !control.can_skip_dateranges);
        assert_eq!(control.can_skip_until, Some(24.0));
        assert_eq!((p.pending_parts, p.part_target, p.preload_hint), (2, Some(0.5), true));
        assert_eq!(p.carried[0].id.as_deref(), Some("ad,1"));
        assert!(ll[p.segments[0].lines.clone()].starts_with("#EXT-X-PART:DURATION=0.5,URI=\"a.0"));
        assert!(MediaPlaylist::parse(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n").is_none());
        assert!(MediaPlaylist::parse(b"not a playlist").is_none());
        assert!(MediaPlaylist::parse(b"#EXTM3U\n#EXTINF:1,\na.ts\n#EXT-X-ENDLIST\n").unwrap().ended);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_blocks_are_in_bounds(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut text = b"#EXTM3U\n".to_vec();
            text.extend_from_slice(&body);
            if let Some(p) = MediaPlaylist::parse(&text) {
                let mut last = 0;
                for s in &p.segments {
                    prop_assert!(s.lines.start >= last && s.lines.end <= text.len() && s.lines.start < s.lines.end);
                    last = s.lines.end;
                }
                prop_assert!(p.header_insert_at <= text.len());
            }
        }

        #[test]
        fn every_listed_segment_is_found(n in 0usize..40, seq in 0u64..1_000_000) {
            let mut text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
            for i in 0..n {
                text += &format!("#EXTINF:2.0,\ns{i}.ts\n");
            }
            let p = MediaPlaylist::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(p.segments.len(), n);
            prop_assert_eq!(p.next_msn(), seq + n as u64);
        }
    }
}
