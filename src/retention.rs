//! Disk retention: keeps the media root from growing without bound. One thread owns an index of
//! the tree (walked once at start, then fed by the watcher's events and by served requests) and
//! deletes stale streams, evicts least-recently-used streams beyond `max_disk`, removes segments
//! that outlived their availability window, and at start removes orphaned encodes. Reads come
//! from stream usage; its own deletions go back to the store through the watcher's change
//! queue. Must not delete anything outside the root, through a symlink, or while a stream is
//! written or read; must not touch the store.

mod fs;
pub mod index;
mod policy;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use index::Index;

use crate::config::RetentionConfig;
use crate::usage::Usage;
use crate::watcher::{ChangeTx, EventSink};

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
    /// Evaluations of the index done (the first follows the start-up walk and orphan removal).
    pub passes: AtomicU64,
}

enum Msg {
    File(String),
    Dir(String),
    Rescan,
    Config(Box<RetentionConfig>),
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
    stats: Stats,
}

/// What the retention thread works with besides its config.
pub struct Context {
    /// The canonical media root.
    pub root: PathBuf,
    /// Stream usage: streams being read are never deleted.
    pub usage: Arc<Usage>,
    /// Where the thread reports its own deletions (to the store, through the watcher).
    pub changes: ChangeTx,
}

impl Retention {
    /// Walks the root (blocking: call at start-up, before serving) and starts the retention
    /// thread.
    pub fn start(cfg: RetentionConfig, ctx: Context) -> anyhow::Result<Retention> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared { lost: AtomicBool::new(false), stats: Stats::default() });
        let Context { root, usage, changes } = ctx;
        // The first walk happens before the server answers, so the first reads are recorded.
        let started = Instant::now();
        let index = fs::walk(&root, "", SystemTime::now());
        tracing::info!(
            "retention: indexed {} directories, {} bytes, in {:?}",
            index.dirs.len(),
            index.total_bytes(),
            started.elapsed()
        );
        let mut worker = Worker {
            cfg,
            root,
            usage,
            changes,
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

    /// Applies a reloaded `[retention]` section from the thread's next tick on.
    pub fn set_config(&self, cfg: RetentionConfig) {
        if self.tx.try_send(Msg::Config(Box::new(cfg))).is_err() {
            tracing::warn!("retention: the reloaded [retention] settings could not be queued; reload again");
        }
    }

    fn send(&self, msg: Msg) {
        if self.tx.try_send(msg).is_err() {
            self.shared.lost.store(true, Ordering::Release);
        }
    }
}

/// Retention subscribes to the watcher: it stats what changed itself, once per tick.
impl EventSink for Retention {
    fn file_changed(&self, rel: &str) {
        self.send(Msg::File(rel.to_string()));
    }

    fn dir_changed(&self, rel: &str) {
        self.send(Msg::Dir(rel.to_string()));
    }

    fn rescan(&self) {
        self.send(Msg::Rescan);
    }
}

struct Worker {
    cfg: RetentionConfig,
    root: PathBuf,
    usage: Arc<Usage>,
    changes: ChangeTx,
    shared: Arc<Shared>,
    index: Index,
    warned_at: Option<Instant>,
    dry_run_logged: HashSet<String>,
}

mod worker;
