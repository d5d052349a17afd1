//! The file store: turns a normalised path into a [`FileEntry`] — the file's bytes plus every
//! response header that can be computed once. Owns all file I/O on the request path, always on
//! the blocking pool, confined to the root. Must not choose status codes.

mod read;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::HeaderValue;

use crate::media::MediaKind;
use crate::path::NormPath;
use crate::playlist::PlaylistInfo;

/// One version of one file, ready to serve: a cache hit needs no parsing or formatting.
#[derive(Debug)]
pub struct FileEntry {
    /// The whole file.
    pub bytes: Bytes,
    /// What it is.
    pub kind: MediaKind,
    /// Playlist facts, for `.m3u8`.
    pub playlist: Option<PlaylistInfo>,
    /// Strong ETag: a hash of the bytes plus the length, so any change of content changes it
    /// (nginx's `"mtime-size"` collides on a same-second, same-size rewrite).
    pub etag: HeaderValue,
    /// Modification time, Unix seconds (for If-Modified-Since).
    pub modified_secs: u64,
    /// `Last-Modified`, formatted once.
    pub last_modified: HeaderValue,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// `Cache-Control`.
    pub cache_control: HeaderValue,
    /// `Content-Length` of the whole file.
    pub content_length: HeaderValue,
}

/// The result of looking a path up.
#[derive(Debug)]
pub enum Lookup {
    /// A regular file inside the root.
    Found(Arc<FileEntry>),
    /// Missing, a directory, a special file, or outside the root (symlink escapes included).
    NotFound,
    /// The server may not read it (EACCES).
    Forbidden,
    /// A playlist that kept changing under every read attempt; try again shortly.
    Busy,
}

/// The media root and how to read files from it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The root directory, held open: lookups are resolved beneath this descriptor.
    root_fd: OwnedFd,
    /// The canonical root path, for the fallback when `openat2` is unavailable.
    root: PathBuf,
    immutable_max_age: Duration,
}

impl Store {
    /// Opens the media root.
    pub fn open(root: &Path, immutable_max_age: Duration) -> anyhow::Result<Store> {
        let root = root.canonicalize().with_context(|| format!("media root {}", root.display()))?;
        let dir = std::fs::File::open(&root).with_context(|| format!("opening media root {}", root.display()))?;
        Ok(Store { inner: Arc::new(Inner { root_fd: OwnedFd::from(dir), root, immutable_max_age }) })
    }

    /// Looks a path up, reading the file on the blocking pool.
    pub async fn lookup(&self, path: &NormPath) -> std::io::Result<Lookup> {
        let inner = Arc::clone(&self.inner);
        let rel = path.relative().to_string();
        tokio::task::spawn_blocking(move || read::lookup_blocking(&inner, &rel)).await.map_err(std::io::Error::other)?
    }
}

/// Builds the entry for freshly read bytes; all per-version formatting happens here.
fn entry_for(bytes: Bytes, kind: MediaKind, modified: std::time::SystemTime, immutable_max_age: Duration) -> FileEntry {
    let playlist = kind.is_playlist().then(|| PlaylistInfo::scan(&bytes));
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    let modified_secs = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Hex digits and quotes, and an IMF-fixdate: always valid header values.
    let header = |s: String| HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""));
    FileEntry {
        etag: header(format!("\"{hash:016x}-{:x}\"", bytes.len())),
        modified_secs,
        last_modified: header(httpdate::fmt_http_date(modified)),
        content_type: HeaderValue::from_static(kind.content_type()),
        cache_control: crate::media::cache_control(kind, playlist.as_ref(), immutable_max_age),
        content_length: HeaderValue::from(bytes.len()),
        playlist,
        kind,
        bytes,
    }
}
