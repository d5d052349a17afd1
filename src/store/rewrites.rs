//! Segment names served again with other bytes: the mark of an encoder restarted on the same
//! path (ffmpeg starts over at `index0.ts`). Segments are cached for a day, so a CDN keeps the
//! old bytes under the old name. Remembers the version of each segment the cache let go of, and
//! when the same name is read again with different content, counts it and warns (once a minute
//! per stream) with the fix. Pure bookkeeping; must not do I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Content, FileEntry};

/// Versions remembered at most; beyond, the memory starts over (a missed warning, no more).
const REMEMBERED_MAX: usize = 16 * 1024;
/// A stream's warning is repeated at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What identifies a version's bytes: its length, and for RAM versions the content hash (their
/// ETag; a version left on disk has an ETag naming its inode and mtime, not its bytes).
#[derive(Clone, Debug)]
struct Fingerprint {
    len: u64,
    hash: Option<http::HeaderValue>,
}

impl Fingerprint {
    fn of(entry: &FileEntry) -> Fingerprint {
        let hash = matches!(entry.content, Content::Ram(_)).then(|| entry.etag.clone());
        Fingerprint { len: entry.len, hash }
    }

    /// Other bytes for certain (a disk version and its RAM copy compare by length only).
    fn differs(&self, other: &Fingerprint) -> bool {
        self.len != other.len || matches!((&self.hash, &other.hash), (Some(a), Some(b)) if a != b)
    }
}

#[derive(Default)]
struct State {
    gone: HashMap<String, Fingerprint>,
    warned: HashMap<String, Instant>,
}

/// See the module docs.
#[derive(Default)]
pub(super) struct Rewrites {
    state: Mutex<State>,
    detected: AtomicU64,
}

impl Rewrites {
    /// The cache let go of `entry`, the version of segment `key` (replaced, invalidated,
    /// evicted or expired).
    pub(super) fn let_go(&self, key: &str, entry: &FileEntry) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.gone.len() >= REMEMBERED_MAX {
            state.gone.clear();
        }
        state.gone.insert(key.to_string(), Fingerprint::of(entry));
    }

    /// `entry` was just read for `key`: a remembered earlier version with other bytes is a
    /// rewrite.
    /// True when it was a rewrite.
    pub(super) fn read(&self, key: &str, entry: &FileEntry) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(old) = state.gone.remove(key) else { return false };
        if !old.differs(&Fingerprint::of(entry)) {
            return false;
        }
        self.detected.fetch_add(1, Ordering::Relaxed);
        let stream = key.rsplit_once('/').map_or("/", |(dir, _)| dir).to_string();
        let now = Instant::now();
        if state.warned.get(&stream).is_some_and(|at| now.duration_since(*at) < WARN_EVERY) {
            return true;
        }
        if state.warned.len() >= REMEMBERED_MAX {
            state.warned.clear();
        }
        state.warned.insert(stream.clone(), now);
        tracing::warn!(
            stream = %stream,
            segment = key,
            "a segment name was written again with different bytes (an encoder restarted on the same path?); \
             CDNs keep segments for a day and will serve the old bytes. Fix: ffmpeg -hls_start_number_source epoch, \
             or a new path per run"
        );
        true
    }

    /// Rewrites detected so far (tests, metrics).
    pub(super) fn detected(&self) -> u64 {
        self.detected.load(Ordering::Relaxed)
    }
}
