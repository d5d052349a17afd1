//! The state shared by every request: the validated config and the file store. Built once at
//! start; must not hold per-connection data.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// Everything a request handler needs, immutable after start.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The media root.
    pub store: Store,
}

impl AppState {
    /// Opens the media root named by the config.
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let store = Store::open(&config.server.root, config.http.immutable_max_age)?;
        Ok(Arc::new(AppState { config, store }))
    }
}
