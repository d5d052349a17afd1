//! What the request path counts for `/metrics`: requests by kind and status class, body bytes,
//! where bodies came from, a latency histogram, rate-limited requests, and reloads. Recording
//! is a few relaxed adds on per-thread shards ([`crate::counter`]); the admin endpoint reads
//! and formats. Must not format the exposition (that is `admin`'s) or know sockets.

use quanta::Instant;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::counter::Counters;
use crate::media::MediaKind;

/// What a request asked for, by the extension of its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `.m3u8`.
    Playlist = 0,
    /// A media segment (`.ts .m4s .aac .vtt …`).
    Segment = 1,
    /// An init section or whole MP4 (`.mp4 .m4a`).
    Init = 2,
    /// Anything else (keys, sidecars, bad paths, preflights).
    Other = 3,
}

impl Class {
    /// Every class, in index order, with its label value.
    pub const ALL: [(Class, &'static str); 4] =
        [(Class::Playlist, "playlist"), (Class::Segment, "segment"), (Class::Init, "init"), (Class::Other, "other")];

    /// The class of a request target (path and query), for responses with no file behind them.
    pub fn of_target(target: &str) -> Class {
        let path = target.split(['?', '#']).next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        Class::of_kind(MediaKind::from_extension(name.rsplit_once('.').map(|(_, ext)| ext)))
    }

    /// The class of a file of `kind`.
    pub fn of_kind(kind: MediaKind) -> Class {
        match kind {
            MediaKind::Playlist => Class::Playlist,
            MediaKind::TsSegment | MediaKind::Fmp4Segment | MediaKind::Aac | MediaKind::Vtt => Class::Segment,
            MediaKind::Mp4 | MediaKind::M4a => Class::Init,
            _ => Class::Other,
        }
    }
}

/// Status classes 1xx…5xx, as label values.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upper bounds of the latency buckets, in seconds (from decision to the last byte handed to
/// the socket): a RAM hit takes tens of microseconds, a cold read or a slow client seconds.
pub const LATENCY_BOUNDS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0];

const KINDS: usize = 4;
const LATENCY_SLOTS: usize = LATENCY_BOUNDS.len() + 2;
const SUM_US: usize = LATENCY_BOUNDS.len() + 1;

/// Where a response body came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySource {
    /// Bytes in RAM (the cache).
    Ram = 0,
    /// A file range left on disk (`sendfile` on the native driver).
    File = 1,
}

/// Why a request was answered 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// `requests_per_second_per_ip`.
    Ip = 0,
    /// `requests_per_second_per_token`.
    Token = 1,
}

/// The request path's counters (one per server, shared by every public listener).
#[derive(Debug, Default)]
pub struct RequestMetrics {
    requests: Counters<{ KINDS * 5 }>,
    bytes: Counters<KINDS>,
    bodies: Counters<2>,
    latency: Counters<LATENCY_SLOTS>,
    limited: Counters<2>,
    /// Config reloads applied.
    pub reloads: AtomicU64,
    /// Config reloads refused (the file did not validate); the old config stays.
    pub reload_failures: AtomicU64,
    /// Blocking playlist reloads.
    pub holds: Holds,
}

/// How a blocking playlist request (`_HLS_msn`) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEnd {
    /// The current version already listed the segment.
    AtOnce = 0,
    /// Held, and answered when a version listing it was published.
    Woken = 1,
    /// Held three target durations without it: 503.
    TimedOut = 2,
    /// The server stopped while it was held: 503.
    Stopped = 3,
    /// Refused at once: 400 (too far ahead, or a malformed directive).
    Refused = 4,
}

/// Blocking playlist reload counters.
#[derive(Debug, Default)]
pub struct Holds {
    ended: Counters<5>,
    /// Requests held right now.
    held: std::sync::atomic::AtomicI64,
}

impl Holds {
    /// Every way a hold ends, with its label value.
    pub const ENDS: [(HoldEnd, &'static str); 5] = [
        (HoldEnd::AtOnce, "at_once"),
        (HoldEnd::Woken, "woken"),
        (HoldEnd::TimedOut, "timed_out"),
        (HoldEnd::Stopped, "stopped"),
        (HoldEnd::Refused, "refused"),
    ];

    /// Counts a blocking request that ended so.
    pub fn ended(&self, how: HoldEnd) {
        self.ended.add(how as usize, 1);
    }

    /// Blocking requests that ended so.
    pub fn count(&self, how: HoldEnd) -> u64 {
        self.ended.get(how as usize)
    }

    /// Marks one more (`+1`) or one fewer (`-1`) request held.
    pub fn held(&self, delta: i64) {
        self.held.fetch_add(delta, Ordering::Relaxed);
    }

    /// Requests held now.
    pub fn holding(&self) -> i64 {
        self.held.load(Ordering::Relaxed)
    }
}

impl RequestMetrics {
    /// Counts one response: its class, status, body bytes, body source and how long it took.
    #[inline]
    pub fn record(&self, class: Class, status: u16, bytes: u64, source: Option<BodySource>, started: Instant) {
        let status_class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests.add(class as usize * 5 + status_class, 1);
        self.bytes.add(class as usize, bytes);
        if let Some(source) = source {
            self.bodies.add(source as usize, 1);
        }
        let us = started.elapsed().as_micros() as u64;
        let secs = us as f64 / 1e6;
        let bucket = LATENCY_BOUNDS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BOUNDS.len());
        self.latency.add(bucket, 1);
        self.latency.add(SUM_US, us);
    }

    /// Counts a request answered 429.
    pub fn limited(&self, why: Limited) {
        self.limited.add(why as usize, 1);
    }

    /// Responses of `class` with a status in `STATUS_CLASSES[status_class]`.
    pub fn requests(&self, class: Class, status_class: usize) -> u64 {
        self.requests.get(class as usize * 5 + status_class)
    }

    /// Body bytes sent for `class`.
    pub fn bytes(&self, class: Class) -> u64 {
        self.bytes.get(class as usize)
    }

    /// Bodies from `source`.
    pub fn bodies(&self, source: BodySource) -> u64 {
        self.bodies.get(source as usize)
    }

    /// Requests refused with 429 for `why`.
    pub fn limited_count(&self, why: Limited) -> u64 {
        self.limited.get(why as usize)
    }

    /// The latency histogram: (sum in seconds, count, per-bucket counts by upper bound, the
    /// last for `+Inf`), not cumulative: the encoder accumulates them.
    pub fn latency(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> =
            LATENCY_BOUNDS.iter().enumerate().map(|(i, bound)| (*bound, self.latency.get(i))).collect();
        buckets.push((f64::INFINITY, self.latency.get(LATENCY_BOUNDS.len())));
        // Summed from the buckets, so count and buckets agree even while requests are counted.
        let count = buckets.iter().map(|(_, n)| n).sum();
        (self.latency.get(SUM_US) as f64 / 1e6, count, buckets)
    }

    /// Reloads applied and refused.
    pub fn reloads(&self) -> (u64, u64) {
        (self.reloads.load(Ordering::Relaxed), self.reload_failures.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_classed_by_extension() {
        assert_eq!(Class::of_target("/live/a/index.m3u8?md5=x"), Class::Playlist);
        assert_eq!(Class::of_target("/live/a/seg1.TS"), Class::Segment);
        assert_eq!(Class::of_target("/live/a/init.mp4"), Class::Init);
        assert_eq!(Class::of_target("/live/a/"), Class::Other);
        assert_eq!(Class::of_target("*"), Class::Other);
        assert_eq!(Class::of_target("/a.b/c"), Class::Other);
    }

    #[test]
    fn responses_land_in_their_class_status_and_bucket() {
        let m = RequestMetrics::default();
        let now = Instant::now();
        m.record(Class::Playlist, 200, 600, Some(BodySource::Ram), now);
        m.record(Class::Segment, 404, 10, None, now);
        m.record(Class::Segment, 599, 0, None, now);
        assert_eq!(m.requests(Class::Playlist, 1), 1);
        assert_eq!(m.requests(Class::Segment, 3), 1);
        assert_eq!(m.requests(Class::Segment, 4), 1);
        assert_eq!(m.bytes(Class::Playlist), 600);
        assert_eq!(m.bodies(BodySource::Ram), 1);
        let (_, count, buckets) = m.latency();
        assert_eq!(count, 3);
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }
}
