//! Graceful stop for every connection at no per-request cost: each connection registers one
//! waker when it opens; stopping sets a flag and wakes them all. The native driver ends a
//! connection once it is idle between requests ([`StopWatch::stopped_idle`]; one in the middle
//! of a response finishes it, answers with `connection: close`, and ends); hyper connections
//! start hyper's own graceful shutdown on [`StopWatch::stopped`]. Polling costs a flag load and
//! an `AtomicWaker` update, not a lock (a `watch`/`Notify` waiter takes one on every poll).
//! Knows nothing of HTTP.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use atomic_waker::AtomicWaker;

/// The stop signal shared by one listener's connections.
#[derive(Default)]
pub struct Stops {
    stopping: AtomicBool,
    next: AtomicU64,
    wakers: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl Stops {
    /// Signals every connection, present and future.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // A poisoned lock only means a thread panicked while editing a plain map.
        for waker in self.wakers.lock().unwrap_or_else(|p| p.into_inner()).values() {
            waker.wake();
        }
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Registers a connection.
    pub fn register(self: &Arc<Self>) -> StopWatch {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.wakers.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::clone(&waker));
        StopWatch { stops: Arc::clone(self), id, waker, phase: Arc::new(AtomicU64::new(UNKNOWN)) }
    }
}

/// The stop signal as a request that waits (a held playlist request) sees it: cheap to clone,
/// registers a waker only while it is awaited.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<Stops>);

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopSignal").field("stopping", &self.is_stopping()).finish()
    }
}

impl StopSignal {
    /// Resolves once the server is stopping.
    pub async fn stopped(&self) {
        self.0.register().stopped().await;
    }

    /// True once the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.0.is_stopping()
    }
}

/// One connection's view of the stop signal; deregisters when dropped.
pub struct StopWatch {
    stops: Arc<Stops>,
    id: u64,
    waker: Arc<AtomicWaker>,
    phase: Arc<AtomicU64>,
}

/// What a connection is doing, as far as its driver says (hyper's say nothing), in the low two
/// bits; above them, how many times it turned busy (which response this is).
const UNKNOWN: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;
const STATE: u64 = 3;

/// Reads a connection's idle/busy mark from outside its driver (the accept loop's watchdog).
pub struct Phase(Arc<AtomicU64>);

impl Phase {
    /// True when the driver marked the connection busy with a response.
    pub fn is_busy(&self) -> bool {
        self.0.load(Ordering::Relaxed) & STATE == BUSY
    }

    /// Which response is in progress: `Some(n)` while busy with the n-th, `None` otherwise. The
    /// same `Some` at two instants means one response was in progress all along.
    pub fn busy_with(&self) -> Option<u64> {
        let v = self.0.load(Ordering::Relaxed);
        (v & STATE == BUSY).then_some(v >> 2)
    }
}

impl StopWatch {
    /// Marks the connection as waiting for a request (`true`) or busy with one (`false`).
    pub fn set_idle(&self, idle: bool) {
        // The connection's own task is the only writer: load and store cannot lose an update.
        // Relaxed: readers only log it or compare it between two instants.
        let v = self.phase.load(Ordering::Relaxed);
        let next = match (idle, v & STATE) {
            (true, _) => (v & !STATE) | IDLE,
            (false, BUSY) => return,
            (false, _) => ((v >> 2).wrapping_add(1) << 2) | BUSY,
        };
        self.phase.store(next, Ordering::Relaxed);
    }

    /// The stop signal, for a request that waits.
    pub fn signal(&self) -> StopSignal {
        StopSignal(Arc::clone(&self.stops))
    }

    /// A reader of the idle/busy mark.
    pub fn phase(&self) -> Phase {
        Phase(Arc::clone(&self.phase))
    }

    /// True once the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stops.is_stopping()
    }

    /// Resolves once the server is stopping and the connection is idle. Poll it after the
    /// connection's own future in the same `select!` (`biased`), so an idle mark made in the
    /// same wake-up is seen.
    pub fn stopped_idle(&self) -> Stopped<'_> {
        Stopped { watch: self, need_idle: true, registered: None }
    }

    /// Resolves once the server is stopping, busy or not.
    pub fn stopped(&self) -> Stopped<'_> {
        Stopped { watch: self, need_idle: false, registered: None }
    }
}

impl Drop for StopWatch {
    fn drop(&mut self) {
        self.stops.wakers.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// See [`StopWatch::stopped_idle`] and [`StopWatch::stopped`].
pub struct Stopped<'a> {
    watch: &'a StopWatch,
    need_idle: bool,
    /// The waker last registered: polled on every wake-up of its connection, it registers
    /// again only when the task's waker changed (the atomics are not free per request), or
    /// once stopping (the stop's wake took the registered one).
    registered: Option<Waker>,
}

impl Future for Stopped<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let watch = this.watch;
        if watch.is_stopping() || !this.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            watch.waker.register(cx.waker());
            this.registered = Some(cx.waker().clone());
        }
        if watch.is_stopping() && (!this.need_idle || watch.phase.load(Ordering::Relaxed) & STATE == IDLE) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn resolves_only_when_stopping_and_idle() {
        let stops = Arc::new(Stops::default());
        let watch = stops.register();
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let mut fut = watch.stopped_idle();
        watch.set_idle(true);
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending(), "not stopping");
        watch.set_idle(false);
        stops.stop();
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending(), "busy");
        assert!(Pin::new(&mut watch.stopped()).poll(&mut cx).is_ready(), "stopped, busy or not");
        watch.set_idle(true);
        assert!(Pin::new(&mut fut).poll(&mut cx).is_ready());
        assert!(stops.register().is_stopping(), "later connections see it too");
        drop(watch);
        assert_eq!(stops.wakers.lock().unwrap().len(), 0);
    }
}
