//! The media handler: the [`Respond`] implementation of the public listeners, from a request
//! head to a [`ResponsePlan`]. `decide` turns the request into an [`Outcome`] or a
//! [`RequestError`], reading top to bottom:
//!
//! 1. head limits (414/431), `require_header` (403), method (405; OPTIONS → preflight);
//! 2. path normalisation (400), then secure_link on protected paths (403/410) before any file
//!    access; scratch files, dot-files and directories are 404;
//! 3. the store lookup (404/403/503/500) — for a live playlist with delivery directives, held
//!    until it lists the segment asked for (`hold`: 400/503) and rendered as the variant the
//!    directives ask for — then a protected playlist's children signed;
//! 4. conditionals (304/412), then Range (206/416); the stream's usage marks the response.
//!
//! `present` is the only place that maps outcomes and errors to status codes and headers.
//! Must not do socket I/O.

mod hold;
mod present;
mod signing;
mod starting;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::Method;

use crate::conditional::{self, Precondition, Validators};
use crate::config::RequiredHeader;
use crate::counter::Every;
use crate::limits::OverLimit;
use crate::metrics::{BodySource, Class, RequestMetrics};
use crate::path::{NormPath, PathError};
use crate::plan::ResponsePlan;
use crate::playlist::directives::DirectiveError;
use crate::range::{self, ByteRange, RangeDecision};
use crate::request::{Fields, NameSet, RequestHead, MAX_HEADER_BYTES, MAX_TARGET_BYTES};
use crate::respond::{Completed, Refusal, Respond};
use crate::secure_link::{self, Verdict};
use crate::settings::{Current, Settings};
use crate::store::{Encoded, FileEntry, Lookup, Store};
use crate::usage::ReadGuard;

/// Answers media requests from the store. Holds only what a request reads.
pub struct MediaHandler {
    /// The media root and its cache (each version carries its stream's usage record, which
    /// every file response marks).
    pub store: Store,
    /// The per-request settings in force (a reload swaps them; a request keeps the snapshot
    /// it started with).
    pub settings: Arc<Settings>,
    /// What every response is counted in.
    pub metrics: Arc<RequestMetrics>,
    /// Rate-limit refusals are logged at most once per interval (always counted).
    limited_logged: Every,
    /// Blocking requests let go unanswered are logged at most once per interval.
    hold_logged: Every,
    /// Starts streams on demand (`[on_demand]`).
    on_demand: Option<Arc<crate::on_demand::OnDemand>>,
}

/// A successful decision.
#[derive(Debug)]
pub enum Outcome {
    /// Answer a CORS preflight (or `OPTIONS *`).
    Preflight,
    /// Send (part of) a file.
    File {
        /// The file version selected.
        entry: Arc<FileEntry>,
        /// Its gzip representation, when the client takes it (else identity).
        gzip: Option<Arc<Encoded>>,
        /// Which part.
        part: Part,
        /// HEAD: the same headers, no body.
        head_only: bool,
        /// Keeps the stream from eviction while the response is sent.
        guard: ReadGuard,
    },
}

/// Which part of a file to send.
#[derive(Debug)]
pub enum Part {
    /// 200 with the whole body.
    Whole,
    /// 304.
    NotModified,
    /// 206 with one range.
    Single(ByteRange),
    /// 206 multipart/byteranges.
    Multi(Vec<ByteRange>),
}

/// Why a request fails; each maps to exactly one status in `present`.
#[derive(Debug)]
pub enum RequestError {
    /// 400: the path is malformed or escapes the root.
    BadPath(PathError),
    /// 400: the request head itself could not be accepted.
    Malformed,
    /// 403: the file is not readable by the server.
    Forbidden,
    /// 403: a protected path without a valid signature, or a request without the required
    /// CDN header.
    NotAuthorized,
    /// 410: a valid signature whose link has expired.
    LinkExpired,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 412.
    PreconditionFailed,
    /// 414.
    UriTooLong,
    /// 416, with the representation length for `Content-Range: bytes */LEN`.
    RangeNotSatisfiable(u64),
    /// 431.
    HeadersTooLarge,
    /// 503 + Retry-After: a playlist kept changing during every read, the media root is gone
    /// for now (deleted, unmounted) and is being checked again, or the process is out of
    /// descriptors or memory with nothing cached to answer from.
    Busy,
    /// 429 + Retry-After: over a request-rate limit.
    TooManyRequests(OverLimit),
    /// 400: a malformed delivery directive (RFC 8216bis §6.2.5).
    BadDirective(DirectiveError),
    /// 400: `_HLS_msn` more than two segments past the last one listed (§6.2.5.2).
    TooFarAhead {
        /// The segment asked for.
        asked: u64,
        /// The next segment the playlist will list.
        next: u64,
    },
    /// 503 + Retry-After: held three target durations and the segment was not listed.
    HoldTimedOut {
        /// The segment asked for.
        msn: u64,
        /// How long the request was held.
        waited: std::time::Duration,
    },
    /// 503 + Retry-After: the server is stopping; a held request is let go.
    Stopping,
    /// 503 + Retry-After: an on-demand stream did not start (hook failed, timeout, limits).
    NotStarted(crate::on_demand::NotStarted),
    /// 500.
    Internal(std::io::Error),
}

impl Respond for MediaHandler {
    async fn respond<'a>(&'a self, req: RequestHead<'a>) -> ResponsePlan {
        let current = self.settings.peek();
        let cors = current.policy.http.cors.as_ref();
        match self.decide(&current, req).await {
            Ok(outcome) => present::outcome(outcome, cors, req.headers),
            Err(error) => {
                let mut plan = present::error(error, cors, req.method == Method::HEAD);
                plan.class = Class::of_target(req.target.path);
                plan
            }
        }
    }

    fn refuse(&self, why: Refusal) -> ResponsePlan {
        let error = match why {
            Refusal::HeadTooLarge => RequestError::HeadersTooLarge,
            Refusal::Malformed => RequestError::Malformed,
        };
        present::error(error, self.settings.peek().policy.http.cors.as_ref(), false)
    }

    fn logs_access(&self) -> bool {
        self.settings.peek().policy.access_log
    }

    /// Signatures and expiries never reach a log: a logged link would be a usable link.
    fn log_target<'t>(&self, target: &'t str) -> std::borrow::Cow<'t, str> {
        match &self.settings.peek().policy.secure_link {
            Some(link) => link.redact(target),
            None => std::borrow::Cow::Borrowed(target),
        }
    }

    fn completed(&self, done: Completed<'_>) {
        let source = match done.body {
            None => None,
            Some(crate::plan::Body::Bytes(_)) => Some(BodySource::Ram),
            Some(crate::plan::Body::File { .. }) => Some(BodySource::File),
        };
        self.metrics.record(done.class, done.status.as_u16(), done.bytes, source, done.started);
    }
}

impl MediaHandler {
    /// A handler serving `store` with `settings`, counting into `metrics`.
    pub fn new(store: Store, settings: Arc<Settings>, metrics: Arc<RequestMetrics>) -> MediaHandler {
        MediaHandler {
            store,
            settings,
            metrics,
            limited_logged: Every::default(),
            hold_logged: Every::default(),
            on_demand: None,
        }
    }

    /// The same handler, starting missing streams with `on_demand`.
    pub fn with_on_demand(mut self, on_demand: Option<Arc<crate::on_demand::OnDemand>>) -> MediaHandler {
        self.on_demand = on_demand;
        self
    }

    async fn decide(&self, current: &Current, req: RequestHead<'_>) -> Result<Outcome, RequestError> {
        check_limits(req)?;
        if let Some(required) = &current.policy.require_header {
            if !is_present(required, req.headers) {
                return Err(RequestError::NotAuthorized);
            }
        }
        self.check_rate(current, req)?;
        let head_only = match *req.method {
            Method::GET => false,
            Method::HEAD => true,
            Method::OPTIONS => return Ok(Outcome::Preflight),
            _ => return Err(RequestError::MethodNotAllowed),
        };
        let path = NormPath::parse(req.target.path).map_err(RequestError::BadPath)?;
        // As nginx's `if ($secure_link = "")` runs before any file access: 403/410 first.
        let signed = check_signature(current, req, &path)?;
        // Scratch and dot-files are never content; a path ending in `/` is a directory, and
        // directories are never listed.
        if crate::media::is_scratch(&path) || path.is_directory() {
            return Err(RequestError::NotFound);
        }
        let mut entry = if hold::is_directed(current, req, &path) {
            self.find(current, req, &path).await?
        } else {
            // The plain path inline: no extra future layer on every hit.
            match self.store.lookup(&path).await.map_err(from_io)? {
                Lookup::NotFound => self.missing(req, &path).await?,
                other => found(other)?,
            }
        };
        if let (Some(until), Some(link)) = (signed, &current.policy.secure_link) {
            if entry.kind.is_playlist() && entry.ram().is_some() && link.sign_children {
                let parent = secure_link::Request {
                    path: &path,
                    query: req.target.query.unwrap_or(""),
                    headers: req.headers,
                    remote: req.remote,
                };
                entry = signing::signed_playlist(&entry, link, parent, until, unix_now());
            }
        }
        // RFC 9110 §12.5.3: gzip for a client that accepts it; a Range request gets the identity
        // (ranges are of the identity's bytes).
        let gzip = entry.gzip.as_ref().filter(|_| wants_gzip(req.headers)).cloned();
        let part = select_part(&entry, gzip.as_deref(), req.headers)?;
        let guard = entry.stream.begin_read();
        Ok(Outcome::File { entry, gzip, part, head_only, guard })
    }

    /// Takes the request from its client's and its token's buckets (when limits are set).
    fn check_rate(&self, current: &Current, req: RequestHead<'_>) -> Result<(), RequestError> {
        let limiter = &current.limiter;
        if limiter.is_off() {
            return Ok(());
        }
        let query = req.target.query.unwrap_or("");
        let token = current.policy.secure_link.as_ref().and_then(|link| link.token(query));
        limiter.check(req.remote, token).map_err(|over| {
            self.metrics.limited(over.why);
            if self.limited_logged.ready(10_000) {
                let client = req.remote.map(|ip| ip.to_string()).unwrap_or_default();
                tracing::warn!(%client, limit = ?over.why, retry_after = over.retry_after_secs,
                    "request rate over [limits]: answering 429 (further refusals in the next 10 s are only counted)");
            }
            RequestError::TooManyRequests(over)
        })
    }
}

/// A lookup's outcome as the version found or the error it answers.
pub(super) fn found(lookup: Lookup) -> Result<Arc<FileEntry>, RequestError> {
    match lookup {
        Lookup::Found(entry) => Ok(entry),
        Lookup::NotFound => Err(RequestError::NotFound),
        Lookup::Forbidden => Err(RequestError::Forbidden),
        Lookup::Busy | Lookup::Unavailable => Err(RequestError::Busy),
    }
}

/// A lookup's I/O error: out of descriptors or memory is a moment's overload (503 and retry),
/// anything else a fault (500).
pub(super) fn from_io(e: std::io::Error) -> RequestError {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS) => {
            tracing::debug!(error = %e, "lookup failed for lack of resources: 503");
            RequestError::Busy
        }
        _ => RequestError::Internal(e),
    }
}

/// `Ok(Some(until))` for a protected path with a valid signature, `Ok(None)` for an unprotected
/// path.
fn check_signature(
    current: &Current,
    req: RequestHead<'_>,
    path: &NormPath,
) -> Result<Option<Option<i64>>, RequestError> {
    let Some(link) = current.policy.secure_link.as_ref().filter(|l| l.protects(path)) else {
        return Ok(None);
    };
    let request =
        secure_link::Request { path, query: req.target.query.unwrap_or(""), headers: req.headers, remote: req.remote };
    match link.verify(request, unix_now()) {
        Verdict::Valid { until } => Ok(Some(until)),
        Verdict::Invalid => Err(RequestError::NotAuthorized),
        Verdict::Expired => Err(RequestError::LinkExpired),
    }
}

/// Does the request carry the required header with exactly the configured value (compared in
/// constant time)?
fn is_present(required: &RequiredHeader, headers: Fields<'_>) -> bool {
    let expected = &required.value.0;
    headers
        .get_all(required.name.as_str())
        .any(|v| v.len() == expected.len() && v.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn check_limits(req: RequestHead<'_>) -> Result<(), RequestError> {
    if req.target.len > MAX_TARGET_BYTES {
        return Err(RequestError::UriTooLong);
    }
    if req.headers.size() > MAX_HEADER_BYTES {
        return Err(RequestError::HeadersTooLarge);
    }
    Ok(())
}

/// Whether the client takes gzip and asks for no range.
fn wants_gzip(headers: Fields<'_>) -> bool {
    headers.get("range").is_none() && headers.get("accept-encoding").is_some_and(crate::encoding::accepts_gzip)
}

/// The fields `select_part` looks at.
const PRECONDITIONS_AND_RANGE: NameSet =
    NameSet::of(&["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"]);

/// Conditionals first (RFC 9110 §13.2.2), then Range (§14.2).
fn select_part(entry: &FileEntry, gzip: Option<&Encoded>, headers: Fields<'_>) -> Result<Part, RequestError> {
    if !headers.may_contain_any(PRECONDITIONS_AND_RANGE) {
        return Ok(Part::Whole);
    }
    let etag = gzip.map_or(&entry.etag, |g| &g.etag);
    let validators = Validators { etag: etag.as_bytes(), modified_secs: entry.modified_secs };
    let use_range = match conditional::evaluate(headers, validators) {
        Precondition::NotModified => return Ok(Part::NotModified),
        Precondition::Failed => return Err(RequestError::PreconditionFailed),
        Precondition::Proceed { use_range } => use_range,
    };
    let Some(range_header) = headers.get("range").filter(|_| use_range) else {
        return Ok(Part::Whole);
    };
    let len = entry.len;
    match range::decide(range_header, len) {
        RangeDecision::Full => Ok(Part::Whole),
        RangeDecision::Unsatisfiable => Err(RequestError::RangeNotSatisfiable(len)),
        RangeDecision::Partial(mut ranges) if ranges.len() == 1 => Ok(Part::Single(ranges.remove(0))),
        RangeDecision::Partial(ranges) => Ok(Part::Multi(ranges)),
    }
}
