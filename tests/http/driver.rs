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
    let huge = format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nX-Huge: {}\r\n\r\n", "c".repeat(200 * 1024));
    let mut conn = Conn::open(s.addr).await;
    conn.write(huge.as_bytes()).await;
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
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, conn) = tokio::time::timeout(
        STEP,
        hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    tokio::spawn(conn);
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

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_leaves_no_descriptor_behind() {
    let s = TestServer::start().await;
    std::fs::write(s.path("big.ts"), vec![0x47u8; 32 * 1024 * 1024]).unwrap();
    // Warm the cache so the measurement sees only connection descriptors.
    let mut c = Conn::open(s.addr).await;
    c.write(b"HEAD /big.ts HTTP/1.1\r\nHost: t\r\n\r\n").await;
    c.response(true).await.unwrap();
    drop(c);
    let before = open_fds();
    for _ in 0..20 {
        let mut c = Conn::open(s.addr).await;
        c.write(b"GET /big.ts HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.wait_for_head().await;
        drop(c);
    }
    // The server notices each reset on its next write; give it until a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_fds() > before && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(open_fds() <= before, "{} descriptors still open, {before} before", open_fds());
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 200);
}
