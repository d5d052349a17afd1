//! The live-HLS part of `/metrics`: blocking playlist reloads (held now, and how they ended),
//! the playlists waited on, and producer problems (in all, and per stream for the streams that
//! have any). Reads counters only; must not change any state.

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::encoding::NoLabelSet;
use prometheus_client::metrics::MetricType;

use super::exposition::{counter, counters, gauge, int, Enc, MAX_STREAM_SERIES};
use crate::lint::{Problem, KINDS};
use crate::metrics::Holds;
use crate::state::AppState;

/// Writes the live-HLS metrics.
pub(super) fn live(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    let holds = &state.metrics.holds;
    gauge(enc, "blocking_reload_held", "Playlist requests held for a segment to be listed now.", holds.holding())?;
    gauge(
        enc,
        "blocking_reload_playlists",
        "Playlists at least one held request is waiting on.",
        int(state.store.waited_on() as u64),
    )?;
    let ends: Vec<(&str, u64)> = Holds::ENDS.iter().map(|(end, label)| (*label, holds.count(*end))).collect();
    counters(
        enc,
        "blocking_reload_requests",
        "Blocking playlist requests (_HLS_msn), by how they ended: at_once, woken, timed_out (503), stopped (503), refused (400).",
        "outcome",
        &ends,
    )?;
    problems(enc, state)?;
    on_demand(enc, state)
}

/// On-demand starts, failures, timeouts, stops and viewers held (with `[on_demand]` only).
fn on_demand(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    let Some(od) = &state.on_demand else { return Ok(()) };
    let s = &od.stats;
    counter(enc, "on_demand_starts", "Start hook calls.", s.starts.load(Relaxed))?;
    counter(
        enc,
        "on_demand_start_failures",
        "Start hook calls that failed (connect, timeout, non-2xx).",
        s.start_failures.load(Relaxed),
    )?;
    counter(
        enc,
        "on_demand_timeouts",
        "Viewers answered 503 after start_timeout without a playlist.",
        s.timeouts.load(Relaxed),
    )?;
    counter(
        enc,
        "on_demand_limited",
        "Starts refused by start_cooldown or max_starts_per_second.",
        s.limited.load(Relaxed),
    )?;
    counter(enc, "on_demand_stops", "Idle streams stopped (stop hook calls).", s.stops.load(Relaxed))?;
    gauge(enc, "on_demand_held", "Viewers held while their stream starts.", s.held.load(Relaxed))
}

/// Producer problems: totals by kind over every stream known, and per stream (the streams with
/// the most problems, at most [`MAX_STREAM_SERIES`]).
fn problems(enc: &mut Enc<'_>, state: &AppState) -> std::fmt::Result {
    let mut totals = [0u64; KINDS];
    let mut streams: Vec<(String, [u64; KINDS])> = Vec::new();
    state.usage.each(|dir, record| {
        let counts: [u64; KINDS] = std::array::from_fn(|i| record.problems[i].load(Relaxed));
        if counts.iter().any(|n| *n > 0) {
            for (total, n) in totals.iter_mut().zip(counts) {
                *total += n;
            }
            streams.push((format!("/{dir}"), counts));
        }
    });
    let labelled: Vec<(&str, u64)> = Problem::ALL.iter().map(|(p, label)| (*label, totals[*p as usize])).collect();
    counters(
        enc,
        "producer_problems",
        "Packager problems that break players, by kind (see the log for the stream).",
        "problem",
        &labelled,
    )?;
    streams.sort_by_key(|(_, counts)| std::cmp::Reverse(counts.iter().sum::<u64>()));
    streams.truncate(MAX_STREAM_SERIES);
    let mut metric = enc.encode_descriptor(
        "stream_producer_problems",
        "Packager problems per stream directory (streams with any; the most affected only).",
        None,
        MetricType::Counter,
    )?;
    for (stream, counts) in &streams {
        for (problem, label) in Problem::ALL {
            let labels = [("stream", stream.as_str()), ("problem", label)];
            metric.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&counts[problem as usize], None)?;
        }
    }
    Ok(())
}
