//! The producer lint where the store reads playlists: each new media playlist version is
//! compared with the last one linted for its path ([`crate::lint`]), its newly listed segments are
//! checked on disk (missing, or still being written), and every problem is counted in the
//! stream's usage record and logged at most once a minute per stream and kind. Runs on the
//! blocking pool (it opens files); must not choose status codes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::live::Live;
use super::read::open_beneath;
use super::{FileEntry, Inner};
use crate::lint::{self, Problem};

/// Playlists remembered at most; beyond, the memory starts over (each playlist's next version
/// is then linted as a first sight).
const REMEMBERED_MAX: usize = 16 * 1024;

/// The last version linted per playlist path. Kept apart from the cache and the fallback, which
/// let go of versions on every change event.
#[derive(Default)]
pub(super) struct Linted(Mutex<HashMap<Box<str>, Seen>>);

/// The change epoch a version was read at, and the version.
type Seen = (u64, Arc<Live>);

impl Linted {
    /// Remembers `live`, read at change epoch `epoch`, for `key`, returning the version it
    /// replaces — `Err` when a version read later was linted already (this read was overtaken:
    /// comparing it would report a jump back that never happened).
    fn swap(&self, key: &str, epoch: u64, live: &Arc<Live>) -> Result<Option<Arc<Live>>, ()> {
        // A poisoned lock only means a thread panicked while editing a plain map.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|(seen, _)| *seen > epoch) {
            return Err(());
        }
        if map.len() >= REMEMBERED_MAX && !map.contains_key(key) {
            map.clear();
        }
        Ok(map.insert(key.into(), (epoch, Arc::clone(live))).map(|(_, l)| l))
    }
}

/// Newly listed segments checked on disk per version, from the newest back: a packager lists
/// one or two new ones per version; a first sight of a long playlist checks its live end only.
const DISK_CHECKS: usize = 8;

/// When the write marks can be trusted: the watcher applies events in order, so a playlist it
/// reloads was renamed after every segment event before it was applied; a read for a request
/// may run ahead of the watcher and see a mark that is about to go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Marks {
    /// The watcher's own reload.
    InOrder,
    /// A read for a request.
    MayLag,
}

/// Lints `entry`, a version of the playlist at `rel` read when the store's change epoch was
/// `epoch`.
pub(super) fn check(inner: &Inner, rel: &str, entry: &FileEntry, epoch: u64, marks: Marks) {
    let Some(live) = entry.live.as_ref() else { return };
    let Ok(previous) = inner.linted.swap(rel, epoch, live) else { return };
    let previous_model = previous.as_deref().map(|l| &l.model);
    if previous_model == Some(&live.model) {
        return;
    }
    let (mut problems, new) = lint::compare(previous_model, &live.model);
    let dir = crate::usage::stream_dir(rel);
    for segment in live.model.segments[new].iter().rev().take(DISK_CHECKS) {
        let uri = &*segment.uri;
        if uri.contains("://") || uri.starts_with('/') || uri.contains("..") || uri.contains('?') {
            continue;
        }
        let seg_rel = if dir.is_empty() { uri.to_string() } else { format!("{dir}/{uri}") };
        if marks == Marks::InOrder && inner.is_being_written(&format!("/{seg_rel}")) {
            problems.push(Problem::ListedEarly);
        } else if matches!(open_beneath(inner, &seg_rel), Ok(None)) {
            problems.push(Problem::MissingSegment);
        }
    }
    problems.dedup();
    report(inner, rel, &problems);
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
