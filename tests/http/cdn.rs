//! A real caching proxy in front: Varnish (Debian's), started by the test with a minimal VCL,
//! as the CDN stand-in, and a real ffmpeg writing a live stream behind hls-origin. Players
//! (blocking playlist requests, then every listed segment) go through Varnish only.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hls_origin::metrics::{Class, HoldEnd};
use hls_origin::playlist::model::MediaPlaylist;
use tokio::process::{Child, Command};

use crate::live::LIVE;
use crate::support::{Conn, Response, TestServer};

/// Varnish with the smallest VCL that names the origin; grace off (a CDN tuned for live: never
/// serve an object past its max-age), gzip handled by the origin.
struct Varnish {
    addr: SocketAddr,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Varnish {
    async fn start(origin: SocketAddr) -> Varnish {
        let dir = tempfile::tempdir().unwrap();
        let vcl = dir.path().join("origin.vcl");
        let text = format!("vcl 4.1;\nbackend origin {{ .host = \"127.0.0.1\"; .port = \"{}\"; }}\n", origin.port());
        std::fs::write(&vcl, text).unwrap();
        // A free port: bound, read, released (varnishd cannot report a port it picked itself
        // without its admin interface).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("varnishd")
            .args(["-F", "-j", "none", "-n"])
            .arg(dir.path().join("work"))
            .args(["-a", &addr.to_string(), "-f"])
            .arg(&vcl)
            .args(["-s", "malloc,64m", "-p", "default_grace=0", "-p", "default_keep=0"])
            .args(["-p", "http_gzip_support=off", "-p", "thread_pool_min=10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("varnishd runs (Debian package varnish)");
        let start = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "varnishd did not listen on {addr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Varnish { addr, _child: child, _dir: dir }
    }

    async fn get(&self, path: &str) -> Response {
        let mut conn = Conn::open(self.addr).await;
        conn.write(format!("GET {path} HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n").as_bytes()).await;
        conn.response(false).await.expect("a response from varnish")
    }
}

/// A cache hit: Varnish's `X-Varnish` carries this request's ID and the one that stored it.
fn is_hit(r: &Response) -> bool {
    r.header("x-varnish").is_some_and(|v| v.split(' ').count() == 2)
}

fn max_age(r: &Response) -> u64 {
    let cc = r.header("cache-control").unwrap_or_default();
    cc.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn behind_varnish_segments_come_once_playlists_stay_fresh_and_blocking_answers_are_shared() {
    let s = TestServer::start_with(LIVE).await;
    let varnish = Varnish::start(s.addr).await;
    let dir = s.path("live/cdn");
    std::fs::create_dir_all(&dir).unwrap();
    // 2 s segments: target duration 2, so playlists live for 1 s in a cache.
    let _encoder = crate::operator::ffmpeg_hls(&dir, "testsrc", 2, 3);
    let path = "/live/cdn/index.m3u8";
    let start = Instant::now();
    let mut playlist = loop {
        let r = varnish.get(path).await;
        if r.status == 200 && r.text().contains("#EXTINF") {
            break MediaPlaylist::parse(&r.body).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no playlist through varnish: {}", r.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Misses before ffmpeg's first playlist were 404s; none after.
    let early_misses = s.state.metrics.requests(Class::Playlist, 3);
    let mut segments = HashSet::new();
    let mut directive_urls = HashSet::new();
    for _ in 0..4 {
        // Two viewers ask for the next segment's playlist at once; a third later.
        let url = format!("{path}?_HLS_msn={}", playlist.next_msn());
        let (a, b) = tokio::join!(varnish.get(&url), varnish.get(&url));
        assert_eq!((a.status, b.status), (200, 200), "{}", a.text());
        assert_eq!(a.body, b.body, "both viewers get the one answer");
        assert_eq!(max_age(&a), 12, "6 target durations for a blocking answer");
        let c = varnish.get(&url).await;
        assert!(is_hit(&c) && c.body == a.body, "the directive URL is cached: {:?}", c.header("x-varnish"));
        directive_urls.insert(url);
        playlist = MediaPlaylist::parse(&a.body).unwrap();
        // Every listed segment, twice: never a 404, and from the origin once.
        for segment in &playlist.segments {
            let seg_path = format!("/live/cdn/{}", segment.uri);
            for _ in 0..2 {
                let r = varnish.get(&seg_path).await;
                assert_eq!(r.status, 200, "{seg_path} is listed by a cached playlist");
            }
            segments.insert(seg_path);
        }
        // The plain playlist through the cache is never older than its max-age.
        let plain = varnish.get(path).await;
        let age: u64 = plain.header("age").unwrap_or("0").parse().unwrap();
        assert!(age <= max_age(&plain), "age {age} over max-age {}", max_age(&plain));
        assert_eq!(max_age(&plain), 1, "½ of the 2 s target");
    }
    let m = &s.state.metrics;
    assert_eq!(m.requests(Class::Segment, 1), segments.len() as u64, "each segment fetched from the origin once");
    let blocking = m.holds.count(HoldEnd::Woken) + m.holds.count(HoldEnd::AtOnce);
    assert_eq!(blocking, directive_urls.len() as u64, "one origin request per directive URL");
    assert_eq!(m.requests(Class::Segment, 3), 0, "no 4xx for a segment at the origin");
    assert_eq!(m.requests(Class::Playlist, 3), early_misses, "no 4xx for a playlist once it exists");
}
