//! The file store: turns a normalised path into a [`FileEntry`] — the file's bytes plus every
//! response header that can be computed once — served from RAM when cached. Owns all file I/O
//! of the request path, always on the blocking pool, confined to the root. Must not choose
//! status codes or watch the filesystem (the watcher reports changes through [`Store::changed`]).

mod cache;
mod changes;
mod entry;
mod fallback;
mod lint;
mod live;
mod memo;
mod read;
mod refresh;
mod rewrites;
mod root;
mod versions;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::headers::HeaderPolicy;
use crate::media::MediaKind;
use crate::path::NormPath;
use crate::usage::Usage;
use cache::Cached;
pub use cache::{CacheStats, Validity};
pub use entry::{Content, Encoded, FileEntry, SignedMemo};
pub use live::{variant, Live};
use read::{Fill, Settle};
use root::Root;
pub use root::RootCheck;
pub use versions::Subscription;

/// The result of looking a path up.
#[derive(Debug)]
pub enum Lookup {
    /// A regular file inside the root.
    Found(Arc<FileEntry>),
    /// Missing, a directory, a special file, or outside the root (symlink escapes included).
    NotFound,
    /// The server may not read it (EACCES).
    Forbidden,
    /// A playlist that kept changing under every read attempt; try again shortly.
    Busy,
    /// The media root is gone (deleted, unmounted); try again shortly.
    Unavailable,
}

/// The media root, the cache in front of it, and what the watcher has told us.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The root directory, held open (lookups are resolved beneath it), and its canonical path
    /// (event paths are mapped back to request paths against it).
    root: Root,
    /// Built into every version read; a reload may swap it (and then drops every version).
    policy: arc_swap::ArcSwap<HeaderPolicy>,
    /// Files at least this large (not playlists) stay on disk on a miss; `None`: zero-copy off.
    zero_copy_min_bytes: Option<u64>,
    /// Disk entries requested again are read into RAM (`cache.promote_large`).
    promote_large: bool,
    budget_bytes: u64,
    /// Bytes of promotions being read: counted against the budget before they land.
    promoting: AtomicU64,
    cache: moka::future::Cache<String, Cached>,
    /// Files the watcher saw modified and not yet closed, with the time of the last write
    /// event. Segments are not served or cached while marked; playlists are read with torn-read
    /// checks instead (a cached one keeps its previous version during a rewrite), and one that
    /// does not look whole is never taken for "complete but unusual" while marked.
    writing: Mutex<HashMap<String, Instant>>,
    /// Bumped on every change event; a miss that read across a bump reads again, so a slow read
    /// can never overwrite what the watcher just stored with an older version.
    epoch: AtomicU64,
    /// Cache fills from disk (misses that read a file), for tests and metrics.
    reads: AtomicU64,
    /// Fallback validity per kind (also bounds how long the memo keeps an entry).
    validity: Validity,
    /// Bumped by every rescan: moka applies `invalidate_entries_if` lazily, so the memo drops
    /// everything it holds instead.
    generation: AtomicU64,
    /// Stream usage: every version read is tied to its directory's record.
    usage: Arc<Usage>,
    /// Segment names read again with other bytes (an encoder restarted on the same path).
    rewrites: Arc<rewrites::Rewrites>,
    /// Paths whose 403 (EACCES) was logged: once per path, not once per request.
    forbidden_logged: Mutex<HashSet<Box<str>>>,
    /// Playlist versions to serve when revalidation cannot open files (out of descriptors).
    last_good: fallback::LastGood,
    /// Lookups answered from RAM, and lookups that went to a (possibly shared) read.
    lookups: crate::counter::Counters<2>,
    /// Versions the cache let go of to stay within its budget.
    evictions: Arc<AtomicU64>,
    /// Requests waiting for a path's next version.
    versions: versions::Versions,
    /// The last version of each playlist the producer lint looked at.
    linted: lint::Linted,
    /// Playlists renewed ahead of their validity when unchanged.
    refresh: refresh::Refresh,
}

/// Index into `Inner::lookups`.
const HIT: usize = 0;
const MISS: usize = 1;

/// A file marked as being written counts as complete once no write event arrived for this long:
/// a file that appears without a close-after-write event (a hard link, a writer killed with
/// SIGKILL) must not stay hidden forever. Packagers write a segment in well under this.
const WRITING_GRACE: Duration = Duration::from_secs(10);
/// Size at which stale marks are swept from the set.
const WRITING_PRUNE_AT: usize = 4096;

/// Fills at least this large apply pending evictions at once.
const LARGE_FILL_BYTES: usize = 256 * 1024;

/// How a file changed, as reported by the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new name appeared (a file being created, or a link).
    Created,
    /// Data was written and the file is still open for writing.
    Writing,
    /// Closed after writing (complete, unless the writer starts over at once).
    Closed,
    /// Renamed into place: complete.
    Renamed,
    /// Deleted or renamed away.
    Removed,
}

/// Settings for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// Response header policy built into every entry.
    pub headers: HeaderPolicy,
    /// Bytes of file content the cache may hold.
    pub budget_bytes: u64,
    /// Fallback validity per kind.
    pub validity: Validity,
    /// `zero_copy`: files at least this large stay on disk on a miss.
    pub zero_copy_min_bytes: Option<u64>,
    /// `cache.promote_large`: such files requested again are also read into RAM.
    pub promote_large: bool,
}

enum LoadError {
    Forbidden,
    Busy,
    Io(std::io::Error),
}

impl Store {
    /// Opens the media root; versions it reads record their reads in `usage`.
    pub fn open(root: &Path, settings: StoreSettings, usage: Arc<Usage>) -> anyhow::Result<Store> {
        let root = root.canonicalize().with_context(|| format!("media root {}", root.display()))?;
        let root = Root::open(root)?;
        let rewrites = Arc::new(rewrites::Rewrites::default());
        let evictions = Arc::new(AtomicU64::new(0));
        Ok(Store {
            inner: Arc::new(Inner {
                root,
                policy: arc_swap::ArcSwap::from_pointee(settings.headers),
                zero_copy_min_bytes: settings.zero_copy_min_bytes,
                promote_large: settings.promote_large,
                budget_bytes: settings.budget_bytes,
                promoting: AtomicU64::new(0),
                cache: cache::build(
                    settings.budget_bytes,
                    settings.validity,
                    Arc::clone(&rewrites),
                    Arc::clone(&evictions),
                ),
                validity: settings.validity,
                generation: AtomicU64::new(first_generation()),
                writing: Mutex::new(HashMap::new()),
                epoch: AtomicU64::new(0),
                reads: AtomicU64::new(0),
                usage,
                forbidden_logged: Mutex::new(HashSet::new()),
                rewrites,
                last_good: fallback::LastGood::default(),
                lookups: crate::counter::Counters::default(),
                evictions,
                versions: versions::Versions::default(),
                linted: lint::Linted::default(),
                refresh: refresh::Refresh::new(settings.validity.playlist),
            }),
        })
    }

    /// Segment names read again with other bytes so far (an encoder restarted on the same
    /// path; each is also logged, once a minute per stream).
    pub fn rewrites_detected(&self) -> u64 {
        self.inner.rewrites.detected()
    }

    /// How many cache misses were filled from disk so far.
    pub fn disk_reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// The RAM cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        let inner = &self.inner;
        let (hits, misses, reads) =
            (inner.lookups.get(HIT), inner.lookups.get(MISS), inner.reads.load(Ordering::Relaxed));
        CacheStats {
            hits,
            misses,
            coalesced: misses.saturating_sub(reads),
            evictions: inner.evictions.load(Ordering::Relaxed),
            bytes: inner.cache.weighted_size(),
            entries: inner.cache.entry_count(),
        }
    }

    /// Subscribes to `path`'s next versions: the subscription resolves after the store applied
    /// a change to it (the new version is then what a lookup finds).
    pub fn subscribe(&self, path: &NormPath) -> Subscription {
        self.inner.versions.subscribe(path.as_str())
    }

    /// Paths some request is waiting on.
    pub fn waited_on(&self) -> usize {
        self.inner.versions.waited_on()
    }

    /// True while the media root is gone (deleted, unmounted); lookups answer `Unavailable`.
    pub fn root_is_missing(&self) -> bool {
        self.inner.root.is_missing()
    }

    /// The canonical media root.
    pub fn root(&self) -> &Path {
        self.inner.root.path()
    }

    /// Looks a path up: from RAM when cached and valid, else one blocking read shared by all
    /// concurrent requests for the same path.
    pub async fn lookup(&self, path: &NormPath) -> std::io::Result<Lookup> {
        if self.inner.root.is_missing() {
            return Ok(Lookup::Unavailable);
        }
        let key = path.as_str();
        // Read before the cache: a rescan during this lookup leaves the memo slot outdated.
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some(entry) = memo::get(key, generation, memo::now_ns()) {
            self.inner.lookups.add(HIT, 1);
            return Ok(Lookup::Found(entry));
        }
        if let Some(hit) = self.inner.cache.get(key).await {
            self.inner.lookups.add(HIT, 1);
            if let Cached::File(entry) = &hit {
                self.maybe_promote(path, entry);
                memo::put(key, entry, entry.created + self.inner.validity.of(&hit), generation);
            }
            return Ok(hit.into());
        }
        let is_playlist = MediaKind::from_extension(path.extension()).is_playlist();
        if !is_playlist && self.is_being_written(key) {
            return Ok(Lookup::NotFound);
        }
        let load = async {
            let inner = Arc::clone(&self.inner);
            let rel = path.relative().to_string();
            tokio::task::spawn_blocking(move || load_latest(&inner, &rel)).await.map_err(|e| LoadError::Io(e.into()))?
        };
        self.inner.lookups.add(MISS, 1);
        match self.inner.cache.try_get_with_by_ref(key, load).await {
            Ok(cached) => {
                // moka applies evictions lazily; after a large fill, apply them now so the
                // bytes held never run far past the budget.
                if matches!(&cached, Cached::File(f) if f.ram().is_some_and(|b| b.len() >= LARGE_FILL_BYTES)) {
                    self.inner.cache.run_pending_tasks().await;
                }
                Ok(cached.into())
            }
            Err(e) => match &*e {
                LoadError::Forbidden => Ok(Lookup::Forbidden),
                LoadError::Busy => Ok(Lookup::Busy),
                LoadError::Io(io) if fallback::is_resource_shortage(io) => {
                    match self.inner.last_good.serve_instead(key, io) {
                        Some(entry) => Ok(Lookup::Found(entry)),
                        None => Err(std::io::Error::from_raw_os_error(io.raw_os_error().unwrap_or(libc::EMFILE))),
                    }
                }
                LoadError::Io(io) => Err(std::io::Error::new(io.kind(), io.to_string())),
            },
        }
    }

    /// With `cache.promote_large` (the default), a disk entry requested a second time is read
    /// into RAM in the background — only if the cache has room for it without evicting anything,
    /// so a working set larger than the budget stays on the zero-copy path instead of churning
    /// the cache. Off, large files always go by `sendfile` from the descriptor the cache holds
    /// open.
    fn maybe_promote(&self, path: &NormPath, entry: &FileEntry) {
        if !self.inner.promote_large
            || !matches!(entry.content, Content::Disk(_))
            || entry.hits.fetch_add(1, Ordering::Relaxed) != 0
        {
            return;
        }
        // Promotions in flight are counted before they land, and 1/16 of the budget stays free:
        // otherwise concurrent promotions overshoot, evictions make room, and promotion churns.
        let inner = &self.inner;
        let used = inner.cache.weighted_size() + inner.promoting.load(Ordering::Acquire) + inner.budget_bytes / 16;
        if entry.len > inner.budget_bytes.saturating_sub(used) {
            return;
        }
        inner.promoting.fetch_add(entry.len, Ordering::AcqRel);
        let (store, key, rel) = (self.clone(), path.as_str().to_string(), path.relative().to_string());
        let (stamp, len, etag) = (entry.stamp, entry.len, entry.etag.clone());
        tokio::spawn(async move {
            let inner = Arc::clone(&store.inner);
            let read = tokio::task::spawn_blocking(move || {
                read::lookup_blocking(&inner, &rel, Settle::InPlace, Fill::RamOnly)
            });
            if let Ok(Ok(Lookup::Found(fresh))) = read.await {
                // The same version keeps its validator, so CDN revalidations still get 304.
                let fresh = match Arc::try_unwrap(fresh) {
                    Ok(mut f) if f.stamp == stamp && f.len == len => {
                        f.etag = etag;
                        Arc::new(f)
                    }
                    Ok(f) => Arc::new(f),
                    Err(shared) => shared,
                };
                store.inner.cache.insert(key, Cached::File(fresh)).await;
                store.inner.cache.run_pending_tasks().await;
            }
            store.inner.promoting.fetch_sub(len, Ordering::AcqRel);
        });
    }

    fn is_being_written(&self, key: &str) -> bool {
        self.inner.is_being_written(key)
    }
}

impl Inner {
    /// The watcher saw data written to `key` and no close or rename since.
    fn is_being_written(&self, key: &str) -> bool {
        let writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        writing.get(key).is_some_and(|at| at.elapsed() < WRITING_GRACE)
    }
}

/// Where a store's generations start: the per-thread memo is keyed by path and generation, so
/// two stores in one process (tests, or a future second root) must never share a generation.
fn first_generation() -> u64 {
    static STORES: AtomicU64 = AtomicU64::new(0);
    STORES.fetch_add(1, Ordering::Relaxed) << 40
}

impl From<Cached> for Lookup {
    fn from(c: Cached) -> Lookup {
        match c {
            Cached::File(entry) => Lookup::Found(entry),
            Cached::Missing => Lookup::NotFound,
        }
    }
}

/// Reads a file for a cache miss, again if a change event arrived meanwhile (bounded), so a
/// slow miss never stores an older version than the watcher just did.
fn load_latest(inner: &Inner, rel: &str) -> Result<Cached, LoadError> {
    let mut result = Lookup::NotFound;
    let mut epoch = 0;
    for _ in 0..3 {
        epoch = inner.epoch.load(Ordering::Acquire);
        result = read::lookup_blocking(inner, rel, Settle::InPlace, Fill::Any).map_err(LoadError::Io)?;
        if inner.epoch.load(Ordering::Acquire) == epoch {
            break;
        }
    }
    inner.reads.fetch_add(1, Ordering::Relaxed);
    if let Lookup::Found(entry) = &result {
        // Once per read, not once per request that shared it.
        let key = format!("/{rel}");
        if entry.kind.is_playlist() {
            lint::check(inner, rel, entry, epoch);
            inner.last_good.keep(&key, entry);
            inner.refresh.track(&key);
        } else if inner.rewrites.read(&key, entry) {
            lint::rewritten(inner, &key);
        }
    }
    into_cached(result)
}

fn into_cached(lookup: Lookup) -> Result<Cached, LoadError> {
    match lookup {
        Lookup::Found(entry) => Ok(Cached::File(entry)),
        Lookup::NotFound => Ok(Cached::Missing),
        Lookup::Forbidden => Err(LoadError::Forbidden),
        Lookup::Busy | Lookup::Unavailable => Err(LoadError::Busy),
    }
}
