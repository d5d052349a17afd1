//! The filesystem side of retention: one walk of the root (never through a symlink), stats of
//! changed files, playlist reads, and deletes confined to real directories beneath the root.
//! Blocking; runs only on the retention thread.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::index::{Dir, Index, Listing};
use crate::media::{self, MediaKind};
use crate::playlist::{self, PlaylistInfo};

/// Walks the tree below `root/start` (`""`: the whole root) into an index. A `start` that is
/// not a real directory beneath the root yields an empty index.
pub fn walk(root: &Path, start: &str, now: SystemTime) -> Index {
    let mut index = Index::default();
    if real_dir(root, start).is_none() {
        return index;
    }
    let mut pending = vec![start.to_string()];
    while let Some(rel) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else { continue };
        let mut dir = Dir::new(SystemTime::UNIX_EPOCH);
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            // `file_type` does not follow symlinks: a link to a directory is not descended into.
            let Ok(kind) = entry.file_type() else { continue };
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if kind.is_dir() {
                pending.push(child);
            } else if kind.is_file() && !media::is_tmp_name(&name) {
                let Ok(meta) = entry.metadata() else { continue };
                dir.last_write = dir.last_write.max(meta.modified().unwrap_or(now));
                dir.files.insert(name, meta.len());
            }
        }
        if dir.last_write == SystemTime::UNIX_EPOCH {
            dir.last_write = std::fs::metadata(root.join(&rel)).and_then(|m| m.modified()).unwrap_or(now);
        }
        let playlists: Vec<String> =
            dir.files.keys().filter(|f| MediaKind::of_name(f).is_playlist()).cloned().collect();
        for p in playlists {
            let listing = read_listing(root, &rel, &p);
            dir.set_listing(&p, listing, now);
        }
        index.dirs.insert(rel, dir);
    }
    index
}

/// Reads a playlist of `dir`; `None` if unreadable. Only segments in the same directory count.
pub fn read_listing(root: &Path, dir: &str, name: &str) -> Option<Listing> {
    let bytes = std::fs::read(real_dir(root, dir)?.join(name)).ok()?;
    let info = PlaylistInfo::scan(&bytes);
    let segments = playlist::segments(&bytes)
        .into_iter()
        .filter(|(uri, _)| !uri.contains('/') && !uri.contains('?') && !uri.contains(':'))
        .collect();
    Some(Listing { target: info.target_duration.unwrap_or(0), ended: info.ended, segments })
}

/// The size of a regular file at `rel`, `None` if it is gone (or not a regular file, or reached
/// through a symlink).
pub fn file_size(root: &Path, dir: &str, name: &str) -> Option<u64> {
    let meta = std::fs::symlink_metadata(real_dir(root, dir)?.join(name)).ok()?;
    meta.is_file().then_some(meta.len())
}

/// `root/dir` if it is a real directory beneath the root: no component is a symlink.
pub fn real_dir(root: &Path, dir: &str) -> Option<PathBuf> {
    let path = if dir.is_empty() { root.to_path_buf() } else { root.join(dir) };
    let canonical = path.canonicalize().ok()?;
    (canonical == path && canonical.starts_with(root)).then_some(canonical)
}

/// What a delete did (or would do, in a dry run).
#[derive(Debug, Default)]
pub struct Deleted {
    /// Bytes of the files removed.
    pub bytes: u64,
    /// Their names.
    pub files: Vec<String>,
}

/// Deletes `names` (or every file, then the directory if empty) from a real directory beneath
/// the root. Subdirectories are never touched; symlinks are removed as links, never followed.
pub fn delete(root: &Path, dir: &str, names: Option<&[String]>, dry_run: bool) -> std::io::Result<Deleted> {
    let Some(path) = real_dir(root, dir) else {
        return Ok(Deleted::default());
    };
    let mut deleted = Deleted::default();
    for entry in std::fs::read_dir(&path)?.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() || names.is_some_and(|n| !n.contains(&name)) {
            continue;
        }
        let size = if kind.is_file() { entry.metadata().map_or(0, |m| m.len()) } else { 0 };
        if !dry_run {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        deleted.bytes += size;
        deleted.files.push(name);
    }
    if names.is_none() && !dir.is_empty() && !dry_run {
        // Fails (and is ignored) if the directory still holds a subdirectory or a new file.
        let _ = std::fs::remove_dir(&path);
    }
    Ok(deleted)
}
