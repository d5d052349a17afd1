//! Counters the request path bumps on every response, cheap enough for it: each is split into
//! cache-line-sized shards and a thread adds to its own shard, so two workers never fight over
//! one line; a scrape sums the shards. A leaf: must not know what is counted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shards per counter set: more than the worker threads of any machine we size for; threads
/// beyond it share shards (still correct, a little slower).
const SHARDS: usize = 16;

/// One shard: `N` counters on their own cache lines.
#[repr(align(128))]
struct Shard<const N: usize>([AtomicU64; N]);

/// `N` counters, sharded by thread.
pub struct Counters<const N: usize> {
    shards: Box<[Shard<N>]>,
}

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Counters { shards: (0..SHARDS).map(|_| Shard(std::array::from_fn(|_| AtomicU64::new(0)))).collect() }
    }
}

impl<const N: usize> std::fmt::Debug for Counters<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..N).map(|i| self.get(i))).finish()
    }
}

impl<const N: usize> Counters<N> {
    /// Adds `n` to counter `i` (out of range: ignored, never a panic on the request path).
    #[inline]
    pub fn add(&self, i: usize, n: u64) {
        if let Some(c) = self.shards[shard()].0.get(i) {
            // Only this thread usually writes this shard: a relaxed add, no ordering needed
            // for a statistic.
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counter `i`, summed over every shard.
    pub fn get(&self, i: usize) -> u64 {
        self.shards.iter().map(|s| s.0.get(i).map_or(0, |c| c.load(Ordering::Relaxed))).sum()
    }
}

/// This thread's shard, assigned round-robin at the thread's first count.
#[inline]
fn shard() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static MINE: Cell<usize> = const { Cell::new(usize::MAX) });
    MINE.with(|m| {
        let mut i = m.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            m.set(i);
        }
        i
    })
}

/// A latch that opens at most once per interval: for the log line about an event that may
/// repeat thousands of times a second (a refusal, a failing `accept`), which is counted always
/// and logged only when the latch opens.
#[derive(Debug, Default)]
pub struct Every {
    last_ms: AtomicU64,
}

impl Every {
    /// True at the first call, then at most once per `interval_ms` (wall clock, any thread).
    pub fn ready(&self, interval_ms: u64) -> bool {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let last = self.last_ms.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= interval_ms)
            && self.last_ms.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counters = Arc::new(Counters::<3>::default());
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let c = Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(1, 2);
                    }
                    c.add(7, 1);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counters.get(1), 40_000);
        assert_eq!(counters.get(0), 0);
        assert_eq!(counters.get(7), 0);
    }

    #[test]
    fn a_latch_opens_once_per_interval() {
        let every = Every::default();
        assert!(every.ready(60_000));
        assert!(!every.ready(60_000));
        assert!(every.ready(0));
    }
}
