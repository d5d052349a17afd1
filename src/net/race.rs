//! A connection raced against its watchdog, polling the watchdog only when its own timer woke
//! the task. `tokio::select!` polls every branch on every wake-up, and a keep-alive connection
//! wakes its task once or twice per request: each of those polls would look at the watchdog's
//! timer (and draw a random branch order) for nothing. Knows nothing of what either future does.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// The watchdog's waker: notes that the watchdog has something to say, then wakes the task.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Runs `conn` until it ends (`None`) or `watchdog` resolves first (`Some`, and `conn` is
/// dropped). `conn` is polled first on every wake-up, so a response finishing in the same
/// wake-up as a timer wins.
pub async fn race<W: Future>(conn: impl Future<Output = ()>, watchdog: W) -> Option<W::Output> {
    let (mut conn, mut watchdog) = (pin!(conn), pin!(watchdog));
    // Woken at the start, so the first poll arms the watchdog's timer.
    let flag = Arc::new(Flag { woken: AtomicBool::new(true), task: AtomicWaker::new() });
    let waker = Waker::from(Arc::clone(&flag));
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        let woken = flag.woken.swap(false, Ordering::AcqRel);
        if woken {
            // The wake took the registered waker out of the slot.
            registered = None;
        }
        // A task's waker rarely changes: registering it again on every poll would cost atomics
        // for nothing. A timer firing after this wakes the task; one firing before it is seen by
        // the watchdog's poll below.
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            flag.task.register(cx.waker());
            registered = Some(cx.waker().clone());
        }
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        if woken {
            if let Poll::Ready(out) = watchdog.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(Some(out));
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_connection_ends_first_or_the_watchdog_fires() {
        let done = race(async {}, tokio::time::sleep(Duration::from_secs(60))).await;
        assert!(done.is_none());
        let fired = race(std::future::pending(), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        })
        .await;
        assert_eq!(fired, Some(7));
    }

    #[tokio::test]
    async fn a_watchdog_woken_many_times_is_heard_every_time() {
        // Each wake takes the registered waker: one not registered again would be lost.
        let watchdog = async {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            9
        };
        let fired = tokio::time::timeout(Duration::from_secs(10), race(std::future::pending(), watchdog)).await;
        assert_eq!(fired.expect("a wake-up was lost"), Some(9));
    }

    #[tokio::test]
    async fn the_watchdog_is_polled_only_when_its_timer_woke_the_task() {
        use std::sync::atomic::AtomicUsize;
        let polls = AtomicUsize::new(0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watchdog = poll_fn(|cx: &mut Context<'_>| {
            polls.fetch_add(1, Ordering::Relaxed);
            let _ = cx;
            Poll::<()>::Pending
        });
        let conn = async move {
            for _ in 0..50 {
                rx.recv().await;
            }
        };
        let sender = async {
            for _ in 0..50 {
                tx.send(()).unwrap();
                tokio::task::yield_now().await;
            }
        };
        let (done, ()) = tokio::join!(race(conn, watchdog), sender);
        assert!(done.is_none());
        assert_eq!(polls.load(Ordering::Relaxed), 1, "polled once, to arm it");
    }
}
