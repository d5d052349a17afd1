//! What a live media playlist version carries besides its bytes: its parsed model, the date
//! ranges that left it recently, and its variants — delta updates and the answers to blocking
//! requests (their own `Cache-Control`, RFC 8216bis Appendix B) — each rendered at most once
//! per version, when first asked for. Must not do I/O.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

use super::FileEntry;
use crate::playlist::directives::Skip;
use crate::playlist::model::{CarriedTag, MediaPlaylist};
use crate::playlist::render::{self, Offer};

/// The live facts of one media playlist version.
#[derive(Debug)]
pub struct Live {
    /// The parse of the bytes served (after any `EXT-X-SERVER-CONTROL` was added).
    pub model: MediaPlaylist,
    /// Date range IDs that left the playlist within the last Skip Boundary, and when: a `v2`
    /// delta update lists them (§4.4.5.2).
    removed_dateranges: Vec<(Box<str>, Instant)>,
    /// `[(No, blocking), (YES, _), (v2, _)]`: the version itself is `(No, not blocking)`.
    variants: [OnceLock<Option<Arc<FileEntry>>>; 5],
}

/// Parses a freshly read media playlist and adds `EXT-X-SERVER-CONTROL` when the server offers
/// what the packager does not say. `None` (bytes unchanged) for a multivariant playlist.
pub(super) fn prepare(bytes: Bytes, offer: Offer, previous: Option<&FileEntry>) -> (Bytes, Option<Arc<Live>>) {
    let Some(model) = MediaPlaylist::parse(&bytes) else { return (bytes, None) };
    let (bytes, model) = match render::advertise(&bytes, &model, offer) {
        Some(text) => match MediaPlaylist::parse(&text) {
            Some(model) => (Bytes::from(text), model),
            None => (bytes, model),
        },
        None => (bytes, model),
    };
    let removed = removed_dateranges(&model, previous.and_then(|p| p.live.as_deref()));
    (bytes, Some(Arc::new(Live { model, removed_dateranges: removed, variants: Default::default() })))
}

/// The IDs that were in the previous version and are not in this one, plus the previous
/// version's list, for as long as a client may still hold a playlist that had them.
fn removed_dateranges(model: &MediaPlaylist, previous: Option<&Live>) -> Vec<(Box<str>, Instant)> {
    let Some(previous) = previous else { return Vec::new() };
    let ids = |m: &MediaPlaylist| -> Vec<Box<str>> {
        m.carried.iter().filter(|c| c.tag == CarriedTag::DateRange).filter_map(|c| c.id.clone()).collect()
    };
    let (now, current) = (Instant::now(), ids(model));
    let keep = Duration::from_secs(render::SKIP_BOUNDARY_TDS * model.target_duration.unwrap_or(10).max(1));
    let mut removed: Vec<_> = previous
        .removed_dateranges
        .iter()
        .filter(|(id, at)| now.duration_since(*at) < keep && !current.contains(id))
        .cloned()
        .collect();
    for id in ids(&previous.model) {
        if !current.contains(&id) && !removed.iter().any(|(r, _)| *r == id) {
            removed.push((id, now));
        }
    }
    removed.truncate(256);
    removed
}

/// The representation of `entry` that answers a request with these directives: the version
/// itself, or a delta update, or either with the lifetime of a blocking answer. Rendered once
/// per version and kind.
pub fn variant(entry: &Arc<FileEntry>, skip: Skip, blocking: bool) -> Arc<FileEntry> {
    let Some(live) = entry.live.as_deref() else { return Arc::clone(entry) };
    let slot = match (skip, blocking) {
        (Skip::No, false) => return Arc::clone(entry),
        (Skip::No, true) => 0,
        (Skip::Segments, b) => 1 + usize::from(b),
        (Skip::SegmentsAndDateRanges, b) => 3 + usize::from(b),
    };
    let made = live.variants[slot].get_or_init(|| render_variant(entry, live, skip, blocking));
    match made {
        Some(v) => Arc::clone(v),
        // Nothing older than the Skip Boundary: the whole playlist is the answer.
        None if skip != Skip::No => variant(entry, Skip::No, blocking),
        None => Arc::clone(entry),
    }
}

fn render_variant(entry: &FileEntry, live: &Live, skip: Skip, blocking: bool) -> Option<Arc<FileEntry>> {
    let bytes = entry.ram()?;
    let text = match skip {
        Skip::No => bytes.clone(),
        _ => {
            let removed: Vec<Box<str>> = live.removed_dateranges.iter().map(|(id, _)| id.clone()).collect();
            Bytes::from(render::delta(bytes, &live.model, skip, &removed)?)
        }
    };
    let cache_control = blocking.then(|| blocking_cache_control(&live.model)).flatten();
    Some(Arc::new(entry.with_bytes(text, cache_control)))
}

/// The answer to a blocking request is unique to its URL (the directive names the segment it
/// waited for), so a CDN may keep it for six target durations (Appendix B).
fn blocking_cache_control(model: &MediaPlaylist) -> Option<HeaderValue> {
    let target = model.target_duration?;
    HeaderValue::from_str(&format!("public, max-age={}", render::SKIP_BOUNDARY_TDS * target)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_that_leave_are_remembered_for_a_while() {
        let with = |ids: &[&str]| {
            let mut t = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n".to_string();
            for id in ids {
                t += &format!("#EXT-X-DATERANGE:ID=\"{id}\",START-DATE=\"2026-12-03T10:00:00Z\"\n");
            }
            MediaPlaylist::parse(t.as_bytes()).unwrap()
        };
        let first = Live { model: with(&["a", "b"]), removed_dateranges: Vec::new(), variants: Default::default() };
        let removed = removed_dateranges(&with(&["b"]), Some(&first));
        assert_eq!(removed.iter().map(|(id, _)| &**id).collect::<Vec<_>>(), ["a"]);
        let second = Live { model: with(&["b"]), removed_dateranges: removed, variants: Default::default() };
        let again = removed_dateranges(&with(&[]), Some(&second));
        assert_eq!(again.iter().map(|(id, _)| &**id).collect::<Vec<_>>(), ["a", "b"]);
        let back = removed_dateranges(&with(&["a"]), Some(&second));
        assert_eq!(
            back.iter().map(|(id, _)| &**id).collect::<Vec<_>>(),
            ["b"],
            "an ID back in the playlist is not removed"
        );
    }
}
