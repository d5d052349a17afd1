//! The connection driver: methods, OPTIONS, head limits, keep-alive, h2c, timeouts, shutdown.

use std::time::Duration;

use crate::support::{Conn, TestServer, STEP};

#[tokio::test]
async fn options_is_a_cors_preflight() {
    let s = TestServer::start().await;
    let r = s.send("OPTIONS /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nOrigin: https://p.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("GET"));
    assert_eq!(r.header("access-control-allow-headers"), Some("range"));
    assert!(r.header("access-control-max-age").is_some());
    let r = s.send("OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let s = TestServer::start().await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "BREW"] {
        let r = s
            .send(&format!(
                "{method} /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[tokio::test]
async fn long_request_line_is_414_and_big_headers_are_431() {
    let s = TestServer::start().await;
    let long = format!("/{}", "a".repeat(9 * 1024));
    assert_eq!(s.get(&long).await.status, 414);
    let big = format!(
        "GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    assert_eq!(s.send(&big).await.status, 431);
    let many: String = (0..400).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(s.send(&format!("GET / HTTP/1.1\r\nHost: t\r\n{many}Connection: close\r\n\r\n")).await.status, 431);
    // A head larger than any buffer: the server may answer 431 and close while the client is
    // still writing, so the write may fail and the answer may be lost to the reset; whatever
    // arrives must be a 431, and the server must go on serving.
    let huge = format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nX-Huge: {}\r\n\r\n", "c".repeat(200 * 1024));
    let mut conn = Conn::open(s.addr).await;
    let _ = conn.write_lenient(huge.as_bytes()).await;
    if let Some(r) = conn.response(false).await {
        assert_eq!(r.status, 431);
    }
    // Still serving.
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 200);
}

#[tokio::test]
async fn keep_alive_and_pipelining_answer_in_order() {
    let s = TestServer::start().await;
    let mut conn = Conn::open(s.addr).await;
    let paths = ["/vod_ts/index.m3u8", "/vod_ts/seg0.ts", "/nope.ts", "/fmp4/init.mp4"];
    let all: String = paths.iter().map(|p| format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n")).collect();
    conn.write(all.as_bytes()).await;
    for p in paths {
        let r = conn.response(false).await.expect("response");
        let expected = if p == "/nope.ts" { 404 } else { 200 };
        assert_eq!(r.status, expected, "{p}");
        if expected == 200 {
            assert_eq!(r.body, std::fs::read(s.path(&p[1..])).unwrap());
        }
    }
    // HTTP/1.0 without keep-alive is answered and closed.
    let mut conn = Conn::open(s.addr).await;
    conn.write(b"GET /vod_ts/index.m3u8 HTTP/1.0\r\n\r\n").await;
    assert_eq!(conn.response(false).await.unwrap().status, 200);
    assert!(conn.closed_within(STEP).await);
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    use http_body_util::{BodyExt, Empty};
    let s = TestServer::start().await;
    let (mut sender, _conn) = h2c(&s).await;
    for path in ["/vod_ts/index.m3u8", "/fmp4/seg0.m4s"] {
        let req = http::Request::get(format!("http://t{path}")).body(Empty::<bytes::Bytes>::new()).unwrap();
        let resp = tokio::time::timeout(STEP, sender.send_request(req)).await.unwrap().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        let body = tokio::time::timeout(STEP, resp.into_body().collect()).await.unwrap().unwrap().to_bytes();
        assert_eq!(body, std::fs::read(s.path(&path[1..])).unwrap());
    }
}

#[tokio::test]
async fn half_a_request_head_is_dropped_after_the_header_timeout() {
    let s = TestServer::start_with("header_read_timeout = \"300ms\"\n").await;
    let mut conn = Conn::open(s.addr).await;
    conn.write(b"GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\nX-Slow: ").await;
    assert!(conn.closed_within(Duration::from_secs(5)).await, "half head must be dropped");
    // A connection that never sends a byte is dropped too.
    let mut silent = Conn::open(s.addr).await;
    assert!(silent.closed_within(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let s = TestServer::start_with("idle_timeout = \"300ms\"\nheader_read_timeout = \"30s\"\n").await;
    let mut conn = Conn::open(s.addr).await;
    conn.write(b"GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(conn.response(false).await.unwrap().status, 200);
    assert!(conn.closed_within(Duration::from_secs(5)).await, "idle connection must be closed");
}

#[tokio::test]
async fn graceful_stop_finishes_and_refuses_new_connections() {
    let s = TestServer::start_with("shutdown_grace = \"2s\"\n").await;
    let addr = s.addr;
    let mut conn = Conn::open(addr).await;
    conn.write(b"GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(conn.response(false).await.unwrap().status, 200);
    // An idle keep-alive connection does not hold the drain for the whole grace period.
    let started = std::time::Instant::now();
    s.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "drain took {:?}", started.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn ten_pipelined_requests_in_one_write_are_answered_in_order() {
    let s = TestServer::start().await;
    let paths: Vec<String> = (0..10)
        .map(|i| {
            ["/vod_ts/seg0.ts", "/fmp4/init.mp4", "/missing.ts", "/vod_ts/index.m3u8", "/subs.vtt"][i % 5].to_string()
        })
        .collect();
    let mut all = String::new();
    for (i, p) in paths.iter().enumerate() {
        let method = if i == 7 { "HEAD" } else { "GET" };
        all.push_str(&format!("{method} {p} HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    let mut conn = Conn::open(s.addr).await;
    conn.write(all.as_bytes()).await;
    for (i, p) in paths.iter().enumerate() {
        let r = conn.response(i == 7).await.expect("response");
        if p == "/missing.ts" {
            assert_eq!(r.status, 404);
        } else {
            assert_eq!(r.status, 200, "{i}: {p}");
            let expected = if i == 7 { Vec::new() } else { std::fs::read(s.path(&p[1..])).unwrap() };
            assert_eq!(r.body, expected, "{i}: {p}");
        }
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_leaves_no_descriptor_behind() {
    let s = TestServer::start().await;
    std::fs::write(s.path("big.ts"), vec![0x47u8; 32 * 1024 * 1024]).unwrap();
    // This server's own connections are counted (not the process's descriptors: other tests
    // open and close theirs in parallel). A connection is counted until its socket is closed.
    for _ in 0..20 {
        let mut c = Conn::open(s.addr).await;
        c.write(b"GET /big.ts HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.wait_for_head().await;
        drop(c);
    }
    // The server notices each reset on its next write.
    let open = || s.state.gate.open_connections();
    until_true(Duration::from_secs(10), || open() == 0).await;
    assert_eq!(open(), 0, "connections still open after their clients went away");
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 200);
}

/// Waits until `done()` holds, checking every few ms, for at most `limit` (the caller asserts).
async fn until_true(limit: Duration, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An HTTP/2 prior-knowledge client connection: the request sender and the connection task,
/// which ends when the server closes the connection.
async fn h2c(
    s: &TestServer,
) -> (hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>, tokio::task::JoinHandle<()>) {
    let stream = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(s.addr)).await.unwrap().unwrap();
    let (sender, conn) = tokio::time::timeout(
        STEP,
        hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    (sender, tokio::spawn(async move { drop(conn.await) }))
}

async fn h2c_get(sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>) -> u16 {
    use http_body_util::{BodyExt, Empty};
    let req = http::Request::get("http://t/vod_ts/index.m3u8").body(Empty::<bytes::Bytes>::new()).unwrap();
    let resp = tokio::time::timeout(STEP, sender.send_request(req)).await.unwrap().unwrap();
    let status = resp.status().as_u16();
    tokio::time::timeout(STEP, resp.into_body().collect()).await.unwrap().unwrap();
    status
}

#[tokio::test]
async fn an_idle_h2c_connection_is_closed_after_the_idle_timeout() {
    // On the native driver the connection is handed to hyper after its preface: it must stay
    // under the accept loop's watchdog.
    let s = TestServer::start_with("idle_timeout = \"300ms\"\nheader_read_timeout = \"30s\"\n").await;
    let (mut sender, conn) = h2c(&s).await;
    assert_eq!(h2c_get(&mut sender).await, 200);
    // Closed after 300-600 ms of silence; 5 s is far beyond that and far below anything else
    // that could close it.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "the idle h2c connection is still open");
    assert_eq!(s.state.gate.open_connections(), 0);
}

#[tokio::test]
async fn stopping_with_an_idle_h2c_connection_open_does_not_wait_for_the_grace() {
    let s = TestServer::start_with("shutdown_grace = \"20s\"\n").await;
    let (mut sender, conn) = h2c(&s).await;
    assert_eq!(h2c_get(&mut sender).await, 200);
    let started = std::time::Instant::now();
    s.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "drain took {:?} (grace 20 s)", started.elapsed());
    // The server said GOAWAY and closed: the client's connection ends too.
    assert!(tokio::time::timeout(STEP, conn).await.is_ok());
}
