//! The operator's first week: a real ffmpeg stopped and restarted on the same path, hand-written
//! playlists, `curl --http2`, sidecar files next to streams.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::support::{Conn, TestServer, STEP};

/// Starts ffmpeg writing a live HLS stream (1 s segments) of `source` (a lavfi source: a live
/// input differs from one run to the next; two runs of one lavfi source are byte-identical)
/// into `dir/index.m3u8`.
pub fn ffmpeg_live(dir: &Path, source: &str) -> Child {
    ffmpeg_hls(dir, source, 1, 4)
}

/// ffmpeg writing `segment_secs`-second segments (a keyframe every segment at 10 fps) and
/// keeping `list_size` of them in the playlist.
pub fn ffmpeg_hls(dir: &Path, source: &str, segment_secs: u32, list_size: u32) -> Child {
    let (gop, time, list) = ((segment_secs * 10).to_string(), segment_secs.to_string(), list_size.to_string());
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            &format!("{source}=size=160x90:rate=10"),
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", &gop, "-f", "hls", "-hls_time", &time])
        .args(["-hls_list_size", &list, "-hls_flags", "delete_segments+temp_file"])
        .arg(dir.join("index.m3u8"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs")
}

/// Polls `path` until `done` holds (each poll a fresh request), for at most `limit`.
async fn poll(s: &TestServer, path: &str, limit: Duration, done: impl Fn(&crate::support::Response) -> bool) {
    let start = Instant::now();
    loop {
        let r = s.get(path).await;
        if done(&r) {
            return;
        }
        assert!(start.elapsed() < limit, "{path}: condition not met after {limit:?}: {} {}", r.status, r.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops ffmpeg gracefully, as `systemctl stop` or Ctrl-C does: it then appends `EXT-X-ENDLIST`.
async fn interrupt(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("ffmpeg stops").unwrap();
    assert!(status.code().is_some(), "ffmpeg exited: {status:?}");
}

#[tokio::test]
async fn a_stopped_live_stream_is_not_cached_like_vod_and_a_restart_is_seen() {
    let s = TestServer::start().await;
    let dir = s.path("live/ch1");
    std::fs::create_dir_all(&dir).unwrap();
    let encoder = ffmpeg_live(&dir, "testsrc");
    let path = "/live/ch1/index.m3u8";
    poll(&s, path, Duration::from_secs(30), |r| r.status == 200 && r.text().contains("#EXTINF")).await;
    let live = s.get(path).await;
    assert_eq!(live.header("cache-control"), Some("public, max-age=0"), "live: half of a 1 s target");
    // A viewer (or a CDN) fetches the first segment of this run.
    let first = live.text().lines().find(|l| l.ends_with(".ts")).unwrap().to_string();
    let first_bytes = s.get(&format!("/live/ch1/{first}")).await;
    assert_eq!(first_bytes.status, 200);
    interrupt(encoder).await;
    // ffmpeg's last playlist: EXT-X-ENDLIST without PLAYLIST-TYPE:VOD.
    poll(&s, path, STEP, |r| r.text().contains("#EXT-X-ENDLIST")).await;
    let ended = s.get(path).await;
    assert!(!ended.text().contains("PLAYLIST-TYPE:VOD"), "{}", ended.text());
    assert_eq!(ended.header("cache-control"), Some("public, max-age=10"), "hls.ended_max_age, not a day");
    // The encoder restarts on the same path: the playlist is live again...
    let encoder = ffmpeg_live(&dir, "smptebars");
    poll(&s, path, Duration::from_secs(30), |r| !r.text().contains("#EXT-X-ENDLIST")).await;
    assert_eq!(s.get(path).await.header("cache-control"), Some("public, max-age=0"));
    // ...and starts its segment names over: the same name now has other bytes, which a CDN
    // would never refetch. That is counted (and logged with the fix).
    let target = format!("/live/ch1/{first}");
    poll(&s, path, Duration::from_secs(30), |r| r.text().lines().any(|l| l == first)).await;
    let again = s.get(&target).await;
    assert_eq!(again.status, 200);
    assert_ne!(again.body, first_bytes.body);
    assert!(s.state.store.rewrites_detected() >= 1, "the rewritten {first} was not noticed");
    interrupt(encoder).await;
}

#[tokio::test]
async fn ended_max_age_is_configurable_and_vod_stays_long() {
    let s = TestServer::start_prepared("[hls]\nended_max_age = \"30s\"\n", |root| {
        let seg = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg0.ts\n#EXT-X-ENDLIST\n";
        std::fs::write(root.join("stopped.m3u8"), seg).unwrap();
        std::fs::write(root.join("vod.m3u8"), seg.replace("#EXTM3U\n", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n")).unwrap();
    })
    .await;
    assert_eq!(s.get("/stopped.m3u8").await.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(s.get("/vod.m3u8").await.header("cache-control"), Some("public, max-age=86400"));
}

#[tokio::test]
async fn a_playlist_without_a_final_newline_is_served_once_it_is_stable() {
    // Hand-written masters and `"\n".join(...)` leave no newline after the last line.
    let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nhigh/index.m3u8";
    let s = TestServer::start_prepared("", |root| std::fs::write(root.join("master.m3u8"), master).unwrap()).await;
    let r = s.get("/master.m3u8").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), master);
    // Written a moment ago: still served (after the quiet window), never 503.
    let fresh = master.replace("800000", "900000");
    std::fs::write(s.path("master2.m3u8"), &fresh).unwrap();
    let r = s.get("/master2.m3u8").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), fresh);
}

#[tokio::test]
async fn upgrade_requests_are_answered_over_http1() {
    let s = TestServer::start().await;
    // What `curl --http2` sends over cleartext.
    let h2c = "GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    let mut conn = Conn::open(s.addr).await;
    conn.write(h2c.as_bytes()).await;
    let r = conn.response(false).await.expect("a response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, std::fs::read(s.path("vod_ts/index.m3u8")).unwrap());
    // The connection stays an HTTP/1.1 connection.
    conn.write(b"GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(conn.response(false).await.expect("a second response").status, 200);
    let ws = "GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    assert_eq!(s.send(ws).await.status, 200);
    // Bodies stay refused.
    let post = "GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_eq!(s.send(post).await.status, 400);
}

#[tokio::test]
async fn sidecar_files_get_real_types_and_the_segment_policy() {
    let files = [
        ("thumb.jpg", "image/jpeg"),
        ("poster.jpeg", "image/jpeg"),
        ("sprite.png", "image/png"),
        ("t.webp", "image/webp"),
        ("t.avif", "image/avif"),
        ("v.cmfv", "video/mp4"),
        ("v.m4v", "video/mp4"),
        ("a.cmfa", "audio/mp4"),
        ("s.webvtt", "text/vtt"),
        ("meta.json", "application/json"),
    ];
    let s = TestServer::start_prepared("", |root| {
        for (name, _) in files {
            std::fs::write(root.join(name), b"sidecar").unwrap();
        }
    })
    .await;
    for (name, content_type) in files {
        let r = s.get(&format!("/{name}")).await;
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(content_type), "{name}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=86400"), "{name}");
    }
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_root_removed_and_recreated_is_reopened_and_a_missing_one_is_503() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/vod_ts/index.m3u8").await.status, 200);
    let root = s.root.path().to_path_buf();
    std::fs::remove_dir_all(&root).unwrap();
    // Gone: 503 with Retry-After (a CDN retries), not a 404 it would cache.
    poll(&s, "/vod_ts/index.m3u8", STEP, |r| r.status == 503).await;
    assert!(s.get("/vod_ts/index.m3u8").await.header("retry-after").is_some());
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("new.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n").unwrap();
    poll(&s, "/new.m3u8", STEP, |r| r.status == 200).await;
    assert_eq!(s.get("/vod_ts/index.m3u8").await.status, 404, "the old tree is not served");
    // Recreated between two checks (`rm -rf ROOT && mkdir ROOT`): the new one is served.
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("newer.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n").unwrap();
    poll(&s, "/newer.m3u8", STEP, |r| r.status == 200).await;
    assert_eq!(s.get("/new.m3u8").await.status, 404);
    // Files written later are seen through the new watch, not only the timers.
    let ours = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n";
    std::fs::write(root.join("later.m3u8"), ours).unwrap();
    poll(&s, "/later.m3u8", STEP, |r| r.status == 200 && r.text() == ours).await;
}

#[tokio::test]
async fn a_tmpfs_mounted_over_the_root_after_start_is_served() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/vod_ts/index.m3u8").await.status, 200);
    let root = s.root.path().to_path_buf();
    let status = std::process::Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(&root).status().unwrap();
    assert!(status.success(), "mount needs root (CI runs as root)");
    let mounted = Mounted(root.clone());
    std::fs::write(root.join("on-tmpfs.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n").unwrap();
    poll(&s, "/on-tmpfs.m3u8", STEP, |r| r.status == 200).await;
    assert_eq!(s.get("/vod_ts/index.m3u8").await.status, 404, "the directory under the mount is hidden");
    drop(mounted);
    // Unmounted: the original directory is the root again.
    poll(&s, "/vod_ts/index.m3u8", STEP, |r| r.status == 200).await;
    assert_eq!(s.get("/on-tmpfs.m3u8").await.status, 404);
}

#[tokio::test]
async fn a_segment_name_rewritten_with_other_bytes_is_noticed_and_the_same_bytes_are_not() {
    let s = TestServer::start().await;
    std::fs::create_dir_all(s.path("live/r")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let tmp = s.path(&format!("live/r/{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, s.path(&format!("live/r/{name}"))).unwrap();
    };
    write("seg0.ts", &[0x47; 1000]);
    write("seg1.ts", &[0x47; 1000]);
    assert_eq!(s.get("/live/r/seg0.ts").await.body, vec![0x47; 1000]);
    assert_eq!(s.get("/live/r/seg1.ts").await.status, 200);
    // The same bytes under the same name (a copy, a retry): not a rewrite.
    write("seg1.ts", &[0x47; 1000]);
    poll(&s, "/live/r/seg1.ts", STEP, |r| r.status == 200).await;
    // Other bytes under the same name, after the old file was deleted as ffmpeg does.
    std::fs::remove_file(s.path("live/r/seg0.ts")).unwrap();
    poll(&s, "/live/r/seg0.ts", STEP, |r| r.status == 404).await;
    write("seg0.ts", &[0x48; 1200]);
    poll(&s, "/live/r/seg0.ts", STEP, |r| r.body == vec![0x48; 1200]).await;
    assert_eq!(s.state.store.rewrites_detected(), 1);
}
