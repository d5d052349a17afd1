//! Playlist freshness benchmark (run by `benches/run.sh`, against any server of the root):
//! a writer renames a new version of each of N playlists every 200 ms (staggered), a reader
//! polls every playlist every 5 ms over keep-alive connections, and for each answer records how
//! long ago the version it received had been superseded. Prints one JSON line.
//!
//! `cargo bench --bench freshness -- --addr 127.0.0.1:8080 --root DIR [--streams 100]
//! [--secs 10] [--label NAME]`
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PERIOD: Duration = Duration::from_millis(200);
const POLL: Duration = Duration::from_millis(5);
const CONNECTIONS: usize = 4;

struct Args {
    addr: String,
    root: PathBuf,
    streams: usize,
    secs: u64,
    label: String,
}

fn args() -> Args {
    let mut a = Args { addr: String::new(), root: PathBuf::new(), streams: 100, secs: 10, label: "server".into() };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--addr" => a.addr = it.next().unwrap(),
            "--root" => a.root = it.next().unwrap().into(),
            "--streams" => a.streams = it.next().unwrap().parse().unwrap(),
            "--secs" => a.secs = it.next().unwrap().parse().unwrap(),
            "--label" => a.label = it.next().unwrap(),
            _ => {} // cargo bench adds --bench
        }
    }
    assert!(!a.addr.is_empty() && !a.root.as_os_str().is_empty(), "usage: --addr HOST:PORT --root DIR");
    a
}

fn playlist(version: u64) -> String {
    let mut t = format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{version}\n");
    for i in 0..5 {
        t.push_str(&format!("#EXTINF:2.000,\nseg{}.ts\n", version + i));
    }
    t
}

fn publish(dir: &Path, version: u64) {
    let tmp = dir.join("index.m3u8.tmp");
    std::fs::write(&tmp, playlist(version)).unwrap();
    std::fs::rename(&tmp, dir.join("index.m3u8")).unwrap();
}

/// `published[stream][version]`: nanoseconds after `start` at which the version was in place.
struct Timeline {
    start: Instant,
    published: Vec<Vec<AtomicU64>>,
}

fn writer(args: &Args, t: &Timeline, stop: &AtomicBool) {
    let n = args.streams as u32;
    let mut version = vec![0u64; args.streams];
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Stream i is due at i/n of each period.
        let i = (tick % u64::from(n)) as usize;
        let due = t.start + PERIOD * (tick / u64::from(n) + 1) as u32 + PERIOD * i as u32 / n;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let v = version[i] + 1;
        if v as usize >= t.published[i].len() {
            break;
        }
        publish(&args.root.join(format!("fresh/s{i}")), v);
        t.published[i][v as usize].store(t.start.elapsed().as_nanos() as u64, Ordering::Release);
        version[i] = v;
        tick += 1;
    }
}

#[derive(Default)]
struct Stats {
    answers: u64,
    stale: u64,
    sum_ns: u128,
    all_ns: Vec<u64>,
}

async fn get(conn: &mut TcpStream, buf: &mut Vec<u8>, path: &str) -> Vec<u8> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes()).await.unwrap();
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize =
                head.split("content-length:").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return buf[end + 4..end + 4 + len].to_vec();
        }
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn reader(addr: String, streams: Vec<usize>, t: Arc<Timeline>, until: Instant) -> Stats {
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let mut stats = Stats::default();
    let mut buf = Vec::new();
    let mut next = Instant::now();
    while Instant::now() < until {
        for &i in &streams {
            let body = get(&mut conn, &mut buf, &format!("/fresh/s{i}/index.m3u8")).await;
            let received = t.start.elapsed().as_nanos() as u64;
            let text = String::from_utf8_lossy(&body);
            let v: usize =
                text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap();
            let superseded = t.published[i].get(v + 1).map_or(0, |p| p.load(Ordering::Acquire));
            let stale = if superseded != 0 && superseded < received { received - superseded } else { 0 };
            stats.answers += 1;
            stats.stale += u64::from(stale > 0);
            stats.sum_ns += u128::from(stale);
            stats.all_ns.push(stale);
        }
        next += POLL;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        } else {
            next = Instant::now();
        }
    }
    stats
}

fn main() {
    let args = args();
    let versions = (args.secs * 1000 / PERIOD.as_millis() as u64 + 20) as usize;
    for i in 0..args.streams {
        let dir = args.root.join(format!("fresh/s{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        publish(&dir, 0);
    }
    let t = Arc::new(Timeline {
        start: Instant::now(),
        published: (0..args.streams).map(|_| (0..versions).map(|_| AtomicU64::new(0)).collect()).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let until = Instant::now() + Duration::from_secs(args.secs);
    let stats = std::thread::scope(|s| {
        s.spawn(|| writer(&args, &t, &stop));
        let all = rt.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..CONNECTIONS {
                let streams: Vec<usize> = (0..args.streams).filter(|i| i % CONNECTIONS == c).collect();
                tasks.push(tokio::spawn(reader(args.addr.clone(), streams, Arc::clone(&t), until)));
            }
            let mut all = Stats::default();
            for task in tasks {
                let s = task.await.unwrap();
                all.answers += s.answers;
                all.stale += s.stale;
                all.sum_ns += s.sum_ns;
                all.all_ns.extend(s.all_ns);
            }
            all
        });
        stop.store(true, Ordering::Relaxed);
        all
    });
    let mut sorted = stats.all_ns.clone();
    sorted.sort_unstable();
    let pct = |p: f64| sorted.get(((sorted.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0) as f64 / 1e6;
    println!(
        "{{\"label\":\"{}\",\"answers\":{},\"stale_answers\":{},\"max_ms\":{:.3},\"mean_ms\":{:.4},\"p99_ms\":{:.3},\"polls_per_s\":{:.0}}}",
        args.label,
        stats.answers,
        stats.stale,
        pct(1.0),
        stats.sum_ns as f64 / stats.answers.max(1) as f64 / 1e6,
        pct(0.99),
        stats.answers as f64 / args.secs as f64
    );
}
