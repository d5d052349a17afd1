//! `/metrics`: one `prometheus-client` collector that reads every counter where it lives (the
//! request path's shards, the gate, the store, the watcher, retention, stream usage, the
//! process) at scrape time, so counting costs the hot path nothing beyond its own adds. Must
//! not change any state.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{BodySource, Class, Limited, STATUS_CLASSES};
use crate::state::AppState;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// At most this many per-stream playlist-age series (the most recently updated streams): a
/// server with thousands of channels must not blow up the scrape.
pub const MAX_STREAM_SERIES: usize = 200;

/// Streams whose playlist was updated within this are live when `[retention] stale_after` is
/// not set.
const DEFAULT_LIVE_WINDOW_MS: u64 = 10 * 60 * 1000;

/// The whole exposition, in the Prometheus text format (version 0.0.4).
pub fn render(state: &Arc<AppState>) -> String {
    let mut registry = Registry::with_prefix("hls_origin");
    registry.register_collector(Box::new(Snapshot(Arc::clone(state))));
    let mut out = String::with_capacity(8 * 1024);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!("metrics encoding failed: {e}");
    }
    out
}

struct Snapshot(Arc<AppState>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

pub(super) type Enc<'a> = DescriptorEncoder<'a>;

pub(super) fn counter(enc: &mut Enc<'_>, name: &str, help: &str, value: u64) -> std::fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

pub(super) fn gauge(enc: &mut Enc<'_>, name: &str, help: &str, value: i64) -> std::fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// A counter family with one label.
pub(super) fn counters(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value_label, value) in values {
        metric.encode_family(&[(label, *value_label)])?.encode_counter::<NoLabelSet, _, u64>(value, None)?;
    }
    Ok(())
}

pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &*self.0;
        requests(&mut enc, state)?;
        connections(&mut enc, state)?;
        cache(&mut enc, state)?;
        watcher(&mut enc, state)?;
        retention(&mut enc, state)?;
        streams(&mut enc, state)?;
        super::hls::live(&mut enc, state)?;
        process(&mut enc, state)
    }
}

fn requests(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    let m = &state.metrics;
    let mut metric = enc.encode_descriptor(
        "requests",
        "Responses on the public listeners, by what was asked for and status class.",
        None,
        MetricType::Counter,
    )?;
    for (class, kind) in Class::ALL {
        for (i, status) in STATUS_CLASSES.iter().enumerate() {
            let labels = [("kind", kind), ("status", status)];
            metric.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&m.requests(class, i), None)?;
        }
    }
    let bytes: Vec<(&str, u64)> = Class::ALL.iter().map(|(c, k)| (*k, m.bytes(*c))).collect();
    counters(enc, "response_body_bytes", "Response body bytes sent, by kind.", "kind", &bytes)?;
    let bodies = [("ram", m.bodies(BodySource::Ram)), ("file", m.bodies(BodySource::File))];
    counters(enc, "response_bodies", "Bodies sent from RAM or from a file on disk (sendfile).", "source", &bodies)?;
    let (sum, count, buckets) = m.latency();
    enc.encode_descriptor(
        "request_duration_seconds",
        "From a whole request head to the response handed to the socket.",
        None,
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    let limited = [("ip", m.limited_count(Limited::Ip)), ("token", m.limited_count(Limited::Token))];
    counters(
        enc,
        "rate_limited_requests",
        "Requests answered 429, by the limit that refused them.",
        "limit",
        &limited,
    )?;
    let (reloads, failures) = m.reloads();
    counter(enc, "config_reloads", "Config reloads applied (SIGHUP).", reloads)?;
    counter(enc, "config_reload_failures", "Config reloads refused; the running config was kept.", failures)
}

fn connections(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = state.gate.stats();
    gauge(
        enc,
        "connections_open",
        "Open connections on the public listeners.",
        int(state.gate.open_connections() as u64),
    )?;
    counter(
        enc,
        "connections_accepted",
        "Connections accepted on the public listeners.",
        stats.accepted.load(Relaxed),
    )?;
    let refused = [
        ("max_connections", stats.refused_global.load(Relaxed)),
        ("max_connections_per_ip", stats.refused_per_ip.load(Relaxed)),
    ];
    counters(enc, "connections_refused", "Connections closed at once by a connection cap.", "limit", &refused)
}

fn cache(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    let c = state.store.cache_stats();
    counter(enc, "cache_hits", "Lookups answered from RAM.", c.hits)?;
    counter(enc, "cache_misses", "Lookups that went to the file (directly or by sharing another's read).", c.misses)?;
    counter(enc, "cache_coalesced_loads", "Misses that shared a concurrent request's read.", c.coalesced)?;
    counter(enc, "cache_evictions", "File versions dropped to stay within memory_budget.", c.evictions)?;
    gauge(enc, "cache_bytes", "Bytes the RAM cache holds (content and bookkeeping).", int(c.bytes))?;
    gauge(enc, "cache_entries", "Entries the RAM cache holds.", int(c.entries))?;
    counter(enc, "disk_reads", "Cache fills read from disk.", state.store.disk_reads())?;
    counter(
        enc,
        "playlist_renewals",
        "Cached playlist versions found unchanged on disk and kept ahead of manifest_validity.",
        state.store.playlists_renewed(),
    )?;
    counter(
        enc,
        "segment_rewrites",
        "Segment names read again with other bytes (an encoder restarted).",
        state.store.rewrites_detected(),
    )
}

fn watcher(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    use std::sync::atomic::Ordering::Relaxed;
    let running = state.watcher.as_ref().is_some_and(crate::watcher::WatcherHandle::is_running);
    gauge(enc, "watcher_running", "1 while the inotify watcher reacts to file events.", i64::from(running))?;
    let Some(w) = &state.watcher else { return Ok(()) };
    let s = w.stats();
    counter(enc, "watcher_events", "File events received from inotify.", s.events.load(Relaxed))?;
    counter(enc, "watcher_overflows", "Times file events were lost (a queue overflowed).", s.overflows.load(Relaxed))?;
    let rescans = [
        ("root_replaced", s.rescans[0].load(Relaxed)),
        ("events_lost", s.rescans[1].load(Relaxed)),
        ("requested", s.rescans[2].load(Relaxed)),
    ];
    counters(enc, "watcher_rescans", "Re-walks of the media root, by reason.", "reason", &rescans)
}

fn retention(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(r) = &state.retention else { return Ok(()) };
    let s = r.stats();
    counter(enc, "retention_bytes_freed", "Bytes retention deleted.", s.bytes_freed.load(Relaxed))?;
    counter(enc, "retention_streams_evicted", "Streams evicted for max_disk.", s.streams_evicted.load(Relaxed))?;
    counter(enc, "retention_stale_deleted", "Streams deleted after stale_after.", s.stale_deleted.load(Relaxed))?;
    counter(
        enc,
        "retention_orphans_removed",
        "Orphaned stream directories removed at start.",
        s.orphans_removed.load(Relaxed),
    )?;
    counter(
        enc,
        "retention_segments_deleted",
        "Segments deleted after their availability window.",
        s.segments_deleted.load(Relaxed),
    )?;
    counter(
        enc,
        "retention_segments_vanished_while_listed",
        "Segments that disappeared while their playlist still listed them.",
        s.segments_vanished_while_listed.load(Relaxed),
    )
}

/// Live streams (a playlist completed within `stale_after`, default 10 min) and the age of the
/// playlist of the most recently updated ones.
fn streams(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    use std::sync::atomic::Ordering::Relaxed;
    let window = state.settings.peek().policy.retention.as_ref().and_then(|r| r.stale_after);
    let window_ms = window.map_or(DEFAULT_LIVE_WINDOW_MS, |w| w.as_millis() as u64);
    let now = crate::usage::now_ms();
    let mut live: Vec<(String, u64)> = Vec::new();
    state.usage.each(|dir, record| {
        let at = record.last_playlist_ms.load(Relaxed);
        if at > 0 && now.saturating_sub(at) <= window_ms {
            live.push((format!("/{dir}"), now.saturating_sub(at)));
        }
    });
    gauge(
        enc,
        "live_streams",
        "Stream directories whose playlist was updated within stale_after (default 10m).",
        int(live.len() as u64),
    )?;
    live.sort_by_key(|(_, age)| *age);
    live.truncate(MAX_STREAM_SERIES);
    let mut metric = enc.encode_descriptor(
        "live_playlist_age_seconds",
        "Seconds since a live stream's playlist was last updated (the most recently updated streams only).",
        None,
        MetricType::Gauge,
    )?;
    for (stream, age_ms) in &live {
        metric.encode_family(&[("stream", stream.as_str())])?.encode_gauge(&(*age_ms as f64 / 1000.0))?;
    }
    Ok(())
}

fn process(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    use nix::sys::resource::{getrlimit, Resource};
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(-1);
    gauge(enc, "open_fds", "Open file descriptors of the process.", open)?;
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map(|(soft, _)| int(soft)).unwrap_or(-1);
    gauge(enc, "max_fds", "The soft limit on open file descriptors.", limit)?;
    gauge(enc, "uptime_seconds", "Seconds since the server started.", int(state.started.elapsed().as_secs()))
}
