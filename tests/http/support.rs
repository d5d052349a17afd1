//! Test support: a real server on 127.0.0.1:0 over a copy of the fixtures, and a raw HTTP/1.1
//! client with a timeout on every await.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hls_origin::app::App;
use hls_origin::config::Config;
use hls_origin::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Upper bound for any single network await in these tests.
pub const STEP: Duration = Duration::from_secs(10);

/// A running server over a temporary copy of `tests/fixtures`.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener, when the config has `[admin] listen`.
    pub admin: Option<SocketAddr>,
    pub state: Arc<AppState>,
    pub root: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with("").await
    }

    /// `extra` is appended to the `[server]` section (more tables may follow it).
    pub async fn start_with(extra: &str) -> TestServer {
        TestServer::start_prepared(extra, |_| {}).await
    }

    /// Like `start_with`, after `prepare` has written into the root.
    pub async fn start_prepared(extra: &str, prepare: impl FnOnce(&Path)) -> TestServer {
        let root = tempfile::tempdir().unwrap();
        copy_dir(&fixtures(), root.path());
        prepare(root.path());
        // The whole suite runs against either HTTP/1 driver: HLS_ORIGIN_TEST_DRIVER=hyper|native.
        let driver = std::env::var("HLS_ORIGIN_TEST_DRIVER").unwrap_or_else(|_| "native".into());
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nroot = {:?}\naccess_log = false\nhttp1_driver = \"{driver}\"\n{extra}",
            root.path()
        );
        let config = Config::from_toml(&text, Path::new("test.toml")).unwrap();
        // The same assembly `serve` runs: bind, state, watcher, retention, accept loop, drain.
        let app = App::start(config).await.unwrap();
        let addr = app.local_addrs().unwrap()[0];
        let admin = app.admin_addr();
        let state = Arc::clone(app.state());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        TestServer { addr, admin, state, root, stop: Some(tx), task: Some(task) }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// A GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Response {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut conn = Conn::open(self.admin.expect("an [admin] listener")).await;
        conn.write(raw.as_bytes()).await;
        conn.response(false).await.expect("a response")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).await
    }

    /// One request on a fresh connection; `raw` is the whole request head.
    pub async fn send(&self, raw: &str) -> Response {
        let mut conn = Conn::open(self.addr).await;
        conn.write(raw.as_bytes()).await;
        let head_only = raw.starts_with("HEAD ");
        conn.response(head_only).await.expect("a response")
    }

    /// Stops accepting, drains, and returns the server task's result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(STEP, task).await.expect("server stops in time").unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection that can carry several requests.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// How the connection ended, once it has: "EOF" or the read error (a reset is not a close).
    ended: Option<String>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr)).await.expect("connect in time").unwrap();
        Conn { stream, buf: Vec::new(), ended: None }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        tokio::time::timeout(STEP, self.stream.write_all(bytes)).await.expect("write in time").unwrap();
    }

    /// Writes without insisting: a server may answer (and close) before it has read all of a
    /// request it refuses, so the write can fail with EPIPE/ECONNRESET.
    pub async fn write_lenient(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        tokio::time::timeout(STEP, self.stream.write_all(bytes)).await.expect("write in time")
    }

    pub async fn shutdown_write(&mut self) {
        let _ = tokio::time::timeout(STEP, self.stream.shutdown()).await;
    }

    /// Reads more bytes; `false` at EOF or on a reset.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(STEP, self.stream.read(&mut chunk)).await.expect("read in time") {
            Ok(0) => {
                self.ended = Some("EOF".into());
                false
            }
            Err(e) => {
                self.ended = Some(e.to_string());
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Everything until the server closes the connection (including bytes already buffered).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Waits until a response head has arrived (leaving it to be parsed by `response`).
    pub async fn wait_for_head(&mut self) {
        while !self.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            assert!(self.fill().await, "closed before a response head");
        }
    }

    /// The next response, or `None` if the server closed the connection first.
    pub async fn response(&mut self, head_only: bool) -> Option<Response> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        self.buf.drain(..head_end);
        let mut response = Response { status, headers, body: Vec::new() };
        let no_body = head_only || status == 304 || status == 204 || (100..200).contains(&status);
        let len: usize = if no_body { 0 } else { response.header("content-length").map_or(0, |v| v.parse().unwrap()) };
        while self.buf.len() < len {
            if !self.fill().await {
                let how = self.ended.as_deref().unwrap_or("?");
                panic!("connection closed ({how}) after {} of {len} body bytes", self.buf.len());
            }
        }
        response.body = self.buf.drain(..len).collect();
        Some(response)
    }

    /// True once the server has closed the connection (reads EOF or a reset).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(tokio::time::timeout(limit, self.stream.read(&mut chunk)).await, Ok(Ok(0) | Err(_)))
    }
}
