//! Media kinds by file extension and the one rule for which names are never content. Pure;
//! must not read files (response headers per kind are `headers`' business).

use crate::path::NormPath;

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
    /// A thumbnail or poster next to a stream (`.jpg .jpeg .png .webp .avif`), with its type.
    Image(&'static str),
    /// `.json`: metadata next to a stream.
    Json,
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
            // CMAF track files (ISO/IEC 23000-19): video and audio in MP4.
            ("cmfv", MediaKind::Mp4),
            ("m4v", MediaKind::Mp4),
            ("m4a", MediaKind::M4a),
            ("cmfa", MediaKind::M4a),
            ("aac", MediaKind::Aac),
            ("vtt", MediaKind::Vtt),
            ("webvtt", MediaKind::Vtt),
            ("key", MediaKind::Key),
            ("jpg", MediaKind::Image("image/jpeg")),
            ("jpeg", MediaKind::Image("image/jpeg")),
            ("png", MediaKind::Image("image/png")),
            ("webp", MediaKind::Image("image/webp")),
            ("avif", MediaKind::Image("image/avif")),
            ("json", MediaKind::Json),
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
            MediaKind::Image(content_type) => content_type,
            MediaKind::Json => "application/json",
            MediaKind::Key | MediaKind::Other => "application/octet-stream",
        }
    }

    /// Classifies a file name by its extension.
    pub fn of_name(name: &str) -> MediaKind {
        MediaKind::from_extension(name.rsplit_once('.').map(|(_, ext)| ext))
    }

    /// True for `.m3u8`.
    pub fn is_playlist(self) -> bool {
        self == MediaKind::Playlist
    }

    /// Packager output: playlists, segments, init sections, subtitles (not keys, sidecar files
    /// or others).
    pub fn is_media(self) -> bool {
        !matches!(self, MediaKind::Key | MediaKind::Image(_) | MediaKind::Json | MediaKind::Other)
    }
}

/// A scratch file name: ffmpeg writes `name.tmp` and renames it into place (the `.tmp` suffix,
/// any case). Never served, never tracked, never counted as a stream's content.
pub fn is_tmp_name(name: &str) -> bool {
    name.len() > 4 && name.is_char_boundary(name.len() - 4) && name[name.len() - 4..].eq_ignore_ascii_case(".tmp")
}

/// A path that is never content: a dot-file anywhere in it (markers such as `.complete`, editor
/// files) or a scratch file. Answered 404 and never tracked by the watcher.
pub fn is_scratch(path: &NormPath) -> bool {
    path.is_hidden() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (ext, ct) in [
            ("jpg", "image/jpeg"),
            ("JPEG", "image/jpeg"),
            ("png", "image/png"),
            ("webp", "image/webp"),
            ("avif", "image/avif"),
            ("cmfv", "video/mp4"),
            ("m4v", "video/mp4"),
            ("cmfa", "audio/mp4"),
            ("webvtt", "text/vtt"),
            ("json", "application/json"),
        ] {
            assert_eq!(MediaKind::from_extension(Some(ext)).content_type(), ct, "{ext}");
        }
        assert_eq!(MediaKind::of_name("index.M3U8"), MediaKind::Playlist);
        assert!(MediaKind::of_name("a.m4s").is_media() && !MediaKind::of_name("k.key").is_media());
        assert!(!MediaKind::of_name("README").is_media() && !MediaKind::of_name("poster.jpg").is_media());
    }

    #[test]
    fn scratch_names() {
        assert!(is_tmp_name("seg3.ts.tmp") && is_tmp_name("index.m3u8.TMP"));
        assert!(!is_tmp_name(".tmp") && !is_tmp_name("a.ts") && !is_tmp_name("tmp"));
        for (p, scratch) in [("/a/seg.ts.tmp", true), ("/a/.complete", true), ("/.x/a.ts", true), ("/a/b.ts", false)] {
            assert_eq!(is_scratch(&NormPath::parse(p).unwrap()), scratch, "{p}");
        }
    }
}
