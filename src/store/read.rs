//! Blocking reads of one file beneath the root: resolve without leaving it, stat, read whole,
//! and verify the copy is not torn by a concurrent writer. Runs only on the blocking pool.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use super::entry::{disk_entry, entry_for};
use super::{Inner, Lookup};
use crate::media::MediaKind;
use crate::playlist::PlaylistInfo;
use crate::usage::stream_dir;

/// Reads attempted before a still-changing playlist is reported busy.
const ATTEMPTS: usize = 12;
/// A playlist modified less than this long ago may be mid-rewrite...
const RECENT: Duration = Duration::from_millis(100);
/// ...so it is accepted only after staying unchanged for this long after the read. Writers
/// issue the chunks of one version back to back; a pause this long means the version is whole.
const QUIET: Duration = Duration::from_millis(1);
/// A playlist that does not look whole (no final newline, a last `#EXTINF` without its URI) is
/// served as written once it has not changed for this long and no writer holds it open (the
/// watcher's write mark): a hand-written file is unusual, not torn. The wait also lets the
/// write events of a writer caught mid-version arrive.
const SETTLED: Duration = Duration::from_millis(500);
/// How often a settling playlist is looked at again.
const SETTLE_STEP: Duration = Duration::from_millis(5);

/// Whether a playlist read must wait out a quiet period (not needed for a file just renamed
/// into place: a rename swaps whole files atomically).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Settle {
    /// Check for an in-place rewrite in progress.
    InPlace,
    /// The file was renamed into place: it is whole.
    Renamed,
}

/// Whether a large file may be left on disk (`zero_copy`) or must be read into RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fill {
    /// Large non-playlist files stay on disk when `zero_copy` is on.
    Any,
    /// Read into RAM (promotion of a hot disk entry).
    RamOnly,
}

/// Paths remembered as logged before the set starts over (and logs them once more).
const FORBIDDEN_LOGGED_MAX: usize = 4096;

impl Inner {
    /// A file the server may not read answers 403; say why, once per path.
    fn log_forbidden(&self, rel: &str, error: &std::io::Error) {
        let mut logged = self.forbidden_logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() >= FORBIDDEN_LOGGED_MAX {
            logged.clear();
        }
        if logged.insert(rel.into()) {
            let path = self.root.path().join(rel);
            tracing::warn!(path = %path.display(), %error, "cannot read a requested file; answering 403 (check its owner and mode)");
        }
    }
}

pub(super) fn lookup_blocking(inner: &Inner, rel: &str, settle: Settle, fill: Fill) -> io::Result<Lookup> {
    let file = match open_beneath(inner, rel) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(Lookup::NotFound),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            inner.log_forbidden(rel, &e);
            return Ok(Lookup::Forbidden);
        }
        Err(e) => return Err(e),
    };
    let kind = MediaKind::from_extension(rel.rsplit_once('.').map(|(_, e)| e));
    for _ in 0..ATTEMPTS {
        let before = file.metadata()?;
        if !before.is_file() {
            return Ok(Lookup::NotFound);
        }
        let large = inner.zero_copy_min_bytes.is_some_and(|min| before.len() >= min);
        if fill == Fill::Any && large && !kind.is_playlist() {
            // Left on disk: sent with sendfile, never copied into RAM. Playlists are always read
            // (they are small, checked for tearing, and may be rewritten for signatures).
            return Ok(found(inner, rel, disk_entry(file, &before, kind, &inner.policy.load())));
        }
        let bytes = read_at_most(&file, before.len())?;
        let after = file.metadata()?;
        // A writer that changed the file during the read leaves a torn copy: read again.
        let mut whole = same_version(&before, &after) && bytes.len() as u64 == before.len();
        if whole && kind.is_playlist() {
            whole = if PlaylistInfo::looks_complete(&bytes) {
                settle == Settle::Renamed || stays_quiet(&file, &after)?
            } else {
                let settled = settle == Settle::Renamed || settles(inner, rel, &file, &after)?;
                if settled {
                    log_unusual(rel);
                }
                settled
            };
        }
        if whole {
            // A revalidation that finds the same bytes reuses the last version's compression.
            let previous = kind.is_playlist().then(|| inner.last_good.get(&format!("/{rel}"))).flatten();
            let entry = entry_for(bytes, kind, &after, &inner.policy.load(), previous.as_deref());
            return Ok(found(inner, rel, entry));
        }
        std::thread::sleep(QUIET);
    }
    Ok(Lookup::Busy)
}

/// A truncate-and-write writer caught between two chunks leaves a prefix that can end at a line
/// boundary and look whole. If the file changed recently, wait [`QUIET`] and check nothing moved.
fn stays_quiet(file: &File, seen: &Metadata) -> io::Result<bool> {
    let age = seen.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok());
    if age.is_some_and(|age| age >= RECENT) {
        return Ok(true);
    }
    std::thread::sleep(QUIET);
    Ok(same_version(seen, &file.metadata()?))
}

/// For a playlist that does not look whole: true once it is [`SETTLED`] old with nothing
/// moved and no writer holding it (the watcher's write mark, which also catches a writer that
/// pauses mid-version); false as soon as either shows, so a busy writer costs a retry, not
/// the whole window. Sleeps on this blocking thread in [`SETTLE_STEP`]s.
fn settles(inner: &Inner, rel: &str, file: &File, seen: &Metadata) -> io::Result<bool> {
    let key = format!("/{rel}");
    loop {
        if !same_version(seen, &file.metadata()?) || inner.is_being_written(&key) {
            return Ok(false);
        }
        let age = seen.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or_default();
        match SETTLED.checked_sub(age) {
            Some(left) if !left.is_zero() => std::thread::sleep(left.min(SETTLE_STEP)),
            _ => return Ok(true),
        }
    }
}

/// Logs that a stable playlist is served as written although it does not look whole (once per
/// version read: the cache keeps the version until it changes).
fn log_unusual(rel: &str) {
    tracing::warn!(
        path = rel,
        "playlist does not end with a newline (or ends with a tag missing its URI) but is not changing; serving it as written"
    );
}

/// True when `rel` is still exactly the version `entry` was read from: the same inode, mtime
/// and length, and the same bytes (a rewrite within one timestamp tick changes the hash).
pub(super) fn unchanged(inner: &Inner, rel: &str, entry: &super::FileEntry) -> io::Result<bool> {
    let Some(file) = open_beneath(inner, rel)? else { return Ok(false) };
    let before = file.metadata()?;
    let stamp = (before.ino(), i128::from(before.mtime()) * 1_000_000_000 + i128::from(before.mtime_nsec()));
    if !before.is_file() || stamp != entry.stamp || before.len() != entry.source.0 {
        return Ok(false);
    }
    let bytes = read_at_most(&file, before.len())?;
    Ok(bytes.len() as u64 == entry.source.0
        && xxhash_rust::xxh3::xxh3_64(&bytes) == entry.source.1
        && same_version(&before, &file.metadata()?))
}

/// A version just read, tied to its stream directory's usage record.
fn found(inner: &Inner, rel: &str, entry: super::FileEntry) -> Lookup {
    Lookup::Found(Arc::new(entry.in_stream(inner.usage.stream(stream_dir(rel)))))
}

fn same_version(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec() && a.ino() == b.ino()
}

/// Reads up to `len` bytes from the start, plus one more to notice growth.
fn read_at_most(file: &File, len: u64) -> io::Result<Bytes> {
    let cap = usize::try_from(len).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(cap + 1);
    let mut reader = file;
    // `Read for &File` reads from the current offset; each attempt starts again at 0.
    std::io::Seek::rewind(&mut reader)?;
    reader.take(len + 1).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// Opens `rel` beneath the root, never following a symlink out of it. `Ok(None)` for anything
/// that should look like a missing file.
pub(super) fn open_beneath(inner: &Inner, rel: &str) -> io::Result<Option<File>> {
    if rel.is_empty() {
        return Ok(None);
    }
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let Some(root) = inner.root.fd() else { return Ok(None) };
    match openat2(&*root, rel, how) {
        Ok(fd) => Ok(Some(File::from(fd))),
        // EXDEV: resolution would leave the root; ELOOP: too many links; ENOTDIR: a file used
        // as a directory; ENXIO: a socket or FIFO without a peer.
        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EXDEV | Errno::ELOOP | Errno::ENAMETOOLONG | Errno::ENXIO) => {
            Ok(None)
        }
        Err(Errno::ENOSYS) => open_checked_fallback(inner, rel),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// For kernels before 5.6 (no `openat2`): canonicalise, then refuse anything outside the root.
fn open_checked_fallback(inner: &Inner, rel: &str) -> io::Result<Option<File>> {
    let canonical = match inner.root.path().join(rel).canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !canonical.starts_with(inner.root.path()) {
        return Ok(None);
    }
    match File::open(&canonical) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
