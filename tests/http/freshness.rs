//! Freshness through real inotify: renamed playlists, deleted segments, in-place rewrites, lost
//! events, new directories, and one disk read for many concurrent misses. Validity timers are
//! set to an hour wherever the watcher alone must do the work.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{TestServer, STEP};

const NO_TIMERS: &str = "[cache]\nmanifest_validity = \"1h\"\nsegment_validity = \"1h\"\nmiss_validity = \"1h\"\n";

fn playlist(seq: u64, segments: u64) -> String {
    let mut text = format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
    for i in 0..segments {
        text.push_str(&format!("#EXTINF:2.000,\nv{seq}_{i}.ts\n"));
    }
    text
}

fn rename_into_place(path: &Path, text: &str) {
    let tmp = path.with_extension("m3u8.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `path` until `done` holds for the response; returns how long that took.
async fn until(
    s: &TestServer,
    path: &str,
    limit: Duration,
    done: impl Fn(&crate::support::Response) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = s.get(path).await;
        if done(&r) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{path} not fresh after {limit:?}: {} {}", r.status, r.text());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn renamed_playlist_is_served_new_within_50ms() {
    let s = TestServer::start_with(NO_TIMERS).await;
    let file = s.path("live_ts/index.m3u8");
    rename_into_place(&file, &playlist(100, 3));
    until(&s, "/live_ts/index.m3u8", Duration::from_secs(2), |r| r.text().contains("SEQUENCE:100\n")).await;
    let mut worst = Duration::ZERO;
    for seq in 101..121 {
        rename_into_place(&file, &playlist(seq, 3));
        let marker = format!("SEQUENCE:{seq}\n");
        let took = until(&s, "/live_ts/index.m3u8", Duration::from_secs(2), |r| r.text().contains(&marker)).await;
        worst = worst.max(took);
    }
    assert!(worst <= Duration::from_millis(50), "worst {worst:?}");
}

#[tokio::test]
async fn deleted_segment_is_404_and_a_new_one_appears() {
    let s = TestServer::start_with(NO_TIMERS).await;
    assert_eq!(s.get("/vod_ts/seg2.ts").await.status, 200);
    std::fs::remove_file(s.path("vod_ts/seg2.ts")).unwrap();
    until(&s, "/vod_ts/seg2.ts", Duration::from_secs(2), |r| r.status == 404).await;
    // A segment requested a moment early is picked up as soon as it is complete.
    assert_eq!(s.get("/vod_ts/seg3.ts").await.status, 404);
    std::fs::copy(s.path("vod_ts/seg1.ts"), s.path("vod_ts/seg3.ts")).unwrap();
    until(&s, "/vod_ts/seg3.ts", Duration::from_secs(2), |r| r.status == 200).await;
}

/// Checks a body is exactly one whole version written by `rewrite_loop`.
fn whole_version(body: &str) -> Result<(), String> {
    let seq: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .ok_or("no media sequence")?
        .parse()
        .map_err(|_| "bad sequence")?;
    let expected = playlist(seq, 3 + seq % 5);
    (body == expected).then_some(()).ok_or_else(|| format!("torn or mixed body for {seq}: {body:?}"))
}

#[tokio::test]
async fn in_place_rewrites_are_never_served_torn() {
    use std::io::Write;
    // Short validity: misses read the file while it is being rewritten, too.
    let s = TestServer::start_with("[cache]\nmanifest_validity = \"2ms\"\n").await;
    let file = s.path("live_ts/inplace.m3u8");
    std::fs::write(&file, playlist(0, 3)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (file, stop) = (file.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seq = 1u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = playlist(seq, 3 + seq % 5);
                // Truncate, then write: in one call, or in two split mid-line as a buffered
                // writer does.
                let mut f = std::fs::File::create(&file).unwrap();
                if seq % 2 == 0 {
                    f.write_all(text.as_bytes()).unwrap();
                } else {
                    let cut = text.len() / 2 + (seq as usize % 7);
                    f.write_all(&text.as_bytes()[..cut]).unwrap();
                    f.write_all(&text.as_bytes()[cut..]).unwrap();
                }
                drop(f);
                seq += 1;
                // Hundreds of rewrites a second: far beyond any packager (one per segment).
                std::thread::sleep(Duration::from_millis(2));
            }
            seq
        })
    };
    let mut versions = std::collections::HashSet::new();
    let mut busy = 0;
    for _ in 0..2000 {
        let r = s.get("/live_ts/inplace.m3u8").await;
        if r.status == 503 {
            busy += 1;
            continue;
        }
        assert_eq!(r.status, 200);
        let body = r.text();
        if let Err(e) = whole_version(&body) {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            panic!("{e}");
        }
        versions.insert(body);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(versions.len() > 10, "only {} distinct versions of {written} written were seen", versions.len());
    assert!(busy < 100, "{busy} of 2000 answers were 503");
}

#[tokio::test]
async fn a_writer_paused_mid_playlist_is_never_served_torn() {
    use std::io::Write;
    // Unlike a hand-written file without a final newline (served once stable), a file a writer
    // still holds open is never taken for complete, however long the writer pauses.
    let s = TestServer::start_with(NO_TIMERS).await;
    let file = s.path("live_ts/paused.m3u8");
    let full = playlist(7, 3);
    let cut = full.len() - 5;
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all(&full.as_bytes()[..cut]).unwrap();
    for _ in 0..3 {
        let r = s.get("/live_ts/paused.m3u8").await;
        assert_eq!(r.status, 503, "a torn playlist was served: {:?}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    f.write_all(&full.as_bytes()[cut..]).unwrap();
    drop(f);
    until(&s, "/live_ts/paused.m3u8", STEP, |r| r.status == 200 && r.text() == full).await;
}

#[tokio::test]
async fn lost_events_are_recovered_by_a_rescan() {
    let s = TestServer::start_with(NO_TIMERS).await;
    let watcher = s.state.watcher.clone().expect("inotify available");
    assert_eq!(s.get("/newstream/index.m3u8").await.status, 404);
    assert!(s.get("/live_ts/index.m3u8").await.text().contains("SEQUENCE:0\n"));
    watcher.set_paused(true);
    std::fs::create_dir(s.path("newstream")).unwrap();
    std::fs::write(s.path("newstream/index.m3u8"), playlist(7, 3)).unwrap();
    rename_into_place(&s.path("live_ts/index.m3u8"), &playlist(42, 3));
    // The events were dropped and the timers are an hour: both answers are still stale.
    assert_eq!(s.get("/newstream/index.m3u8").await.status, 404);
    assert!(s.get("/live_ts/index.m3u8").await.text().contains("SEQUENCE:0\n"));
    watcher.set_paused(false);
    until(&s, "/newstream/index.m3u8", Duration::from_secs(5), |r| r.status == 200).await;
    until(&s, "/live_ts/index.m3u8", Duration::from_secs(5), |r| r.text().contains("SEQUENCE:42\n")).await;
    // The re-walk watches the new directory: later changes there arrive as events again.
    rename_into_place(&s.path("newstream/index.m3u8"), &playlist(8, 3));
    until(&s, "/newstream/index.m3u8", Duration::from_secs(2), |r| r.text().contains("SEQUENCE:8\n")).await;
}

#[tokio::test]
async fn a_new_stream_directory_is_picked_up() {
    let s = TestServer::start_with(NO_TIMERS).await;
    assert_eq!(s.get("/live/b/index.m3u8").await.status, 404);
    std::fs::create_dir_all(s.path("live/b")).unwrap();
    rename_into_place(&s.path("live/b/index.m3u8"), &playlist(1, 3));
    until(&s, "/live/b/index.m3u8", Duration::from_secs(2), |r| r.status == 200).await;
    rename_into_place(&s.path("live/b/index.m3u8"), &playlist(2, 3));
    until(&s, "/live/b/index.m3u8", Duration::from_secs(2), |r| r.text().contains("SEQUENCE:2\n")).await;
}

#[tokio::test]
async fn concurrent_misses_share_one_read_and_hits_read_nothing() {
    let s = TestServer::start_with(NO_TIMERS).await;
    let before = s.state.store.disk_reads();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let addr = s.addr;
        tasks.spawn(async move {
            let mut c = crate::support::Conn::open(addr).await;
            c.write(b"GET /fmp4/seg2.m4s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
            c.response(false).await.unwrap().status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(s.state.store.disk_reads() - before, 1);
    for _ in 0..20 {
        assert_eq!(s.get("/fmp4/seg2.m4s").await.status, 200);
    }
    assert_eq!(s.state.store.disk_reads() - before, 1);
}

#[tokio::test]
async fn a_polled_playlist_is_renewed_ahead_of_its_validity_with_the_same_version() {
    // Short enough that a pass runs every 100 ms; nothing changes the file.
    let s = TestServer::start_with("[cache]\nmanifest_validity = \"200ms\"\n").await;
    let first = s.get("/live_ts/index.m3u8").await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    // A renewal needs the stream read since the previous pass: keep polling, as a player does.
    while s.state.store.playlists_renewed() < 3 {
        assert!(Instant::now() < deadline, "no renewal in 10 s");
        let r = s.get("/live_ts/index.m3u8").await;
        assert_eq!((r.status, r.header("etag")), (200, Some(etag.as_str())), "the same version, renewed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
