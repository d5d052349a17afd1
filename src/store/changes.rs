//! How the store hears of change: change events from the watcher (a completed playlist re-read
//! at once, anything else invalidated), rescans after lost events, a replaced or vanished root,
//! and a reloaded header policy. Must not serve lookups.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::read::{self, Fill, Settle};
use super::{Cached, Change, Lookup, RootCheck, Store, WRITING_GRACE, WRITING_PRUNE_AT};
use crate::headers::HeaderPolicy;
use crate::media::MediaKind;
use crate::path::NormPath;

impl Store {
    /// Checks that the root path still names the directory held open (blocking pool). When it
    /// was replaced or is gone, everything cached from it is dropped; while it is gone, lookups
    /// answer [`Lookup::Unavailable`].
    pub async fn check_root(&self) -> RootCheck {
        let inner = Arc::clone(&self.inner);
        let check = tokio::task::spawn_blocking(move || inner.root.check()).await.unwrap_or(RootCheck::Same);
        if check != RootCheck::Same {
            self.forget_everything();
        }
        check
    }

    /// Puts a reloaded header policy in force. When it differs, every cached version (whose
    /// header blocks were built with the old one) is dropped; `true` then.
    pub fn set_header_policy(&self, policy: HeaderPolicy) -> bool {
        if **self.inner.policy.load() == policy {
            return false;
        }
        self.inner.policy.store(Arc::new(policy));
        // Write marks stay: the files being written are still being written.
        let inner = &self.inner;
        inner.last_good.clear();
        inner.epoch.fetch_add(1, Ordering::AcqRel);
        inner.generation.fetch_add(1, Ordering::AcqRel);
        inner.cache.invalidate_all();
        inner.generation.fetch_add(1, Ordering::AcqRel);
        inner.versions.publish_all();
        true
    }

    /// Drops every cached version, miss and write mark (the directory they came from is gone).
    fn forget_everything(&self) {
        let inner = &self.inner;
        inner.epoch.fetch_add(1, Ordering::AcqRel);
        inner.generation.fetch_add(1, Ordering::AcqRel);
        inner.last_good.clear();
        inner.writing.lock().unwrap_or_else(|p| p.into_inner()).clear();
        inner.cache.invalidate_all();
        inner.generation.fetch_add(1, Ordering::AcqRel);
        inner.versions.publish_all();
    }

    /// Applies a change event for `path`. A completed playlist that is cached is re-read and
    /// replaced at once, so freshness never waits for the validity timer; if the new version
    /// cannot be read whole, the previous one stays. Anything else is just invalidated.
    pub async fn changed(&self, path: &NormPath, change: Change) {
        let key = path.as_str();
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.last_good.forget(key);
        let is_playlist = MediaKind::from_extension(path.extension()).is_playlist();
        if is_playlist && matches!(change, Change::Closed | Change::Renamed) {
            self.inner.usage.stream(crate::usage::stream_dir(path.relative())).playlist_updated();
        }
        {
            // A poisoned lock only means another thread panicked mid-update of a plain map.
            let mut writing = self.inner.writing.lock().unwrap_or_else(|p| p.into_inner());
            match change {
                Change::Writing => {
                    if writing.len() >= WRITING_PRUNE_AT {
                        writing.retain(|_, at| at.elapsed() < WRITING_GRACE);
                    }
                    writing.insert(key.to_string(), Instant::now());
                }
                Change::Created | Change::Closed | Change::Renamed | Change::Removed => {
                    writing.remove(key);
                }
            }
        }
        let cached_file = matches!(self.inner.cache.get(key).await, Some(Cached::File(_)));
        match change {
            // An in-place rewrite in progress: keep serving the previous version of a playlist.
            Change::Writing if is_playlist => {}
            Change::Closed if is_playlist && cached_file => self.reload(path, Settle::InPlace).await,
            Change::Renamed if is_playlist && cached_file => self.reload(path, Settle::Renamed).await,
            _ => self.inner.cache.invalidate(key).await,
        }
        // After the cache holds what the change left: a woken request finds the new version.
        if is_playlist && change != Change::Writing {
            self.inner.versions.publish(key);
        }
    }

    async fn reload(&self, path: &NormPath, settle: Settle) {
        let inner = Arc::clone(&self.inner);
        let rel = path.relative().to_string();
        let read = move || {
            let epoch = inner.epoch.load(Ordering::Acquire);
            let found = read::lookup_blocking(&inner, &rel, settle, Fill::Any);
            if let Ok(Lookup::Found(entry)) = &found {
                super::lint::check(&inner, &rel, entry, epoch);
            }
            found
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(Lookup::Found(entry))) => {
                self.inner.last_good.keep(path.as_str(), &entry);
                self.inner.refresh.track(path.as_str());
                self.inner.cache.insert(path.as_str().to_string(), Cached::File(entry)).await
            }
            Ok(Ok(Lookup::Busy)) => {
                tracing::debug!(path = path.as_str(), "playlist still changing; keeping the previous version")
            }
            _ => self.inner.cache.invalidate(path.as_str()).await,
        }
    }

    /// Forgets everything an event could have told us: after lost events (inotify queue
    /// overflow) cached playlists, negative entries and below-`prefix` state may all be stale.
    /// Segments stay cached: once complete they never change.
    pub fn rescan(&self, prefix: Option<&NormPath>) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.last_good.clear();
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        let prefix = prefix.map(|p| p.as_str().to_string());
        let mut writing = self.inner.writing.lock().unwrap_or_else(|p| p.into_inner());
        writing.retain(|k, _| prefix.as_ref().is_some_and(|p| !k.starts_with(p.as_str())));
        let result = self.inner.cache.invalidate_entries_if(move |key, value| match &prefix {
            Some(p) => key.starts_with(p.as_str()),
            None => match value {
                Cached::File(f) => f.kind.is_playlist(),
                Cached::Missing => true,
            },
        });
        if let Err(e) = result {
            tracing::warn!("cache invalidation failed ({e}); dropping every cached file");
            self.inner.cache.invalidate_all();
        }
        // Again: a lookup between the first bump and the invalidation above may have put a
        // version moka was about to disown into the memo.
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.versions.publish_all();
    }
}
