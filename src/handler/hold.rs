//! Blocking playlist reload (RFC 8216bis §6.2.5.2): a request for `_HLS_msn=M[&_HLS_part=P]`
//! is answered at once when the current version lists what it asks for, refused (400) when it
//! asks for more than two segments ahead, and otherwise held — on a subscription to the
//! playlist's next version and on the server's stop signal, holding no thread — until a version
//! that lists it is published, for at most three target durations (then 503). Directives are
//! ignored once the playlist has ended. Must not choose status codes beyond the error variants.

use std::sync::Arc;
use std::time::Duration;

use super::{MediaHandler, RequestError};
use crate::media::MediaKind;
use crate::metrics::{HoldEnd, Holds};
use crate::net::stop::StopSignal;
use crate::path::NormPath;
use crate::playlist::directives::{Directives, Skip};
use crate::playlist::model::MediaPlaylist;
use crate::request::RequestHead;
use crate::settings::Current;
use crate::store::{FileEntry, Store};

/// True for a playlist request with delivery directives the config turns on.
#[inline]
pub(super) fn is_directed(current: &Current, req: RequestHead<'_>, path: &NormPath) -> bool {
    let hls = &current.policy.hls;
    (hls.blocking_reload || hls.delta_updates)
        && req.target.query.is_some_and(|q| q.contains("_HLS_"))
        && MediaKind::from_extension(path.extension()).is_playlist()
}

impl MediaHandler {
    /// The version that answers a directed request (see [`is_directed`]): held until it lists
    /// the segment asked for, and rendered as the variant the directives ask for (a delta
    /// update, a blocking answer's lifetime).
    pub(super) async fn find(
        &self,
        current: &Current,
        req: RequestHead<'_>,
        path: &NormPath,
    ) -> Result<Arc<FileEntry>, RequestError> {
        let hls = &current.policy.hls;
        let query = req.target.query.unwrap_or("");
        let holds = &self.metrics.holds;
        let directives = Directives::parse(query).map_err(|e| {
            holds.ended(HoldEnd::Refused);
            RequestError::BadDirective(e)
        })?;
        let msn = directives.msn.filter(|_| hls.blocking_reload);
        let entry = match msn {
            Some(msn) => {
                let wait = Wait { store: &self.store, path, msn, part: directives.part, stop: req.stop, holds };
                until_listed(wait).await.inspect_err(|e| self.log_let_go(path, e))?
            }
            None => lookup(&self.store, path).await?,
        };
        if entry.live.as_deref().is_none_or(|l| l.model.ended) {
            return Ok(entry);
        }
        let skip = if hls.delta_updates { directives.skip } else { Skip::No };
        Ok(crate::store::variant(&entry, skip, msn.is_some()))
    }

    /// Says why a blocking request was answered without its segment.
    fn log_let_go(&self, path: &NormPath, e: &RequestError) {
        match e {
            RequestError::HoldTimedOut { msn, waited } if self.hold_logged.ready(10_000) => {
                tracing::info!(path = path.as_str(), msn, waited_ms = waited.as_millis() as u64,
                    "blocking reload: segment not listed within 3 target durations, answering 503 (the packager may have stopped; further ones in the next 10 s are only counted)");
            }
            RequestError::TooFarAhead { asked, next } => {
                tracing::debug!(
                    path = path.as_str(),
                    asked,
                    next,
                    "blocking reload: _HLS_msn more than 2 segments ahead: 400"
                );
            }
            RequestError::Stopping => tracing::debug!(path = path.as_str(), "blocking reload: server stopping: 503"),
            _ => {}
        }
    }
}

/// A plain lookup, its outcome as a version or an error.
async fn lookup(store: &Store, path: &NormPath) -> Result<Arc<FileEntry>, RequestError> {
    super::found(store.lookup(path).await.map_err(super::from_io)?)
}

/// One blocking request.
pub(super) struct Wait<'a> {
    /// Where the playlist is.
    pub store: &'a Store,
    /// Which playlist.
    pub path: &'a NormPath,
    /// `_HLS_msn`.
    pub msn: u64,
    /// `_HLS_part`.
    pub part: Option<u64>,
    /// The server's stop signal (`None` in tests without a server).
    pub stop: Option<&'a StopSignal>,
    /// Where the outcome is counted.
    pub holds: &'a Holds,
}

/// What the current version says about a request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It lists the segment (or part) asked for, or a later one.
    Listed,
    /// Not yet.
    NotYet,
    /// More than two segments ahead of the last one listed (§6.2.5.2: 400 at once).
    TooFar,
}

fn verdict(model: &MediaPlaylist, msn: u64, part: Option<u64>) -> Verdict {
    let next = model.next_msn();
    if msn > next.saturating_add(1) {
        return Verdict::TooFar;
    }
    match part {
        _ if msn < next => Verdict::Listed,
        // Parts of the segment being made are listed after the last whole segment.
        Some(p) if msn == next && p < model.pending_parts => Verdict::Listed,
        _ => Verdict::NotYet,
    }
}

/// Counts the request as held while it lives.
struct Held<'a>(&'a Holds);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.held(-1);
    }
}

/// The version to answer `wait` with: once it lists what was asked for, or at once when the
/// playlist is not a live media playlist (directives do not apply).
pub(super) async fn until_listed(wait: Wait<'_>) -> Result<Arc<FileEntry>, RequestError> {
    let subscription = wait.store.subscribe(wait.path);
    let mut deadline = None;
    let mut held = None;
    loop {
        let changed = subscription.changed();
        tokio::pin!(changed);
        // Enabled before the lookup: a version published in between still wakes us.
        changed.as_mut().enable();
        let entry = lookup(wait.store, wait.path).await?;
        let Some(live) = entry.live.as_deref().filter(|l| !l.model.ended) else { return Ok(entry) };
        match verdict(&live.model, wait.msn, wait.part) {
            Verdict::Listed => {
                wait.holds.ended(if held.is_some() { HoldEnd::Woken } else { HoldEnd::AtOnce });
                return Ok(entry);
            }
            Verdict::TooFar => {
                wait.holds.ended(HoldEnd::Refused);
                return Err(RequestError::TooFarAhead { asked: wait.msn, next: live.model.next_msn() });
            }
            Verdict::NotYet => {}
        }
        if held.is_none() {
            wait.holds.held(1);
            held = Some(Held(wait.holds));
        }
        let target = live.model.target_duration.unwrap_or(2).max(1);
        let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(3 * target));
        tokio::select! {
            () = changed => {}
            () = stopped(wait.stop) => {
                wait.holds.ended(HoldEnd::Stopped);
                return Err(RequestError::Stopping);
            }
            () = tokio::time::sleep_until(deadline) => {
                wait.holds.ended(HoldEnd::TimedOut);
                return Err(RequestError::HoldTimedOut { msn: wait.msn, waited: Duration::from_secs(3 * target) });
            }
        }
    }
}

async fn stopped(stop: Option<&StopSignal>) {
    match stop {
        Some(stop) => stop.stopped().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(seq: u64, n: usize, parts: u64) -> MediaPlaylist {
        let mut text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
        for i in 0..n {
            text += &format!("#EXTINF:2,\ns{i}.ts\n");
        }
        for i in 0..parts {
            text += &format!("#EXT-X-PART:DURATION=0.5,URI=\"p{i}.mp4\"\n");
        }
        MediaPlaylist::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_rules_of_section_6_2_5_2() {
        // Segments 10..=14 listed: 15 is next.
        let m = model(10, 5, 0);
        assert_eq!(verdict(&m, 3, None), Verdict::Listed, "an old msn gets the current playlist");
        assert_eq!(verdict(&m, 14, None), Verdict::Listed);
        assert_eq!(verdict(&m, 15, None), Verdict::NotYet);
        assert_eq!(verdict(&m, 16, None), Verdict::NotYet, "last + 2 is still held");
        assert_eq!(verdict(&m, 17, None), Verdict::TooFar, "beyond last + 2: 400");
        let with_parts = model(10, 5, 2);
        assert_eq!(verdict(&with_parts, 15, Some(1)), Verdict::Listed);
        assert_eq!(verdict(&with_parts, 15, Some(2)), Verdict::NotYet);
        assert_eq!(verdict(&with_parts, 14, Some(9)), Verdict::Listed, "a whole segment has every part");
        assert_eq!(verdict(&model(0, 0, 0), 0, None), Verdict::NotYet);
    }
}
