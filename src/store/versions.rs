//! Subscriptions to a path's next version: a request waiting for a playlist to change (blocking
//! reload) subscribes, and the store publishes after every change it applied to that path — so
//! a woken request finds the new version already cached. Only paths someone waits on have an
//! entry, and it goes when the last subscriber does. Must not read files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// The waiters of every path, by request path.
#[derive(Default)]
pub(super) struct Versions {
    paths: Mutex<HashMap<Box<str>, Weak<Channel>>>,
}

#[derive(Default)]
struct Channel {
    notify: Notify,
}

/// One waiter's subscription to a path's changes.
pub struct Subscription {
    channel: Arc<Channel>,
}

impl Subscription {
    /// Resolves at the next change published after it was enabled (`Notified::enable`, or its
    /// first poll). Enable it before looking at the current version, so a change that lands in
    /// between still wakes it.
    pub fn changed(&self) -> Notified<'_> {
        self.channel.notify.notified()
    }
}

impl Versions {
    /// Subscribes to `key`'s changes.
    pub(super) fn subscribe(&self, key: &str) -> Subscription {
        // A poisoned lock only means a thread panicked while editing a plain map.
        let mut paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = paths.get(key).and_then(Weak::upgrade) {
            return Subscription { channel };
        }
        // Dead entries are swept when the map would grow past twice its live size.
        if paths.len() >= 64 && paths.len().is_power_of_two() {
            paths.retain(|_, w| w.strong_count() > 0);
        }
        let channel = Arc::new(Channel::default());
        paths.insert(key.into(), Arc::downgrade(&channel));
        Subscription { channel }
    }

    /// Wakes every waiter of `key`.
    pub(super) fn publish(&self, key: &str) {
        let channel = {
            let mut paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
            match paths.get(key).map(Weak::upgrade) {
                Some(Some(channel)) => channel,
                Some(None) => {
                    paths.remove(key);
                    return;
                }
                None => return,
            }
        };
        channel.notify.notify_waiters();
    }

    /// Wakes every waiter (after a rescan or a root change: any path may have changed).
    pub(super) fn publish_all(&self) {
        let channels: Vec<Arc<Channel>> = {
            let mut paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
            paths.retain(|_, w| w.strong_count() > 0);
            paths.values().filter_map(Weak::upgrade).collect()
        };
        for channel in channels {
            channel.notify.notify_waiters();
        }
    }

    /// Paths with at least one waiter.
    pub(super) fn waited_on(&self) -> usize {
        self.paths.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_wakes_the_waiters_of_that_path_only() {
        let versions = Versions::default();
        let (a, b) = (versions.subscribe("/a.m3u8"), versions.subscribe("/b.m3u8"));
        {
            let mut wait_a = std::pin::pin!(a.changed());
            let mut wait_b = std::pin::pin!(b.changed());
            wait_a.as_mut().enable();
            wait_b.as_mut().enable();
            versions.publish("/a.m3u8");
            use std::future::Future;
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(wait_a.as_mut().poll(&mut cx).is_ready());
            assert!(wait_b.as_mut().poll(&mut cx).is_pending());
            versions.publish_all();
            assert!(wait_b.as_mut().poll(&mut cx).is_ready());
            assert_eq!(versions.waited_on(), 2);
        }
        drop((a, b));
        assert_eq!(versions.waited_on(), 0);
        versions.publish("/a.m3u8");
        assert!(versions.paths.lock().unwrap().get("/a.m3u8").is_none(), "a dead entry goes on publish");
    }
}
