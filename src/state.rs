//! The state shared by every request and every background task: the validated config, the file
//! store, stream usage, the media handler, and handles on the watcher and retention. Built once
//! at start by `app`; must not hold per-connection data.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::handler::MediaHandler;
use crate::headers::{Ages, HeaderPolicy};
use crate::net::Gate;
use crate::retention::{self, Retention};
use crate::store::{Store, StoreSettings, Validity};
use crate::usage::Usage;
use crate::watcher::{self, EventSink, WatcherHandle};

/// Everything the server runs on, immutable after start.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The media root and its RAM cache.
    pub store: Store,
    /// Per-stream reads (retention reads it; later metrics and on-demand stop).
    pub usage: Arc<Usage>,
    /// The responder of the public listeners.
    pub handler: Arc<MediaHandler>,
    /// The change watcher, `None` when inotify is unavailable.
    pub watcher: Option<WatcherHandle>,
    /// Disk retention, `None` without a `[retention]` section.
    pub retention: Option<Retention>,
    /// Admission for the public listeners (all of them: caps are per server), and the count
    /// of their open connections.
    pub gate: Gate,
}

impl AppState {
    /// Opens the media root named by the config, indexes it for retention and starts watching
    /// it (call inside a Tokio runtime).
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let (startup, policy) = (&config.startup, &config.policy);
        let cache = &startup.cache;
        let settings = StoreSettings {
            headers: HeaderPolicy {
                ages: Ages { immutable: policy.http.immutable_max_age, ended: policy.hls.ended_max_age },
                cors: policy.http.cors.clone(),
            },
            budget_bytes: cache.memory_budget_bytes,
            validity: Validity {
                playlist: cache.manifest_validity,
                segment: cache.segment_validity,
                miss: cache.miss_validity,
            },
            zero_copy_min_bytes: startup.zero_copy.then_some(startup.zero_copy_min_bytes),
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
        let handler = Arc::new(MediaHandler { store: store.clone(), policy: Arc::clone(&config.policy) });
        Ok(Arc::new(AppState { config, store, usage, handler, watcher, retention, gate: Gate::default() }))
    }
}
