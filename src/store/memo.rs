//! A per-thread front for the cache's hottest reads: a small set-associative table of recently
//! served small RAM entries, consulted before moka, so a repeat hit skips moka's hashing,
//! expiry check and read log. An entry is served from here only while nothing has retired it
//! (moka's eviction listener marks every replaced, invalidated, evicted or expired version),
//! its validity period has not run out, and no rescan has happened since it was put here.
//! Holds `Arc`s only; must not do I/O or decide anything about requests.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::FileEntry;

/// Slots per thread, in sets of [`WAYS`] (powers of two; a few times the number of hot paths).
/// Set-associative, not direct-mapped: with one slot per hash, two hot paths that share it
/// evict each other on every request, and among a few hundred paths about a sixth do (the
/// birthday bound) — measured, a third of one benchmark's 200 playlists did.
const SLOTS: usize = 1024;
const WAYS: usize = 4;
/// Only entries this small are kept: a slot may hold a version moka has already evicted until
/// it is next looked at, so at most `SLOTS × MAX_BYTES` per worker thread sits outside the
/// budget (8 MiB).
pub(super) const MAX_BYTES: u64 = 8 * 1024;
/// Every this many hits a slot sends the read on to moka, so the LRU still sees hot entries
/// as recently used and does not evict them first.
const REFRESH_EVERY: u32 = 64;

/// Validity checks read the coarse monotonic clock (no TSC read; it lags the precise clock by
/// at most one tick, 1–10 ms), so every deadline is brought forward by more than a tick.
const COARSE_MARGIN: Duration = Duration::from_millis(20);

/// Now on the coarse monotonic clock, in nanoseconds.
pub(super) fn now_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE)
        .map_or(0, |t| u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0))
}

struct Slot {
    key: Box<str>,
    entry: Arc<FileEntry>,
    /// Deadline on the coarse clock, [`COARSE_MARGIN`] early.
    until_ns: u64,
    generation: u64,
    hits: u32,
}

impl Slot {
    fn is_current(&self, generation: u64, now_ns: u64) -> bool {
        self.generation == generation && now_ns < self.until_ns && !self.entry.retired.load(Ordering::Acquire)
    }
}

thread_local! {
    static MEMO: RefCell<Vec<Option<Slot>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
}

/// The first slot of `key`'s set.
fn set_of(key: &str) -> usize {
    // FNV-1a, then a finaliser: FNV's low bits alone spread paths that differ in one digit
    // badly (64 of 200 such paths shared a slot).
    let mut h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h as usize) & (SLOTS - 1) & !(WAYS - 1)
}

/// The entry kept for `key`, if it is still the current version.
pub(super) fn get(key: &str, generation: u64, now_ns: u64) -> Option<Arc<FileEntry>> {
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let set = set_of(key);
        let slot = memo[set..set + WAYS].iter_mut().find(|s| s.as_ref().is_some_and(|s| &*s.key == key))?;
        let kept = slot.as_mut()?;
        if !kept.is_current(generation, now_ns) {
            *slot = None;
            return None;
        }
        kept.hits = kept.hits.wrapping_add(1);
        (kept.hits % REFRESH_EVERY != 0).then(|| Arc::clone(&kept.entry))
    })
}

/// Keeps `entry` for `key` until `until` (or until it is retired or `generation` moves on).
pub(super) fn put(key: &str, entry: &Arc<FileEntry>, until: Instant, generation: u64) {
    let left = until.saturating_duration_since(Instant::now());
    if entry.ram().is_none() || entry.len > MAX_BYTES || left <= COARSE_MARGIN {
        return;
    }
    let left_ns = u64::try_from((left - COARSE_MARGIN).as_nanos()).unwrap_or(u64::MAX / 2);
    let now = now_ns();
    let until_ns = now.saturating_add(left_ns);
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let set = set_of(key);
        let ways = &mut memo[set..set + WAYS];
        let same_key = ways.iter().position(|s| s.as_ref().is_some_and(|s| &*s.key == key));
        if let Some(Some(s)) = same_key.map(|i| &ways[i]) {
            if Arc::ptr_eq(&s.entry, entry) && s.generation == generation {
                return;
            }
        }
        // The same key's slot, else a free or outdated one, else the one with the fewest hits
        // (a new path does not push out one that is read all the time).
        let victim = same_key
            .or_else(|| ways.iter().position(|s| s.as_ref().is_none_or(|s| !s.is_current(generation, now))))
            .or_else(|| (0..WAYS).min_by_key(|&i| ways[i].as_ref().map_or(0, |s| s.hits)))
            .unwrap_or(0);
        ways[victim] = Some(Slot { key: key.into(), entry: Arc::clone(entry), until_ns, generation, hits: 0 });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{Ages, HeaderPolicy};
    use crate::media::MediaKind;
    use crate::store::entry::entry_for;
    use std::time::Duration;

    fn entry(bytes: &'static [u8]) -> Arc<FileEntry> {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let ages = Ages { immutable: Duration::from_secs(60), ended: Duration::from_secs(10) };
        let policy = HeaderPolicy { ages, cors: None, compress: false, offer: Default::default() };
        Arc::new(entry_for(bytes::Bytes::from_static(bytes), MediaKind::Playlist, &meta, &policy, None))
    }

    #[test]
    fn serves_only_the_current_version() {
        let now = now_ns();
        let e = entry(b"#EXTM3U\n");
        put("/a.m3u8", &e, Instant::now() + Duration::from_secs(1), 7);
        assert!(get("/a.m3u8", 7, now).is_some_and(|got| Arc::ptr_eq(&got, &e)));
        assert!(get("/b.m3u8", 7, now).is_none(), "another key");
        assert!(get("/a.m3u8", 8, now).is_none(), "a rescan since");
        put("/a.m3u8", &e, Instant::now() + Duration::from_secs(1), 7);
        // The deadline, brought forward by the margin, has passed by the real deadline.
        assert!(get("/a.m3u8", 7, now + 1_000_000_000).is_none(), "validity over");
        put("/a.m3u8", &e, Instant::now() + COARSE_MARGIN, 7);
        assert!(get("/a.m3u8", 7, now).is_none(), "too close to its deadline to keep");
        let later = Instant::now() + Duration::from_secs(1);
        put("/a.m3u8", &e, later, 7);
        e.retired.store(true, Ordering::Release);
        assert!(get("/a.m3u8", 7, now).is_none(), "replaced or invalidated");
    }

    #[test]
    fn paths_that_share_a_set_are_all_kept() {
        let now = now_ns();
        let e = entry(b"#EXTM3U\n");
        // Paths that all map to one set: with one slot per set they would evict each other.
        let first = (0..).map(|i| format!("/s/{i}.m3u8")).next().unwrap();
        let same: Vec<String> =
            (0..100_000).map(|i| format!("/s/{i}.m3u8")).filter(|k| set_of(k) == set_of(&first)).take(WAYS).collect();
        assert_eq!(same.len(), WAYS);
        for key in &same {
            put(key, &e, Instant::now() + Duration::from_secs(5), 3);
        }
        assert!(same.iter().all(|key| get(key, 3, now).is_some()), "every way holds one");
    }

    #[test]
    fn hands_some_reads_back_to_the_cache() {
        let now = now_ns();
        let e = entry(b"#EXTM3U\n#EXT-X-ENDLIST\n");
        put("/c.m3u8", &e, Instant::now() + Duration::from_secs(1), 1);
        let served = (0..REFRESH_EVERY * 2).filter(|_| get("/c.m3u8", 1, now).is_some()).count();
        assert_eq!(served, (REFRESH_EVERY as usize - 1) * 2);
    }
}
