//! Signed playlists: the representation of a protected playlist whose child URIs carry their
//! own signatures, computed once per (playlist version, expiry bucket, request-specific values)
//! and memoised on the cached entry. Must not verify signatures (the handler did).

use std::sync::Arc;

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
    if let Some(hit) = entry.signed_memo(&key) {
        return hit;
    }
    let Some(raw) = entry.ram() else { return Arc::clone(entry) };
    let bytes = children::rewrite(link, raw, parent, expiry);
    let signed = Arc::new(entry.with_bytes(bytes.into()));
    entry.remember_signed(SignedMemo { key, entry: Arc::clone(&signed) });
    signed
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
