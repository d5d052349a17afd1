//! The watcher: one recursive inotify watch (notify) on the root. The callback only forwards
//! events; one task turns them into [`Change`]s for the store and publishes every write to the
//! subscribed [`EventSink`]s (retention), and after lost events (queue overflow, or SIGHUP)
//! drops what may be stale and re-walks the tree. Changes that do not come from inotify (a
//! subscriber's own deletions) enter the same task through a [`ChangeTx`], so the store hears
//! of everything in one order. Must not read files or name its subscribers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, Notify};

use crate::path::NormPath;
use crate::store::{Change, RootCheck, Store};

/// Events buffered between the notify thread and the reacting task; beyond it, events are
/// dropped and handled like a kernel queue overflow.
const QUEUE: usize = 16 * 1024;

/// Receives every write below the root (paths relative to it), in the order inotify reported
/// them. Called from the watcher's task: must not block.
pub trait EventSink: Send + Sync {
    /// A file was created, written, renamed or removed.
    fn file_changed(&self, rel: &str);
    /// A directory appeared or disappeared, or a name that may be one was renamed.
    fn dir_changed(&self, rel: &str);
    /// Events were lost: whatever the sink derived from them may be stale.
    fn rescan(&self);
}

/// Reports changes the watcher cannot see coming (or must not wait for) into its queue.
#[derive(Clone, Debug)]
pub struct ChangeTx {
    tx: mpsc::Sender<(NormPath, Change)>,
}

/// The receiving end of [`ChangeTx`], handed to [`start`].
pub struct ChangeRx {
    rx: mpsc::Receiver<(NormPath, Change)>,
}

/// A change queue: make it first, give the sender to whoever reports changes, the receiver to
/// [`start`].
pub fn change_queue() -> (ChangeTx, ChangeRx) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (ChangeTx { tx }, ChangeRx { rx })
}

impl ChangeTx {
    /// Queues a change without blocking (any thread). A full queue drops it; inotify reports
    /// the same change a moment later, and the validity timers bound the rest.
    pub fn send(&self, path: NormPath, change: Change) {
        if let Err(e) = self.tx.try_send((path, change)) {
            tracing::debug!("change queue: {e}; relying on inotify and the validity timers");
        }
    }
}

/// A handle on the running watcher.
#[derive(Clone)]
pub struct WatcherHandle {
    shared: Arc<Shared>,
}

struct Shared {
    /// Events were lost: the task must rescan.
    lost: AtomicBool,
    /// An operator asked for a rescan (SIGHUP): the same work, logged as asked, not as a loss.
    requested: AtomicBool,
    /// Drop every event (as an overflow does) until unpaused.
    paused: AtomicBool,
    wake: Notify,
    /// The reacting task is running (false once it ended: the watch is gone).
    running: AtomicBool,
    stats: WatcherStats,
}

/// The watcher's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct WatcherStats {
    /// File events received from inotify.
    pub events: AtomicU64,
    /// Times events were lost (the kernel's or our queue overflowed).
    pub overflows: AtomicU64,
    /// Re-walks of the tree, by reason: root replaced, events lost, operator request.
    pub rescans: [AtomicU64; 3],
}

impl WatcherHandle {
    /// Asks for a rescan, as after a queue overflow (SIGHUP does this).
    pub fn rescan(&self) {
        self.shared.requested.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// True while the watcher reacts to events (for `/healthz`).
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// The counters.
    pub fn stats(&self) -> &WatcherStats {
        &self.shared.stats
    }

    /// While paused, events are dropped exactly as on a kernel queue overflow and a rescan is
    /// due on resume. For tests of the recovery path, and for tools that rewrite the tree.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Release);
        if !paused {
            self.shared.wake.notify_one();
        }
    }
}

/// Starts watching the store's root, publishing to `sinks`. `None` (with a warning) when inotify
/// is unavailable: the validity timers then bound staleness on their own, and queued changes
/// still reach the store.
pub fn start(store: Store, changes: ChangeRx, sinks: Vec<Arc<dyn EventSink>>) -> Option<WatcherHandle> {
    let shared = Arc::new(Shared {
        lost: AtomicBool::new(false),
        requested: AtomicBool::new(false),
        paused: AtomicBool::new(false),
        wake: Notify::new(),
        running: AtomicBool::new(false),
        stats: WatcherStats::default(),
    });
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>(QUEUE);
    let forward = Arc::clone(&shared);
    let handler = move |event: notify::Result<Event>| {
        forward.stats.events.fetch_add(1, Ordering::Relaxed);
        if event.as_ref().is_ok_and(is_read_only) {
            return;
        }
        if forward.paused.load(Ordering::Acquire) || tx.try_send(event).is_err() {
            if !forward.lost.swap(true, Ordering::AcqRel) {
                forward.stats.overflows.fetch_add(1, Ordering::Relaxed);
            }
            forward.wake.notify_one();
        }
    };
    let root = store.root().to_path_buf();
    // Symlinks are not followed: nothing outside the root is watched (or ever deleted).
    let watcher = RecommendedWatcher::new(handler, notify::Config::default().with_follow_symlinks(false))
        .and_then(|mut w| w.watch(&root, RecursiveMode::Recursive).map(|()| w));
    match watcher {
        Ok(watcher) => {
            tracing::info!("watching {} for changes", root.display());
            let subscribers = Subscribers { store, sinks, changes };
            shared.running.store(true, Ordering::Release);
            let running = Arc::clone(&shared);
            tokio::spawn(async move {
                react(watcher, rx, subscribers, Arc::clone(&running)).await;
                running.running.store(false, Ordering::Release);
                tracing::error!("the file watcher stopped; playlists may be up to manifest_validity stale");
            });
            Some(WatcherHandle { shared })
        }
        Err(e) => {
            tracing::warn!("cannot watch {} ({e}); playlists may be up to manifest_validity stale", root.display());
            tokio::spawn(apply_queued(store, changes));
            None
        }
    }
}

/// Where changes go: the RAM cache first, then every sink; and the queue of changes reported
/// by others.
struct Subscribers {
    store: Store,
    sinks: Vec<Arc<dyn EventSink>>,
    changes: ChangeRx,
}

async fn react(
    mut watcher: RecommendedWatcher,
    mut rx: mpsc::Receiver<notify::Result<Event>>,
    subscribers: Subscribers,
    shared: Arc<Shared>,
) {
    let Subscribers { store, sinks, mut changes } = subscribers;
    let root = store.root().to_path_buf();
    // A tmpfs mounted over the root sends no event at all: its identity is checked on a timer.
    let mut root_check = tokio::time::interval(ROOT_CHECK_EVERY);
    root_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut replaced = false;
        tokio::select! {
            event = rx.recv() => match event {
                Some(Ok(event)) if event.need_rescan() => {
                    shared.stats.overflows.fetch_add(1, Ordering::Relaxed);
                    shared.lost.store(true, Ordering::Release);
                }
                Some(Ok(event)) => {
                    publish(&sinks, &root, &event);
                    apply(&store, &root, event).await;
                }
                Some(Err(e)) => tracing::debug!("watch error: {e}"),
                None => return,
            },
            Some((path, change)) = changes.rx.recv() => store.changed(&path, change).await,
            _ = root_check.tick() => replaced = store.check_root().await == RootCheck::Replaced,
            () = shared.wake.notified() => {}
        }
        if shared.paused.load(Ordering::Acquire) {
            continue;
        }
        if let Some(reason) = rescan_reason(&shared, replaced) {
            // A requested rescan also looks at the root first (it logs what it finds).
            if reason == Rescan::Requested {
                store.check_root().await;
            }
            reason.log(&root);
            shared.stats.rescans[reason as usize].fetch_add(1, Ordering::Relaxed);
            watcher = rewalk(watcher, &store, &root).await;
            for sink in &sinks {
                sink.rescan();
            }
        }
    }
}

/// How often the root's identity is checked (two `stat`s).
const ROOT_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why the tree is walked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rescan {
    /// The root directory was replaced: a new directory, a new watch.
    Replaced,
    /// Events were lost (a queue overflowed).
    Lost,
    /// An operator asked (SIGHUP).
    Requested,
}

fn rescan_reason(shared: &Shared, replaced: bool) -> Option<Rescan> {
    let lost = shared.lost.swap(false, Ordering::AcqRel);
    let requested = shared.requested.swap(false, Ordering::AcqRel);
    match (replaced, lost, requested) {
        (true, _, _) => Some(Rescan::Replaced),
        (_, true, _) => Some(Rescan::Lost),
        (_, _, true) => Some(Rescan::Requested),
        _ => None,
    }
}

impl Rescan {
    fn log(self, root: &Path) {
        let root = root.display();
        match self {
            Rescan::Replaced => tracing::info!("watching the new media root {root}"),
            Rescan::Lost => {
                tracing::warn!("file events were lost; dropping cached playlists and misses and re-walking {root}")
            }
            Rescan::Requested => {
                tracing::info!("rescan requested; dropping cached playlists and misses and re-walking {root}")
            }
        }
    }
}

/// Without inotify: queued changes still reach the store, and the root is still checked.
async fn apply_queued(store: Store, mut changes: ChangeRx) {
    let mut root_check = tokio::time::interval(ROOT_CHECK_EVERY);
    loop {
        tokio::select! {
            Some((path, change)) = changes.rx.recv() => store.changed(&path, change).await,
            _ = root_check.tick() => {
                store.check_root().await;
            }
        }
    }
}

/// Drops what lost events may have made stale, then re-adds the recursive watch (notify walks
/// the tree again, so directories created meanwhile are watched).
async fn rewalk(mut watcher: RecommendedWatcher, store: &Store, root: &Path) -> RecommendedWatcher {
    store.rescan(None);
    let root = root.to_path_buf();
    let walked = tokio::task::spawn_blocking(move || {
        let _ = watcher.unwatch(&root);
        let result = watcher.watch(&root, RecursiveMode::Recursive);
        (watcher, result)
    })
    .await;
    match walked {
        Ok((watcher, Ok(()))) => {
            // Anything that changed during the walk is stale too.
            store.rescan(None);
            watcher
        }
        Ok((watcher, Err(e))) => {
            tracing::warn!("re-watching failed ({e}); relying on validity timers");
            watcher
        }
        Err(e) => panic!("re-walk task failed: {e}"),
    }
}

async fn apply(store: &Store, root: &Path, event: Event) {
    let change = match event.kind {
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => {
            for p in &event.paths {
                if let Some(dir) = request_path(root, p, true) {
                    store.rescan(Some(&dir));
                }
            }
            return;
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            if let [from, to] = event.paths.as_slice() {
                renamed(store, root, from, Change::Removed).await;
                renamed(store, root, to, Change::Renamed).await;
            }
            return;
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Change::Removed,
        EventKind::Modify(ModifyKind::Name(_)) => Change::Renamed,
        // Creation alone marks nothing: symlinks and hard links are complete when created and
        // never send close-after-write. Writers send data events, which do mark the file.
        EventKind::Create(_) => Change::Created,
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => Change::Writing,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Change::Closed,
        EventKind::Remove(_) => Change::Removed,
        _ => return,
    };
    for p in &event.paths {
        if matches!(event.kind, EventKind::Modify(ModifyKind::Name(_))) {
            renamed(store, root, p, change).await;
        } else if let Some(path) = request_path(root, p, false) {
            store.changed(&path, change).await;
        }
    }
}

/// An event that changes nothing: a file opened, read or closed without writing (every request
/// that opens a file, and every revalidation, makes one), or metadata touched. Dropped on the
/// watcher's own thread: queued, each would wake the runtime for nothing, and a burst of them
/// could fill the queue and cost a full rescan.
fn is_read_only(event: &Event) -> bool {
    !event.need_rescan()
        && match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
            EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => true,
            _ => false,
        }
}

/// Tells the sinks which paths were written (retention stats them itself, once per tick).
fn publish(sinks: &[Arc<dyn EventSink>], root: &Path, event: &Event) {
    // Only writes count: opens and reads (by players, or by retention reading playlists) must
    // never make a stream look written.
    let is_write = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    if !is_write || sinks.is_empty() {
        return;
    }
    let is_dir = matches!(event.kind, EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder));
    for p in &event.paths {
        let Some(rel) = p.strip_prefix(root).ok().and_then(Path::to_str).filter(|r| !r.is_empty()) else { continue };
        // A rename may move a whole directory: report both views, retention checks which.
        let renamed = matches!(event.kind, EventKind::Modify(ModifyKind::Name(_)));
        for sink in sinks {
            if is_dir || renamed {
                sink.dir_changed(rel);
            }
            if !is_dir {
                sink.file_changed(rel);
            }
        }
    }
}

/// A rename may move a whole directory; names without an extension are treated as directories
/// too (stream directories rarely have one), which costs at most an extra invalidation.
async fn renamed(store: &Store, root: &Path, p: &Path, change: Change) {
    if let Some(path) = request_path(root, p, false) {
        if path.extension().is_none() {
            if let Some(dir) = request_path(root, p, true) {
                store.rescan(Some(&dir));
            }
        }
        store.changed(&path, change).await;
    }
}

/// Maps an absolute event path to the request path that names it (`/a/b.ts`, or `/a/` for a
/// directory prefix). Scratch files (`*.tmp`, dot-files) are never served, so never tracked.
fn request_path(root: &Path, p: &Path, dir: bool) -> Option<NormPath> {
    let rel: PathBuf = p.strip_prefix(root).ok()?.to_path_buf();
    let rel = rel.to_str()?;
    let path = NormPath::from_fs_relative(rel, dir)?;
    (!crate::media::is_scratch(&path)).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{DataChange, MetadataKind};

    #[test]
    fn only_events_that_change_nothing_are_dropped() {
        let read_only = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
        ];
        let changes = [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
        ];
        assert!(read_only.into_iter().all(|k| is_read_only(&Event::new(k))));
        assert!(changes.into_iter().all(|k| !is_read_only(&Event::new(k))));
        let overflow =
            Event::new(EventKind::Access(AccessKind::Open(AccessMode::Any))).set_flag(notify::event::Flag::Rescan);
        assert!(!is_read_only(&overflow), "a lost-events flag always gets through");
    }
}
