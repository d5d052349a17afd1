//! The per-request settings in force: the current [`Policy`] and the rate limiters built from
//! it, swapped whole and atomically (`arc-swap`) by a reload. A request takes one snapshot when
//! it starts and finishes with it, whatever is swapped meanwhile. Must not read files.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Policy;
use crate::limits::Limiter;

/// One config version's per-request settings.
#[derive(Debug)]
pub struct Current {
    /// The per-request keys.
    pub policy: Arc<Policy>,
    /// Request-rate limiters for `policy.limits` (shared by versions with the same limits).
    pub limiter: Arc<Limiter>,
}

/// The settings in force, swappable.
#[derive(Debug)]
pub struct Settings {
    current: ArcSwap<Current>,
}

impl Settings {
    /// Settings for `policy`.
    pub fn new(policy: Arc<Policy>) -> Settings {
        Settings { current: ArcSwap::from_pointee(Current::of(policy)) }
    }

    /// A snapshot to hold for a whole request (across awaits).
    pub fn snapshot(&self) -> Arc<Current> {
        self.current.load_full()
    }

    /// A short-lived look (no await while it is held).
    pub fn peek(&self) -> arc_swap::Guard<Arc<Current>> {
        self.current.load()
    }

    /// Puts `policy` in force for requests that start from now on. Rate limiters are kept
    /// (with their buckets) when `[limits]` did not change, rebuilt empty when it did.
    pub fn replace(&self, policy: Arc<Policy>) {
        let old = self.current.load();
        let next = if old.limiter.config() == &policy.limits {
            Current { limiter: Arc::clone(&old.limiter), policy }
        } else {
            Current::of(policy)
        };
        self.current.store(Arc::new(next));
    }
}

impl Current {
    fn of(policy: Arc<Policy>) -> Current {
        Current { limiter: Arc::new(Limiter::new(&policy.limits)), policy }
    }
}
