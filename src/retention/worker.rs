//! The retention thread: applies file events to the index once per tick, plans, re-checks on
//! disk, deletes, and invalidates the cache. Blocking by design (its own thread); must not be
//! called from async code.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use super::index::split;
use super::{fs, policy, Msg, Worker};
use crate::media::MediaKind;
use crate::path::NormPath;
use crate::store::Change;

/// A pinned-over-budget warning is repeated at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Why a directory is being deleted (for logs and counters).
#[derive(Clone, Copy, Debug)]
enum Reason {
    Stale,
    Evicted,
    Orphan,
}

impl Worker {
    pub(super) fn run(mut self, rx: &Receiver<Msg>) {
        self.remove_orphans();
        let (mut files, mut dirs, mut rescan) = (HashSet::new(), HashSet::new(), false);
        let mut next = Instant::now() + self.cfg.check_interval;
        loop {
            match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(Msg::File(rel)) => {
                    files.insert(rel);
                }
                Ok(Msg::Dir(rel)) => {
                    dirs.insert(rel);
                }
                Ok(Msg::Rescan) => rescan = true,
                Ok(Msg::Config(cfg)) => {
                    // Orphan removal happens once at start; a reload changes the rest.
                    self.cfg = *cfg;
                    next = next.min(Instant::now() + self.cfg.check_interval);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() < next {
                continue;
            }
            next = Instant::now() + self.cfg.check_interval;
            let now = SystemTime::now();
            if std::mem::take(&mut rescan) || self.shared.lost.swap(false, Ordering::AcqRel) {
                self.rewalk(now);
                files.clear();
                dirs.clear();
            }
            for rel in dirs.drain() {
                self.apply_dir(&rel, now);
            }
            for rel in files.drain() {
                self.apply_file(&rel, now);
            }
            let plan = policy::plan(&self.index, &self.cfg, now);
            self.execute(plan, now);
            self.shared.stats.passes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A full walk, keeping what only events and requests could have told us.
    fn rewalk(&mut self, now: SystemTime) {
        let mut fresh = fs::walk(&self.root, "", now);
        for (rel, dir) in &mut fresh.dirs {
            if let Some(old) = self.index.dirs.get(rel) {
                dir.last_write = dir.last_write.max(old.last_write);
                for (name, u) in &old.unlisted {
                    if dir.files.contains_key(name) && !dir.listed(name) {
                        dir.unlisted.entry(name.clone()).or_insert(*u);
                    }
                }
            }
        }
        self.index = fresh;
        self.publish_activity();
    }

    /// A directory appeared (index its subtree) or disappeared (forget everything below it).
    fn apply_dir(&mut self, rel: &str, now: SystemTime) {
        let below = format!("{rel}/");
        // Renames are reported here too (they may move a directory); a renamed file — one per
        // segment per stream — must not cost a pass over the index.
        let was_dir = self.index.dirs.contains_key(rel)
            || self.index.dirs.range(below.clone()..).next().is_some_and(|(d, _)| d.starts_with(&below));
        if !was_dir && fs::real_dir(&self.root, rel).is_none() {
            return;
        }
        self.index.dirs.retain(|d, _| d != rel && !d.starts_with(&below));
        let sub = fs::walk(&self.root, rel, now);
        self.index.dirs.extend(sub.dirs);
        self.publish_activity();
    }

    fn apply_file(&mut self, rel: &str, now: SystemTime) {
        let (dir, name) = split(rel);
        if crate::media::is_tmp_name(name) {
            return;
        }
        let is_new_dir = !self.index.dirs.contains_key(dir);
        let size = fs::file_size(&self.root, dir, name);
        if self.index.set_file(dir, name, size, now) {
            self.shared.stats.segments_vanished_while_listed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{rel} disappeared while its playlist still lists it: players will get 404");
        }
        if MediaKind::of_name(name).is_playlist() {
            let listing = size.and_then(|_| fs::read_listing(&self.root, dir, name));
            if let Some(d) = self.index.dirs.get_mut(dir) {
                d.set_listing(name, listing, now);
            }
        }
        if is_new_dir {
            self.publish_activity();
        }
    }

    fn execute(&mut self, plan: policy::Plan, now: SystemTime) {
        for rel in &plan.stale {
            self.delete_stream(rel, Reason::Stale, now);
        }
        for rel in &plan.evict {
            self.delete_stream(rel, Reason::Evicted, now);
        }
        if plan.pinned_over_budget && self.warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            self.warned_at = Some(Instant::now());
            tracing::warn!(
                "the media root holds {} bytes, over max_disk, but every remaining stream is being written or read; not deleting live data",
                self.index.total_bytes()
            );
        }
        let mut by_dir: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
        for (dir, name) in plan.segments {
            by_dir.entry(dir).or_default().push(name);
        }
        for (dir, names) in by_dir {
            self.delete_segments(&dir, names, now);
        }
    }

    /// Deletes a whole stream directory after checking on disk that nothing wrote to it since.
    fn delete_stream(&mut self, rel: &str, reason: Reason, now: SystemTime) {
        let Some(d) = self.index.dirs.get(rel) else { return };
        let (bytes, age) = (d.bytes(), now.duration_since(d.last_use()).unwrap_or_default());
        let newest = d
            .files
            .keys()
            .filter_map(|f| std::fs::metadata(self.root.join(rel).join(f)).and_then(|m| m.modified()).ok())
            .max();
        if newest.is_some_and(|m| m > d.last_write) {
            // Written after our last event: not stale after all (the event is on its way).
            return;
        }
        if self.cfg.dry_run {
            if self.dry_run_logged.insert(rel.to_string()) {
                self.shared.stats.dry_run_skipped.fetch_add(1, Ordering::Relaxed);
                tracing::info!("dry run: would delete stream {rel} ({reason:?}, {bytes} bytes, unused for {age:?})");
            }
            return;
        }
        match fs::delete(&self.root, rel, None, false) {
            Ok(deleted) => {
                tracing::info!(
                    "deleted stream {rel} ({reason:?}): {} files, {} bytes, unused for {age:?}",
                    deleted.files.len(),
                    deleted.bytes
                );
                let stats = &self.shared.stats;
                stats.bytes_freed.fetch_add(deleted.bytes, Ordering::Relaxed);
                let counter = match reason {
                    Reason::Stale => &stats.stale_deleted,
                    Reason::Evicted => &stats.streams_evicted,
                    Reason::Orphan => &stats.orphans_removed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.index.dirs.remove(rel);
                self.usage.forget(rel);
                self.invalidate(rel, &deleted.files);
                self.publish_activity();
            }
            Err(e) => tracing::warn!("could not delete stream {rel}: {e}"),
        }
    }

    /// Deletes segments past their window, re-reading the playlists first: a segment listed
    /// now is never deleted, whatever the index believed.
    fn delete_segments(&mut self, dir: &str, names: Vec<String>, now: SystemTime) {
        let playlists: Vec<String> =
            self.index.dirs.get(dir).map(|d| d.playlists.keys().cloned().collect()).unwrap_or_default();
        for p in &playlists {
            let listing = fs::read_listing(&self.root, dir, p);
            if let Some(d) = self.index.dirs.get_mut(dir) {
                d.set_listing(p, listing, now);
            }
        }
        let Some(d) = self.index.dirs.get(dir) else { return };
        let names: Vec<String> = names.into_iter().filter(|n| d.unlisted.contains_key(n) && !d.listed(n)).collect();
        if names.is_empty() {
            return;
        }
        match fs::delete(&self.root, dir, Some(&names), self.cfg.dry_run) {
            Ok(deleted) if self.cfg.dry_run => {
                self.shared.stats.dry_run_skipped.fetch_add(deleted.files.len() as u64, Ordering::Relaxed);
                if let Some(d) = self.index.dirs.get_mut(dir) {
                    for f in &deleted.files {
                        d.unlisted.remove(f);
                    }
                }
                tracing::info!("dry run: would delete {} expired segments in {dir}", deleted.files.len());
            }
            Ok(deleted) => {
                self.shared.stats.bytes_freed.fetch_add(deleted.bytes, Ordering::Relaxed);
                self.shared.stats.segments_deleted.fetch_add(deleted.files.len() as u64, Ordering::Relaxed);
                for f in &deleted.files {
                    self.index.set_file(dir, f, None, now);
                }
                tracing::debug!("deleted {} segments past their availability window in {dir}", deleted.files.len());
                self.invalidate(dir, &deleted.files);
            }
            Err(e) => tracing::warn!("could not delete segments in {dir}: {e}"),
        }
    }

    /// At start, and only with `remove_orphans`: in a tree that seals finished streams with
    /// `.complete` (a transcoding cache), unsealed packager output neither written nor read for
    /// `orphan_age` (and never less than `stale_after`) is the remains of a crashed encode.
    fn remove_orphans(&mut self) {
        if !self.cfg.remove_orphans {
            return;
        }
        if !self.index.dirs.values().any(|d| d.sealed()) {
            tracing::info!(
                "retention: no directory is sealed with .complete, so none is an orphan; remove_orphans does nothing"
            );
            return;
        }
        let now = SystemTime::now();
        let min_age = self.cfg.orphan_age.max(self.cfg.stale_after.unwrap_or_default());
        let orphans: Vec<String> = self
            .index
            .dirs
            .iter()
            .filter(|(rel, d)| !rel.is_empty() && d.has_media() && !d.sealed())
            .filter(|(_, d)| !(self.cfg.keep_vod && d.ended()))
            .filter(|(_, d)| now.duration_since(d.last_use()).is_ok_and(|age| age > min_age))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in orphans {
            self.delete_stream(&rel, Reason::Orphan, now);
        }
    }

    /// Tells the store (through the watcher's queue) what was deleted, without waiting for
    /// inotify.
    fn invalidate(&self, dir: &str, files: &[String]) {
        for f in files {
            let rel = if dir.is_empty() { f.clone() } else { format!("{dir}/{f}") };
            if let Some(path) = NormPath::from_fs_relative(&rel, false) {
                self.changes.send(path, Change::Removed);
            }
        }
    }

    /// Points every indexed directory at its usage record (shared with the cached versions of
    /// its files, so reads recorded before the index knew the directory are kept).
    pub(super) fn publish_activity(&mut self) {
        for (rel, d) in &mut self.index.dirs {
            d.activity = self.usage.stream(rel);
        }
    }
}
