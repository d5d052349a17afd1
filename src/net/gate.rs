//! Admission: whether an accepted connection is served, under `max_connections` and
//! `max_connections_per_ip` (exempt networks skip the per-IP cap), and the connection counters
//! of `/metrics`. Over a cap the connection is closed at once — never is accepting stopped —
//! counted, and logged at most once per interval. Must not read from the connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::config::LimitsConfig;
use crate::counter::Every;

/// Decides whether an accepted connection is served, and counts the ones open. One gate may
/// serve several listeners (a cap is per server, not per address). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    open: AtomicUsize,
    /// The most connections open at once since [`Gate::take_peak`] last read it.
    peak: AtomicUsize,
    limits: ArcSwap<LimitsConfig>,
    /// Open connections per client, kept only while `max_connections_per_ip` is set.
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    stats: GateStats,
    refusal_logged: Every,
}

/// Connection counters.
#[derive(Debug, Default)]
pub struct GateStats {
    /// Connections accepted from the listen queue.
    pub accepted: AtomicU64,
    /// Closed at once: `max_connections` reached.
    pub refused_global: AtomicU64,
    /// Closed at once: `max_connections_per_ip` reached.
    pub refused_per_ip: AtomicU64,
}

/// Held by an admitted connection until its task ends and its socket is closed.
#[derive(Debug)]
pub struct Admission {
    inner: Arc<Inner>,
    /// The client, when its connections are counted per IP.
    counted_ip: Option<IpAddr>,
}

impl Gate {
    /// A gate applying the connection caps of `limits`.
    pub fn new(limits: &LimitsConfig) -> Gate {
        let gate = Gate::default();
        gate.set_limits(limits);
        gate
    }

    /// Puts reloaded caps in force for connections accepted from now on. A per-IP cap set by a
    /// reload counts only the connections accepted after it.
    pub fn set_limits(&self, limits: &LimitsConfig) {
        self.inner.limits.store(Arc::new(limits.clone()));
    }

    /// `None`: close the connection at once (a cap is reached; counted and logged).
    pub fn admit(&self, peer: SocketAddr) -> Option<Admission> {
        let inner = &self.inner;
        inner.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let limits = inner.limits.load();
        if limits.max_connections > 0 && inner.open.load(Ordering::Relaxed) >= limits.max_connections {
            inner.stats.refused_global.fetch_add(1, Ordering::Relaxed);
            self.log_refusal(peer, "max_connections", limits.max_connections);
            return None;
        }
        let ip = peer.ip();
        let counted_ip = if limits.max_connections_per_ip > 0 && !limits.is_exempt(ip) {
            let mut per_ip = inner.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let open = per_ip.entry(ip).or_insert(0);
            if *open as usize >= limits.max_connections_per_ip {
                drop(per_ip);
                inner.stats.refused_per_ip.fetch_add(1, Ordering::Relaxed);
                self.log_refusal(peer, "max_connections_per_ip", limits.max_connections_per_ip);
                return None;
            }
            *open += 1;
            Some(ip)
        } else {
            None
        };
        let open = inner.open.fetch_add(1, Ordering::Relaxed) + 1;
        inner.peak.fetch_max(open, Ordering::Relaxed);
        Some(Admission { inner: Arc::clone(inner), counted_ip })
    }

    fn log_refusal(&self, peer: SocketAddr, key: &str, cap: usize) {
        if self.inner.refusal_logged.ready(10_000) {
            tracing::warn!(%peer, "connection closed at once: limits.{key} = {cap} reached (further refusals in the next 10 s are only counted)");
        }
    }

    /// Connections admitted and not yet closed.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// The most connections open at once since the last call (restarting from those open now).
    pub fn take_peak(&self) -> usize {
        let open = self.open_connections();
        self.inner.peak.swap(open, Ordering::Relaxed).max(open)
    }

    /// The connection counters.
    pub fn stats(&self) -> &GateStats {
        &self.inner.stats
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inner.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = self.counted_ip {
            let mut per_ip = self.inner.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(open) = per_ip.get_mut(&ip) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn caps_close_the_excess_and_free_up_on_close() {
        let limits = LimitsConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
            ..LimitsConfig::default()
        };
        let gate = Gate::new(&limits);
        let a1 = gate.admit(peer("192.0.2.1")).unwrap();
        let _a2 = gate.admit(peer("192.0.2.1")).unwrap();
        assert!(gate.admit(peer("192.0.2.1")).is_none(), "per-IP cap");
        let _b = gate.admit(peer("10.0.0.1")).unwrap();
        assert!(gate.admit(peer("10.0.0.1")).is_none(), "global cap applies to exempt clients too");
        drop(a1);
        assert!(gate.admit(peer("192.0.2.1")).is_some());
        assert_eq!(gate.stats().refused_per_ip.load(Ordering::Relaxed), 1);
        assert_eq!(gate.stats().refused_global.load(Ordering::Relaxed), 1);
        assert_eq!(gate.stats().accepted.load(Ordering::Relaxed), 6);
    }
}
