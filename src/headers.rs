//! Response header policy, in one place: which fields a file response, a preflight and an error
//! carry — CORS, `Cache-Control`, validators and framing — and the per-version blocks built
//! once when a file version is cached. Pure; must not read files or choose status codes.

use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCEPT_RANGES, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, LAST_MODIFIED, VARY,
};
use http::{HeaderMap, HeaderValue};

use crate::config::CorsConfig;
use crate::media::MediaKind;
use crate::plan::FixedHeaders;
use crate::playlist::render::Offer;
use crate::playlist::PlaylistInfo;

/// `Access-Control-Expose-Headers`: what a browser player may read from a response.
pub const CORS_EXPOSED: HeaderValue = HeaderValue::from_static("Content-Length, Content-Range");
/// The same with blocking reload on: hls.js reads `Age` (and the CDN's `Date`) to tune in to a
/// live stream behind a CDN (RFC 8216bis Appendix C).
pub const CORS_EXPOSED_LIVE: HeaderValue = HeaderValue::from_static("Content-Length, Content-Range, Age, Date");
/// The methods every path allows (`Allow`, and a preflight's allowed methods).
pub const ALLOWED: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
/// A preflight's allowed headers when the request names none.
const PREFLIGHT_HEADERS: HeaderValue = HeaderValue::from_static("Range, If-None-Match, If-Modified-Since, If-Range");
/// `Accept-Ranges` of every file response.
pub const BYTES: HeaderValue = HeaderValue::from_static("bytes");

/// The policy built into every cached file version.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderPolicy {
    /// The `max-age` of each kind of content that may be cached for a while.
    pub ages: Ages,
    /// CORS headers sent with every file response, `None` when off.
    pub cors: Option<CorsConfig>,
    /// Playlists are also kept gzip-compressed (`hls.compress`).
    pub compress: bool,
    /// What live playlists advertise in `EXT-X-SERVER-CONTROL` (`hls.blocking_reload`,
    /// `hls.delta_updates`).
    pub offer: Offer,
}

impl HeaderPolicy {
    /// The header policy a config's per-request keys ask for.
    pub fn of(policy: &crate::config::Policy) -> HeaderPolicy {
        HeaderPolicy {
            ages: Ages { immutable: policy.http.immutable_max_age, ended: policy.hls.ended_max_age },
            cors: policy.http.cors.clone().map(|mut cors| {
                if policy.hls.blocking_reload {
                    cors.expose = CORS_EXPOSED_LIVE;
                }
                cors
            }),
            compress: policy.hls.compress,
            offer: Offer { blocking_reload: policy.hls.blocking_reload, delta_updates: policy.hls.delta_updates },
        }
    }
}

/// `max-age` values that are configured rather than derived from a playlist.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ages {
    /// Content that never changes: segments, init sections, sidecar files, VOD playlists
    /// (`http.immutable_max_age`).
    pub immutable: Duration,
    /// A playlist with `EXT-X-ENDLIST` but no `PLAYLIST-TYPE:VOD`: a live stream that stopped,
    /// which a restarted encoder may start over on the same URL (`hls.ended_max_age`).
    pub ended: Duration,
}

/// The `Cache-Control` value for a file of this kind.
///
/// - A live media playlist may change every target duration; RFC 8216 §6.2.2 has clients reload
///   it no sooner than half of it after an unchanged reload, so a CDN holding it longer than half
///   the target duration would make players fall behind. We send `floor(target / 2)` seconds.
/// - A VOD playlist (`PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`, §4.3.3.4–5) never changes again,
///   and segments, init sections and sidecar files never change once complete: `ages.immutable`.
/// - A playlist with `EXT-X-ENDLIST` alone is a live stream that stopped (ffmpeg appends it on
///   every graceful stop); a restarted encoder starts it over on the same URL, so a CDN must not
///   keep it for a day: `ages.ended`.
/// - A playlist without a target duration (a master playlist) gets one second, so that a
///   restarted encoder with a new ladder is picked up at once while a CDN still collapses load.
/// - Anything else is revalidated each time.
pub fn cache_control(kind: MediaKind, playlist: Option<&PlaylistInfo>, ages: Ages) -> HeaderValue {
    let max_age = |age: Duration| HeaderValue::from_str(&format!("public, max-age={}", age.as_secs()));
    let immutable = || max_age(ages.immutable);
    let value = match (kind, playlist) {
        (MediaKind::Playlist, Some(p)) if p.vod => immutable(),
        (MediaKind::Playlist, Some(p)) if p.ended => max_age(ages.ended),
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

/// `Vary: Accept-Encoding`.
const ACCEPT_ENCODING_VALUE: HeaderValue = HeaderValue::from_static("Accept-Encoding");
/// `Content-Encoding: gzip`.
pub const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// The per-version values a file response's fixed blocks are made of.
pub struct VersionValues<'a> {
    /// CORS, when on.
    pub cors: Option<&'a CorsConfig>,
    /// `ETag`.
    pub etag: &'a HeaderValue,
    /// `Last-Modified`.
    pub last_modified: &'a HeaderValue,
    /// `Cache-Control`.
    pub cache_control: &'a HeaderValue,
    /// `Content-Type`.
    pub content_type: &'a HeaderValue,
    /// `Content-Length` of the whole body.
    pub content_length: &'a HeaderValue,
    /// How the representation varies: `Some` for a playlist kept in two encodings, with the
    /// `Content-Encoding` of this one (`None` for identity).
    pub encoding: Option<Option<&'a HeaderValue>>,
}

/// The blocks of one file version, in the order their fields are sent.
pub struct VersionBlocks {
    /// Every field of a 200 with the whole body.
    pub ok: Arc<FixedHeaders>,
    /// CORS, validators and caching fields: all of a 304 (RFC 9110 §15.4.5), the start of a 206.
    pub validators: Arc<FixedHeaders>,
}

impl VersionValues<'_> {
    /// Builds the 200 block and the validators block.
    pub fn blocks(&self) -> VersionBlocks {
        let mut fields = Vec::with_capacity(8);
        if let Some(cors) = self.cors {
            fields.push((ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin.clone()));
            fields.push((ACCESS_CONTROL_EXPOSE_HEADERS, cors.expose.clone()));
        }
        fields.push((ETAG, self.etag.clone()));
        fields.push((LAST_MODIFIED, self.last_modified.clone()));
        fields.push((CACHE_CONTROL, self.cache_control.clone()));
        // RFC 9110 §12.5.5: every response of a resource negotiated on Accept-Encoding names it
        // in Vary, 304s included (§15.4.5), so a cache keeps the encodings apart.
        if self.encoding.is_some() {
            fields.push((VARY, ACCEPT_ENCODING_VALUE));
        }
        let validators = FixedHeaders::new(fields.clone());
        fields.push((ACCEPT_RANGES, BYTES));
        fields.push((CONTENT_TYPE, self.content_type.clone()));
        if let Some(Some(encoding)) = self.encoding {
            fields.push((CONTENT_ENCODING, encoding.clone()));
        }
        fields.push((CONTENT_LENGTH, self.content_length.clone()));
        VersionBlocks { ok: Arc::new(FixedHeaders::new(fields)), validators: Arc::new(validators) }
    }
}

/// A CORS preflight's fields (RFC 9110 §9.3.7 and the Fetch standard). `requested` is the
/// request's `Access-Control-Request-Headers`.
pub fn preflight(cors: Option<&CorsConfig>, requested: Option<&[u8]>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(ALLOW, ALLOWED);
    if let Some(cors) = cors {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin.clone());
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, ALLOWED);
        // Echoing the requested headers lets players send whatever they need (hls.js adds
        // custom ones); anything sent here is only ever used for GET/HEAD of static files.
        let allow_headers = requested.and_then(|v| HeaderValue::from_bytes(v).ok()).unwrap_or(PREFLIGHT_HEADERS);
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        headers.insert(ACCESS_CONTROL_MAX_AGE, cors.max_age.clone());
    }
    headers
}

/// The fields every error response starts with: CORS, so a browser player can read the status.
pub fn error(cors: Option<&CorsConfig>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(6);
    if let Some(cors) = cors {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin.clone());
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, cors.expose.clone());
    }
    headers
}

/// Errors are never cached by a CDN for long: a 404 for a segment a moment early must not
/// outlive the segment's arrival.
pub const ERROR_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache");
/// The type of an error's short text body.
pub const ERROR_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

#[cfg(test)]
mod tests {
    use super::*;

    const AGES: Ages = Ages { immutable: Duration::from_secs(86_400), ended: Duration::from_secs(10) };

    #[test]
    fn live_playlist_max_age_is_at_most_half_the_target() {
        for t in 1..20u64 {
            let info = PlaylistInfo { target_duration: Some(t), ..Default::default() };
            let v = cache_control(MediaKind::Playlist, Some(&info), AGES);
            let age: u64 = v.to_str().unwrap().rsplit('=').next().unwrap().parse().unwrap();
            assert!(age * 2 <= t, "target {t} -> {v:?}");
        }
    }

    #[test]
    fn vod_and_segments_are_long() {
        let vod = PlaylistInfo { target_duration: Some(6), ended: true, vod: true, master: false };
        assert_eq!(cache_control(MediaKind::Playlist, Some(&vod), AGES), "public, max-age=86400");
        let stopped = PlaylistInfo { target_duration: Some(6), ended: true, vod: false, master: false };
        assert_eq!(cache_control(MediaKind::Playlist, Some(&stopped), AGES), "public, max-age=10");
        assert_eq!(cache_control(MediaKind::TsSegment, None, AGES), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::Mp4, None, AGES), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::Image("image/jpeg"), None, AGES), "public, max-age=86400");
        assert_eq!(cache_control(MediaKind::Other, None, AGES), "no-cache");
        let master = PlaylistInfo { target_duration: None, master: true, ..Default::default() };
        assert_eq!(cache_control(MediaKind::Playlist, Some(&master), AGES), "public, max-age=1");
    }

    #[test]
    fn blocks_carry_cors_validators_and_framing_in_order() {
        let cors = CorsConfig {
            allow_origin: HeaderValue::from_static("*"),
            max_age: HeaderValue::from(60),
            expose: CORS_EXPOSED,
        };
        let v = HeaderValue::from_static;
        let values = VersionValues {
            cors: Some(&cors),
            etag: &v("\"e\""),
            last_modified: &v("Sat, 21 Nov 2026 08:00:00 GMT"),
            cache_control: &v("public, max-age=1"),
            content_type: &v("video/mp2t"),
            content_length: &v("3"),
            encoding: None,
        };
        let blocks = values.blocks();
        let names: Vec<&str> = blocks.ok.fields().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "access-control-allow-origin",
                "access-control-expose-headers",
                "etag",
                "last-modified",
                "cache-control",
                "accept-ranges",
                "content-type",
                "content-length"
            ]
        );
        assert_eq!(blocks.validators.fields().len(), 5);
        assert_eq!(preflight(None, None).len(), 1);
        assert_eq!(error(Some(&cors)).len(), 2);
    }
}
