//! Refresh-ahead of cached playlists. `manifest_validity` is the fallback for a change the
//! watcher never reports; left to run out, every read playlist's version expires each period
//! and the next request waits for a re-read on the blocking pool — one thread hand-off per
//! playlist per period, which on a busy origin costs more CPU than the reads themselves. Instead,
//! one pass every half period checks, in a single blocking task, each cached playlist whose
//! stream was read since the last pass and whose validity ends before the next one: a file with
//! the same inode, mtime, length and bytes renews its version (same bytes, ETag, header blocks
//! and rendered variants; a validity that runs from the check). Anything else — changed, gone,
//! unreadable — is left to expire and be re-read by the request path exactly as before, so the
//! bound on staleness is unchanged. Must not serve lookups or decide anything about requests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::ops::compute::Op;

use super::{read, Cached, FileEntry, Store};

/// Validity below which no pass runs: a pass could not get ahead of it (tests use 2 ms).
const MIN_VALIDITY: Duration = Duration::from_millis(100);
/// A pass also renews versions that would run out this soon after the next pass is due, so a
/// pass that starts a little late still finds them valid.
const LATE_MARGIN: Duration = Duration::from_millis(20);

/// The playlists worth refreshing: every path whose playlist version was stored while refresh
/// is on, until a pass finds it gone from the cache or its stream unread.
#[derive(Debug, Default)]
pub(super) struct Refresh {
    enabled: bool,
    keys: Mutex<HashSet<Box<str>>>,
    /// When the last pass started (Unix ms): a stream read since is still watched.
    last_pass_ms: AtomicU64,
    renewed: AtomicU64,
}

impl Refresh {
    /// Tracking for playlists valid for `validity`; off when a pass could not keep up.
    pub(super) fn new(validity: Duration) -> Refresh {
        Refresh { enabled: validity >= MIN_VALIDITY, ..Refresh::default() }
    }

    /// Remembers that a version of playlist `key` was stored.
    pub(super) fn track(&self, key: &str) {
        if self.enabled {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            if !keys.contains(key) {
                keys.insert(key.into());
            }
        }
    }

    fn forget(&self, gone: &[Box<str>]) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for key in gone {
            keys.remove(key);
        }
    }
}

impl Store {
    /// How often [`Store::refresh_playlists`] should run: half the playlist validity; `None`
    /// when the validity is too short for refresh-ahead (the request path re-reads instead).
    pub fn refresh_period(&self) -> Option<Duration> {
        self.inner.refresh.enabled.then(|| self.inner.validity.playlist / 2)
    }

    /// Playlist versions renewed unchanged so far.
    pub fn playlists_renewed(&self) -> u64 {
        self.inner.refresh.renewed.load(Ordering::Relaxed)
    }

    /// One refresh-ahead pass; returns how many versions it renewed.
    pub async fn refresh_playlists(&self) -> usize {
        let Some(period) = self.refresh_period() else { return 0 };
        self.renew_due(Instant::now() + period + LATE_MARGIN).await
    }

    /// Renews the versions whose validity ends before `horizon` (see [`Store::refresh_playlists`]).
    async fn renew_due(&self, horizon: Instant) -> usize {
        let due = self.due(horizon).await;
        if due.is_empty() {
            return 0;
        }
        let inner = Arc::clone(&self.inner);
        let check = move || {
            let mut same = Vec::with_capacity(due.len());
            for (key, entry) in due {
                let at = Instant::now();
                // An error (out of descriptors, say) is "not known to be the same": the version
                // expires and the request path deals with it as before.
                if read::unchanged(&inner, &key[1..], &entry).unwrap_or(false) {
                    same.push((key, entry, at));
                }
            }
            same
        };
        let Ok(same) = tokio::task::spawn_blocking(check).await else { return 0 };
        let mut renewed = 0;
        for (key, old, at) in same {
            let fresh = Cached::File(Arc::new(old.renewed(at)));
            // Only over the exact version checked: a change applied meanwhile wins.
            let outcome = self
                .inner
                .cache
                .entry_by_ref(&*key)
                .and_compute_with(|current| {
                    let still = current.is_some_and(|c| matches!(c.value(), Cached::File(f) if Arc::ptr_eq(f, &old)));
                    std::future::ready(if still { Op::Put(fresh) } else { Op::Nop })
                })
                .await;
            if matches!(outcome, moka::ops::compute::CompResult::ReplacedWith(_)) {
                renewed += 1;
            }
        }
        self.inner.refresh.renewed.fetch_add(renewed as u64, Ordering::Relaxed);
        renewed
    }

    /// The cached playlist versions whose stream was read since the last pass and whose
    /// validity ends before `horizon`; paths no longer worth watching are forgotten.
    async fn due(&self, horizon: Instant) -> Vec<(Box<str>, Arc<FileEntry>)> {
        let inner = &self.inner;
        let since = inner.refresh.last_pass_ms.swap(crate::usage::now_ms(), Ordering::AcqRel);
        let keys: Vec<Box<str>> =
            inner.refresh.keys.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        let (mut due, mut gone) = (Vec::new(), Vec::new());
        for key in keys {
            match inner.cache.get(&*key).await {
                Some(Cached::File(entry))
                    if entry.kind.is_playlist()
                        && entry.ram().is_some()
                        && entry.stream.last_read_ms.load(Ordering::Relaxed) >= since =>
                {
                    if entry.created + inner.validity.playlist <= horizon {
                        due.push((key, entry));
                    }
                }
                _ => gone.push(key),
            }
        }
        inner.refresh.forget(&gone);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{Ages, HeaderPolicy};
    use crate::path::NormPath;
    use crate::store::{Lookup, StoreSettings, Validity};

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na1.ts\n#EXTINF:2.0,\na2.ts\n";

    fn store(dir: &std::path::Path) -> Store {
        let ages = Ages { immutable: Duration::from_secs(60), ended: Duration::from_secs(10) };
        let settings = StoreSettings {
            headers: HeaderPolicy { ages, cors: None, compress: true, offer: Default::default() },
            budget_bytes: 1 << 20,
            validity: Validity {
                playlist: Duration::from_secs(30),
                segment: Duration::from_secs(30),
                miss: Duration::from_secs(30),
            },
            zero_copy_min_bytes: None,
            promote_large: false,
        };
        Store::open(dir, settings, Arc::default()).unwrap()
    }

    /// A root holding one playlist, a store over it (no watcher), and the playlist's path.
    fn one_playlist() -> (tempfile::TempDir, Store, NormPath) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.m3u8"), PLAYLIST).unwrap();
        let store = store(dir.path());
        (dir, store, NormPath::parse("/a.m3u8").unwrap())
    }

    async fn found(store: &Store, path: &NormPath) -> Arc<FileEntry> {
        match store.lookup(path).await.unwrap() {
            Lookup::Found(entry) => entry,
            other => panic!("{other:?}"),
        }
    }

    /// (No watcher here: only the pass and the request path touch the cache.)
    #[tokio::test]
    async fn an_unchanged_read_playlist_is_renewed_and_a_changed_one_is_left_to_expire() {
        let (dir, store, path) = one_playlist();
        let first = found(&store, &path).await;
        let _read = first.stream.begin_read();
        let far = Instant::now() + Duration::from_secs(60);

        assert_eq!(store.renew_due(far).await, 1);
        let renewed = found(&store, &path).await;
        assert!(!Arc::ptr_eq(&first, &renewed) && renewed.created > first.created, "a new validity");
        assert_eq!((renewed.etag.clone(), renewed.ram().cloned()), (first.etag.clone(), first.ram().cloned()));
        assert!(first.retired.load(Ordering::Acquire), "the memo lets go of the old one");
        assert_eq!(store.disk_reads(), 1, "renewing is not a fill");
        assert_eq!(store.playlists_renewed(), 1);

        // The same length, other bytes: not renewed; the cached version is left as it was.
        let _read = renewed.stream.begin_read();
        std::fs::write(dir.path().join("a.m3u8"), PLAYLIST.replace("a2", "b2")).unwrap();
        assert_eq!(store.renew_due(far).await, 0);
        assert!(Arc::ptr_eq(&found(&store, &path).await, &renewed));
    }

    #[tokio::test]
    async fn a_playlist_nobody_read_since_the_last_pass_is_forgotten() {
        let (_dir, store, path) = one_playlist();
        let entry = found(&store, &path).await;
        drop(entry.stream.begin_read());
        // Read times come from the coarse clock: the first pass must start on a later tick, or
        // the read would count as made during it.
        let read_at = entry.stream.last_read_ms.load(Ordering::Relaxed);
        while crate::usage::now_ms() <= read_at {
            tokio::task::yield_now().await;
        }
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(store.renew_due(far).await, 1, "read before the first pass");
        assert_eq!(store.renew_due(far).await, 0, "not read since");
        assert!(store.inner.refresh.keys.lock().unwrap().is_empty());
    }
}
