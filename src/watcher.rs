//! The watcher: one recursive inotify watch (notify) on the root. The callback only forwards
//! events; one task turns them into [`Change`]s for the store, and after lost events (queue
//! overflow, or SIGHUP) drops what may be stale and re-walks the tree. Must not read files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, Notify};

use crate::path::NormPath;
use crate::retention::Retention;
use crate::store::{Change, Store};

/// Events buffered between the notify thread and the reacting task; beyond it, events are
/// dropped and handled like a kernel queue overflow.
const QUEUE: usize = 16 * 1024;

/// A handle on the running watcher.
#[derive(Clone)]
pub struct WatcherHandle {
    shared: Arc<Shared>,
}

struct Shared {
    /// Events were lost: the task must rescan.
    lost: AtomicBool,
    /// Drop every event (as an overflow does) until unpaused.
    paused: AtomicBool,
    wake: Notify,
}

impl WatcherHandle {
    /// Asks for a rescan, as after a queue overflow (SIGHUP does this).
    pub fn rescan(&self) {
        self.shared.lost.store(true, Ordering::Release);
        self.shared.wake.notify_one();
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

/// Starts watching the store's root. `None` (with a warning) when inotify is unavailable: the
/// validity timers then bound staleness on their own.
pub fn start(store: Store, retention: Option<Retention>) -> Option<WatcherHandle> {
    let shared = Arc::new(Shared { lost: AtomicBool::new(false), paused: AtomicBool::new(false), wake: Notify::new() });
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>(QUEUE);
    let forward = Arc::clone(&shared);
    let handler = move |event: notify::Result<Event>| {
        if forward.paused.load(Ordering::Acquire) || tx.try_send(event).is_err() {
            forward.lost.store(true, Ordering::Release);
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
            tokio::spawn(react(watcher, rx, Targets { store, retention }, Arc::clone(&shared)));
            Some(WatcherHandle { shared })
        }
        Err(e) => {
            tracing::warn!("cannot watch {} ({e}); playlists may be up to manifest_validity stale", root.display());
            None
        }
    }
}

/// Where events go: the RAM cache, and the disk index when retention is on.
struct Targets {
    store: Store,
    retention: Option<Retention>,
}

async fn react(
    mut watcher: RecommendedWatcher,
    mut rx: mpsc::Receiver<notify::Result<Event>>,
    targets: Targets,
    shared: Arc<Shared>,
) {
    let Targets { store, retention } = targets;
    let root = store.root().to_path_buf();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(Ok(event)) if event.need_rescan() => shared.lost.store(true, Ordering::Release),
                Some(Ok(event)) => {
                    if let Some(r) = &retention {
                        forward(r, &root, &event);
                    }
                    apply(&store, &root, event).await;
                }
                Some(Err(e)) => tracing::warn!("watch error: {e}"),
                None => return,
            },
            () = shared.wake.notified() => {}
        }
        if !shared.paused.load(Ordering::Acquire) && shared.lost.swap(false, Ordering::AcqRel) {
            watcher = rewalk(watcher, &store, &root).await;
            if let Some(r) = &retention {
                r.rescan();
            }
        }
    }
}

/// Drops what lost events may have made stale, then re-adds the recursive watch (notify walks
/// the tree again, so directories created meanwhile are watched).
async fn rewalk(mut watcher: RecommendedWatcher, store: &Store, root: &Path) -> RecommendedWatcher {
    tracing::warn!("file events were lost; dropping cached playlists and misses and re-walking {}", root.display());
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

/// Tells retention which paths changed (it stats them itself, once per tick).
fn forward(retention: &Retention, root: &Path, event: &Event) {
    // Only writes count: opens and reads (by players, or by retention reading playlists) must
    // never make a stream look written.
    let is_write = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    if !is_write {
        return;
    }
    let is_dir = matches!(event.kind, EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder));
    for p in &event.paths {
        let Some(rel) = p.strip_prefix(root).ok().and_then(Path::to_str).filter(|r| !r.is_empty()) else { continue };
        // A rename may move a whole directory: report both views, retention checks which.
        if is_dir || matches!(event.kind, EventKind::Modify(ModifyKind::Name(_))) {
            retention.dir_changed(rel);
        }
        if !is_dir {
            retention.file_changed(rel);
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
    let scratch = path.is_hidden() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tmp"));
    (!scratch).then_some(path)
}
