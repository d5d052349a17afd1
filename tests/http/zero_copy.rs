//! Files served from disk (`zero_copy`, threshold lowered so the fixtures qualify): the same
//! answers as from RAM, ranges, pipelining, and a file that shrinks mid-send aborts the
//! connection instead of being padded or presented as complete.

use crate::support::{Conn, TestServer, STEP};

const ZERO_COPY: &str = "zero_copy = true\nzero_copy_min_size = \"1KiB\"\n";

#[tokio::test]
async fn disk_entries_answer_like_ram_entries() {
    let s = TestServer::start_with(ZERO_COPY).await;
    let file = std::fs::read(s.path("vod_ts/seg1.ts")).unwrap();
    let len = file.len();
    let r = s.get("/vod_ts/seg1.ts").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, file);
    assert_eq!(r.header("content-type"), Some("video/mp2t"));
    let etag = r.header("etag").unwrap().to_string();
    let head = s.send("HEAD /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(head.header("content-length").unwrap(), len.to_string());
    assert!(head.body.is_empty());
    // The second request promotes the file into RAM in the background; the validator of the
    // same version never changes, before or after.
    for _ in 0..10 {
        let nm = s
            .send(&format!(
                "GET /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(nm.status, 304);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for (range, start, end) in [("bytes=0-99", 0, 99), ("bytes=500-", 500, len - 1), ("bytes=-188", len - 188, len - 1)]
    {
        let r = s
            .send(&format!("GET /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nRange: {range}\r\nConnection: close\r\n\r\n"))
            .await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("content-range").unwrap(), format!("bytes {start}-{end}/{len}"));
        assert_eq!(r.body, &file[start..=end], "{range}");
    }
    // Several ranges of a file on disk: the whole body (RFC 9110 §14.2 allows ignoring them).
    let r =
        s.send("GET /vod_ts/seg2.ts HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9,20-29\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, std::fs::read(s.path("vod_ts/seg2.ts")).unwrap());
    // Playlists are always read into RAM.
    assert_eq!(s.get("/vod_ts/index.m3u8").await.status, 200);
}

#[tokio::test]
async fn pipelined_disk_and_ram_bodies_stay_in_order() {
    let s = TestServer::start_with(ZERO_COPY).await;
    let paths =
        ["/vod_ts/seg0.ts", "/vod_ts/index.m3u8", "/fmp4/seg1.m4s", "/nope.ts", "/fmp4/init.mp4", "/vod_ts/seg0.ts"];
    let all: String = paths.iter().map(|p| format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n")).collect();
    let mut conn = Conn::open(s.addr).await;
    conn.write(all.as_bytes()).await;
    for p in paths {
        let r = conn.response(false).await.expect("response");
        if p == "/nope.ts" {
            assert_eq!(r.status, 404);
        } else {
            assert_eq!(r.body, std::fs::read(s.path(&p[1..])).unwrap(), "{p}");
        }
    }
}

#[tokio::test]
async fn a_file_that_shrinks_mid_send_aborts_the_connection() {
    let s = TestServer::start_with(ZERO_COPY).await;
    let big = 64 * 1024 * 1024;
    std::fs::write(s.path("shrinks.ts"), vec![0x47u8; big]).unwrap();
    let mut conn = Conn::open(s.addr).await;
    conn.write(b"GET /shrinks.ts HTTP/1.1\r\nHost: t\r\n\r\n").await;
    conn.wait_for_head().await;
    // Most of the body is still unsent (socket buffers hold a few MB): cut the file.
    std::fs::OpenOptions::new().write(true).open(s.path("shrinks.ts")).unwrap().set_len(1024 * 1024).unwrap();
    let received = tokio::time::timeout(STEP * 3, conn.read_to_end()).await.expect("the server ends the connection");
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = received.len() - head_end;
    assert!(body < big, "a shrunk file must not be presented as complete ({body} bytes)");
    // Still serving.
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 200);
}

#[tokio::test]
async fn large_files_stay_on_sendfile_however_often_they_are_asked_for_when_promotion_is_off() {
    use hls_origin::metrics::BodySource;
    let s = TestServer::start_with(&format!("{ZERO_COPY}[cache]\npromote_large = false\n")).await;
    for _ in 0..20 {
        assert_eq!(s.get("/vod_ts/seg1.ts").await.status, 200);
    }
    let m = &s.state.metrics;
    // The native driver sends file bodies with sendfile; hyper reads them from the same
    // descriptor. Either way none came from a RAM copy.
    assert_eq!((m.bodies(BodySource::File), m.bodies(BodySource::Ram)), (20, 0));
    assert_eq!(s.state.store.disk_reads(), 1, "one open for all twenty");
    // The default: the second request copies the file into RAM in the background.
    let s = TestServer::start_with(ZERO_COPY).await;
    let start = std::time::Instant::now();
    loop {
        assert_eq!(s.get("/vod_ts/seg1.ts").await.status, 200);
        if s.state.metrics.bodies(BodySource::Ram) > 0 {
            break;
        }
        assert!(start.elapsed() < STEP, "never served from RAM with promote_large on (the default)");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
