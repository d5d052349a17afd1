//! Stream usage: per stream directory, when it was last read and how many responses are being
//! sent from it. Written by the request path (one [`ReadGuard`] per response), read by
//! retention (never delete what is watched) and later by metrics and on-demand stop. Always on,
//! whatever else is configured. A leaf: must not know the store, the watcher or HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the request path records for one stream directory.
#[derive(Debug, Default)]
pub struct StreamUsage {
    /// Last read, milliseconds since the Unix epoch (0: never).
    pub last_read_ms: AtomicU64,
    /// Responses being sent.
    pub in_flight: AtomicU32,
    /// Last time a playlist of the stream was completed (closed after writing or renamed into
    /// place), milliseconds since the Unix epoch (0: never).
    pub last_playlist_ms: AtomicU64,
    /// Producer problems found in the stream, by kind (`crate::lint::Problem` as index).
    pub problems: [AtomicU64; PROBLEM_KINDS],
    /// When each kind was last logged, milliseconds since the Unix epoch.
    problems_logged_ms: [AtomicU64; PROBLEM_KINDS],
}

/// Kinds of producer problem counted per stream (`crate::lint::KINDS`).
pub const PROBLEM_KINDS: usize = 7;
/// A stream's warning of one kind is repeated at most this often.
const PROBLEM_LOG_EVERY_MS: u64 = 60_000;

impl StreamUsage {
    /// Records a read and marks a response in flight until the guard drops. Cached file
    /// versions hold their stream's record, so a hit costs no map lookup.
    pub fn begin_read(self: &Arc<Self>) -> ReadGuard {
        self.last_read_ms.store(now_ms(), Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        ReadGuard(Arc::clone(self))
    }

    /// Records that a playlist of the stream was just completed (the watcher saw it).
    pub fn playlist_updated(&self) {
        self.last_playlist_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Counts a producer problem of kind `index`; true when it should be logged now (the
    /// first time, then at most once a minute per stream and kind).
    pub fn problem(&self, index: usize) -> bool {
        let (Some(count), Some(logged)) = (self.problems.get(index), self.problems_logged_ms.get(index)) else {
            return false;
        };
        count.fetch_add(1, Ordering::Relaxed);
        let (now, last) = (now_ms(), logged.load(Ordering::Relaxed));
        (last == 0 || now.saturating_sub(last) >= PROBLEM_LOG_EVERY_MS)
            && logged.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// The last read as a time (`UNIX_EPOCH` if never read).
    pub fn last_read(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_read_ms.load(Ordering::Relaxed))
    }

    /// True while a response from the stream is being sent.
    pub fn is_reading(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }
}

/// Marks a response in flight for its stream until dropped (after the body left).
#[derive(Debug)]
pub struct ReadGuard(Arc<StreamUsage>);

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every stream directory that was read or that retention indexed, by path relative to the
/// root (`""` for files directly in it).
#[derive(Debug, Default)]
pub struct Usage {
    streams: RwLock<HashMap<Box<str>, Arc<StreamUsage>>>,
}

impl Usage {
    /// The usage record of directory `dir` (relative to the root), made on first use.
    pub fn stream(&self, dir: &str) -> Arc<StreamUsage> {
        // A poisoned lock only means a thread panicked while editing a plain map.
        if let Some(s) = self.streams.read().unwrap_or_else(|p| p.into_inner()).get(dir) {
            return Arc::clone(s);
        }
        let mut map = self.streams.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(dir.into()).or_default())
    }

    /// The record of `dir`, if it was ever read or indexed.
    pub fn get(&self, dir: &str) -> Option<Arc<StreamUsage>> {
        self.streams.read().unwrap_or_else(|p| p.into_inner()).get(dir).cloned()
    }

    /// Calls `f` with every directory and its record (a read lock is held meanwhile: keep `f`
    /// short).
    pub fn each(&self, mut f: impl FnMut(&str, &StreamUsage)) {
        for (dir, record) in self.streams.read().unwrap_or_else(|p| p.into_inner()).iter() {
            f(dir, record);
        }
    }

    /// Forgets a directory that was deleted (retention), unless a response from it is still
    /// being sent. Records are otherwise kept: cached file versions share them.
    pub fn forget(&self, dir: &str) {
        let mut map = self.streams.write().unwrap_or_else(|p| p.into_inner());
        if map.get(dir).is_some_and(|s| !s.is_reading()) {
            map.remove(dir);
        }
    }
}

/// The directory part of a path relative to the root (`a/b` for `a/b/c.ts`, `""` for `c.ts`).
pub fn stream_dir(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Wall-clock milliseconds from the coarse clock: a read time needs no better than a tick, and
/// the coarse clock skips the TSC read on every response.
pub fn now_ms() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => u64::try_from(t.tv_sec()).unwrap_or(0) * 1000 + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1_000_000,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::NormPath;

    #[test]
    fn reads_are_counted_per_directory_until_the_guard_drops() {
        let usage = Usage::default();
        let path = NormPath::parse("/live/a/seg1.ts").unwrap();
        let guard = usage.stream(stream_dir(path.relative())).begin_read();
        let stream = usage.get("live/a").unwrap();
        assert!(stream.is_reading());
        assert!(stream.last_read() > UNIX_EPOCH);
        let second = usage.stream(stream_dir(NormPath::parse("/live/a/index.m3u8").unwrap().relative())).begin_read();
        assert_eq!(stream.in_flight.load(Ordering::Relaxed), 2);
        drop((guard, second));
        assert!(!stream.is_reading());
        assert!(Arc::ptr_eq(&stream, &usage.stream("live/a")));
        usage.stream(stream_dir(NormPath::parse("/top.m3u8").unwrap().relative())).begin_read();
        assert!(usage.get("").is_some());
    }

    #[test]
    fn forget_keeps_streams_being_read() {
        let usage = Usage::default();
        let guard = usage.stream("a").begin_read();
        usage.stream("b").begin_read();
        usage.forget("a");
        usage.forget("b");
        assert!(usage.get("a").is_some() && usage.get("b").is_none());
        drop(guard);
        assert_eq!(stream_dir("a/b/c.ts"), "a/b");
        assert_eq!(stream_dir("c.ts"), "");
    }
}
