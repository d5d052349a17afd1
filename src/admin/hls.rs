//! The live-HLS part of `/metrics`: blocking playlist reloads (held now, and how they ended)
//! and the playlists waited on. Reads counters only; must not change any state.

use super::exposition::{counters, gauge, int, Enc};
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
    )
}
