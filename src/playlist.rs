//! Facts read from a playlist's text (RFC 8216): target duration, whether it has ended, whether
//! it is a master playlist, whether it looks complete; the media playlist model
//! ([`model`]), delivery directives ([`directives`]) and the renderings made once per version
//! ([`render`]). Pure; must not do I/O.

pub mod directives;
pub mod model;
pub mod render;

/// What the server needs to know about one version of a playlist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaylistInfo {
    /// `EXT-X-TARGETDURATION` in whole seconds (§4.3.3.1).
    pub target_duration: Option<u64>,
    /// `EXT-X-ENDLIST` present, or `EXT-X-PLAYLIST-TYPE:VOD` (§4.3.3.4–5): no segment will be
    /// added (for now: a stopped live encoder that restarts on the same path starts it over).
    pub ended: bool,
    /// `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST` both present: the playlist can never change
    /// (§4.3.3.5). The only playlists that may be cached for long.
    pub vod: bool,
    /// Has `EXT-X-STREAM-INF` (§4.3.4.2): a master (multivariant) playlist.
    pub master: bool,
}

impl PlaylistInfo {
    /// Scans playlist bytes. Lines may end in LF or CRLF (§4.1); unknown tags are ignored.
    pub fn scan(bytes: &[u8]) -> PlaylistInfo {
        let mut info = PlaylistInfo::default();
        let (mut endlist, mut vod_type) = (false, false);
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(v) = line.strip_prefix(b"#EXT-X-TARGETDURATION:") {
                info.target_duration = std::str::from_utf8(v).ok().and_then(|s| s.trim().parse().ok());
            } else if line == b"#EXT-X-ENDLIST" {
                endlist = true;
            } else if line == b"#EXT-X-PLAYLIST-TYPE:VOD" {
                vod_type = true;
            } else if line.starts_with(b"#EXT-X-STREAM-INF:") {
                info.master = true;
            }
        }
        info.ended = endlist || vod_type;
        info.vod = endlist && vod_type;
        info
    }

    /// True when the bytes could be a whole playlist: they start with `#EXTM3U` (§4.3.1.1), end
    /// with a line terminator, and the last line is not a tag that needs a URI line after it
    /// (`EXTINF` §4.3.2.1, `EXT-X-STREAM-INF` §4.3.4.2). A writer caught mid-write is recognised
    /// unless it stopped exactly after a whole segment entry.
    pub fn looks_complete(bytes: &[u8]) -> bool {
        if !bytes.starts_with(b"#EXTM3U") || !bytes.ends_with(b"\n") {
            return false;
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let last = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        !(last.starts_with(b"#EXTINF:") || last.starts_with(b"#EXT-X-STREAM-INF:"))
    }
}

/// The media segments a media playlist lists, with their `EXTINF` durations in seconds
/// (RFC 8216 §4.3.2.1): each URI line after an `#EXTINF` tag.
pub fn segments(bytes: &[u8]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = line.strip_prefix(b"#EXTINF:") {
            let text = std::str::from_utf8(v).unwrap_or_default();
            duration = text
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0);
        } else if !line.is_empty() && !line.starts_with(b"#") {
            if let (Some(d), Ok(uri)) = (duration.take(), std::str::from_utf8(line)) {
                out.push((uri.trim().to_string(), d));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn live_media_playlist() {
        let p = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:6.0,\na7.ts\n";
        let info = PlaylistInfo::scan(p);
        assert_eq!(info, PlaylistInfo { target_duration: Some(6), ended: false, vod: false, master: false });
        assert!(PlaylistInfo::looks_complete(p));
    }

    #[test]
    fn vod_and_master_and_crlf() {
        let vod = b"#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n#EXTINF:4,\r\na.ts\r\n#EXT-X-ENDLIST\r\n";
        // ENDLIST alone: a stopped live stream, not a VOD.
        let stopped = PlaylistInfo { target_duration: Some(4), ended: true, vod: false, master: false };
        assert_eq!(PlaylistInfo::scan(vod), stopped);
        let typed = b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n";
        assert!(PlaylistInfo::scan(typed).ended && !PlaylistInfo::scan(typed).vod, "VOD still being written");
        let whole = b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n";
        assert!(PlaylistInfo::scan(whole).vod);
        let master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n";
        assert!(PlaylistInfo::scan(master).master);
        assert!(!PlaylistInfo::looks_complete(b"#EXTM3U\n#EXTINF:6.0,\na7."));
        assert!(!PlaylistInfo::looks_complete(b""));
        assert!(!PlaylistInfo::looks_complete(b"#EXTM3U\n#EXTINF:6.0,\n"));
        assert!(!PlaylistInfo::looks_complete(b"#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\n"));
        assert!(PlaylistInfo::looks_complete(b"#EXTM3U\n#EXTINF:6.0,\na.ts\n#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn lists_segments_with_durations() {
        let p = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:5.005,\na1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:6,title\r\na2.ts\r\nstray.ts\n#EXTINF:bad,\na3.ts\n";
        assert_eq!(segments(p), vec![("a1.ts".to_string(), 5.005), ("a2.ts".to_string(), 6.0)]);
    }

    proptest! {
        #[test]
        fn segments_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for (uri, d) in segments(&bytes) {
                prop_assert!(!uri.is_empty() && d >= 0.0);
            }
        }

        #[test]
        fn scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = PlaylistInfo::scan(&bytes);
            let _ = PlaylistInfo::looks_complete(&bytes);
        }

        #[test]
        fn target_duration_is_found(t in 0u64..100_000, pre in "[#A-Z:,0-9\n]{0,40}") {
            let text = format!("#EXTM3U\n{pre}\n#EXT-X-TARGETDURATION:{t}\n");
            prop_assert_eq!(PlaylistInfo::scan(text.as_bytes()).target_duration, Some(t));
        }
    }
}
