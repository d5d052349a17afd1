//! The `[retention]` section: raw serde struct and its validation into [`RetentionConfig`].

use std::time::Duration;

use serde::Deserialize;

use super::units::{parse_duration, parse_size};

/// The validated `[retention]` section. Present: hls-origin manages the disk; absent: it never
/// deletes anything.
#[derive(Clone, Debug)]
pub struct RetentionConfig {
    /// Evict whole streams, least recently used first, while the root holds more than this.
    pub max_disk_bytes: Option<u64>,
    /// Delete streams neither written nor read for this long.
    pub stale_after: Option<Duration>,
    /// Never delete an ended (VOD) stream for staleness.
    pub keep_vod: bool,
    /// Delete segments that left their playlist once their availability window has passed.
    pub spec_segments: bool,
    /// At start, remove unsealed stream directories (in a tree that seals finished streams
    /// with `.complete`) not written or read for this long (`remove_orphans`, off by default).
    pub remove_orphans: bool,
    /// What counts as old for an orphan (never less than `stale_after`).
    pub orphan_age: Duration,
    /// Log what would be deleted; delete nothing.
    pub dry_run: bool,
    /// How often the in-memory index is evaluated.
    pub check_interval: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    max_disk: Option<String>,
    stale_after: Option<String>,
    keep_vod: Option<bool>,
    segment_retention: Option<String>,
    remove_orphans: Option<bool>,
    orphan_age: Option<String>,
    dry_run: Option<bool>,
    check_interval: Option<String>,
}

pub(super) fn retention(raw: RawRetention) -> Result<RetentionConfig, (&'static str, String)> {
    let duration = |key: &'static str, v: Option<&str>, default: &str| -> Result<Duration, (&'static str, String)> {
        let d = parse_duration(v.unwrap_or(default)).map_err(|m| (key, m))?;
        if d.is_zero() {
            return Err((key, "must be greater than zero".into()));
        }
        Ok(d)
    };
    let max_disk_bytes = raw.max_disk.as_deref().map(parse_size).transpose().map_err(|m| ("retention.max_disk", m))?;
    if max_disk_bytes == Some(0) {
        return Err(("retention.max_disk", "must be greater than zero".into()));
    }
    let stale_after = match raw.stale_after.as_deref() {
        Some(v) => Some(duration("retention.stale_after", Some(v), "")?),
        None => None,
    };
    let spec_segments = match raw.segment_retention.as_deref().unwrap_or("off") {
        "off" => false,
        "spec" => true,
        other => return Err(("retention.segment_retention", format!("{other:?}: use \"off\" or \"spec\""))),
    };
    Ok(RetentionConfig {
        max_disk_bytes,
        stale_after,
        keep_vod: raw.keep_vod.unwrap_or(true),
        spec_segments,
        remove_orphans: raw.remove_orphans.unwrap_or(false),
        orphan_age: duration("retention.orphan_age", raw.orphan_age.as_deref(), "10m")?,
        dry_run: raw.dry_run.unwrap_or(false),
        check_interval: duration("retention.check_interval", raw.check_interval.as_deref(), "1s")?,
    })
}
