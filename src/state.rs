//! The state shared by every request and every background task: the validated config, the file
//! store, stream usage, the per-request settings in force, the media handler, the counters, and
//! handles on the watcher and retention. Built once at start by `app`; must not hold
//! per-connection data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, ConfigError};
use crate::handler::MediaHandler;
use crate::headers::HeaderPolicy;
use crate::metrics::RequestMetrics;
use crate::net::Gate;
use crate::on_demand::OnDemand;
use crate::retention::{self, Retention};
use crate::settings::Settings;
use crate::store::{Store, StoreSettings, Validity};
use crate::usage::Usage;
use crate::watcher::{self, EventSink, WatcherHandle};

/// Everything the server runs on.
pub struct AppState {
    /// The configuration the server started with (its startup keys are the ones in force; the
    /// per-request keys in force are in `settings`).
    pub config: Config,
    /// The media root and its RAM cache.
    pub store: Store,
    /// Per-stream reads and playlist updates (retention, metrics).
    pub usage: Arc<Usage>,
    /// The per-request settings in force (a reload swaps them).
    pub settings: Arc<Settings>,
    /// What the public listeners count.
    pub metrics: Arc<RequestMetrics>,
    /// The responder of the public listeners.
    pub handler: Arc<MediaHandler>,
    /// The change watcher, `None` when inotify is unavailable.
    pub watcher: Option<WatcherHandle>,
    /// Disk retention, `None` without a `[retention]` section at start.
    pub retention: Option<Retention>,
    /// Admission for the public listeners (all of them: caps are per server), and the count
    /// of their open connections.
    pub gate: Gate,
    /// Set once every listener is serving (`/readyz`).
    pub serving: AtomicBool,
    /// When the state was built.
    pub started: Instant,
    /// Streams started on demand, `None` without `[on_demand]`.
    pub on_demand: Option<Arc<OnDemand>>,
}

impl AppState {
    /// Opens the media root named by the config, indexes it for retention and starts watching
    /// it (call inside a Tokio runtime).
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let (startup, policy) = (&config.startup, &config.policy);
        let cache = &startup.cache;
        let settings = StoreSettings {
            headers: HeaderPolicy::of(policy),
            budget_bytes: cache.memory_budget_bytes,
            validity: Validity {
                playlist: cache.manifest_validity,
                segment: cache.segment_validity,
                miss: cache.miss_validity,
            },
            zero_copy_min_bytes: startup.zero_copy.then_some(startup.zero_copy_min_bytes),
            promote_large: cache.promote_large,
        };
        let usage = Arc::new(Usage::default());
        let store = Store::open(&startup.root, settings, Arc::clone(&usage)).map_err(|e| ConfigError {
            file: config.source.clone(),
            key: "server.root".into(),
            message: format!("{e:#}"),
        })?;
        let (changes, queued) = watcher::change_queue();
        let retention = match &policy.retention {
            Some(cfg) => {
                let ctx = retention::Context { root: store.root().to_path_buf(), usage: Arc::clone(&usage), changes };
                Some(Retention::start(cfg.clone(), ctx)?)
            }
            None => None,
        };
        let sinks: Vec<Arc<dyn EventSink>> =
            retention.iter().map(|r| Arc::new(r.clone()) as Arc<dyn EventSink>).collect();
        let watcher = watcher::start(store.clone(), queued, sinks);
        let settings = Arc::new(Settings::new(Arc::clone(policy)));
        let metrics = Arc::new(RequestMetrics::default());
        let on_demand = startup.on_demand.clone().map(|c| Arc::new(OnDemand::new(c)));
        let handler = MediaHandler::new(store.clone(), Arc::clone(&settings), Arc::clone(&metrics));
        let handler = Arc::new(handler.with_on_demand(on_demand.clone()));
        let gate = Gate::new(&policy.limits);
        Ok(Arc::new(AppState {
            config,
            store,
            usage,
            settings,
            metrics,
            handler,
            watcher,
            retention,
            gate,
            serving: AtomicBool::new(false),
            started: Instant::now(),
            on_demand,
        }))
    }

    /// `/healthz`: the process answers, and the watcher (if it started) still runs.
    pub fn is_healthy(&self) -> bool {
        self.watcher.as_ref().is_none_or(WatcherHandle::is_running)
    }

    /// `/readyz`: every listener serving, the root open and indexed.
    pub fn is_ready(&self) -> bool {
        self.serving.load(Ordering::Acquire) && !self.store.root_is_missing()
    }
}
