//! Media kinds by file extension: content type and Cache-Control policy. Pure; must not read
//! files (playlist facts arrive as a [`PlaylistInfo`]).

use std::time::Duration;

use http::HeaderValue;

use crate::playlist::PlaylistInfo;

/// What a served file is, decided from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// `.m3u8`: an HLS playlist (RFC 8216).
    Playlist,
    /// `.ts`: an MPEG-TS segment.
    TsSegment,
    /// `.m4s`: an fMP4/CMAF media segment.
    Fmp4Segment,
    /// `.mp4`: an fMP4 init section (or a whole file).
    Mp4,
    /// `.m4a`: audio in MP4.
    M4a,
    /// `.aac`: raw ADTS audio segment.
    Aac,
    /// `.vtt`: WebVTT subtitles segment.
    Vtt,
    /// `.key`: an AES-128 key (RFC 8216 §4.3.2.4).
    Key,
    /// Anything else: served as opaque bytes that may change.
    Other,
}

impl MediaKind {
    /// Classifies by extension (ASCII case-insensitive).
    pub fn from_extension(ext: Option<&str>) -> MediaKind {
        let Some(ext) = ext else { return MediaKind::Other };
        const TABLE: &[(&str, MediaKind)] = &[
            ("m3u8", MediaKind::Playlist),
            ("ts", MediaKind::TsSegment),
            ("m4s", MediaKind::Fmp4Segment),
            ("mp4", MediaKind::Mp4),
            ("m4a", MediaKind::M4a),
            ("aac", MediaKind::Aac),
            ("vtt", MediaKind::Vtt),
            ("key", MediaKind::Key),
        ];
        TABLE.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)).map_or(MediaKind::Other, |&(_, k)| k)
    }

    /// The `Content-Type` to send.
    pub fn content_type(self) -> &'static str {
        match self {
            MediaKind::Playlist => "application/vnd.apple.mpegurl",
            MediaKind::TsSegment => "video/mp2t",
            MediaKind::Fmp4Segment => "video/iso.segment",
            MediaKind::Mp4 => "video/mp4",
            MediaKind::M4a => "audio/mp4",
            MediaKind::Aac => "audio/aac",
            MediaKind::Vtt => "text/vtt",
            MediaKind::Key | MediaKind::Other => "application/octet-stream",
        }
    }

    /// True for `.m3u8`.
    pub fn is_playlist(self) -> bool {
        self == MediaKind::Playlist
    }
}

/// The `Cache-Control` value for a file of this kind.
///
/// - A live media playlist may change every target duration; RFC 8216 §6.2.2 has clients reload
///   it no sooner than half of it after an unchanged reload, so a CDN holding it longer than half
///   the target duration would make players fall behind. We send `floor(target / 2)` seconds.
/// - A VOD playlist (`EXT-X-ENDLIST` or `PLAYLIST-TYPE:VOD`, §4.3.3.4–5) never changes again, and
///   segments and init sections never change once complete: `immutable_max_age`.
/// - A playlist without a target duration (a master playlist) gets one second, so that a
///   restarted encoder with a new ladder is picked up at once while a CDN still collapses load.
/// - Anything else is revalidated each time.
pub fn cache_control(kind: MediaKind, playlist: Option<&PlaylistInfo>, immutable_max_age: Duration) -> HeaderValue {
    let immutable = || HeaderValue::from_str(&format!("public, max-age={}", immutable_max_age.as_secs()));
    let value = match (kind, playlist) {
        (MediaKind::Playlist, Some(p)) if p.ended => immutable(),
        (MediaKind::Playlist, Some(PlaylistInfo { target_duration: Some(t), .. })) => {
            HeaderValue::from_str(&format!("public, max-age={}", t / 2))
        }
        (MediaKind::Playlist, _) => Ok(HeaderValue::from_static("public, max-age=1")),
        (MediaKind::Other | MediaKind::Key, _) => Ok(HeaderValue::from_static("no-cache")),
        _ => immutable(),
    };
    // Every value above is ASCII digits and fixed text, always a valid header value.
    value.unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn kinds_and_types() {
        assert_eq!(MediaKind::from_extension(Some("m3u8")).content_type(), "application/vnd.apple.mpegurl");
        assert_eq!(MediaKind::from_extension(Some("M3U8")), MediaKind::Playlist);
        assert_eq!(MediaKind::from_extension(Some("ts")).content_type(), "video/mp2t");
        assert_eq!(MediaKind::from_extension(Some("m4s")).content_type(), "video/iso.segment");
        assert_eq!(MediaKind::from_extension(Some("mp4")).content_type(), "video/mp4");
        assert_eq!(MediaKind::from_extension(Some("m4a")).content_type(), "audio/mp4");
        assert_eq!(MediaKind::from_extension(Some("aac")).content_type(), "audio/aac");
        assert_eq!(MediaKind::from_extension(Some("vtt")).content_type(), "text/vtt");
        assert_eq!(MediaKind::from_extension(Some("key")).content_type(), "application/octet-stream");
        assert_eq!(MediaKind::from_extension(None), MediaKind::Other);
    }

    #[test]
    fn live_playlist_max_age_is_at_most_half_the_target() {
        for t in 1..20u64 {
            let info = PlaylistInfo { target_duration: Some(t), ended: false, master: false };
            let v = cache_control(MediaKind::Playlist, Some(&info), DAY);
            let age: u64 = v.to_str().unwrap().rsplit('=').next().unwrap().parse().unwrap();
            assert!(age * 2 <= t, "target {t} -> {v:?}");
        }
    }

    #[test]
    fn vod_and_segments_are_long() {
        let vod = PlaylistInfo { target_duration: Some(6), ended: true, master: false };
        assert_eq!(cache_control(MediaKind::Playlist, Some(&vod), DAY), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::TsSegment, None, DAY), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::Mp4, None, DAY), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::Other, None, DAY), "no-cache");
        let master = PlaylistInfo { target_duration: None, ended: false, master: true };
        assert_eq!(cache_control(MediaKind::Playlist, Some(&master), DAY), "public, max-age=1");
    }
}
