//! On-demand streams: a small start/stop service written here (it launches a real ffmpeg into
//! the root, or fails, or does nothing), 50 viewers of a cold stream, hook failures and
//! timeouts, the idle stop, and stream ids that must never reach the hook.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Child;

use crate::support::{TestServer, STEP};

/// What the hook service does on `POST /channel/{id}/start`.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Launches ffmpeg writing `live/{id}/index.m3u8` under the root.
    Ffmpeg,
    /// Answers 500.
    Fail,
    /// Answers 200 and starts nothing.
    Nothing,
}

/// The start/stop service: every call is recorded as its path.
struct Hooks {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Hooks {
    async fn start(mode: Mode, root: Arc<Mutex<Option<PathBuf>>>) -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let encoders: Arc<Mutex<HashMap<String, Child>>> = Arc::default();
        let recorded = Arc::clone(&calls);
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let (calls, encoders, root) = (Arc::clone(&recorded), Arc::clone(&encoders), Arc::clone(&root));
                tokio::spawn(async move {
                    // Keep-alive: the origin's client pools its connections.
                    let mut buf = Vec::new();
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 4096];
                            match conn.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                        calls.lock().unwrap().push(path.clone());
                        let status = answer(mode, &path, &encoders, &root);
                        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if conn.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Hooks { addr, calls }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn answer(
    mode: Mode,
    path: &str,
    encoders: &Mutex<HashMap<String, Child>>,
    root: &Mutex<Option<PathBuf>>,
) -> &'static str {
    let parts: Vec<&str> = path.split('/').collect();
    let (Some(id), Some(action)) = (parts.get(2), parts.get(3)) else { return "404 Not Found" };
    match (mode, *action) {
        (Mode::Fail, _) => "500 Internal Server Error",
        (Mode::Nothing, _) => "200 OK",
        (Mode::Ffmpeg, "start") => {
            let dir = root.lock().unwrap().clone().unwrap().join("live").join(id);
            std::fs::create_dir_all(&dir).unwrap();
            let child = crate::operator::ffmpeg_live(&dir, "testsrc");
            encoders.lock().unwrap().insert(id.to_string(), child);
            "200 OK"
        }
        (Mode::Ffmpeg, "stop") => {
            encoders.lock().unwrap().remove(*id);
            "200 OK"
        }
        _ => "404 Not Found",
    }
}

/// A server with `[on_demand]` calling `hooks`, and the hooks' view of its root.
async fn server(mode: Mode, timings: &str) -> (TestServer, Hooks) {
    let root = Arc::new(Mutex::new(None));
    let hooks = Hooks::start(mode, Arc::clone(&root)).await;
    let base = format!("http://{}/channel/{{stream}}", hooks.addr);
    let section = format!(
        "\n[on_demand]\npattern = \"/live/{{stream}}/\"\nstart_url = \"{base}/start\"\nstop_url = \"{base}/stop\"\n{timings}"
    );
    let s = TestServer::start_with(&section).await;
    *root.lock().unwrap() = Some(s.root.path().to_path_buf());
    (s, hooks)
}

async fn until(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn fifty_viewers_of_a_cold_stream_start_it_once_and_all_get_the_playlist() {
    let (s, hooks) = server(Mode::Ffmpeg, "start_timeout = \"30s\"\nidle_after = \"2s\"\n").await;
    let s = Arc::new(s);
    let viewers: Vec<_> = (0..50)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let r = tokio::time::timeout(Duration::from_secs(40), s.get("/live/cold1/index.m3u8")).await.unwrap();
                (r, SystemTime::now())
            })
        })
        .collect();
    let mut first = None;
    for v in viewers {
        let (r, at) = v.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("#EXTINF"));
        first = Some(first.map_or(at, |f: SystemTime| f.min(at)));
    }
    assert_eq!(hooks.calls(), ["/channel/cold1/start"], "one start for 50 viewers");
    // ffmpeg's first playlist (renamed into place: its mtime is when it was written).
    let written = std::fs::metadata(s.path("live/cold1/index.m3u8")).unwrap().modified().unwrap();
    let lag = first.unwrap().duration_since(written).unwrap_or_default();
    println!("on-demand: first viewer answered {lag:?} after ffmpeg's first playlist");
    assert!(lag < Duration::from_secs(2), "{lag:?}");
    // Nobody reads any more: one stop after idle_after.
    until(Duration::from_secs(20), "no stop call", || hooks.calls().len() == 2).await;
    assert_eq!(hooks.calls()[1], "/channel/cold1/stop");
    assert_eq!(s.state.on_demand.as_ref().unwrap().stats.stops.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_failing_hook_gets_503_with_retry_after_and_never_404() {
    let (s, hooks) = server(Mode::Fail, "start_timeout = \"10s\"\n").await;
    let s = Arc::new(s);
    let started = Instant::now();
    let viewers: Vec<_> = (0..5)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.get("/live/broken/index.m3u8").await })
        })
        .collect();
    for v in viewers {
        let r = v.await.unwrap();
        assert_eq!(r.status, 503);
        assert!(r.header("retry-after").is_some());
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    assert!(started.elapsed() < Duration::from_secs(10), "answered before start_timeout: {:?}", started.elapsed());
    // Within the cooldown: 503 again, and no new call.
    assert_eq!(s.get("/live/broken/index.m3u8").await.status, 503);
    assert_eq!(hooks.calls(), ["/channel/broken/start"]);
    let stats = &s.state.on_demand.as_ref().unwrap().stats;
    assert_eq!(stats.start_failures.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_start_that_never_produces_a_playlist_gets_503_after_start_timeout() {
    let (s, hooks) = server(Mode::Nothing, "start_timeout = \"1s\"\n").await;
    let started = Instant::now();
    let r = s.get("/live/silent/index.m3u8").await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() >= Duration::from_millis(950) && started.elapsed() < STEP, "{:?}", started.elapsed());
    assert_eq!(hooks.calls(), ["/channel/silent/start"]);
    let stats = &s.state.on_demand.as_ref().unwrap().stats;
    assert_eq!(stats.timeouts.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn malicious_stream_ids_never_reach_the_hook() {
    let (s, hooks) = server(Mode::Nothing, "start_timeout = \"1s\"\n").await;
    for target in [
        "/live/..%2Fetc/index.m3u8",
        "/live/a%2Fb/index.m3u8",
        "/live/a%20b/index.m3u8",
        "/live/%01x/index.m3u8",
        "/live/.hidden/index.m3u8",
        "/live/a/../b/index.m3u8",
        "/live/%2E%2E/x/index.m3u8",
        "/live/ok/segment.ts",
        "/other/ok/index.m3u8",
    ] {
        let r = s.get(target).await;
        assert!(r.status == 404 || r.status == 400, "{target}: {}", r.status);
    }
    assert!(hooks.calls().is_empty(), "{:?}", hooks.calls());
}
