//! The state shared by every request: the validated config and the file store. Built once at
//! start; must not hold per-connection data.

use std::sync::Arc;

use crate::config::Config;
use crate::retention::Retention;
use crate::store::{HeaderPolicy, Store, StoreSettings, Validity};
use crate::watcher::{self, WatcherHandle};

/// Everything a request handler needs, immutable after start.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The media root.
    pub store: Store,
    /// The change watcher, `None` when inotify is unavailable.
    pub watcher: Option<WatcherHandle>,
    /// Disk retention, `None` without a `[retention]` section.
    pub retention: Option<Retention>,
}

impl AppState {
    /// Opens the media root named by the config and starts watching it (call inside a Tokio
    /// runtime).
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let cache = &config.cache;
        let settings = StoreSettings {
            headers: HeaderPolicy { immutable_max_age: config.http.immutable_max_age, cors: config.http.cors.clone() },
            budget_bytes: cache.memory_budget_bytes,
            validity: Validity {
                playlist: cache.manifest_validity,
                segment: cache.segment_validity,
                miss: cache.miss_validity,
            },
            zero_copy_min_bytes: config.server.zero_copy.then_some(config.server.zero_copy_min_bytes),
        };
        let store = Store::open(&config.server.root, settings)?;
        let retention = match &config.retention {
            Some(cfg) => Some(Retention::start(cfg.clone(), store.clone(), tokio::runtime::Handle::current())?),
            None => None,
        };
        let watcher = watcher::start(store.clone(), retention.clone());
        Ok(Arc::new(AppState { config, store, watcher, retention }))
    }
}
