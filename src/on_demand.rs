//! On-demand streams (`[on_demand]`): a request for a missing playlist below the configured
//! pattern calls the start hook once per stream however many viewers ask (coalesced, with a
//! per-stream cooldown and a global rate), and holds the viewers — on a subscription to the
//! playlist's next version, the start's outcome and the stop signal, holding no thread — until
//! the encoder's first playlist lands (woken by the watcher) or `start_timeout` passes. A stream
//! started here with no read for `idle_after` gets one stop hook call. Must not choose status
//! codes (the handler maps [`NotStarted`]) or read files other than through the store.

mod hook;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::OnDemandConfig;
use crate::net::stop::StopSignal;
use crate::path::NormPath;
use crate::store::{FileEntry, Lookup, Store};
use crate::usage::Usage;

/// Why viewers of a stream were not given its playlist (the handler answers 503 + Retry-After).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// The start hook failed (connect error, timeout, non-2xx): what it said.
    HookFailed(String),
    /// No playlist within `start_timeout`.
    TimedOut,
    /// Over `max_starts_per_second`, or a failed start of this stream within `start_cooldown`.
    Limited,
    /// The server is stopping.
    Stopping,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct OnDemandStats {
    /// Start hook calls.
    pub starts: AtomicU64,
    /// Start hook calls that failed.
    pub start_failures: AtomicU64,
    /// Viewers let go after `start_timeout`.
    pub timeouts: AtomicU64,
    /// Viewers held now.
    pub held: AtomicI64,
    /// Stop hook calls (idle streams).
    pub stops: AtomicU64,
    /// Starts refused by the cooldown or the global rate.
    pub limited: AtomicU64,
}

/// Where a stream's start stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Never started here.
    Idle,
    /// The start hook is being called.
    Starting,
    /// The hook accepted; the encoder is (or was) running.
    Started,
    /// The hook failed.
    Failed(String),
}

struct Stream {
    /// Where the start stands, and when the last start began.
    phase: Mutex<(Phase, Option<Instant>)>,
    /// Woken when the phase changes.
    changed: Notify,
    /// Started here and not yet stopped: the idle check looks at it.
    running: Mutex<Option<Instant>>,
}

/// The on-demand manager (present when `[on_demand]` is configured).
pub struct OnDemand {
    config: OnDemandConfig,
    hook: hook::Hook,
    streams: Mutex<HashMap<Box<str>, Arc<Stream>>>,
    starts: governor::DefaultDirectRateLimiter,
    /// Counters.
    pub stats: OnDemandStats,
}

impl OnDemand {
    /// A manager for `config` (call inside a Tokio runtime).
    pub fn new(config: OnDemandConfig) -> OnDemand {
        let rate = NonZeroU32::new(config.max_starts_per_second).unwrap_or(NonZeroU32::MIN);
        OnDemand {
            hook: hook::Hook::new(config.start_timeout),
            starts: governor::RateLimiter::direct(governor::Quota::per_second(rate)),
            streams: Mutex::new(HashMap::new()),
            stats: OnDemandStats::default(),
            config,
        }
    }

    /// The stream a request is for: the path segment after the pattern's prefix, in the raw
    /// target as sent and in the normalised path alike, and only of characters that need no
    /// escaping anywhere (`A-Z a-z 0-9 - _ .`, not starting with a dot). Anything else — `..`,
    /// an encoded slash, spaces, control bytes — names no stream and never reaches a hook.
    pub fn stream_of(&self, raw_path: &str, path: &NormPath) -> Option<String> {
        let prefix = &self.config.prefix;
        let (raw_id, _) = raw_path.strip_prefix(prefix.as_str())?.split_once('/')?;
        let (id, _) = path.as_str().strip_prefix(prefix.as_str())?.split_once('/')?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && !s.starts_with('.')
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        (raw_id == id && valid(id)).then(|| id.to_string())
    }

    fn stream(&self, id: &str) -> Arc<Stream> {
        // A poisoned lock only means a thread panicked while editing a plain map.
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let make =
            || Stream { phase: Mutex::new((Phase::Idle, None)), changed: Notify::new(), running: Mutex::new(None) };
        Arc::clone(streams.entry(id.into()).or_insert_with(|| Arc::new(make())))
    }

    /// Starts `id` unless a start is under way or the stream runs (viewers then wait for its
    /// playlist); refused within `start_cooldown` of the last start (a failed one included) and
    /// over the global rate.
    fn begin(self: &Arc<Self>, id: &str, stream: &Arc<Stream>) -> Result<(), NotStarted> {
        let mut phase = stream.phase.lock().unwrap_or_else(|p| p.into_inner());
        let running = stream.running.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if phase.0 == Phase::Starting || running {
            return Ok(());
        }
        if phase.1.is_some_and(|at| at.elapsed() < self.config.start_cooldown) {
            self.stats.limited.fetch_add(1, Ordering::Relaxed);
            return Err(match &phase.0 {
                Phase::Failed(why) => NotStarted::HookFailed(why.clone()),
                _ => NotStarted::Limited,
            });
        }
        if self.starts.check().is_err() {
            self.stats.limited.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stream = id, "on-demand start refused: over on_demand.max_starts_per_second; answering 503");
            return Err(NotStarted::Limited);
        }
        *phase = (Phase::Starting, Some(Instant::now()));
        self.stats.starts.fetch_add(1, Ordering::Relaxed);
        let (this, id, stream) = (Arc::clone(self), id.to_string(), Arc::clone(stream));
        tokio::spawn(async move { this.start(&id, &stream).await });
        Ok(())
    }

    async fn start(&self, id: &str, stream: &Stream) {
        let url = self.config.start_url.render(id);
        tracing::info!(stream = id, %url, "on-demand: starting the stream");
        let outcome = self.hook.post(&url).await;
        let phase = match outcome {
            Ok(()) => {
                *stream.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                Phase::Started
            }
            Err(why) => {
                self.stats.start_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(stream = id, %url, hook = %why, "on-demand start failed; viewers get 503");
                Phase::Failed(why)
            }
        };
        stream.phase.lock().unwrap_or_else(|p| p.into_inner()).0 = phase;
        stream.changed.notify_waiters();
    }

    /// Holds a viewer of the missing playlist `path` of stream `id` until it exists.
    pub async fn hold(
        self: &Arc<Self>,
        store: &Store,
        path: &NormPath,
        id: &str,
        stop: Option<&StopSignal>,
    ) -> std::io::Result<Result<Arc<FileEntry>, NotStarted>> {
        let subscription = store.subscribe(path);
        let stream = self.stream(id);
        if let Err(e) = self.begin(id, &stream) {
            return Ok(Err(e));
        }
        self.stats.held.fetch_add(1, Ordering::Relaxed);
        let _held = Held(&self.stats.held);
        let deadline = tokio::time::Instant::now() + self.config.start_timeout;
        loop {
            let (landed, phase_changed) = (subscription.changed(), stream.changed.notified());
            tokio::pin!(landed, phase_changed);
            landed.as_mut().enable();
            phase_changed.as_mut().enable();
            if let Lookup::Found(entry) = store.lookup(path).await? {
                return Ok(Ok(entry));
            }
            if let Phase::Failed(why) = &stream.phase.lock().unwrap_or_else(|p| p.into_inner()).0 {
                return Ok(Err(NotStarted::HookFailed(why.clone())));
            }
            tokio::select! {
                () = landed => {}
                () = phase_changed => {}
                () = stopped(stop) => return Ok(Err(NotStarted::Stopping)),
                () = tokio::time::sleep_until(deadline) => {
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(stream = id, path = path.as_str(), timeout = ?self.config.start_timeout,
                        "on-demand: no playlist within start_timeout; answering 503");
                    return Ok(Err(NotStarted::TimedOut));
                }
            }
        }
    }

    /// Calls the stop hook once for every stream started here with no read (under its
    /// directory) for `idle_after`; reads in flight keep a stream alive.
    pub async fn stop_idle(&self, usage: &Usage) {
        let running: Vec<(Box<str>, Arc<Stream>)> = {
            let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            streams.iter().map(|(id, s)| (id.clone(), Arc::clone(s))).collect()
        };
        for (id, stream) in running {
            let Some(since) = *stream.running.lock().unwrap_or_else(|p| p.into_inner()) else { continue };
            if !self.is_idle(&id, since, usage) {
                continue;
            }
            *stream.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.stats.stops.fetch_add(1, Ordering::Relaxed);
            let Some(template) = &self.config.stop_url else {
                tracing::info!(stream = &*id, "on-demand: stream idle (no stop_url configured)");
                continue;
            };
            let url = template.render(&id);
            tracing::info!(stream = &*id, %url, idle_after = ?self.config.idle_after, "on-demand: stopping an idle stream");
            if let Err(why) = self.hook.post(&url).await {
                tracing::warn!(stream = &*id, %url, hook = %why, "on-demand stop hook failed");
            }
        }
    }

    fn is_idle(&self, id: &str, since: Instant, usage: &Usage) -> bool {
        let dir = format!("{}{id}", self.config.prefix.trim_start_matches('/'));
        let now_ms = crate::usage::now_ms();
        let (mut last_ms, mut reading) = (0, false);
        usage.each(|d, record| {
            if d == dir || d.strip_prefix(dir.as_str()).is_some_and(|rest| rest.starts_with('/')) {
                last_ms = last_ms.max(record.last_read_ms.load(Ordering::Relaxed));
                reading |= record.is_reading();
            }
        });
        let idle_ms = self.config.idle_after.as_millis() as u64;
        !reading && since.elapsed() >= self.config.idle_after && now_ms.saturating_sub(last_ms) >= idle_ms
    }

    /// How often the idle check runs.
    pub fn check_every(&self) -> Duration {
        (self.config.idle_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }
}

/// Counts a viewer as held while it lives.
struct Held<'a>(&'a AtomicI64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn stopped(stop: Option<&StopSignal>) {
    match stop {
        Some(stop) => stop.stopped().await,
        None => std::future::pending().await,
    }
}
