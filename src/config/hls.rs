//! The `[hls]` section: its raw serde struct and validation into [`HlsConfig`]. Must not know
//! how the keys are applied (the store renders playlists, the handler holds requests).

use std::time::Duration;

use serde::Deserialize;

use super::units::parse_duration;

/// `[hls]`: live-HLS behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsConfig {
    /// `max-age` of a playlist with `EXT-X-ENDLIST` but no `PLAYLIST-TYPE:VOD`: a stopped live
    /// stream that may restart on the same URL (`ended_max_age`, default 10s).
    pub ended_max_age: Duration,
    /// Playlists are also kept gzip-compressed (once per version) for clients that accept it
    /// (`compress`, default true).
    pub compress: bool,
    /// `_HLS_msn`/`_HLS_part` requests are held until the segment is listed (RFC 8216bis
    /// §6.2.5.2), and `CAN-BLOCK-RELOAD=YES` is advertised where the packager does not
    /// (`blocking_reload`, default false).
    pub blocking_reload: bool,
    /// `_HLS_skip` is answered with delta updates and `CAN-SKIP-UNTIL` advertised (§6.2.5.1)
    /// (`delta_updates`, default false).
    pub delta_updates: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHls {
    ended_max_age: Option<String>,
    compress: Option<bool>,
    blocking_reload: Option<bool>,
    delta_updates: Option<bool>,
}

/// Validates `[hls]`; errors name their key.
pub(super) fn hls(raw: RawHls) -> Result<HlsConfig, (&'static str, String)> {
    let key = "hls.ended_max_age";
    let ended_max_age = parse_duration(raw.ended_max_age.as_deref().unwrap_or("10s")).map_err(|m| (key, m))?;
    if ended_max_age.is_zero() {
        return Err((key, "must be greater than zero".to_string()));
    }
    Ok(HlsConfig {
        ended_max_age,
        compress: raw.compress.unwrap_or(true),
        blocking_reload: raw.blocking_reload.unwrap_or(false),
        delta_updates: raw.delta_updates.unwrap_or(false),
    })
}
