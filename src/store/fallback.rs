//! The last good version of each playlist, for when a revalidation cannot even open the file:
//! out of descriptors (EMFILE/ENFILE) or memory. The watcher still reports changes while the
//! process is starved, so a version no change event has touched is still the current one and is
//! served instead of an error. Must not do file I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::FileEntry;
use crate::counter::Every;

/// Playlists remembered at most; beyond it the map starts over (a bound, not an LRU: playlists
/// are refilled every `manifest_validity`, so the live ones are back within a second).
const MAX_KEPT: usize = 16 * 1024;

/// Last good playlist versions by request path.
#[derive(Debug, Default)]
pub(super) struct LastGood {
    map: Mutex<HashMap<Box<str>, Arc<FileEntry>>>,
    logged: Every,
}

impl LastGood {
    /// Remembers a playlist version read whole into RAM.
    pub(super) fn keep(&self, key: &str, entry: &Arc<FileEntry>) {
        if !entry.kind.is_playlist() || entry.ram().is_none() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEPT && !map.contains_key(key) {
            map.clear();
        }
        map.insert(key.into(), Arc::clone(entry));
    }

    /// The version kept for `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<Arc<FileEntry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// A change event (or a rescan) makes what was kept for `key` unsafe to serve.
    pub(super) fn forget(&self, key: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Forgets everything (a rescan, a replaced root, a header policy change).
    pub(super) fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The version to serve for `key` when it cannot be read for lack of resources.
    pub(super) fn serve_instead(&self, key: &str, error: &std::io::Error) -> Option<Arc<FileEntry>> {
        let kept = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()?;
        if self.logged.ready(10_000) {
            tracing::warn!(path = key, %error, "cannot open playlists to revalidate them; serving the last versions no change event has touched (logged once per 10 s)");
        }
        Some(kept)
    }
}

/// True for errors that say the process is short of resources, not that the file is bad.
pub(super) fn is_resource_shortage(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS))
}
