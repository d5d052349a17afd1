//! Signed playlists: the representation of a protected playlist whose child URIs carry their
//! own signatures, computed once per (playlist version, expiry bucket, request-specific values)
//! and memoised on the cached entry. Must not verify signatures (the handler did).

use std::sync::Arc;

use http::HeaderValue;

use crate::secure_link::children::{self, ChildExpiry};
use crate::secure_link::{Request, SecureLink};
use crate::store::{FileEntry, SignedMemo};

/// The signed variant of `entry` for `parent`, valid until `parent_until`.
pub(super) fn signed_playlist(
    entry: &Arc<FileEntry>,
    link: &SecureLink,
    parent: Request<'_>,
    parent_until: Option<i64>,
    now: i64,
) -> Arc<FileEntry> {
    let expiry = children::child_expiry(link.child_bucket.as_secs(), parent_until, now);
    let key = memo_key(link, parent, expiry);
    if let Some(hit) = entry.signed_memo(&key, now - REUSE_SECS) {
        return hit;
    }
    let Some(raw) = entry.ram() else { return Arc::clone(entry) };
    let bytes = children::rewrite(link, raw, parent, expiry);
    let capped = link.links_expire().then(|| capped_cache_control(entry, expiry.until - now)).flatten();
    let signed = Arc::new(entry.with_bytes(bytes.into(), capped));
    entry.remember_signed(SignedMemo { key, entry: Arc::clone(&signed), made_at: now });
    signed
}

/// A CDN copy of a signed playlist must expire before the links in it: its `max-age` is cut to
/// the time the children stay valid, less this margin (a player fetches the first children
/// within it).
const MARGIN_SECS: i64 = 10;
/// A capped variant is reused for at most this long, so the `max-age` it carries is never more
/// than this stale (less than [`MARGIN_SECS`]).
const REUSE_SECS: i64 = 5;

/// `Cache-Control` for a variant whose links stay valid for `valid_secs`; `None` when the
/// version's own is already shorter.
fn capped_cache_control(entry: &FileEntry, valid_secs: i64) -> Option<HeaderValue> {
    let cap = u64::try_from(valid_secs - MARGIN_SECS).unwrap_or(0);
    if entry.max_age().is_some_and(|age| age <= cap) {
        return None;
    }
    Some(HeaderValue::from_str(&format!("public, max-age={cap}")).unwrap_or(HeaderValue::from_static("no-cache")))
}

/// Everything the rewritten bytes depend on besides the playlist version: the expiry, the host
/// (absolute URLs to it are signed), and the request values the template reads.
fn memo_key(link: &SecureLink, parent: Request<'_>, expiry: ChildExpiry) -> Vec<u8> {
    let mut key = format!("{}:{}:", expiry.until, expiry.issued).into_bytes();
    if let Some(host) = parent.headers.get("host") {
        key.extend_from_slice(host);
    }
    if link.reads_request() {
        key.push(0);
        key.extend_from_slice(parent.remote.map(|a| a.to_string()).unwrap_or_default().as_bytes());
        key.push(0);
        key.extend_from_slice(parent.query.as_bytes());
        for (name, value) in parent.headers.iter() {
            key.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
            key.push(b':');
            key.extend_from_slice(value);
            key.push(0);
        }
    }
    key
}
