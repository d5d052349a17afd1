//! The media root as the store holds it: an open directory descriptor every lookup resolves
//! beneath, and the check that notices when the path now names another directory (`rm -rf ROOT
//! && mkdir ROOT`, a tmpfs mounted over it) or none at all. Blocking; must not read files.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;

/// What [`Root::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootCheck {
    /// The path still names the directory held open.
    Same,
    /// The path names another directory now (or again); it is open and everything derived from
    /// the old one is stale.
    Replaced,
    /// Nothing usable at the path; lookups answer 503 until it is back.
    Missing,
}

/// The open root and its path.
pub(super) struct Root {
    path: PathBuf,
    fd: RwLock<Option<Arc<OwnedFd>>>,
    missing: AtomicBool,
}

impl Root {
    /// Opens `path` (canonical).
    pub(super) fn open(path: PathBuf) -> anyhow::Result<Root> {
        let fd = open_dir(&path).with_context(|| format!("opening media root {}", path.display()))?;
        Ok(Root { path, fd: RwLock::new(Some(Arc::new(fd))), missing: AtomicBool::new(false) })
    }

    /// The canonical path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor to resolve beneath; `None` while the root is missing.
    pub(super) fn fd(&self) -> Option<Arc<OwnedFd>> {
        self.fd.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True while nothing usable is at the path.
    pub(super) fn is_missing(&self) -> bool {
        self.missing.load(Ordering::Acquire)
    }

    /// Compares the directory at the path with the one held open (device and inode; a held
    /// directory that was deleted has no links left) and reopens it when they differ.
    pub(super) fn check(&self) -> RootCheck {
        let held = self.fd().and_then(|fd| identity(&fd));
        let at_path = std::fs::metadata(&self.path).ok().filter(std::fs::Metadata::is_dir);
        match (held, at_path) {
            (Some(held), Some(now)) if held == (now.dev(), now.ino()) => RootCheck::Same,
            (_, Some(_)) => match open_dir(&self.path) {
                Ok(fd) => {
                    *self.fd.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(fd));
                    let was_missing = self.missing.swap(false, Ordering::AcqRel);
                    let how = if was_missing { "is back" } else { "was replaced (recreated, or mounted over)" };
                    tracing::warn!("media root {} {how}; serving from the directory there now", self.path.display());
                    RootCheck::Replaced
                }
                Err(e) => self.set_missing(&e.to_string()),
            },
            (_, None) => self.set_missing("no directory at that path"),
        }
    }

    fn set_missing(&self, why: &str) -> RootCheck {
        *self.fd.write().unwrap_or_else(|p| p.into_inner()) = None;
        if !self.missing.swap(true, Ordering::AcqRel) {
            tracing::warn!("media root {} is gone ({why}); answering 503 and checking again", self.path.display());
        }
        RootCheck::Missing
    }
}

fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(path)?;
    Ok(OwnedFd::from(dir))
}

/// Device and inode of a directory held open, `None` if it was deleted meanwhile.
fn identity(fd: &OwnedFd) -> Option<(u64, u64)> {
    let stat = nix::sys::stat::fstat(fd.as_fd()).ok()?;
    (stat.st_nlink > 0).then_some((stat.st_dev, stat.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_a_recreated_root_and_a_missing_one() {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("root");
        std::fs::create_dir(&path).unwrap();
        let root = Root::open(path.clone()).unwrap();
        assert_eq!(root.check(), RootCheck::Same);
        std::fs::remove_dir(&path).unwrap();
        assert_eq!(root.check(), RootCheck::Missing);
        assert!(root.is_missing() && root.fd().is_none());
        assert_eq!(root.check(), RootCheck::Missing);
        std::fs::create_dir(&path).unwrap();
        assert_eq!(root.check(), RootCheck::Replaced);
        assert!(!root.is_missing());
        assert_eq!(root.check(), RootCheck::Same);
        // Recreated between two checks.
        std::fs::remove_dir(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(root.check(), RootCheck::Replaced);
    }
}
