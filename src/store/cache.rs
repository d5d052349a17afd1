//! The in-RAM cache of file versions (moka): tiered validity per media kind through `Expiry`,
//! byte-weighted against `memory_budget`, LRU eviction, negative entries for misses. Owns the
//! cache policy only; must not do file I/O.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::policy::{EvictionPolicy, Expiry};

use super::rewrites::Rewrites;
use super::FileEntry;

/// What the cache holds for a path.
#[derive(Clone, Debug)]
pub enum Cached {
    /// A complete file version.
    File(Arc<FileEntry>),
    /// The path did not resolve to a servable file (like nginx's `open_file_cache_errors`).
    Missing,
}

/// The RAM cache's counters, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheStats {
    /// Lookups answered from RAM (a version, or a remembered miss).
    pub hits: u64,
    /// Lookups that were not, and read the file (misses that found nothing included).
    pub misses: u64,
    /// Of those, the ones that shared another request's read instead of reading.
    pub coalesced: u64,
    /// Versions dropped to stay within `memory_budget`.
    pub evictions: u64,
    /// Bytes the cache holds (its weight: content plus bookkeeping).
    pub bytes: u64,
    /// Entries the cache holds.
    pub entries: u64,
}

/// Validity per kind of entry: the fallback when no change event arrives.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// Playlists (`cache.manifest_validity`).
    pub playlist: Duration,
    /// Everything else (`cache.segment_validity`).
    pub segment: Duration,
    /// Negative entries (`cache.miss_validity`).
    pub miss: Duration,
}

impl Validity {
    /// How long `value` stays valid after it was read.
    pub fn of(&self, value: &Cached) -> Duration {
        match value {
            Cached::File(f) if f.kind.is_playlist() => self.playlist,
            Cached::File(_) => self.segment,
            Cached::Missing => self.miss,
        }
    }
}

impl Expiry<String, Cached> for Validity {
    fn expire_after_create(&self, _key: &String, value: &Cached, _at: Instant) -> Option<Duration> {
        Some(self.of(value))
    }

    /// A replaced value (the watcher re-read a playlist) gets a full validity period again.
    fn expire_after_update(
        &self,
        _key: &String,
        value: &Cached,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.of(value))
    }
}

/// Bookkeeping bytes charged per entry on top of its content (key, header values and the two
/// wire-form header blocks, moka's node).
const ENTRY_OVERHEAD: u64 = 1024;

fn weigh(key: &str, value: &Cached) -> u32 {
    let content = match value {
        // A disk entry holds a descriptor and headers, not the file's bytes.
        Cached::File(f) => f.ram().map_or(0, |b| b.len() as u64) + f.gzip.as_ref().map_or(0, |g| g.bytes.len() as u64),
        Cached::Missing => 0,
    };
    u32::try_from(content + key.len() as u64 + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// Builds the cache. LRU, not moka's default TinyLFU: live-edge segments are always new keys,
/// and a frequency-based admission filter would keep rejecting exactly the hottest content.
/// `rewrites` hears of every segment version the cache lets go of, whatever the cause.
/// `evictions` counts the versions dropped for the budget.
pub fn build(
    budget_bytes: u64,
    validity: Validity,
    rewrites: Arc<Rewrites>,
    evictions: Arc<std::sync::atomic::AtomicU64>,
) -> Cache<String, Cached> {
    Cache::builder()
        .max_capacity(budget_bytes)
        .weigher(|k: &String, v: &Cached| weigh(k, v))
        .eviction_policy(EvictionPolicy::lru())
        .expire_after(validity)
        .support_invalidation_closures()
        // Replacements and invalidations notify before `insert`/`invalidate` return; the memo
        // (store/memo.rs) relies on that to never serve a version the cache let go of.
        .eviction_listener(move |key, value: Cached, cause| {
            if cause == moka::notification::RemovalCause::Size {
                evictions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if let Cached::File(f) = value {
                f.retired.store(true, std::sync::atomic::Ordering::Release);
                if !f.kind.is_playlist() {
                    rewrites.let_go(&key, &f);
                }
            }
        })
        .build()
}
