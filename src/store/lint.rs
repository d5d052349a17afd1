//! The producer lint where the store reads playlists: each new media playlist version is
//! compared with the last one linted for its path ([`crate::lint`]), its newly listed segments
//! are checked on disk (missing), the previous version's new segments are checked again (written
//! to after that version listed them: listed before complete), and every problem is counted in
//! the stream's usage record and logged at most once a minute per stream and kind. Runs on the
//! blocking pool (it opens files); must not choose status codes.
//!
//! "Listed before complete" is judged by modification times, not by the watcher's write marks: a
//! playlist re-read for an older event may already be a newer version than the events applied so
//! far, so a mark can be missing or stale; a segment modified after the playlist version that
//! listed it was incomplete when listed, whatever order the events arrive in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::live::Live;
use super::read::open_beneath;
use super::{FileEntry, Inner};
use crate::lint::{self, Problem};

/// Playlists remembered at most; beyond, the memory starts over (each playlist's next version
/// is then linted as a first sight).
const REMEMBERED_MAX: usize = 16 * 1024;

/// Newly listed segments checked on disk per version, from the newest back: a packager lists
/// one or two new ones per version; a first sight of a long playlist checks its live end only.
const DISK_CHECKS: usize = 8;

/// The last version linted per playlist path. Kept apart from the cache and the fallback, which
/// let go of versions on every change event.
#[derive(Default)]
pub(super) struct Linted(Mutex<HashMap<Box<str>, Seen>>);

/// One linted version.
#[derive(Clone)]
struct Seen {
    /// The store's change epoch when it was read.
    epoch: u64,
    live: Arc<Live>,
    /// Its modification time, nanoseconds since the epoch.
    mtime_ns: i128,
    /// The segments it listed first (paths relative to the root), checked again next time.
    fresh: Vec<String>,
}

impl Linted {
    /// Compares `live` (read at change epoch `epoch`, modified at `mtime_ns`) with the last
    /// version linted for `key` and remembers it: its problems, the segments it lists first, and
    /// the version it replaced. `None` when this read was overtaken by a later one already
    /// linted (comparing it would report a jump back that never happened) or is that version.
    fn advance(
        &self,
        key: &str,
        epoch: u64,
        live: &Arc<Live>,
        mtime_ns: i128,
    ) -> Option<(Vec<Problem>, Seen, Option<Seen>)> {
        // A poisoned lock only means a thread panicked while editing a plain map.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let previous = map.get(key);
        if previous.is_some_and(|old| old.epoch > epoch || old.live.model == live.model) {
            return None;
        }
        let (problems, new) = lint::compare(previous.map(|p| &p.live.model), &live.model);
        let dir = crate::usage::stream_dir(key);
        let fresh = live.model.segments[new].iter().rev().take(DISK_CHECKS).filter_map(|s| segment_path(dir, &s.uri));
        let seen = Seen { epoch, live: Arc::clone(live), mtime_ns, fresh: fresh.collect() };
        if map.len() >= REMEMBERED_MAX && !map.contains_key(key) {
            map.clear();
        }
        let previous = map.insert(key.into(), seen.clone());
        Some((problems, seen, previous))
    }
}

/// Lints `entry`, a version of the playlist at `rel` read when the store's change epoch was
/// `epoch`.
pub(super) fn check(inner: &Inner, rel: &str, entry: &FileEntry, epoch: u64) {
    let Some(live) = entry.live.as_ref() else { return };
    let Some((mut problems, seen, previous)) = inner.linted.advance(rel, epoch, live, entry.stamp.1) else { return };
    for segment in &seen.fresh {
        if matches!(open_beneath(inner, segment), Ok(None)) {
            problems.push(Problem::MissingSegment);
        }
    }
    if let Some(previous) = previous {
        let written_after = |segment: &String| modified_ns(inner, segment).is_some_and(|m| m > previous.mtime_ns);
        if previous.fresh.iter().any(written_after) {
            problems.push(Problem::ListedEarly);
        }
    }
    problems.dedup();
    report(inner, rel, &problems);
}

/// A segment URI as a path relative to the root, for URIs relative to the playlist's directory.
fn segment_path(dir: &str, uri: &str) -> Option<String> {
    if uri.contains("://") || uri.starts_with('/') || uri.contains("..") || uri.contains('?') {
        return None;
    }
    Some(if dir.is_empty() { uri.to_string() } else { format!("{dir}/{uri}") })
}

fn modified_ns(inner: &Inner, rel: &str) -> Option<i128> {
    use std::os::unix::fs::MetadataExt;
    let meta = open_beneath(inner, rel).ok()??.metadata().ok()?;
    Some(i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()))
}

/// Counts a segment rewrite (the store's rewrite detector logs it itself).
pub(super) fn rewritten(inner: &Inner, key: &str) {
    let rel = key.trim_start_matches('/');
    inner.usage.stream(crate::usage::stream_dir(rel)).problem(Problem::Rewritten as usize);
}

fn report(inner: &Inner, rel: &str, problems: &[Problem]) {
    if problems.is_empty() {
        return;
    }
    let stream = inner.usage.stream(crate::usage::stream_dir(rel));
    for problem in problems {
        if stream.problem(*problem as usize) {
            tracing::warn!(playlist = %format!("/{rel}"), problem = problem.label(),
                "producer problem: {} (logged once a minute per stream; counted in hls_origin_producer_problems_total)",
                problem.explain());
        }
    }
}
