//! The demo's packager: every two seconds, one segment and a new sliding-window playlist,
//! written as ffmpeg's live HLS muxer does (temp file + rename, old segments deleted). Runs on
//! its own thread; must not touch files outside its stream directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::retime::{retime, Continuity};

/// Four 2-second MPEG-TS segments (320x180 H.264 + AAC), made once with ffmpeg.
const SEGMENTS: [&[u8]; 4] = [
    include_bytes!("../../assets/demo/seg0.ts"),
    include_bytes!("../../assets/demo/seg1.ts"),
    include_bytes!("../../assets/demo/seg2.ts"),
    include_bytes!("../../assets/demo/seg3.ts"),
];
const SEGMENT_SECS: u64 = 2;
/// Segments listed in the playlist (ffmpeg's `hls_list_size`).
const WINDOW: u64 = 5;
/// Segments kept on disk after leaving the playlist (ffmpeg's `hls_delete_threshold`).
const DELETE_THRESHOLD: u64 = 2;
const TICKS_PER_SEC: u64 = 90_000;

/// A running demo writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    dir: PathBuf,
    next: u64,
    cc: Continuity,
}

impl Writer {
    /// Writes a full window at once (so a player can start immediately), then keeps going.
    pub fn start(dir: PathBuf) -> anyhow::Result<Writer> {
        let mut state = State { dir, next: 0, cc: Continuity::default() };
        for _ in 0..WINDOW {
            state.step().context("writing the first demo segments")?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("demo-writer".into())
            .spawn(move || state.run(&flag))
            .context("starting the demo writer")?;
        Ok(Writer { stop, thread: Some(thread) })
    }

    /// Stops the writer and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if let Err(e) = t.join() {
                tracing::warn!("demo writer panicked: {e:?}");
            }
        }
    }
}

impl State {
    fn run(&mut self, stop: &AtomicBool) {
        let start = Instant::now();
        let mut tick = 1u32;
        while !stop.load(Ordering::Relaxed) {
            // Sleep in short steps to stop promptly; schedule from `start` so it never drifts.
            let due = start + Duration::from_secs(SEGMENT_SECS) * tick;
            let now = Instant::now();
            if now < due {
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
            if let Err(e) = self.step() {
                tracing::warn!("demo writer: {e:#}");
            }
            tick += 1;
        }
    }

    /// Writes segment `next`, the playlist that ends with it, and deletes the oldest segment.
    fn step(&mut self) -> anyhow::Result<()> {
        let n = self.next;
        let loop_ticks = (n / SEGMENTS.len() as u64) * SEGMENTS.len() as u64 * SEGMENT_SECS * TICKS_PER_SEC;
        let source = SEGMENTS[(n % SEGMENTS.len() as u64) as usize];
        let bytes = retime(source, loop_ticks, &mut self.cc);
        write_atomically(&self.dir.join(format!("index{n}.ts")), &bytes)?;
        let first = (n + 1).saturating_sub(WINDOW);
        write_atomically(&self.dir.join("index.m3u8"), playlist(first, n).as_bytes())?;
        if let Some(old) = first.checked_sub(DELETE_THRESHOLD + 1) {
            let _ = std::fs::remove_file(self.dir.join(format!("index{old}.ts")));
        }
        self.next += 1;
        Ok(())
    }
}

/// A live media playlist listing segments `first..=last` (RFC 8216 §4.3.3).
fn playlist(first: u64, last: u64) -> String {
    let mut text =
        format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{SEGMENT_SECS}\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
    for n in first..=last {
        let _ = write!(text, "#EXTINF:{SEGMENT_SECS}.000000,\nindex{n}.ts\n");
    }
    text
}

/// Writes `name.tmp` then renames it over `name`, so readers see the old or the new file whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", Path::new(&tmp).display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_window() {
        let p = playlist(3, 7);
        assert!(p.starts_with("#EXTM3U\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:3\n"));
        assert_eq!(p.matches("#EXTINF").count(), 5);
        assert!(p.ends_with("index7.ts\n"));
    }

    #[test]
    fn writer_slides_the_window_and_deletes_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State { dir: dir.path().to_path_buf(), next: 0, cc: Continuity::default() };
        for _ in 0..12 {
            s.step().unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join("index.m3u8")).unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:7\n"), "{text}");
        assert!(dir.path().join("index11.ts").exists());
        assert!(dir.path().join("index5.ts").exists(), "kept past the window, as ffmpeg does");
        assert!(!dir.path().join("index4.ts").exists());
        assert!(!dir.path().join("index.m3u8.tmp").exists());
    }
}
