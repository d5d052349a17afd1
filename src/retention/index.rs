//! The stream index: every directory below the root with the sizes of its files, and for
//! stream directories their playlists, last write, last read and responses in flight. Pure data;
//! the retention thread feeds it from one walk at start and the watcher's events afterwards.

use crate::media::MediaKind;
use crate::usage::StreamUsage;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A playlist's segments as last read.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// `EXT-X-TARGETDURATION`.
    pub target: u64,
    /// `EXT-X-ENDLIST` / VOD.
    pub ended: bool,
    /// Listed segments (names relative to the directory) and durations.
    pub segments: Vec<(String, f64)>,
}

impl Listing {
    /// Total duration of the listed segments (the playlist's duration).
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|(_, d)| d).sum()
    }
}

/// A segment that left every playlist of its directory.
#[derive(Clone, Copy, Debug)]
pub struct Unlisted {
    /// When it was first seen missing from the playlist.
    pub left_at: SystemTime,
    /// Its duration.
    pub duration: f64,
}

/// One directory.
#[derive(Debug)]
pub struct Dir {
    /// Regular files directly in it, with sizes.
    pub files: HashMap<String, u64>,
    /// Newest write seen.
    pub last_write: SystemTime,
    /// Reads and responses in flight (shared with the request path).
    pub activity: Arc<StreamUsage>,
    /// Playlists in it, by file name.
    pub playlists: HashMap<String, Listing>,
    /// Segments that left the playlists.
    pub unlisted: HashMap<String, Unlisted>,
}

impl Dir {
    /// A fresh directory last written at `at`.
    pub fn new(at: SystemTime) -> Dir {
        Dir {
            files: HashMap::new(),
            last_write: at,
            activity: Arc::new(StreamUsage::default()),
            playlists: HashMap::new(),
            unlisted: HashMap::new(),
        }
    }

    /// Bytes of its files.
    pub fn bytes(&self) -> u64 {
        self.files.values().sum()
    }

    /// Sealed by a `.complete` marker (a finished cache entry).
    pub fn sealed(&self) -> bool {
        self.files.contains_key(".complete")
    }

    /// A stream: holds a playlist, or is a sealed cache entry.
    pub fn is_stream(&self) -> bool {
        self.sealed() || !self.playlists.is_empty()
    }

    /// Looks like packager output (playlists or segments), as opposed to other content.
    pub fn has_media(&self) -> bool {
        self.files.keys().any(|f| MediaKind::of_name(f).is_media())
    }

    /// Every playlist has ended (a VOD).
    pub fn ended(&self) -> bool {
        !self.playlists.is_empty() && self.playlists.values().all(|l| l.ended)
    }

    /// Last read or write.
    pub fn last_use(&self) -> SystemTime {
        self.last_write.max(self.activity.last_read())
    }

    /// Being written (a write within two target durations, at least 3 s) or being read.
    pub fn pinned(&self, now: SystemTime) -> bool {
        let target = self.playlists.values().map(|l| l.target).max().unwrap_or(0);
        let window = Duration::from_secs((2 * target + 1).max(3));
        let writing = now.duration_since(self.last_write).map_or(true, |age| age < window);
        writing || self.activity.is_reading()
    }

    /// Listed by any playlist of the directory.
    pub fn listed(&self, name: &str) -> bool {
        self.playlists.values().any(|l| l.segments.iter().any(|(s, _)| s == name))
    }

    /// Longest playlist duration in the directory.
    pub fn playlist_duration(&self) -> f64 {
        self.playlists.values().map(Listing::duration).fold(0.0, f64::max)
    }

    /// Replaces a playlist's listing; segments that left it start their availability window.
    pub fn set_listing(&mut self, playlist: &str, listing: Option<Listing>, now: SystemTime) {
        let before: Vec<(String, f64)> = self.playlists.get(playlist).map(|l| l.segments.clone()).unwrap_or_default();
        match listing {
            Some(l) => {
                self.playlists.insert(playlist.to_string(), l);
            }
            None => {
                self.playlists.remove(playlist);
            }
        }
        for (name, duration) in before {
            if !self.listed(&name) && self.files.contains_key(&name) {
                self.unlisted.entry(name).or_insert(Unlisted { left_at: now, duration });
            }
        }
        let listed: Vec<String> = self.unlisted.keys().filter(|n| self.listed(n)).cloned().collect();
        for name in listed {
            self.unlisted.remove(&name);
        }
    }
}

/// Every directory below the root, keyed by relative path (`""` is the root).
#[derive(Debug, Default)]
pub struct Index {
    /// The directories.
    pub dirs: BTreeMap<String, Dir>,
}

impl Index {
    /// Bytes of every indexed file.
    pub fn total_bytes(&self) -> u64 {
        self.dirs.values().map(Dir::bytes).sum()
    }

    /// Records a file's size (`None`: gone). Returns whether it was listed when it went.
    pub fn set_file(&mut self, dir: &str, name: &str, size: Option<u64>, now: SystemTime) -> bool {
        match size {
            Some(size) => {
                let d = self.dirs.entry(dir.to_string()).or_insert_with(|| Dir::new(now));
                d.files.insert(name.to_string(), size);
                d.last_write = d.last_write.max(now);
                false
            }
            None => {
                let Some(d) = self.dirs.get_mut(dir) else { return false };
                let was_there = d.files.remove(name).is_some();
                d.unlisted.remove(name);
                was_there && d.listed(name)
            }
        }
    }
}

/// Splits a relative file path into (directory, name).
pub fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::UNIX_EPOCH;

    fn listing(names: &[&str]) -> Listing {
        Listing { target: 2, ended: false, segments: names.iter().map(|n| (n.to_string(), 2.0)).collect() }
    }

    #[test]
    fn unlisted_segments_start_their_window_when_they_leave() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let mut d = Dir::new(t0);
        for f in ["a.ts", "b.ts", "c.ts", "index.m3u8"] {
            d.files.insert(f.into(), 10);
        }
        d.set_listing("index.m3u8", Some(listing(&["a.ts", "b.ts"])), t0);
        assert!(d.unlisted.is_empty());
        let t1 = t0 + Duration::from_secs(2);
        d.set_listing("index.m3u8", Some(listing(&["b.ts", "c.ts"])), t1);
        assert_eq!(d.unlisted.len(), 1);
        assert_eq!(d.unlisted["a.ts"].left_at, t1);
        assert!(d.listed("c.ts") && !d.listed("a.ts"));
        assert_eq!(d.playlist_duration(), 4.0);
    }

    #[test]
    fn pinned_while_written_or_read() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let d = Dir::new(t0);
        assert!(d.pinned(t0 + Duration::from_secs(2)));
        assert!(!d.pinned(t0 + Duration::from_secs(4)));
        d.activity.in_flight.store(1, Ordering::Relaxed);
        assert!(d.pinned(t0 + Duration::from_secs(400)));
    }

    #[test]
    fn index_tracks_bytes_and_vanished_listed_segments() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let mut i = Index::default();
        i.set_file("live/a", "x.ts", Some(100), t0);
        i.set_file("live/a", "index.m3u8", Some(50), t0);
        i.dirs.get_mut("live/a").unwrap().set_listing("index.m3u8", Some(listing(&["x.ts"])), t0);
        assert_eq!(i.total_bytes(), 150);
        assert!(i.set_file("live/a", "x.ts", None, t0), "a listed segment vanished");
        assert_eq!(i.total_bytes(), 50);
        assert_eq!(split("live/a/x.ts"), ("live/a", "x.ts"));
        assert_eq!(split("x.ts"), ("", "x.ts"));
    }
}
