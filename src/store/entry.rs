//! One cached file version: its bytes (or open file) and every response header computed once
//! when it was read. Pure construction; must not do I/O beyond what it is handed.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderValue;

use crate::config::CorsConfig;
use crate::headers::{HeaderPolicy, VersionValues};
use crate::media::MediaKind;
use crate::plan::FixedHeaders;
use crate::playlist::PlaylistInfo;
use crate::usage::StreamUsage;

/// Where a file version's bytes are.
#[derive(Clone, Debug)]
pub enum Content {
    /// Read whole into RAM.
    Ram(Bytes),
    /// Left on disk, held open (`zero_copy`): sent with `sendfile`, never copied into RAM.
    Disk(Arc<std::fs::File>),
}

/// One version of one file, ready to serve: a cache hit needs no parsing or formatting.
#[derive(Debug)]
pub struct FileEntry {
    /// The bytes, or the open file.
    pub content: Content,
    /// Length in bytes.
    pub len: u64,
    /// Requests served from this entry (disk entries are promoted to RAM on the second).
    pub(super) hits: std::sync::atomic::AtomicU32,
    /// Inode and nanosecond mtime of the version read: a promoted copy of the same version
    /// keeps its ETag.
    pub(super) stamp: (u64, i128),
    /// Length and xxh3 of the file's own bytes (a playlist's cached bytes may be rendered):
    /// what a refresh compares to renew an unchanged version. The hash is 0 for disk entries.
    pub(super) source: (u64, u64),
    /// What it is.
    pub kind: MediaKind,
    /// Playlist facts, for `.m3u8`.
    pub playlist: Option<PlaylistInfo>,
    /// A media playlist's model and variants (none for a variant made from it).
    pub live: Option<Arc<super::live::Live>>,
    /// Strong ETag: for RAM entries a hash of the bytes plus the length, so any change of
    /// content changes it (nginx's `"mtime-size"` collides on a same-second, same-size rewrite);
    /// for disk entries inode, nanosecond mtime and length.
    pub etag: HeaderValue,
    /// Modification time, Unix seconds (for If-Modified-Since).
    pub modified_secs: u64,
    /// `Last-Modified`, formatted once.
    pub last_modified: HeaderValue,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// `Cache-Control`.
    pub cache_control: HeaderValue,
    /// CORS fields, when on.
    pub cors: Option<CorsConfig>,
    /// Every field of a 200 with the whole body, in wire form.
    pub ok_head: Arc<FixedHeaders>,
    /// CORS, validators and caching fields: all of a 304 (RFC 9110 §15.4.5), the start of a
    /// 206.
    pub validators_head: Arc<FixedHeaders>,
    /// The gzip-compressed representation, for a playlist in RAM when `hls.compress` is on and
    /// compression makes it smaller.
    pub gzip: Option<Arc<Encoded>>,
    /// The last signed variant of this playlist version (see `handler::signing`).
    pub(super) signed: Mutex<Option<SignedMemo>>,
    /// Its stream directory's usage record (a response marks it without a map lookup).
    pub stream: Arc<StreamUsage>,
    /// When this version was read: its validity period runs from here at the latest.
    pub(super) created: Instant,
    /// Set when the cache lets go of this version (replaced, invalidated, evicted, expired):
    /// the per-thread memo never serves it after that.
    pub(super) retired: AtomicBool,
}

/// Another representation of the same version (RFC 9110 §3.2): its bytes, its own strong
/// ETag, and its header blocks.
#[derive(Debug)]
pub struct Encoded {
    /// The encoded bytes.
    pub bytes: Bytes,
    /// Its ETag (distinct from the identity's: RFC 9110 §8.8.3).
    pub etag: HeaderValue,
    /// Every field of a 200.
    pub ok_head: Arc<FixedHeaders>,
    /// All of a 304.
    pub validators_head: Arc<FixedHeaders>,
}

/// The values a version's representations share: what [`blocks`] needs besides the body.
struct Shared<'a> {
    cors: Option<&'a CorsConfig>,
    last_modified: &'a HeaderValue,
    cache_control: &'a HeaderValue,
    content_type: &'a HeaderValue,
}

/// Where a version's gzip representation comes from.
enum Gzip<'a> {
    /// Compress these bytes (kept only if smaller).
    Compress(&'a [u8]),
    /// Already made for the same bytes (a revalidation that found nothing changed).
    Known(Arc<Encoded>),
}

/// The identity blocks of a version with `etag` and, when it has one, its gzip representation.
fn representations(
    shared: &Shared<'_>,
    etag: &HeaderValue,
    len: u64,
    gzip: Option<Gzip<'_>>,
) -> (crate::headers::VersionBlocks, Option<Arc<Encoded>>) {
    let blocks = |etag: &HeaderValue, len: u64, encoding| {
        VersionValues {
            cors: shared.cors,
            etag,
            last_modified: shared.last_modified,
            cache_control: shared.cache_control,
            content_type: shared.content_type,
            content_length: &HeaderValue::from(len),
            encoding,
        }
        .blocks()
    };
    let bytes = match gzip {
        None => return (blocks(etag, len, None), None),
        Some(Gzip::Known(encoded)) => return (blocks(etag, len, Some(None)), Some(encoded)),
        Some(Gzip::Compress(raw)) => match crate::encoding::gzip(raw) {
            Some(packed) => Bytes::from(packed),
            None => return (blocks(etag, len, None), None),
        },
    };
    // The identity ETag with `-gz` before the closing quote: still strong, never equal.
    let text = etag.to_str().unwrap_or("\"\"").trim_end_matches('"');
    let gz_etag = HeaderValue::from_str(&format!("{text}-gz\"")).unwrap_or_else(|_| etag.clone());
    let gzip_value = crate::headers::GZIP;
    let gz = blocks(&gz_etag, bytes.len() as u64, Some(Some(&gzip_value)));
    let encoded = Encoded { bytes, etag: gz_etag, ok_head: gz.ok, validators_head: gz.validators };
    (blocks(etag, len, Some(None)), Some(Arc::new(encoded)))
}

/// A memoised signed variant of a playlist version.
#[derive(Clone, Debug)]
pub struct SignedMemo {
    /// What the variant depends on besides the version.
    pub key: Vec<u8>,
    /// The variant.
    pub entry: Arc<FileEntry>,
    /// When it was made (Unix seconds): a variant whose `max-age` counts down to its links'
    /// expiry is reused only briefly.
    pub made_at: i64,
}

impl FileEntry {
    /// The bytes, for RAM entries.
    pub fn ram(&self) -> Option<&Bytes> {
        match &self.content {
            Content::Ram(b) => Some(b),
            Content::Disk(_) => None,
        }
    }

    /// The same file version with other bytes (a rewritten playlist): its own ETag and length,
    /// the same type and modification time, and `cache_control` (the version's own when `None`).
    pub fn with_bytes(&self, bytes: Bytes, cache_control: Option<HeaderValue>) -> FileEntry {
        let cache_control = cache_control.unwrap_or_else(|| self.cache_control.clone());
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let etag =
            HeaderValue::from_str(&format!("\"{hash:016x}-{:x}\"", bytes.len())).unwrap_or_else(|_| self.etag.clone());
        let shared = Shared {
            cors: self.cors.as_ref(),
            last_modified: &self.last_modified,
            cache_control: &cache_control,
            content_type: &self.content_type,
        };
        let gzip_of = self.gzip.is_some().then_some(Gzip::Compress(&bytes[..]));
        let (blocks, gzip) = representations(&shared, &etag, bytes.len() as u64, gzip_of);
        FileEntry {
            etag,
            gzip,
            cors: self.cors.clone(),
            ok_head: blocks.ok,
            validators_head: blocks.validators,
            len: bytes.len() as u64,
            hits: Default::default(),
            stamp: self.stamp,
            source: self.source,
            playlist: self.playlist.clone(),
            live: None,
            kind: self.kind,
            modified_secs: self.modified_secs,
            last_modified: self.last_modified.clone(),
            content_type: self.content_type.clone(),
            cache_control,
            signed: Mutex::new(None),
            stream: Arc::clone(&self.stream),
            created: self.created,
            retired: AtomicBool::new(false),
            content: Content::Ram(bytes),
        }
    }

    /// The same version found unchanged at `checked_at`: everything shared (bytes, ETag,
    /// header blocks, gzip, rendered variants, the signed memo), a validity that runs from then.
    pub(super) fn renewed(&self, checked_at: Instant) -> FileEntry {
        let signed = self.signed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        FileEntry {
            content: self.content.clone(),
            len: self.len,
            hits: std::sync::atomic::AtomicU32::new(self.hits.load(std::sync::atomic::Ordering::Relaxed)),
            stamp: self.stamp,
            source: self.source,
            kind: self.kind,
            playlist: self.playlist.clone(),
            live: self.live.clone(),
            etag: self.etag.clone(),
            modified_secs: self.modified_secs,
            last_modified: self.last_modified.clone(),
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            cors: self.cors.clone(),
            ok_head: Arc::clone(&self.ok_head),
            validators_head: Arc::clone(&self.validators_head),
            gzip: self.gzip.clone(),
            signed: Mutex::new(signed),
            stream: Arc::clone(&self.stream),
            created: checked_at,
            retired: AtomicBool::new(false),
        }
    }

    /// The same version, counted as part of `stream` (set once, when the version is read).
    pub(super) fn in_stream(mut self, stream: Arc<StreamUsage>) -> FileEntry {
        self.stream = stream;
        self
    }

    /// The memoised signed variant for `key`, if it is the last one made and was made no
    /// earlier than `made_since`.
    pub fn signed_memo(&self, key: &[u8], made_since: i64) -> Option<Arc<FileEntry>> {
        let memo = self.signed.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref().filter(|m| m.key == key && m.made_at >= made_since).map(|m| Arc::clone(&m.entry))
    }

    /// The `max-age` this version's `Cache-Control` grants, if any.
    pub fn max_age(&self) -> Option<u64> {
        let value = self.cache_control.to_str().ok()?;
        value.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse().ok())
    }

    /// Remembers a signed variant (one slot: viewers in the same bucket share it).
    pub fn remember_signed(&self, memo: SignedMemo) {
        *self.signed.lock().unwrap_or_else(|p| p.into_inner()) = Some(memo);
    }
}

/// Builds the entry for freshly read bytes; all per-version formatting happens here. When
/// `previous` (the last version of the same path) has the same bytes, its compressed
/// representation is reused: a revalidation that finds nothing changed compresses nothing.
pub(super) fn entry_for(
    bytes: Bytes,
    kind: MediaKind,
    meta: &std::fs::Metadata,
    policy: &HeaderPolicy,
    previous: Option<&FileEntry>,
) -> FileEntry {
    let source = (bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(&bytes));
    let (bytes, live) = match kind.is_playlist() {
        true => super::live::prepare(bytes, policy.offer, previous),
        false => (bytes, None),
    };
    let playlist = kind.is_playlist().then(|| PlaylistInfo::scan(&bytes));
    let etag = format!("\"{:016x}-{:x}\"", xxhash_rust::xxh3::xxh3_64(&bytes), bytes.len());
    let len = bytes.len() as u64;
    let known = previous.filter(|p| p.etag.as_bytes() == etag.as_bytes()).and_then(|p| p.gzip.clone());
    let mut entry = finish_entry(Content::Ram(bytes), len, etag, (kind, playlist), meta, (policy, known));
    entry.live = live;
    entry.source = source;
    entry
}

/// Builds the entry for a file left on disk: validators from its metadata.
pub(super) fn disk_entry(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    kind: MediaKind,
    policy: &HeaderPolicy,
) -> FileEntry {
    let (ino, mtime_ns) = stamp(meta);
    let etag = format!("\"{ino:x}-{mtime_ns:x}-{:x}\"", meta.len());
    finish_entry(Content::Disk(Arc::new(file)), meta.len(), etag, (kind, None), meta, (policy, None))
}

fn stamp(meta: &std::fs::Metadata) -> (u64, i128) {
    use std::os::unix::fs::MetadataExt;
    (meta.ino(), i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()))
}

fn finish_entry(
    content: Content,
    len: u64,
    etag: String,
    (kind, playlist): (MediaKind, Option<PlaylistInfo>),
    meta: &std::fs::Metadata,
    (policy, known): (&HeaderPolicy, Option<Arc<Encoded>>),
) -> FileEntry {
    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    let modified_secs = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Hex digits and quotes, and an IMF-fixdate: always valid header values.
    let header = |s: String| HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""));
    let (etag, last_modified) = (header(etag), header(httpdate::fmt_http_date(modified)));
    let content_type = HeaderValue::from_static(kind.content_type());
    let cache_control = crate::headers::cache_control(kind, playlist.as_ref(), policy.ages);
    let shared = Shared {
        cors: policy.cors.as_ref(),
        last_modified: &last_modified,
        cache_control: &cache_control,
        content_type: &content_type,
    };
    let gzip = match (&content, known) {
        (_, Some(known)) => Some(Gzip::Known(known)),
        (Content::Ram(bytes), None) if kind.is_playlist() && policy.compress => Some(Gzip::Compress(&bytes[..])),
        _ => None,
    };
    let (blocks, gzip) = representations(&shared, &etag, len, gzip);
    FileEntry {
        etag,
        gzip,
        modified_secs,
        last_modified,
        content_type,
        cache_control,
        cors: policy.cors.clone(),
        ok_head: blocks.ok,
        validators_head: blocks.validators,
        signed: Mutex::new(None),
        stream: Arc::default(),
        created: Instant::now(),
        retired: AtomicBool::new(false),
        hits: Default::default(),
        stamp: stamp(meta),
        source: (len, 0),
        playlist,
        live: None,
        kind,
        content,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Ages;
    use std::time::Duration;

    #[test]
    fn a_playlist_is_compressed_once_per_version_and_names_vary() {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let ages = Ages { immutable: Duration::from_secs(60), ended: Duration::from_secs(10) };
        let policy = HeaderPolicy { ages, cors: None, compress: true, offer: Default::default() };
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n".to_string() + &"#EXTINF:4.0,\nsegment.ts\n".repeat(20);
        let first = entry_for(Bytes::from(text.clone()), MediaKind::Playlist, &meta, &policy, None);
        let gz = first.gzip.clone().unwrap();
        assert!(gz.etag.to_str().unwrap().ends_with("-gz\""));
        assert!(first.ok_head.wire().windows(5).any(|w| w == b"vary:"));
        let same = entry_for(Bytes::from(text.clone()), MediaKind::Playlist, &meta, &policy, Some(&first));
        assert!(Arc::ptr_eq(&gz, same.gzip.as_ref().unwrap()), "the same bytes reuse the compression");
        assert!(same.ok_head.wire().windows(5).any(|w| w == b"vary:"));
        let changed =
            entry_for(Bytes::from(text + "#EXT-X-ENDLIST\n"), MediaKind::Playlist, &meta, &policy, Some(&first));
        assert!(!Arc::ptr_eq(&gz, changed.gzip.as_ref().unwrap()));
        let off = HeaderPolicy { compress: false, ..policy };
        let plain = entry_for(Bytes::from_static(b"#EXTM3U\n"), MediaKind::Playlist, &meta, &off, None);
        assert!(plain.gzip.is_none() && !plain.ok_head.wire().windows(5).any(|w| w == b"vary:"));
    }
}
