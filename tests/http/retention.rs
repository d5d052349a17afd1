//! Disk retention against real files with short durations: stale streams, LRU eviction to
//! `max_disk`, in-flight responses, spec segment retention, dry runs, symlinks, orphans.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hls_origin::retention::Stats;

use crate::support::{Conn, TestServer};

const FAST: &str = "check_interval = \"50ms\"\n";

/// Writes a stream directory: a live playlist listing `segments` segments of `bytes` each.
fn write_stream(dir: &Path, segments: usize, bytes: usize, age: Option<Duration>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut playlist = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n");
    for i in 0..segments {
        std::fs::write(dir.join(format!("seg{i}.ts")), vec![0x47u8; bytes]).unwrap();
        playlist.push_str(&format!("#EXTINF:1.0,\nseg{i}.ts\n"));
    }
    std::fs::write(dir.join("index.m3u8"), playlist).unwrap();
    if let Some(age) = age {
        backdate(dir, age);
    }
}

fn backdate(dir: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::File::options().append(true).open(f.path()).unwrap().set_modified(when).unwrap();
        }
    }
}

fn stats(s: &TestServer) -> &Stats {
    s.state.retention.as_ref().expect("retention on").stats()
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bytes under `path`; files deleted meanwhile count as gone.
fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    let mut total = 0;
    for e in entries.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => total += du(&e.path()),
            Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
            _ => {}
        }
    }
    total
}

/// A live writer renaming a new playlist (and segment) into `dir` every `every`.
fn live_writer(
    dir: std::path::PathBuf,
    every: Duration,
    segment_bytes: usize,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = 0u64;
        while !flag.load(Ordering::Relaxed) {
            std::fs::write(dir.join(format!("seg{n}.ts")), vec![0x47u8; segment_bytes]).unwrap();
            let first = n.saturating_sub(2);
            let mut p = format!("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
            for i in first..=n {
                p.push_str(&format!("#EXTINF:1.0,\nseg{i}.ts\n"));
            }
            std::fs::write(dir.join("index.m3u8.tmp"), p).unwrap();
            std::fs::rename(dir.join("index.m3u8.tmp"), dir.join("index.m3u8")).unwrap();
            if let Some(old) = n.checked_sub(4) {
                let _ = std::fs::remove_file(dir.join(format!("seg{old}.ts")));
            }
            n += 1;
            std::thread::sleep(every);
        }
    });
    (stop, handle)
}

#[tokio::test]
async fn a_stopped_stream_is_removed_and_a_live_one_is_not() {
    let s = TestServer::start_prepared(&format!("[retention]\nstale_after = \"1s\"\n{FAST}"), |root| {
        write_stream(&root.join("live/stopped"), 3, 1000, None);
    })
    .await;
    let (stop, writer) = live_writer(s.path("live/running"), Duration::from_millis(200), 1000);
    until("the stopped stream to go", Duration::from_secs(10), || {
        !s.path("live/stopped").exists() && stats(&s).stale_deleted.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(s.get("/live/running/index.m3u8").await.status, 200);
    assert!(s.path("live/running/index.m3u8").exists());
    // Deleted files are gone from the cache too.
    assert_eq!(s.get("/live/stopped/index.m3u8").await.status, 404);
    assert!(s.path("vod_ts/index.m3u8").exists(), "VOD streams are kept (keep_vod)");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[tokio::test]
async fn max_disk_evicts_least_recently_used_streams_never_the_one_being_written() {
    const STREAM: usize = 100_000;
    let s = TestServer::start_prepared(&format!("[retention]\nmax_disk = \"4MB\"\n{FAST}"), |root| {
        for i in 0..30u64 {
            // s0 is the oldest write, s29 the newest.
            write_stream(&root.join(format!("s{i}")), 2, STREAM / 2 - 100, Some(Duration::from_secs(400 - i * 10)));
        }
    })
    .await;
    // Reading the five oldest makes them the most recently used.
    for i in 0..5 {
        assert_eq!(s.get(&format!("/s{i}/index.m3u8")).await.status, 200);
    }
    assert_eq!(stats(&s).streams_evicted.load(Ordering::Relaxed), 0, "under budget so far");
    // A new stream being written pushes the root past max_disk.
    let (stop, writer) = live_writer(s.path("live/big"), Duration::from_millis(100), 700_000);
    let root = s.root.path().to_path_buf();
    until("the root to fall under max_disk", Duration::from_secs(15), || {
        stats(&s).streams_evicted.load(Ordering::Relaxed) > 0 && du(&root) <= 4_000_000
    })
    .await;
    for i in 0..5 {
        assert!(s.path(&format!("s{i}")).exists(), "recently read s{i} was evicted");
    }
    assert!(s.path("live/big/index.m3u8").exists(), "the stream being written was evicted");
    assert!(!s.path("s5").exists(), "the least recently used stream survived");
    // Evictions follow use order: no survivor is older than an evicted stream.
    let gone: Vec<u64> = (5..30).filter(|i| !s.path(&format!("s{i}")).exists()).collect();
    assert_eq!(gone, (5..5 + gone.len() as u64).collect::<Vec<_>>());
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[tokio::test]
async fn a_stream_being_read_is_not_evicted_mid_response() {
    let big = 24 * 1024 * 1024;
    let s = TestServer::start_prepared(&format!("[retention]\nmax_disk = \"30MB\"\n{FAST}"), |root| {
        std::fs::create_dir_all(root.join("victim")).unwrap();
        std::fs::write(root.join("victim/index.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nbig.ts\n")
            .unwrap();
        std::fs::write(root.join("victim/big.ts"), (0..big).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
        // Older than the fixtures (first in LRU order), younger than orphan_age.
        backdate(&root.join("victim"), Duration::from_secs(300));
    })
    .await;
    let mut conn = Conn::open(s.addr).await;
    conn.write(b"GET /victim/big.ts HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    // The head is here; the client reads nothing more, so most of the body stays unsent.
    conn.wait_for_head().await;
    // Now a stream being written pushes the root over budget: everything evictable goes, the
    // victim (least recently written, but in flight) must stay.
    let (stop, writer) = live_writer(s.path("live/new"), Duration::from_millis(100), 2_000_000);
    until("the fixtures to be evicted", Duration::from_secs(15), || {
        !s.path("vod_ts").exists() && !s.path("fmp4").exists()
    })
    .await;
    assert!(s.path("victim/big.ts").exists(), "evicted while a response was in flight");
    let r = conn.response(false).await.expect("whole response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big);
    assert!(r.body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // Once the response is done the stream is evictable again.
    until("the victim to be evicted after its response", Duration::from_secs(15), || !s.path("victim").exists()).await;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[tokio::test]
async fn spec_retention_never_deletes_a_listed_segment_over_two_minutes_of_media() {
    let s = TestServer::start_with(&format!("[retention]\nsegment_retention = \"spec\"\n{FAST}")).await;
    let dir = s.path("live/spec");
    std::fs::create_dir_all(&dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // A packager without delete_segments: 0.4 s segments, a 5-segment window, nothing deleted.
    let writer = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while n < 300 && !stop.load(Ordering::Relaxed) {
                std::fs::write(dir.join(format!("seg{n}.ts")), vec![0x47u8; 2000]).unwrap();
                let first = n.saturating_sub(4);
                let mut p = format!("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
                for i in first..=n {
                    p.push_str(&format!("#EXTINF:0.400,\nseg{i}.ts\n"));
                }
                std::fs::write(dir.join("index.m3u8.tmp"), p).unwrap();
                std::fs::rename(dir.join("index.m3u8.tmp"), dir.join("index.m3u8")).unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut checked = 0;
    while !writer.is_finished() {
        let playlist = s.get("/live/spec/index.m3u8").await;
        if playlist.status != 200 {
            continue;
        }
        for seg in playlist.text().lines().filter(|l| l.ends_with(".ts")) {
            let r = s.get(&format!("/live/spec/{seg}")).await;
            if r.status != 200 {
                stop.store(true, Ordering::Relaxed);
                panic!("listed segment {seg} answered {}", r.status);
            }
            checked += 1;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    writer.join().unwrap();
    let deleted = stats(&s).segments_deleted.load(Ordering::Relaxed);
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".ts"))
        .count();
    assert!(checked > 1000, "only {checked} listed segments checked");
    assert!(deleted > 250, "only {deleted} segments deleted");
    // Listed (5) + within their window (0.4 s + 2 s playlist, ~25 at 10/s) + a tick.
    assert!(on_disk <= 40, "{on_disk} segments left on disk");
    assert_eq!(stats(&s).segments_vanished_while_listed.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn dry_run_deletes_nothing() {
    let s = TestServer::start_prepared(
        &format!("[retention]\nstale_after = \"1s\"\nmax_disk = \"1KB\"\ndry_run = true\n{FAST}"),
        |root| {
            write_stream(&root.join("live/stopped"), 3, 1000, Some(Duration::from_secs(3600)));
        },
    )
    .await;
    until("a dry-run decision", Duration::from_secs(10), || stats(&s).dry_run_skipped.load(Ordering::Relaxed) >= 2)
        .await;
    assert!(s.path("live/stopped/seg0.ts").exists());
    assert!(s.path("vod_ts/seg0.ts").exists());
    assert_eq!(stats(&s).bytes_freed.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_symlink_to_a_directory_outside_the_root_is_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    write_stream(&outside.path().join("elsewhere"), 3, 1000, Some(Duration::from_secs(7200)));
    let target = outside.path().join("elsewhere");
    let s = TestServer::start_prepared(
        &format!("[retention]\nstale_after = \"1s\"\nmax_disk = \"1KB\"\norphan_age = \"1s\"\n{FAST}"),
        |root| {
            std::os::unix::fs::symlink(&target, root.join("linked")).unwrap();
            write_stream(&root.join("live/old"), 3, 1000, Some(Duration::from_secs(7200)));
        },
    )
    .await;
    until("the root's own old stream to go", Duration::from_secs(10), || !s.path("live/old").exists()).await;
    until("the fixtures to go", Duration::from_secs(10), || !s.path("live_ts").exists()).await;
    for f in ["index.m3u8", "seg0.ts", "seg1.ts", "seg2.ts"] {
        assert!(target.join(f).exists(), "{f} outside the root was deleted");
    }
    assert!(s.path("linked").symlink_metadata().is_ok());
}

#[tokio::test]
async fn orphans_are_removed_at_start_recent_and_sealed_ones_kept() {
    let cfg = format!("[retention]\nremove_orphans = true\norphan_age = \"10m\"\n{FAST}");
    let s = TestServer::start_prepared(&cfg, |root| {
        write_stream(&root.join("crashed"), 2, 1000, Some(Duration::from_secs(1200)));
        write_stream(&root.join("restarting"), 2, 1000, Some(Duration::from_secs(60)));
        write_stream(&root.join("sealed"), 2, 1000, None);
        std::fs::write(root.join("sealed/.complete"), "").unwrap();
        backdate(&root.join("sealed"), Duration::from_secs(1200));
        std::fs::create_dir(root.join("logos")).unwrap();
        std::fs::write(root.join("logos/logo.png"), "png").unwrap();
        backdate(&root.join("logos"), Duration::from_secs(99_999));
    })
    .await;
    until("the orphan to go", Duration::from_secs(10), || {
        !s.path("crashed").exists() && stats(&s).orphans_removed.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(stats(&s).orphans_removed.load(Ordering::Relaxed), 1);
    assert!(s.path("restarting/index.m3u8").exists());
    assert!(s.path("sealed/seg0.ts").exists());
    assert!(s.path("logos/logo.png").exists(), "not packager output: never an orphan");
}

#[tokio::test]
async fn without_remove_orphans_nothing_young_or_unsealed_is_deleted_at_start() {
    // What an operator writes first: a disk budget and a generous staleness. Streams that have
    // not been written for 20 minutes are not orphans, and nothing younger than a day is stale.
    let s = TestServer::start_prepared(
        &format!("[retention]\nmax_disk = \"10GiB\"\nstale_after = \"1d\"\n{FAST}"),
        |root| {
            write_stream(&root.join("paused"), 2, 1000, Some(Duration::from_secs(1200)));
            write_stream(&root.join("sealed"), 2, 1000, None);
            std::fs::write(root.join("sealed/.complete"), "").unwrap();
        },
    )
    .await;
    until("two retention passes", Duration::from_secs(10), || stats(&s).passes.load(Ordering::Relaxed) >= 2).await;
    assert!(s.path("paused/index.m3u8").exists(), "an unsealed stream 20 min old was deleted");
    assert_eq!(stats(&s).orphans_removed.load(Ordering::Relaxed), 0);
    assert_eq!(stats(&s).stale_deleted.load(Ordering::Relaxed), 0);
    // Even with remove_orphans, a stream younger than stale_after is not an orphan.
    let cfg = format!("[retention]\nremove_orphans = true\norphan_age = \"1m\"\nstale_after = \"1h\"\n{FAST}");
    let s = TestServer::start_prepared(&cfg, |root| {
        write_stream(&root.join("paused"), 2, 1000, Some(Duration::from_secs(1200)));
        write_stream(&root.join("sealed"), 2, 1000, None);
        std::fs::write(root.join("sealed/.complete"), "").unwrap();
    })
    .await;
    until("two retention passes", Duration::from_secs(10), || stats(&s).passes.load(Ordering::Relaxed) >= 2).await;
    assert!(s.path("paused/index.m3u8").exists(), "younger than stale_after: not an orphan");
}
