//! Disk retention: keeps the media root from growing without bound. One thread owns an index of
//! the tree (walked once at start, then fed by the watcher's events and by served requests) and
//! deletes stale streams, evicts least-recently-used streams beyond `max_disk`, removes segments
//! that outlived their availability window, and at start removes orphaned encodes. Must not
//! delete anything outside the root, through a symlink, or while a stream is written or read.

mod fs;
pub mod index;
mod policy;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use index::Index;

use crate::config::RetentionConfig;
use crate::path::NormPath;
use crate::store::Store;
use index::{split, Activity};

/// Messages buffered for the retention thread; beyond it, events count as lost (rescan).
const QUEUE: usize = 64 * 1024;

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes deleted.
    pub bytes_freed: AtomicU64,
    /// Streams evicted for the disk budget.
    pub streams_evicted: AtomicU64,
    /// Streams deleted as stale.
    pub stale_deleted: AtomicU64,
    /// Orphaned directories removed at start.
    pub orphans_removed: AtomicU64,
    /// Segments deleted after their availability window.
    pub segments_deleted: AtomicU64,
    /// Segments that disappeared while their playlist still listed them.
    pub segments_vanished_while_listed: AtomicU64,
    /// Deletions a dry run logged instead of doing.
    pub dry_run_skipped: AtomicU64,
}

enum Msg {
    File(String),
    Dir(String),
    Rescan,
}

/// A handle on the retention thread; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct Retention {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
}

/// State shared between the handles and the thread.
struct Shared {
    lost: AtomicBool,
    activity: RwLock<HashMap<String, Arc<Activity>>>,
    stats: Stats,
}

/// Marks a response in flight for its stream until dropped.
#[derive(Debug)]
pub struct ReadGuard(Arc<Activity>);

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Retention {
    /// Walks the store's root (blocking: call at start-up, before serving) and starts the
    /// retention thread.
    pub fn start(cfg: RetentionConfig, store: Store, runtime: tokio::runtime::Handle) -> anyhow::Result<Retention> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            lost: AtomicBool::new(false),
            activity: RwLock::new(HashMap::new()),
            stats: Stats::default(),
        });
        let root = store.root().to_path_buf();
        // The first walk happens before the server answers, so the first reads are recorded.
        let started = Instant::now();
        let index = fs::walk(&root, "", SystemTime::now());
        tracing::info!(
            "retention: indexed {} directories, {} bytes, in {:?}",
            index.dirs.len(),
            index.total_bytes(),
            started.elapsed()
        );
        let worker = Worker {
            cfg,
            root,
            store,
            runtime,
            shared: Arc::clone(&shared),
            index,
            warned_at: None,
            dry_run_logged: HashSet::new(),
        };
        worker.publish_activity();
        std::thread::Builder::new().name("retention".into()).spawn(move || worker.run(&rx))?;
        Ok(Retention { tx, shared })
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// A file changed (path relative to the root).
    pub fn file_changed(&self, rel: &str) {
        self.send(Msg::File(rel.to_string()));
    }

    /// A directory appeared or disappeared.
    pub fn dir_changed(&self, rel: &str) {
        self.send(Msg::Dir(rel.to_string()));
    }

    /// Events were lost: walk the tree again.
    pub fn rescan(&self) {
        self.send(Msg::Rescan);
    }

    fn send(&self, msg: Msg) {
        if self.tx.try_send(msg).is_err() {
            self.shared.lost.store(true, Ordering::Release);
        }
    }

    /// Records a read of `path` and marks a response in flight for its stream.
    pub fn begin_read(&self, path: &NormPath) -> Option<ReadGuard> {
        let (dir, _) = split(path.relative());
        let map = self.shared.activity.read().unwrap_or_else(|p| p.into_inner());
        let activity = Arc::clone(map.get(dir)?);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        activity.last_read_ms.store(now, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(ReadGuard(activity))
    }
}

struct Worker {
    cfg: RetentionConfig,
    root: PathBuf,
    store: Store,
    runtime: tokio::runtime::Handle,
    shared: Arc<Shared>,
    index: Index,
    warned_at: Option<Instant>,
    dry_run_logged: HashSet<String>,
}

mod worker;
