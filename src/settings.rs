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

    /// The settings in force, held for one request (across its awaits): an arc-swap guard,
    /// which touches no shared reference count unless this thread holds many at once — the
    /// request path's read costs no atomic on a line other threads write. A swap meanwhile
    /// leaves this version alive until the guard drops.
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
